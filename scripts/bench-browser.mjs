// Times the page's operations in headless Chromium on WebGPU (SwiftShader here) and on the CPU
// backend in the same run, and prints WebGPU/CPU ratios.
// Usage: node scripts/bench-browser.mjs [batch (128)] [hidden width (400)]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { BASE_FLAGS, WEBGPU_FLAGS } from '../tests/browser.mjs';
import { serve } from './serve.mjs';

const batch = Number(process.argv[2] ?? 128);
const hidden = Number(process.argv[3] ?? 400);
const server = await serve(0);
const origin = `http://127.0.0.1:${server.address().port}`;
const results = {};
for (const backend of ['cpu', 'webgpu']) {
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'chrome-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...BASE_FLAGS, ...(backend === 'webgpu' ? WEBGPU_FLAGS : [])],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${origin}/bench/?backend=${backend}&batch=${batch}&hidden=${hidden}`);
  await page.waitForSelector('body[data-result]', { timeout: 1_800_000 });
  results[backend] = JSON.parse(await page.getAttribute('body', 'data-result'));
  await context.close();
  if (results[backend].error) throw new Error(`${backend}: ${results[backend].error}`);
  console.log(backend, JSON.stringify(results[backend]));
}
server.close();
const { cpu, webgpu } = results;
const row = (name, a, b) => console.log(`${name.padEnd(28)} ${a.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(10)} ${(b / a).toFixed(1).padStart(8)}`);
console.log(`${'operation (ms)'.padEnd(28)} ${'CPU'.padStart(10)} ${'WebGPU'.padStart(10)} ${'ratio'.padStart(8)}`);
row('start (create + self-test)', cpu.createMs, webgpu.createMs);
for (const op of ['indexStep', 'analyse', 'sample64', 'trainStep']) {
  row(`${op}, first call`, cpu[op].firstMs, webgpu[op].firstMs);
  row(`${op}, median after`, cpu[op].medianMs, webgpu[op].medianMs);
}
console.log(`training at batch ${batch}, hidden ${hidden}: CPU ${cpu.samplesPerSecond.toFixed(0)} samples/s, WebGPU ${webgpu.samplesPerSecond.toFixed(0)} samples/s`);
