// The static server (scripts/serve.mjs): only files inside the served folder, only GET and HEAD,
// compressed bodies that decode to the file, with the headers a cache needs and the site's content
// security policy; and the same policy in every page's meta tag.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { serve, CONTENT_SECURITY_POLICY } from '../scripts/serve.mjs';

const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'www');

/** A raw request (no URL normalisation by a client): {status, headers, body}. */
function request(port, method, rawPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the static server', async (t) => {
  // tmp/site: the served folder; tmp/site-other and tmp/secret beside it must stay unreachable.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-test-'));
  const site = path.join(tmp, 'site');
  fs.mkdirSync(path.join(site, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'site-other'));
  fs.mkdirSync(path.join(tmp, 'tool'));
  fs.writeFileSync(path.join(tmp, 'tool', 'index.html'), 'a mounted tool');
  fs.writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>home</title>');
  fs.writeFileSync(path.join(site, 'sub', 'index.html'), 'sub home');
  const script = `// ${'a long, very compressible line of script. '.repeat(200)}\n`;
  fs.writeFileSync(path.join(site, 'app.js'), script);
  const big = Buffer.alloc(300_000, 7);
  fs.writeFileSync(path.join(site, 'big.bin'), big);
  fs.writeFileSync(path.join(site, 'big.bin.br'), zlib.brotliCompressSync(big));
  fs.writeFileSync(path.join(tmp, 'site-other', 'secret.txt'), 'sibling secret');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'parent secret');
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(site, 'link-out.txt'));
  fs.symlinkSync(path.join(tmp, 'site-other'), path.join(site, 'dir-out'));
  fs.symlinkSync(path.join(site, 'app.js'), path.join(site, 'link-in.js'));
  const server = await serve(0, site, { '/tool/': path.join(tmp, 'tool') });
  const port = server.address().port;
  t.after(() => {
    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  await t.test('serves files and folders inside the root', async () => {
    const home = await request(port, 'GET', '/');
    assert.equal(home.status, 200);
    assert.equal(home.body.toString(), '<!doctype html><title>home</title>');
    assert.match(home.headers['content-type'], /^text\/html/);
    assert.equal((await request(port, 'GET', '/sub/')).body.toString(), 'sub home');
    assert.equal((await request(port, 'GET', '/link-in.js')).body.toString(), script);
  });

  await t.test('nothing outside the root, however the path is spelled', async () => {
    for (const p of [
      '/../secret.txt', '/..%2Fsecret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt', '/..%5Csecret.txt',
      '/..%2Fsite-other/secret.txt', '/%2e%2e%2fsite-other%2fsecret.txt', '/sub/..%2F..%2Fsecret.txt',
      '/link-out.txt', '/dir-out/secret.txt', '/%00', '/app.js%00.html', '/%E0%A4%A', '/nothing-here',
    ]) {
      const r = await request(port, 'GET', p);
      assert.equal(r.status, 404, `${p} gave ${r.status}`);
      assert.doesNotMatch(r.body.toString(), /secret/, p);
    }
  });

  await t.test('GET and HEAD only', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await request(port, method, '/app.js');
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
    const head = await request(port, 'HEAD', '/app.js');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(Number(head.headers['content-length']), script.length);
  });

  await t.test('compressed where the client accepts it, with cache headers', async () => {
    const plain = await request(port, 'GET', '/app.js');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), script);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.headers['cache-control'], 'no-cache');

    const gz = await request(port, 'GET', '/app.js', { 'accept-encoding': 'gzip, deflate' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(gz.body.length < script.length / 10);
    assert.equal(zlib.gunzipSync(gz.body).toString(), script);
    assert.notEqual(gz.headers.etag, plain.headers.etag);

    // The precompressed sibling, when brotli is accepted; gzip made here when only gzip is.
    const br = await request(port, 'GET', '/big.bin', { 'accept-encoding': 'gzip, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.deepEqual(zlib.brotliDecompressSync(br.body), big);
    const refused = await request(port, 'GET', '/big.bin', { 'accept-encoding': 'br;q=0, gzip' });
    assert.equal(refused.headers['content-encoding'], 'gzip');
    assert.deepEqual(zlib.gunzipSync(refused.body), big);

    // Revalidation: the same tag gives 304 and no body.
    const again = await request(port, 'GET', '/app.js', { 'accept-encoding': 'gzip', 'if-none-match': gz.headers.etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
  });

  await t.test('the site\'s files carry the content security policy, a mounted tool\'s do not', async () => {
    for (const p of ['/', '/app.js', '/big.bin']) {
      assert.equal((await request(port, 'GET', p)).headers['content-security-policy'], CONTENT_SECURITY_POLICY, p);
    }
    const revalidated = await request(port, 'GET', '/app.js', { 'if-none-match': (await request(port, 'GET', '/app.js')).headers.etag });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    const tool = await request(port, 'GET', '/tool/');
    assert.equal(tool.body.toString(), 'a mounted tool');
    assert.equal(tool.headers['content-security-policy'], undefined);
  });
});

test('every page in www/ carries the server\'s policy as a meta tag, before anything it governs', () => {
  const pages = fs.readdirSync(WWW, { recursive: true }).filter((f) => f.endsWith('.html'));
  assert.ok(pages.includes('index.html') && pages.includes(path.join('bench', 'index.html')), `pages: ${pages}`);
  for (const page of pages) {
    const html = fs.readFileSync(path.join(WWW, page), 'utf8');
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
    assert.ok(meta, `${page} has no policy meta tag`);
    assert.equal(meta[1], CONTENT_SECURITY_POLICY, page);
    // A meta policy governs only what comes after it.
    const first = html.search(/<(link|script|style)\b/);
    assert.ok(first === -1 || meta.index < first, `${page}: the policy comes after a <link>, <script> or <style>`);
  }
});
