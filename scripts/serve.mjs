// A static file server for www/ on 127.0.0.1 (the run script and the browser tests use it).
//   node scripts/serve.mjs [PORT]    (0 = any free port)
// Safe to point at any folder: only regular files whose real path (symlinks resolved) is inside
// the served folder are sent, only for GET and HEAD. Compressed where the client accepts it:
// brotli or gzip files written beside the originals by scripts/precompress.mjs (the build does it
// for the big files: wasm, model, data), else gzip made here and kept in memory for small text
// files; with `Content-Encoding`, `Vary: Accept-Encoding`, an ETag and `no-cache` (revalidate:
// file names carry no hash, so a new build must replace what a browser holds).
// It sends COOP/COEP so that features needing cross-origin isolation can switch on; the page does
// not depend on them and works from any static server. With the site's files it sends the site's
// content security policy, which its pages also carry as a meta tag for static hosts.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'www');
/** Scripts, styles, images, fetches and workers from this origin only; no inline style, no eval,
 *  and one inline script, named by its SHA-256 (index.html's, which starts the model's worker as
 *  the document arrives; tests/unit/csp.test.mjs holds the hash equal to it): an injected tag or
 *  string cannot run. 'wasm-unsafe-eval' lets the page compile its WebAssembly module (the model),
 *  and allows no eval. The meta tag in every page of www/ is this string (tests/serve.test.mjs
 *  checks it). */
export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-HEK+il7Vj5YDMA7tet21u1WUGYQJ3LIgLavoQFw8UqM='";
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.bin': 'application/octet-stream', '.safetensors': 'application/octet-stream', '.svg': 'image/svg+xml',
};
/** Worth compressing (PNG is compressed already). */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.wasm', '.json', '.bin', '.safetensors', '.svg']);
/** Larger files are compressed ahead of time (scripts/precompress.mjs), not per request. */
const ON_THE_FLY_MAX = 1 << 20;
/** Each encoding, and the extension of its precompressed file; preferred first. */
const ENCODINGS = [['br', '.br'], ['gzip', '.gz']];

/** The encodings an Accept-Encoding header allows (q=0 refuses one). */
function accepted(header = '') {
  const ok = new Set();
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (name && !(q && Number(q.slice(2)) === 0)) ok.add(name);
  }
  return ok;
}

/** The real path of `rest` under `base`, or null if it is not a regular file inside it (after
 *  resolving `..`, encoded separators and symlinks). A folder gives its index.html. */
function resolveInside(base, rest) {
  let decoded;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  let real;
  try {
    real = fs.realpathSync(path.join(base, decoded));
    if (fs.statSync(real).isDirectory()) real = fs.realpathSync(path.join(real, 'index.html'));
  } catch {
    return null;
  }
  const inside = real === base || real.startsWith(base + path.sep);
  return inside && fs.statSync(real).isFile() ? real : null;
}

const gzipCache = new Map(); // file → {key, data}

/** What to send for `file`: a precompressed sibling that is not older than the file, else gzip
 *  made here (small compressible files), else the file as it is. `read` gives the bytes. */
function representation(file, stat, accepts) {
  if (COMPRESSIBLE.has(path.extname(file))) {
    for (const [encoding, suffix] of ENCODINGS) {
      if (!accepts.has(encoding)) continue;
      try {
        if (fs.statSync(file + suffix).mtimeMs >= stat.mtimeMs) return { encoding, read: () => fs.readFileSync(file + suffix) };
      } catch { /* none: try the next */ }
    }
    if (accepts.has('gzip') && stat.size <= ON_THE_FLY_MAX) {
      const read = () => {
        const key = `${stat.size}-${stat.mtimeMs}`;
        let cached = gzipCache.get(file);
        if (cached?.key !== key) {
          cached = { key, data: zlib.gzipSync(fs.readFileSync(file), { level: 9 }) };
          gzipCache.set(file, cached);
        }
        return cached.data;
      };
      return { encoding: 'gzip', read };
    }
  }
  return { encoding: null, read: () => fs.readFileSync(file) };
}

/** Serves `root` at / and each of `mounts` ({'/prefix/': folder}) at its prefix: the benchmark and
 *  diagnosis tools mount their own pages beside the site without shipping them in www/. The policy
 *  goes with the root's files only: a mounted folder holds a tool's own pages and code (the TF.js
 *  peer builds functions from strings), not the site. */
export function serve(port = 0, root = ROOT, mounts = {}) {
  // Real paths once: every file's real path is compared against them.
  const rootBase = fs.realpathSync(root);
  const mountBases = Object.fromEntries(Object.entries(mounts).map(([prefix, folder]) => [prefix, fs.realpathSync(folder)]));
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed');
      return;
    }
    const url = new URL(req.url, 'http://127.0.0.1');
    const prefix = Object.keys(mountBases).find((p) => url.pathname.startsWith(p));
    const base = prefix ? mountBases[prefix] : rootBase;
    const file = resolveInside(base, prefix ? url.pathname.slice(prefix.length) : url.pathname);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const stat = fs.statSync(file);
    const { encoding, read } = representation(file, stat, accepted(req.headers['accept-encoding']));
    // One tag per file version and encoding (each encoding is its own representation).
    const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}${encoding ? `-${encoding}` : ''}"`;
    const headers = {
      'cache-control': 'no-cache',
      etag,
      vary: 'Accept-Encoding',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      ...(!prefix && { 'content-security-policy': CONTENT_SECURITY_POLICY }),
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const data = read();
    res.writeHead(200, {
      ...headers,
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': data.length,
      ...(encoding && { 'content-encoding': encoding }),
    });
    res.end(req.method === 'HEAD' ? undefined : data);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`Latent Sketchpad: http://127.0.0.1:${server.address().port}/`);
}
