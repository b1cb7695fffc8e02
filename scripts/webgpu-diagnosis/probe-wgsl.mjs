// Compiles WGSL files in headless Chromium's WebGPU (WEBGPU_FLAGS: SwiftShader here) on a fresh
// device each, and prints Chrome's compilation messages and the createShaderModule /
// createComputePipeline validation errors. For checking a module that diagnose-webgpu.mjs wrote out,
// e.g. with a device feature the page's device lacks.
//   node scripts/webgpu-diagnosis/probe-wgsl.mjs [--features=subgroups,shader-f16] [--entry=NAME] FILE.wgsl...
//   (the entry point defaults to the first `fn` after `@compute`)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../chromium.mjs';
import { serve } from '../serve.mjs';

const args = process.argv.slice(2);
const features = (args.find((a) => a.startsWith('--features='))?.slice(11) ?? '').split(',').filter(Boolean);
const entryArg = args.find((a) => a.startsWith('--entry='))?.slice(8);
const files = args.filter((a) => !a.startsWith('--'));
const cases = files.map((f) => {
  const code = fs.readFileSync(f, 'utf8');
  const entry = entryArg ?? code.match(/@compute[^]*?fn\s+(\w+)/)?.[1] ?? 'main';
  return { name: path.basename(f), code, entry };
});

const site = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-www-'));
fs.writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>probe</title>');
const server = await serve(0, site);
const { context, page } = await launch({ webgpu: true });
await page.goto(`http://127.0.0.1:${server.address().port}/`);
const results = await page.evaluate(async ({ cases, features }) => {
  const out = [];
  for (const { name, code, entry } of cases) {
    const adapter = await navigator.gpu.requestAdapter();
    const device = await adapter.requestDevice({ requiredFeatures: features });
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: name });
    const info = await module.getCompilationInfo();
    const moduleError = await device.popErrorScope();
    device.pushErrorScope('validation');
    device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: entry } });
    const pipelineError = await device.popErrorScope();
    out.push({
      name, entry, deviceFeatures: [...device.features].sort(),
      messages: [...info.messages].map((m) => ({ type: m.type, line: m.lineNum, pos: m.linePos, message: m.message })),
      moduleError: moduleError?.message ?? null, pipelineError: pipelineError?.message ?? null,
    });
    device.destroy();
  }
  return out;
}, { cases, features });
await context.close();
server.close();
for (const r of results) {
  const ok = !r.moduleError && !r.pipelineError;
  console.log(`${ok ? 'OK  ' : 'FAIL'} ${r.name} (entry ${r.entry}; requiredFeatures [${features.join(', ')}])`);
  for (const m of r.messages) console.log(`     ${m.type} ${m.line}:${m.pos} ${m.message}`);
  if (r.pipelineError) console.log(`     pipeline: ${r.pipelineError.split('\n')[0]}`);
}
process.exitCode = results.every((r) => !r.moduleError && !r.pipelineError) ? 0 : 1;
