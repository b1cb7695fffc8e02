// A lost GPU costs nothing: the WebGPU device is destroyed, or made to report an error
// nobody captures, from the test — the real device the wasm module works on, reached in its worker
// (www/worker/gpu-watch.js keeps it), not a mock — and the page moves every job to the CPU with the
// same model, says so once, answers the next sketch, and a run that was training on the GPU goes on
// on the CPU from its last saved step. WebGPU only (SwiftShader here): each page load pays WebGPU's
// start and self-test, so the file keeps to three loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, openPage, traceDigitQuickly, readTiles, storedRecord, maxDifference, aTestDigit, trainStatus, setForm, stepAtLeast, trainStateIs, modelWorker } from './browser.mjs';

const THREE = aTestDigit(3);
const LOST = /the WebGPU device was lost \(destroyed.*\), so every job now runs on the CPU, with the same model/;
const SKIP = !BACKENDS.includes(true) && 'WebGPU only (BROWSER_BACKENDS has no webgpu)';

/** Records, from now on, every text of the page's alert line (window.notices), every training
 *  step shown with its loss (window.steps: [step, loss]) and how many steps had been shown when
 *  the page heard that the GPU was lost (window.stepsBeforeLoss). */
function watch(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    window.notices = [];
    new MutationObserver(() => window.notices.push($('notice').textContent))
      .observe($('notice'), { childList: true, characterData: true, subtree: true });
    window.steps = [];
    new MutationObserver(() => {
      const { step, loss } = $('train-status').dataset;
      if (window.steps.at(-1)?.[0] !== Number(step)) window.steps.push([Number(step), Number(loss)]);
    }).observe($('train-status'), { attributes: true, attributeFilter: ['data-step'] });
    new MutationObserver(() => { window.stepsBeforeLoss ??= window.steps.length; })
      .observe(document.body, { attributes: true, attributeFilter: ['data-gpu-lost'] });
  });
}

const shownStep = () => Number(document.getElementById('train-status').dataset.step);

/** The step of the training run stored in the page's IndexedDB (0 without one). */
const savedStep = (page) => storedRecord(page, (r) => (r?.run ? (r.run.tail.at(-1)?.step ?? r.history.steps.at(-1)?.step ?? 0) : 0));

/** Destroys every WebGPU device of the page's worker; returns how many there were. */
const destroyDevices = (page) => modelWorker(page).evaluate(() => {
  for (const device of self.webgpuDevices) device.destroy();
  return self.webgpuDevices.length;
});

/** Makes an error nobody captures on every WebGPU device of the page's worker (a buffer with no
 *  usage fails validation: a real error event of the real device); returns how many there were. */
const poisonDevices = (page) => modelWorker(page).evaluate(() => {
  for (const device of self.webgpuDevices) device.createBuffer({ size: 4, usage: 0 });
  return self.webgpuDevices.length;
});

/** Traces THREE; the page's reconstruction of it and its loss. */
async function sketched(page, cdp) {
  await traceDigitQuickly(page, cdp, THREE);
  return { image: (await readTiles(page, '#reconstruction', 1))[0], loss: Number(await page.getAttribute('#score', 'data-loss')) };
}

/** Waits until the page has moved to the CPU, and checks that it said so (`said`), once. */
async function movedToCpu(page, said = LOST) {
  await page.waitForSelector('body[data-gpu-lost="1"]', { timeout: 60_000 });
  await page.waitForSelector('#backend[data-kind="cpu"]', { timeout: 60_000 });
  assert.match(await page.textContent('#notice'), said);
  assert.equal(await page.textContent('#backend'), 'CPU (ndarray)');
}

async function saidOnce(page) {
  const said = await page.evaluate(() => window.notices.filter((n) => /WebGPU (device was lost|reported an error)/.test(n)));
  assert.equal(new Set(said).size, 1, `said once: ${JSON.stringify(said)}`);
  assert.equal(await page.getAttribute('body', 'data-gpu-lost'), '1');
}

