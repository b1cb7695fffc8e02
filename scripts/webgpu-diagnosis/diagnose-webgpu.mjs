// Diagnoses Burn/CubeCL on WebGPU in headless Chromium: runs the browser benchmark page
// (/bench/?backend=webgpu&capture=1) with scripts/webgpu-diagnosis/capture.js (mounted at /diagnosis/, never part of the site) recording the WebGPU API calls, then
// prints the adapter's limits, the shader modules Chrome rejected (with its messages and the WGSL
// lines they point at), pipeline errors and uncaptured errors, and writes every WGSL module and the
// full report to OUT_DIR.
//
//   node scripts/webgpu-diagnosis/diagnose-webgpu.mjs OUT_DIR [PKG_DIR]
//     PKG_DIR (or env PKG_DIR): the wasm-bindgen output the page loads instead of www/pkg, e.g.
//     www/pkg-baseline or www/pkg-autotune, served at /pkg/ in place of www/pkg.
//   env: BATCH (128), HIDDEN (400), TIMEOUT_MIN (45), BACKEND (webgpu), CHROMIUM (/usr/bin/chromium)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from '../chromium.mjs';
import { serve } from '../serve.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

const outDir = path.resolve(process.argv[2] ?? 'diagnose-out');
const pkgDir = path.resolve(process.argv[3] ?? process.env.PKG_DIR ?? path.join(ROOT, 'www/pkg'));
const batch = Number(process.env.BATCH ?? 128);
const hidden = Number(process.env.HIDDEN ?? 400);
const backend = process.env.BACKEND ?? 'webgpu';
const timeoutMs = Number(process.env.TIMEOUT_MIN ?? 45) * 60_000;
if (!fs.existsSync(path.join(pkgDir, 'vae_web.js'))) throw new Error(`${pkgDir} has no vae_web.js`);
fs.mkdirSync(path.join(outDir, 'wgsl'), { recursive: true });

// The site with the chosen pkg/ mounted over its own. (Not a copy of www/ made of symlinks: the
// server refuses any file whose real path is outside the folder it serves.)
const log = (...a) => console.log(...a);
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
log(`pkg: ${pkgDir} (${(fs.statSync(path.join(pkgDir, 'vae_web_bg.wasm')).size / 1048576).toFixed(1)} MiB wasm)`);
const server = await serve(0, path.join(ROOT, 'www'), { '/diagnosis/': HERE, '/pkg/': pkgDir });
const origin = `http://127.0.0.1:${server.address().port}`;
const { context, page } = await launch({ webgpu: true });
const consoleLines = [];
page.on('console', (m) => consoleLines.push({ atS: Number(secs()), type: m.type(), text: m.text() }));
page.on('pageerror', (e) => consoleLines.push({ atS: Number(secs()), type: 'pageerror', text: e.message }));
page.on('worker', (w) => w.on('close', () => consoleLines.push({ atS: Number(secs()), type: 'worker', text: 'worker closed' })));
const response = await page.goto(`${origin}/bench/?backend=${backend}&capture=1&batch=${batch}&hidden=${hidden}`);
if (!response?.ok()) throw new Error(`the bench page did not load: HTTP ${response?.status()}`);

// Wait for the result, printing progress; on timeout, ask the worker for what it has.
let result = null;
const deadline = Date.now() + timeoutMs;
let lastCounts = '';
while (Date.now() < deadline) {
  const attr = await page.getAttribute('body', 'data-result');
  if (attr) { result = JSON.parse(attr); break; }
  const worker = page.workers()[0];
  if (worker) {
    const c = await worker.evaluate(() => self.__webgpuCapture?.counts()).catch(() => null);
    const line = JSON.stringify(c);
    if (c && line !== lastCounts) { log(`[${secs()} s] ${line}`); lastCounts = line; }
  }
  await new Promise((r) => setTimeout(r, 5000));
}
if (!result) {
  log(`[${secs()} s] no result after ${timeoutMs / 60000} min: reading the capture from the worker`);
  const worker = page.workers()[0];
  const capture = worker ? await worker.evaluate(() => self.__webgpuCapture?.report({ timeoutMs: 10_000 })).catch((e) => ({ error: String(e) })) : null;
  result = { error: 'timed out', capture };
}
const wallS = Number(secs());
await context.close();
server.close();

