// Profiles the page's worker (where the model lives) in headless Chromium: opens the page, optionally
// starts a training run, samples the worker's CPU for a while and prints where its time went (self
// time per function; wasm functions by index: `wasm-dis www/pkg/vae_web_bg.wasm` shows them, and
// the index counts the module's imports first). Writes the whole profile for Chromium's DevTools.
//   node --experimental-websocket scripts/profile-worker.mjs [--webgpu] [--train] [--seconds 8] [--out FILE]
// (Node 22 and later have WebSocket without the flag.) It found wasm-ld's constructors running at
// the top of every export: docs/speed.md, "Every call into the module ran 4 892 constructors".
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { launch } from './chromium.mjs';
import { serve } from './serve.mjs';

const { values: opts } = parseArgs({
  options: {
    webgpu: { type: 'boolean', default: false }, // training on WebGPU (SwiftShader here), sketches on the CPU
    train: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '8' },
    out: { type: 'string', default: 'worker.cpuprofile' },
  },
});
const PORT = 9444;
const server = await serve(0);
const origin = `http://127.0.0.1:${server.address().port}`;
const { context, page } = await launch({ webgpu: opts.webgpu, args: [`--remote-debugging-port=${PORT}`] });
try {
  await page.goto(`${origin}/${opts.webgpu ? '?backend=webgpu-training' : '?backend=cpu'}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 600_000 });
  if (opts.train) {
    await page.getByRole('button', { name: 'Start from random weights' }).click();
    await page.waitForFunction(() => Number(document.getElementById('train-status').dataset.step) >= 3, null, { timeout: 600_000 });
  }

  // The worker through the browser's own DevTools endpoint: Playwright opens sessions on pages only.
  const { webSocketDebuggerUrl } = await (await fetch(`http://127.0.0.1:${PORT}/json/version`)).json();
  const ws = new WebSocket(webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let nextId = 1;
  const pending = new Map();
  ws.onmessage = ({ data }) => {
    const m = JSON.parse(data);
    if (!pending.has(m.id)) return;
    const { resolve, reject } = pending.get(m.id);
    pending.delete(m.id);
    if (m.error) reject(new Error(`${m.error.message}`));
    else resolve(m.result);
  };
  const send = (method, params = {}, sessionId = undefined) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params, sessionId }));
  });
  const { targetInfos } = await send('Target.getTargets');
  const worker = targetInfos.find((t) => t.type === 'worker' && new URL(t.url).pathname === '/worker-start.js');
  if (!worker) throw new Error(`no page worker among ${targetInfos.map((t) => `${t.type} ${t.url}`).join(', ')}`);
  const { sessionId } = await send('Target.attachToTarget', { targetId: worker.targetId, flatten: true });
  await send('Profiler.enable', {}, sessionId);
  await send('Profiler.setSamplingInterval', { interval: 200 }, sessionId); // µs
  await send('Profiler.start', {}, sessionId);
  await new Promise((resolve) => setTimeout(resolve, Number(opts.seconds) * 1000));
  const { profile } = await send('Profiler.stop', {}, sessionId);
  ws.close();
  fs.writeFileSync(opts.out, JSON.stringify(profile));

  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  profile.samples.forEach((id, i) => {
    const { functionName, url } = nodes.get(id).callFrame;
    const key = `${functionName || '(anonymous)'} ${url.split('/').pop()}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  console.log(`worker, ${(total / 1000).toFixed(0)} ms sampled${opts.train ? ' during training' : ''} (${opts.webgpu ? 'training on WebGPU' : 'CPU'}); self time:`);
  for (const [key, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${(us / 1000).toFixed(0).padStart(7)} ms ${(100 * us / total).toFixed(1).padStart(5)} %  ${key}`);
  }
  console.log(`whole profile: ${opts.out} (DevTools → Performance → Load profile)`);
} finally {
  await context.close();
  server.close();
}
