// The soak (run by scripts/soak.sh, not part of the test command): one page on the CPU
// backend, SKETCHES traced digits while a training run of at least STEPS steps goes on. After a
// warm-up (a tenth of each, at least 200 sketches and 2 epochs) and at the end, with garbage
// collected first, it reads the wasm module's memory (the worker's WebAssembly.Memory) and the JS
// heaps of the page and of the worker (DevTools protocol Runtime.getHeapUsage, the worker's through
// its own target); both must grow less than 10 % from the one to the other, and nothing may be
// logged as an error (uncaught errors, console errors of the page or the worker, the page's alert
// line, a failed training run). Prints a table of samples and
// `SOAK wasm_growth=…% heap_growth=…%` (heap: the larger of the page's and the worker's); exits 1
// when a figure reaches 10 % or anything went wrong.
//   node scripts/soak.mjs [SKETCHES (2000)] [STEPS (2000)] [BATCH (128)]
// The sketches are real mouse strokes on the pad (tests/browser.mjs traceDigitQuickly: traceDigit's
// strokes, their events sent in one go through the DevTools protocol), so each goes through the
// pad's pointer handlers and the worker's `analyse` call, then the interpolation and variations,
// as a person's would. Training uses the form's defaults (784-400-20, β 1, lr 1e-3) with BATCH.
import os from 'node:os';
import { openPage, dataset, traceDigitQuickly, waitIdle } from '../tests/browser.mjs';

const SKETCHES = Number(process.argv[2] ?? 2000);
const STEPS = Number(process.argv[3] ?? 2000);
const BATCH = Number(process.argv[4] ?? 128);
const LIMIT = 10; // % growth allowed after warm-up
const SAMPLE_EVERY = Math.max(1, Math.round(SKETCHES / 10)); // sketches between samples
const LONG = { timeout: 1_800_000 };

const log = (s) => process.stderr.write(`\x1b[1m== ${s}\x1b[0m\n`);
const data = dataset();
let trainCount = 0;
for (let i = 0; i < data.n; i++) if (!data.isTest(i)) trainCount++;
const stepsPerEpoch = Math.ceil(trainCount / BATCH);
const epochs = Math.ceil(STEPS / stepsPerEpoch);
const warmSketches = Math.min(SKETCHES, Math.max(200, Math.round(SKETCHES / 10)));
const warmSteps = Math.min(epochs * stepsPerEpoch, Math.max(2 * stepsPerEpoch, Math.round(STEPS / 10)));

const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(0);
log(`opening the page (CPU backend); ${SKETCHES} sketches, ${epochs} epochs × ${stepsPerEpoch} steps at batch ${BATCH}`);
const p = await openPage({ webgpu: false, query: '?backend=cpu' });
const { page } = p;
const errors = p.errors; // uncaught errors and console errors of the page (tests/browser.mjs)
const [worker] = page.workers();
worker.on('console', (m) => { if (m.type() === 'error') errors.push(`worker console: ${m.text()}`); });
// The alert line (#notice) and failed training runs are errors too.
await page.evaluate(() => {
  window.soakAlerts = [];
  const notice = document.getElementById('notice');
  new MutationObserver(() => { if (!notice.hidden && notice.textContent) window.soakAlerts.push(notice.textContent); })
    .observe(notice, { childList: true, characterData: true, subtree: true, attributes: true });
});