// ---- Summary ----
const cap = result.capture ?? {};
const { capture: _omit, ...bench } = result;
fs.writeFileSync(path.join(outDir, 'report.json'), JSON.stringify({ pkgDir, wallS, bench, capture: cap, console: consoleLines }, null, 1));
log(`\n== result after ${wallS} s`);
log(JSON.stringify(bench));

const INTEREST = ['maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize',
  'maxBufferSize', 'maxStorageBuffersPerShaderStage', 'maxBindingsPerBindGroup', 'maxBindGroups', 'maxUniformBufferBindingSize',
  'minStorageBufferOffsetAlignment', 'minSubgroupSize', 'maxSubgroupSize'];
for (const [i, a] of (cap.adapters ?? []).entries()) {
  log(`\n== adapter ${i}: ${JSON.stringify(a.info ?? a.result)}`);
  log(`features: ${(a.features ?? []).join(', ')}`);
  const dev = (cap.devices ?? [])[i];
  log(`${'limit'.padEnd(36)} ${'adapter'.padStart(12)} ${'requested'.padStart(12)} ${'device'.padStart(12)}`);
  for (const k of INTEREST) {
    if (a.limits?.[k] === undefined) continue;
    log(`${k.padEnd(36)} ${String(a.limits[k]).padStart(12)} ${String(dev?.requiredLimits?.[k] ?? '-').padStart(12)} ${String(dev?.limits?.[k] ?? '-').padStart(12)}`);
  }
}
for (const [i, d] of (cap.devices ?? []).entries()) {
  log(`device ${i}: requiredFeatures [${(d.requiredFeatures ?? []).join(', ')}], device features [${(d.features ?? []).join(', ')}]${d.error ? `, ERROR ${d.error.message}` : ''}`);
}
log(`WGSL language features: ${(cap.wgslLanguageFeatures ?? []).join(', ')}`);

/** Rough static facts from WGSL: workgroup size and workgroup-storage bytes (an estimate). */
function wgslFacts(code) {
  const size = (t) => {
    t = t.replace(/\s+/g, '');
    let m;
    if ((m = t.match(/^array<(.+),(\d+)u?>$/))) return size(m[1]) * Number(m[2]);
    if ((m = t.match(/^vec([234])<(.+)>$/))) return (m[1] === '3' ? 4 : Number(m[1])) * size(m[2]);
    if ((m = t.match(/^vec([234])([fhiu])$/))) return (m[1] === '3' ? 4 : Number(m[1])) * (m[2] === 'h' ? 2 : 4);
    if ((m = t.match(/^atomic<(.+)>$/))) return size(m[1]);
    return { f16: 2, f32: 4, i32: 4, u32: 4, bool: 4, f64: 8, i64: 8, u64: 8 }[t] ?? NaN;
  };
  const wg = [...code.matchAll(/var<workgroup>\s+(\w+)\s*:\s*([^;]+);/g)].map((m) => ({ name: m[1], type: m[2].trim(), bytes: size(m[2]) }));
  const ws = code.match(/@workgroup_size\(([^)]*)\)/);
  const dims = ws ? ws[1].split(',').map((x) => Number(x.trim().replace(/u$/, ''))) : [];
  return {
    workgroupSize: dims, invocations: dims.reduce((a, b) => a * (Number.isFinite(b) ? b : NaN), 1),
    workgroupVars: wg, workgroupBytes: wg.reduce((a, v) => a + v.bytes, 0),
    enables: [...code.matchAll(/^\s*enable\s+([^;]+);/gm)].map((m) => m[1].trim()),
    bindings: (code.match(/@binding\(/g) ?? []).length,
  };
}