test('every job on WebGPU: a lost device moves the page to the CPU with the same model and its paused run', { skip: SKIP, timeout: 300_000 }, async (t) => {
  const t0 = Date.now();
  const p = await openPage({ webgpu: true, query: '?backend=webgpu', whole: false });
  const { page } = p;
  const cdp = await page.context().newCDPSession(page);
  try {
    assert.equal(await page.getAttribute('#backend', 'data-kind'), 'webgpu');
    // The t-SNE map shown: the worker that takes over is told so, and shows it (the page's model
    // is the default one until the run's first epoch ends: its map is the one shipped beside it).
    await page.selectOption('#map-method', 'tsne');
    // A run paused on WebGPU (Train goes on from the page's model, which stays the page's model
    // until the epoch's end) stays paused at its step on the CPU.
    await setForm(page, { batchSize: 32, epochs: 1 });
    await page.getByRole('button', { name: 'Train' }).click();
    await stepAtLeast(page, 1, 120_000);
    await page.getByRole('button', { name: 'Pause' }).click();
    let paused = await page.evaluate(shownStep);
    for (let tries = 0; tries < 100 && (await savedStep(page)) !== paused; tries++) {
      await page.waitForTimeout(300);
      paused = await page.evaluate(shownStep);
    }
    assert.equal(await savedStep(page), paused, 'Pause stored the run');
    const before = await sketched(page, cdp);
    await watch(page);
    // A call under way on the GPU when it is lost (64 samples take ~0.3 s on SwiftShader) is sent
    // again to the worker that takes over: answered, not left hanging nor failed.
    await page.evaluate(() => {
      window.pending = import('/js/rpc.js').then(({ call }) => call('sample', { n: 64, temperature: 1, seed: 1 }))
        .then((images) => images.length, (e) => e.message);
    });
    // The mark of the map shown goes: the worker that takes over marks the map it shows.
    await page.$eval('#map', (c) => { delete c.dataset.tsne; });
    const lostAt = Date.now();
    assert.ok(await destroyDevices(page) >= 1, 'the worker has a WebGPU device');
    await movedToCpu(page);
    const movedMs = Date.now() - lostAt;
    assert.equal(await page.evaluate(() => window.pending), 64 * 784, 'the call under way is answered');

    // The next sketch is answered, on the CPU, by the same model.
    const after = await sketched(page, cdp);
    const answeredMs = Date.now() - lostAt;
    const lossDiff = Math.abs(after.loss - before.loss) / before.loss;
    t.diagnostic(`moved to the CPU ${movedMs} ms after the loss, sketch answered by ${answeredMs} ms; WebGPU → CPU: `
      + `reconstruction max diff ${maxDifference(before.image, after.image).toFixed(4)}, loss ${before.loss.toFixed(3)} → ${after.loss.toFixed(3)}; `
      + `test ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    assert.ok(maxDifference(before.image, after.image) <= 2 / 255, 'the same reconstruction');
    assert.ok(lossDiff < 1e-4, `the same score (relative difference ${lossDiff})`);
    assert.match(await page.textContent('#model-info'), /784 → 400 → 20 → 400 → 784/);
    const s = await trainStatus(page);
    assert.equal(s.state, 'paused');
    assert.equal(Number(s.step), paused, 'still paused at its step');
    assert.match(await page.textContent('#model-message'), new RegExp(`The training run is on the CPU now, paused at step ${paused}: Resume continues it`));
    await page.waitForSelector('body[data-indexed="true"]', { timeout: 120_000 });
    await page.waitForSelector('#map[data-tsne="shipped"]', { timeout: 60_000 });
    await saidOnce(page);
    assert.deepEqual(p.errors, []);
  } finally {
    await p.close();
  }
});

test('training on WebGPU: a lost device mid-run, the run goes on on the CPU from its last save', { skip: SKIP, timeout: 300_000 }, async (t) => {
  const t0 = Date.now();
  // Training alone on WebGPU ("auto" keeps it on the CPU on this software adapter).
  const p = await openPage({ webgpu: true, query: '?backend=webgpu-training' });
  const { page } = p;
  const cdp = await page.context().newCDPSession(page);
  try {
    assert.equal(await page.getAttribute('#backend', 'data-kind'), 'mixed');
    // The default model's shape: a step takes 1–2.5 s on SwiftShader and 30–60 ms on the CPU (a
    // smaller model's steps come so fast on the CPU that the page has no frame to spare for a
    // click); long enough to be training still when Stop is pressed (71 steps an epoch).
    await setForm(page, { latent: 20, hidden: 400, beta: 1, learningRate: 0.001, batchSize: 128, epochs: 20 });
    await watch(page);
    await page.getByRole('button', { name: 'Start from random weights' }).click();
    // Lost a step or more after the last save, when it can be: those steps are then taken again.
    await stepAtLeast(page, 4, 120_000);
    for (let tries = 0; tries < 20 && await page.evaluate(shownStep) <= await savedStep(page); tries++) await page.waitForTimeout(250);
    const saved = await savedStep(page);
    await destroyDevices(page);
    await movedToCpu(page);
    const message = await page.textContent('#model-message');
    const [, from] = /Training goes on, on the CPU, from step (\d+) \(where it was last saved\)/.exec(message) ?? [];
    assert.ok(from, `the training panel says the run goes on: ${message}`);
    // The run is back at its last save: the steps shown go back to it, no further (every step was
    // read to be stored at step 1 and then every 5 s; a step on SwiftShader takes 1–2.5 s).
    const [steps, onGpu] = await page.evaluate(() => [window.steps, window.stepsBeforeLoss]);
    const reached = Math.max(...steps.slice(0, onGpu).map(([s]) => s));
    assert.ok(Number(from) >= saved && Number(from) >= 1 && Number(from) <= reached, `from step ${from}, had reached ${reached}, saved ${saved}`);
    await stepAtLeast(page, Number(from) + 20, 60_000);
    assert.equal((await trainStatus(page)).state, 'running');

    // The redone steps are the same steps (the snapshot holds both random streams): their losses on
    // the CPU are those on WebGPU, to the backends' agreement.
    const seen = await page.evaluate(() => window.steps);
    const gpu = new Map(seen.slice(0, onGpu));
    const redone = seen.slice(onGpu).filter(([s]) => gpu.has(s));
    for (const [s, loss] of seen) assert.ok(Number.isFinite(loss), `step ${s}: loss ${loss}`);
    const worst = Math.max(0, ...redone.map(([s, loss]) => Math.abs(loss - gpu.get(s)) / gpu.get(s)));
    assert.ok(worst < 1e-3, `redone steps' losses differ by ${worst}`);

    // A stroke is answered; Stop keeps the weights reached.
    const traced = Date.now();
    await traceDigitQuickly(page, cdp, THREE);
    const tracedMs = Date.now() - traced;
    assert.ok(Number.isFinite(Number(await page.getAttribute('#score', 'data-loss'))), 'the sketch is scored');
    assert.equal((await trainStatus(page)).state, 'running', 'the sketch was answered during training');
    await page.getByRole('button', { name: 'Stop' }).click();
    await trainStateIs(page, 'idle', 60_000);
    assert.match(await page.textContent('#model-message'), /Training stopped; the page uses the weights it reached/);
    assert.match(await page.textContent('#model-info'), /784 → 400 → 20 → 400 → 784/);
    t.diagnostic(`${onGpu} steps on WebGPU (to step ${reached}), went on from step ${from} on the CPU; ${redone.length} redone steps, `
      + `largest relative loss difference ${worst.toExponential(1)}; a digit traced and answered in ${tracedMs} ms; test ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await saidOnce(page);
    assert.deepEqual(p.errors, []);
  } finally {
    await p.close();
  }
});

test('every job on WebGPU: an error nobody captured poisons the device; the page moves to the CPU with the same model', { skip: SKIP, timeout: 300_000 }, async (t) => {
  const p = await openPage({ webgpu: true, query: '?backend=webgpu', whole: false });
  const { page } = p;
  const cdp = await page.context().newCDPSession(page);
  try {
    assert.equal(await page.getAttribute('#backend', 'data-kind'), 'webgpu');
    const before = await sketched(page, cdp);
    await watch(page);
    const poisonedAt = Date.now();
    assert.ok(await poisonDevices(page) >= 1, 'the worker has a WebGPU device');
    await movedToCpu(page, /WebGPU reported an error: [^\n]+, so every job now runs on the CPU, with the same model/);
    const movedMs = Date.now() - poisonedAt;
    const after = await sketched(page, cdp);
    t.diagnostic(`moved to the CPU ${movedMs} ms after the error; loss ${before.loss.toFixed(3)} → ${after.loss.toFixed(3)}`);
    assert.ok(maxDifference(before.image, after.image) <= 2 / 255, 'the same reconstruction');
    assert.ok(Math.abs(after.loss - before.loss) / before.loss < 1e-4, 'the same score');
    await saidOnce(page);
    assert.deepEqual(p.errors, []);
  } finally {
    await p.close();
  }
});
