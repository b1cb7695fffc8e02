// The figures behind the 8-bit copy's layout (`VaeWeights::to_safetensors_q8` in
// crates/vae/src/model/weights.rs): for a model file in f32, the weights' bytes after brotli at
// quality 11 (window 2²⁴, as scripts/precompress.mjs sends a model) for each choice of step and each
// byte order tried, and each choice's test loss with z = μ (`vae eval`'s loss_mu, on the model
// rebuilt from its 8-bit values). Then each model file given after it: raw bytes and brotli's.
//   node scripts/measure-q8.mjs [model (www/model/default.safetensors)] [file…]
// `vae` is $CARGO_TARGET_DIR/release/vae (scripts/lib.sh's build_cli makes it).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VAE = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'vae');
const LAYERS = ['fc1', 'fc21', 'fc22', 'fc3', 'fc4'];

const brotli = (bytes) => zlib.brotliCompressSync(bytes, {
  params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
    [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
  },
}).length;

/** A safetensors file of F32 tensors: { metadata, tensors: { name: { shape, values } } }. */
function readF32(file) {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString());
  const data = bytes.subarray(8 + headerLength);
  const tensors = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [start, end] } = entry;
    if (dtype !== 'F32') throw new Error(`${file}: ${name} is ${dtype}; this script reads f32 models`);
    tensors[name] = { shape, values: new Float32Array(data.buffer.slice(data.byteOffset + start, data.byteOffset + end)) };
  }
  return { metadata: header.__metadata__ ?? {}, tensors };
}

function writeF32(file, metadata, tensors) {
  const header = { __metadata__: metadata };
  const parts = [];
  let offset = 0;
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + values.byteLength] };
    parts.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    offset += values.byteLength;
  }
  const json = JSON.stringify(header);
  const text = Buffer.from(json + ' '.repeat((8 - (json.length % 8)) % 8));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  fs.writeFileSync(file, Buffer.concat([length, text, ...parts]));
}

const largest = (values) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Each choice of step: for a row (and its tensor's largest magnitude), the codes (0–255 as stored)
 *  and the values they stand for. */
const STEPS = {
  'one per row, symmetric': (row) => {
    const step = Math.fround(largest(row) / 127);
    const q = row.map((v) => (step ? Math.round(v / step) : 0));
    return { codes: q.map((c) => c & 255), values: q.map((c) => Math.fround(c * step)) };
  },
  'one per row, affine (min + step · u8)': (row) => {
    const min = Math.fround(row.reduce((m, v) => Math.min(m, v), Infinity));
    const step = Math.fround((row.reduce((m, v) => Math.max(m, v), -Infinity) - min) / 255);
    const q = row.map((v) => (step ? Math.round((v - min) / step) : 0));
    return { codes: q, values: q.map((c) => Math.fround(min + Math.fround(c * step))) };
  },
  'one per tensor, symmetric': (row, tensorLargest) => {
    const step = Math.fround(tensorLargest / 127);
    const q = row.map((v) => (step ? Math.round(v / step) : 0));
    return { codes: q.map((c) => c & 255), values: q.map((c) => Math.fround(c * step)) };
  },
};

/** Byte orders for a tensor's signed codes [rows, columns] (two's complement as stored). */
const signed = (c) => (c > 127 ? c - 256 : c);
const ORDERS = {
  'row-major, two\'s complement': (q) => q,
  'transposed': (q, rows, cols) => Array.from(q, (_, k) => q[(k % rows) * cols + Math.floor(k / rows)]),
  'offset binary': (q) => q.map((c) => (signed(c) + 128) & 255),
  'zigzag': (q) => q.map((c) => { const s = signed(c); return s >= 0 ? 2 * s : -2 * s - 1; }),
  'sign and magnitude': (q) => q.map((c) => { const s = signed(c); return s < 0 ? 128 | -s : s; }),
  'minus its left neighbour': (q, rows, cols) => q.map((c, k) => (c - (k % cols ? q[k - 1] : 0)) & 255),
  'minus the one above': (q, rows, cols) => q.map((c, k) => (c - (k >= cols ? q[k - cols] : 0)) & 255),
};

const modelFile = path.resolve(process.argv[2] ?? path.join(ROOT, 'www/model/default.safetensors'));
const { metadata, tensors } = readF32(modelFile);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'measure-q8-'));
console.log(`${path.relative(ROOT, modelFile)}: test loss (z = μ) ${lossMu(modelFile).toFixed(4)} in f32`);
for (const [choice, quantize] of Object.entries(STEPS)) {
  const rebuilt = { ...tensors };
  const codes = {};
  for (const layer of LAYERS) {
    const { shape: [rows, cols], values } = tensors[`${layer}.weight`];
    const tensor = Array.from(values);
    const tensorLargest = largest(tensor);
    const out = new Float32Array(rows * cols);
    codes[layer] = [];
    for (let r = 0; r < rows; r++) {
      const q = quantize(tensor.slice(r * cols, (r + 1) * cols), tensorLargest);
      out.set(q.values, r * cols);
      codes[layer].push(...q.codes);
    }
    rebuilt[`${layer}.weight`] = { shape: [rows, cols], values: out };
  }
  const file = path.join(scratch, 'rebuilt.safetensors');
  writeF32(file, metadata, rebuilt);
  const orders = choice.includes('affine') ? { 'row-major': ORDERS['row-major, two\'s complement'] } : ORDERS;
  const sizes = Object.entries(orders).map(([order, arrange]) => {
    const bytes = Buffer.concat(LAYERS.map((layer) => {
      const [rows, cols] = tensors[`${layer}.weight`].shape;
      return Buffer.from(arrange(codes[layer], rows, cols));
    }));
    return `${order} ${brotli(bytes)}`;
  });
  console.log(`${choice}: test loss ${lossMu(file).toFixed(4)}; weights after brotli: ${sizes.join(', ')} bytes`);
}
for (const file of process.argv.slice(3)) {
  const bytes = fs.readFileSync(file);
  console.log(`${file}: ${bytes.length} bytes, ${brotli(bytes)} after brotli; test loss ${lossMu(file).toFixed(4)}`);
}
fs.rmSync(scratch, { recursive: true });

function lossMu(file) {
  return JSON.parse(execFileSync(VAE, ['eval', '--model', file, '--json'])).loss_mu;
}
