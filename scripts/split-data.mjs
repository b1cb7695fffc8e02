// The page's data set in the order its panels need it: www/data/mnist-test.bin (the 997 test
// digits: the neighbours, the score's percentile, the map), fetched after the page's first answer,
// and www/data/mnist-train.bin (the 9 003 training digits), fetched only when something first
// trains. Made from the committed www/data/mnist.bin by scripts/build-web.sh; each is a compact
// file (crates/vae/src/data.rs) of its split, digits in the committed file's order. The page
// appends the training digits to the test digits, so its data-set order is test digits first:
// `--whole FILE` writes that order as one file, for the CLI that makes the page's t-SNE map file
// (scripts/train-default.sh).
//   node scripts/split-data.mjs [--whole FILE] [IN (www/data/mnist.bin)] [OUT_DIR (beside IN)]
import fs from 'node:fs';
import path from 'node:path';

const HEADER = 16;
const PIXELS = 784;

/** The compact file's parts: {n, labels, split, pixels} (views on `bytes`). */
export function readCompact(bytes) {
  if (bytes.length < HEADER || bytes.toString('ascii', 0, 4) !== 'LSMN' || bytes.readUInt32LE(4) !== 1) {
    throw new Error('not a Latent Sketchpad data file of version 1');
  }
  const n = bytes.readUInt32LE(8);
  if (bytes.length !== HEADER + n * (2 + PIXELS)) throw new Error(`${bytes.length} bytes do not hold ${n} digits`);
  return { n, labels: bytes.subarray(HEADER, HEADER + n), split: bytes.subarray(HEADER + n, HEADER + 2 * n), pixels: bytes.subarray(HEADER + 2 * n) };
}

/** The compact file of the digits at `indices` of `data` (readCompact's), in that order. */
export function writeCompact(data, indices) {
  const n = indices.length;
  const out = Buffer.alloc(HEADER + n * (2 + PIXELS));
  out.write('LSMN', 0, 'ascii');
  out.writeUInt32LE(1, 4);
  out.writeUInt32LE(n, 8);
  out.writeUInt16LE(28, 12);
  out.writeUInt16LE(28, 14);
  indices.forEach((i, at) => {
    out[HEADER + at] = data.labels[i];
    out[HEADER + n + at] = data.split[i];
    out.set(data.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), HEADER + 2 * n + at * PIXELS);
  });
  return out;
}

/** Writes `bytes` to `file` unless it holds them already (a rebuild keeps its date, and so its
 *  compressed copies: scripts/precompress.mjs). */
function writeIfChanged(file, bytes) {
  if (fs.existsSync(file) && fs.readFileSync(file).equals(bytes)) return;
  fs.writeFileSync(file, bytes);
}

const args = process.argv.slice(2);
const at = args.indexOf('--whole');
const whole = at >= 0 ? args.splice(at, 2)[1] : null;
const input = args[0] ?? 'www/data/mnist.bin';
const outDir = args[1] ?? path.dirname(input);
const data = readCompact(fs.readFileSync(input));
const test = [];
const train = [];
for (let i = 0; i < data.n; i++) (data.split[i] === 1 ? test : train).push(i);
fs.mkdirSync(outDir, { recursive: true });
writeIfChanged(path.join(outDir, 'mnist-test.bin'), writeCompact(data, test));
writeIfChanged(path.join(outDir, 'mnist-train.bin'), writeCompact(data, train));
if (whole) writeIfChanged(whole, writeCompact(data, [...test, ...train]));
console.log(`${outDir}/mnist-test.bin: ${test.length} digits; ${outDir}/mnist-train.bin: ${train.length} digits${whole ? `; ${whole}: both, test digits first` : ''}`);