// ---- measuring ----------------------------------------------------------------------------------
const cdp = await page.context().newCDPSession(page);
// The worker's own DevTools target, attached beside Playwright's (messages through the page's session).
const { targetInfos } = await cdp.send('Target.getTargets');
const workerTarget = targetInfos.find((t) => t.type === 'worker' && t.url.endsWith('/worker-start.js'));
const { sessionId: workerSession } = await cdp.send('Target.attachToTarget', { targetId: workerTarget.targetId, flatten: false });
const workerReplies = new Map();
let workerCallId = 0;
cdp.on('Target.receivedMessageFromTarget', ({ sessionId, message }) => {
  const m = JSON.parse(message);
  if (sessionId !== workerSession || !workerReplies.has(m.id)) return;
  const { resolve, reject } = workerReplies.get(m.id);
  workerReplies.delete(m.id);
  if (m.error) reject(new Error(m.error.message)); else resolve(m.result);
});
function workerSend(method, params = {}) {
  const id = ++workerCallId;
  return new Promise((resolve, reject) => {
    workerReplies.set(id, { resolve, reject });
    cdp.send('Target.sendMessageToTarget', { sessionId: workerSession, message: JSON.stringify({ id, method, params }) }).catch(reject);
  });
}

const state = async () => page.$eval('#train-status', (e) => ({ state: e.dataset.state, step: Number(e.dataset.step) }));

/** One sample: garbage collected in the page and the worker, then the wasm memory, both heaps' used
 *  bytes and the page's DOM counters. */
async function measure(label, sketches) {
  await Promise.all([cdp.send('HeapProfiler.collectGarbage'), workerSend('HeapProfiler.collectGarbage')]);
  const [pageHeap, workerHeap, dom, wasm, { step }] = await Promise.all([
    cdp.send('Runtime.getHeapUsage'), workerSend('Runtime.getHeapUsage'), cdp.send('Memory.getDOMCounters'),
    worker.evaluate(async () => (await (await import('./pkg-cpu/vae_web.js')).default()).memory.buffer.byteLength),
    state(),
  ]);
  return { label, s: Number(seconds()), sketches, step, wasm, page: pageHeap.usedSize, worker: workerHeap.usedSize, nodes: dom.nodes, listeners: dom.jsEventListeners };
}

// ---- the run --------------------------------------------------------------------------------------
const samples = [await measure('loaded', 0)];
for (const [name, value] of Object.entries({ latent: 20, hidden: 400, beta: 1, learningRate: 0.001, batchSize: BATCH, epochs })) {
  await page.fill(`#train-form input[name=${name}]`, String(value));
}
await page.click('#train');
log(`${seconds()} s: training started`);

let answered = 0; // sketches with a score and 8 neighbours
let recognised = 0; // … whose neighbours are mostly of the traced digit's label
const sketchMs = [];
let warm = null;

/** The warm-up sample: training paused (the step under way ends), the index whole, the sketch idle. */
async function warmUp(sketches) {
  const paused = (await state()).state === 'running';
  if (paused) await page.click('#train');
  await page.waitForSelector('body[data-indexed="true"]', LONG);
  await waitIdle(page);
  await page.waitForTimeout(500);
  warm = await measure('after warm-up', sketches);
  samples.push(warm);
  log(`${seconds()} s: warm-up done at ${sketches} sketches, step ${warm.step}`);
  if (paused) await page.click('#train'); // Resume
}

/** Keeps the run in step with the sketches, so that they go on together to the end: Pause when
 *  training is half an epoch ahead of its share, Resume when behind (the page's own buttons). */
let pauses = 0;
async function pace(sketches) {
  const { state: now, step } = await state();
  const share = Math.ceil((sketches * epochs * stepsPerEpoch) / SKETCHES);
  if (now === 'running' && step > share + stepsPerEpoch / 2) { await page.click('#train'); pauses++; }
  else if (now === 'paused' && step < share) await page.click('#train');
}