const mods = cap.shaderModules ?? [];
const unique = new Set(mods.map((m) => m.code));
log(`\n== ${mods.length} shader modules (${unique.size} distinct WGSL texts), ${(cap.pipelines ?? []).length} compute pipelines`);
const safe = (s) => s.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 120);
const index = [];
const devLimits = cap.devices?.[0]?.limits ?? cap.adapters?.[0]?.limits ?? {};
for (const m of mods) {
  const file = `${String(m.index).padStart(4, '0')}-${safe(m.label || 'unlabelled')}.wgsl`;
  fs.writeFileSync(path.join(outDir, 'wgsl', file), m.code);
  const facts = wgslFacts(m.code);
  const errors = (m.messages ?? []).filter((x) => x.type === 'error');
  const warnings = (m.messages ?? []).filter((x) => x.type !== 'error');
  index.push({ index: m.index, file, label: m.label, atMs: m.atMs, validationError: m.validationError?.message ?? null,
    errors: errors.length, warnings: warnings.length, ...facts, workgroupVars: undefined });
  if (!errors.length && !warnings.length && !m.validationError) continue;
  log(`\n-- module #${m.index} "${m.label}" (${file}) at ${m.atMs} ms: ${errors.length} errors, ${warnings.length} warnings/infos`);
  log(`   workgroup_size ${JSON.stringify(facts.workgroupSize)} (= ${facts.invocations} invocations; device max ${devLimits.maxComputeInvocationsPerWorkgroup}), workgroup storage ≈ ${facts.workgroupBytes} B (device max ${devLimits.maxComputeWorkgroupStorageSize}), enables [${facts.enables.join(', ')}]`);
  if (m.validationError) log(`   createShaderModule validation error: ${m.validationError.message.split('\n').join('\n     ')}`);
  const lines = m.code.split('\n');
  for (const msg of [...errors, ...warnings].slice(0, 8)) {
    log(`   ${msg.type} at line ${msg.lineNum}:${msg.linePos}: ${msg.message}`);
    if (msg.lineNum > 0) {
      for (let l = Math.max(1, msg.lineNum - 2); l <= Math.min(lines.length, msg.lineNum + 2); l++) {
        log(`     ${l === msg.lineNum ? '>' : ' '}${String(l).padStart(5)} | ${lines[l - 1]}`);
      }
    }
  }
}
fs.writeFileSync(path.join(outDir, 'modules.json'), JSON.stringify(index, null, 1));
const maxWg = index.reduce((a, m) => Math.max(a, m.workgroupBytes || 0), 0);
const maxInv = index.reduce((a, m) => Math.max(a, m.invocations || 0), 0);
log(`\nlargest workgroup storage in any module ≈ ${maxWg} B; largest workgroup ${maxInv} invocations`);
const bad = index.filter((m) => m.errors || m.validationError);
log(`modules with compilation errors or validation errors: ${bad.length}${bad.length ? ': ' + [...new Set(bad.map((m) => m.label))].join(', ') : ''}`);

const pipeErrs = (cap.pipelines ?? []).filter((p) => p.validationError);
log(`\n== pipeline errors: ${pipeErrs.length}`);
for (const p of pipeErrs.slice(0, 10)) log(`-- pipeline #${p.index} "${p.label}" (${p.kind}): ${p.validationError.message.split('\n').join('\n   ')}`);
const ue = cap.uncapturedErrors ?? [];
log(`\n== uncaptured errors: ${ue.length} (${ue.filter((e) => !e.redispatched).length} not caught by capture's scopes)`);
const byMsg = new Map();
for (const e of ue) byMsg.set(e.message, (byMsg.get(e.message) ?? 0) + 1);
for (const [msg, n] of [...byMsg].slice(0, 10)) log(`-- ×${n}: ${msg.split('\n').join('\n   ')}`);
log(`\n== device lost: ${JSON.stringify(cap.deviceLost ?? [])}`);
const noisy = consoleLines.filter((c) => c.type === 'error' || c.type === 'warning' || c.type === 'pageerror');
log(`\n== console errors/warnings: ${noisy.length}`);
for (const c of noisy.slice(0, 15)) log(`[${c.atS} s] ${c.type}: ${c.text.slice(0, 600)}`);
log(`\nwrote ${mods.length} modules to ${path.join(outDir, 'wgsl')}, report.json and modules.json to ${outDir}`);
