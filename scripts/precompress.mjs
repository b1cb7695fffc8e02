// Writes brotli (.br) and gzip (.gz) copies beside the site's big files (the wasm module, the
// default model, the data set), so scripts/serve.mjs — or any static host that serves
// precompressed files — sends them compressed without compressing per request. A copy that is
// newer than its file is kept.
//   node scripts/precompress.mjs [folder (www)]
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'www');
const EXTENSIONS = new Set(['.wasm', '.bin', '.safetensors', '.js', '.json']);
const MIN_BYTES = 64 * 1024; // smaller files are gzipped by the server itself

// Brotli's best quality took 52 s for the 17.5 MB wasm module here and made it 2.17 MB (quality 9:
// 8 s, 2.55 MB; gzip -9: 3.65 MB). The models gain less, at a cost hidden behind the module's
// (2026-12-06, this script on a copy of www/model, quality 11 against 9): the default model in f32
// 2 376 892 bytes against 2 404 948, in f16 (default-f16) 1 124 683 against 1 186 433, in 8 bits
// (default-q8) 499 153 against 508 014; the six model files took 20 s together instead of 1 s.
const BROTLI_QUALITY = { '.wasm': 11, '.bin': 11, '.safetensors': 11 };
// Asynchronous, all at once: each runs on a thread of Node's pool, so the two long ones (the wasm
// module and the data set at brotli's best, 40 s and 19 s here) take the time of the longer.
const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);
const COMPRESSORS = {
  '.br': (data, ext) => brotli(data, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY[ext] ?? 9,
      [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  }),
  '.gz': (data) => gzip(data, { level: 9 }),
};

function* files(folder) {
  for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
    const file = path.join(folder, entry.name);
    if (entry.isDirectory()) yield* files(file);
    else if (entry.isFile() && EXTENSIONS.has(path.extname(file)) && fs.statSync(file).size >= MIN_BYTES) yield file;
  }
}

const folder = path.resolve(process.argv[2] ?? ROOT);
const jobs = [];
for (const file of files(folder)) {
  const mtime = fs.statSync(file).mtimeMs;
  let data = null;
  for (const [suffix, compress] of Object.entries(COMPRESSORS)) {
    const out = file + suffix;
    if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= mtime) continue;
    data ??= fs.readFileSync(file);
    const t0 = Date.now();
    const input = data;
    jobs.push(compress(input, path.extname(file)).then((packed) => {
      fs.writeFileSync(out, packed);
      console.log(`${path.relative(folder, out)}: ${(packed.length / 1e6).toFixed(2)} MB of ${(input.length / 1e6).toFixed(2)} MB (${Date.now() - t0} ms)`);
    }));
  }
}
await Promise.all(jobs);