for (let k = 0; k < SKETCHES; k++) {
  // Digits from all over the data set (both splits, every label), a different one each time.
  const index = (k * 7919) % data.n;
  const t0 = Date.now();
  await traceDigitQuickly(page, cdp, data.image(index));
  sketchMs.push(Date.now() - t0);
  const labels = await page.$$eval('#neighbours li', (l) => l.map((li) => Number(li.dataset.label)));
  const scored = await page.$eval('#score', (e) => e.dataset.loss !== undefined);
  if (scored && labels.length === 8) answered++;
  if (labels.filter((l) => l === data.label(index)).length > 4) recognised++;
  const done = k + 1;
  await pace(done);
  if (!warm && done >= warmSketches && (await state()).step >= warmSteps) await warmUp(done);
  if (done % SAMPLE_EVERY === 0 && done !== warm?.sketches) samples.push(await measure('', done));
  if (done % 100 === 0) log(`${seconds()} s: ${done} sketches, step ${(await state()).step}`);
}
if (!warm) {
  await page.waitForFunction((n) => Number(document.getElementById('train-status').dataset.step) >= n, warmSteps, LONG);
  await warmUp(SKETCHES);
}
log(`${seconds()} s: sketches done; waiting for the training run to end`);
if ((await state()).state === 'paused') await page.click('#train');
await page.waitForFunction(() => document.getElementById('train-status').dataset.state !== 'running', null, LONG);
const trained = await state();
const message = await page.textContent('#model-message');
if (trained.state !== 'idle' || !/^Training finished/.test(message)) errors.push(`training did not finish: ${trained.state}, "${message}"`);
await page.waitForSelector('body[data-indexed="true"]', LONG);
await waitIdle(page);
await page.waitForTimeout(500);
const end = await measure('end', SKETCHES);
samples.push(end);
errors.push(...(await page.evaluate(() => window.soakAlerts)).map((a) => `alert: ${a}`));
const strokeMs = await page.evaluate(() => window.strokeAnswerMs ?? []);
await p.close();

// ---- report ---------------------------------------------------------------------------------------
const MB = (b) => (b / 2 ** 20).toFixed(2);
const growth = (key) => (100 * (end[key] - warm[key])) / warm[key];
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;
const table = (head, rows) => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padStart(widths[i])).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`);
  rows.forEach((r) => console.log(line(r)));
};
console.log(`\n# soak, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores (shared: times are indicative), headless Chromium, CPU backend`);
console.log(`# ${SKETCHES} sketches (traced with real mouse strokes), ${trained.step} training steps at batch ${BATCH} (784-400-20, ${epochs} epochs; `
  + `paused ${pauses} times to keep pace with the sketches); ${seconds()} s in all\n`);
table(['sample', 's', 'sketches', 'step', 'wasm MB', 'page heap MB', 'worker heap MB', 'DOM nodes', 'listeners'],
  samples.map((r) => [r.label, r.s, r.sketches, r.step, MB(r.wasm), MB(r.page), MB(r.worker), r.nodes, r.listeners]));
const pct = (v) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`;
const KB = (key) => `${end[key] >= warm[key] ? '+' : ''}${((end[key] - warm[key]) / 1024).toFixed(0)} KB`;
console.log(`\ngrowth after warm-up: wasm ${pct(growth('wasm'))}, page heap ${pct(growth('page'))} (${KB('page')}), `
  + `worker heap ${pct(growth('worker'))} (${KB('worker')}), DOM nodes ${pct(growth('nodes'))}; `
  + `over ${end.sketches - warm.sketches} sketches and ${end.step - warm.step} steps`);
console.log(`sketches: ${answered} of ${SKETCHES} answered (score and 8 neighbours), ${recognised} with most neighbours of the traced label; `
  + `${median(sketchMs)} ms median per sketch (tracing to idle), stroke → answer median ${median(strokeMs).toFixed(0)} ms over ${strokeMs.length} strokes`);
console.log(`errors: ${errors.length ? `\n  ${errors.join('\n  ')}` : 'none'}`);
const heapGrowth = Math.max(growth('page'), growth('worker'));
console.log(`SOAK wasm_growth=${growth('wasm').toFixed(1)}% heap_growth=${heapGrowth.toFixed(1)}% sketches=${SKETCHES} steps=${trained.step} errors=${errors.length} seconds=${seconds()}`);
if (growth('wasm') >= LIMIT || heapGrowth >= LIMIT || errors.length || answered < SKETCHES) process.exitCode = 1;
