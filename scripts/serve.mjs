// A static file server for www/ on 127.0.0.1 (the run script and the browser tests use it).
//   node scripts/serve.mjs [PORT]    (0 = any free port)
// It sends COOP/COEP so that features needing cross-origin isolation can switch on; the page does
// not depend on them and works from any static server.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'www');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.bin': 'application/octet-stream', '.safetensors': 'application/octet-stream', '.svg': 'image/svg+xml',
};

/** Serves `root` at / and each of `mounts` ({'/prefix/': folder}) at its prefix: the benchmark and
 *  diagnosis tools mount their own pages beside the site without shipping them in www/. */
export function serve(port = 0, root = ROOT, mounts = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const prefix = Object.keys(mounts).find((p) => url.pathname.startsWith(p));
    const base = prefix ? path.resolve(mounts[prefix]) : root;
    const rest = prefix ? url.pathname.slice(prefix.length) : url.pathname;
    let file = path.normalize(path.join(base, decodeURIComponent(rest)));
    if (!file.startsWith(base)) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (err, body) => {
      if (err) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'); return; }
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      });
      res.end(body);
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`Latent Sketchpad: http://127.0.0.1:${server.address().port}/`);
}
