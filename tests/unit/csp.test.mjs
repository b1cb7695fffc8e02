// The site's content security policy allows inline scripts only by their SHA-256: each inline
// script of every page in www/ must be named in it (else the browser refuses to run it: index.html's
// starts the model's worker, and js/rpc.js would then start it ~80 ms later), and the policy names
// no script that is not there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTENT_SECURITY_POLICY } from '../../scripts/serve.mjs';

const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'www');

/** The hashes the policy's script-src allows, as 'sha256-…' sources. */
const allowed = () => CONTENT_SECURITY_POLICY.split(';').map((d) => d.trim().split(/\s+/))
  .find(([name]) => name === 'script-src').slice(1).filter((s) => s.startsWith("'sha256-"));

/** Each inline script (a <script> without src) of `html`, as the 'sha256-…' source naming it. */
const inlineHashes = (html) => [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)]
  .map((m) => `'sha256-${crypto.createHash('sha256').update(m[1], 'utf8').digest('base64')}'`);

test('every inline script of www/ is named by its hash in the policy, and the policy names no other', () => {
  const pages = fs.readdirSync(WWW, { recursive: true }).filter((f) => f.endsWith('.html'));
  const found = new Set();
  for (const page of pages) {
    for (const hash of inlineHashes(fs.readFileSync(path.join(WWW, page), 'utf8'))) {
      assert.ok(allowed().includes(hash), `${page}: an inline script whose hash ${hash} the policy does not allow`);
      found.add(hash);
    }
  }
  assert.deepEqual(allowed().filter((h) => !found.has(h)), [], 'the policy allows scripts that no page has');
  assert.ok(found.size >= 1, 'index.html starts the model\'s worker from an inline script');
});

test('the hash of a changed script is not allowed (the check reads what the browser hashes)', () => {
  const html = fs.readFileSync(path.join(WWW, 'index.html'), 'utf8');
  const changed = html.replace(/(<script>)([^<]*)(<\/script>)/, (_, open, body, close) => `${open}${body} ${close}`);
  assert.notEqual(changed, html);
  assert.ok(inlineHashes(changed).some((h) => !allowed().includes(h)));
});
