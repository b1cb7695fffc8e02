// Nothing lost on reload: a paused run comes back at the exact step and Resume gives the
// losses of an uninterrupted run; a closed tab keeps the run as last stored; two tabs never
// overwrite each other's stored model silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, waitLoaded, storedRecord, maxDifference, trainStatus, setForm, stepAtLeast, trainStateIs } from './browser.mjs';
import { launch } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';

// What is stored, restored and refused does not depend on the backend, and a SwiftShader WebGPU
// step takes about a second: these runs of hundreds of steps would only repeat the CPU's test.
const CPU_ONLY = 'the same on every backend: run on the CPU';
const RUN = { latent: 2, hidden: 32, beta: 1, learningRate: 0.001, batchSize: 64, epochs: 2 }; // 2 × 141 steps

const message = (page) => page.textContent('#model-message');
const step = async (page) => Number((await trainStatus(page)).step);

/** A browser profile (its IndexedDB shared by its tabs) and the page's server. */
async function browser(webgpu) {
  const server = await serve(0);
  const origin = `http://127.0.0.1:${server.address().port}/`;
  const { context, page } = await launch({ webgpu, viewport: { width: 1400, height: 1200 } });
  const errors = [];
  const open = async (p) => {
    const tab = p ?? (await context.newPage());
    tab.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    tab.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    await tab.goto(origin);
    await waitLoaded(tab);
    return tab;
  };
  return {
    errors, open,
    first: () => open(page),
    async close() { await context.close(); server.close(); },
  };
}

/** Waits for the run to reach `steps` and end. */
async function finished(page, steps) {
  await stepAtLeast(page, steps, 600_000);
  await trainStateIs(page, 'idle', 900_000);
}

/** Pauses and waits for the step under way to end; returns the step reached. */
async function pause(page) {
  await page.getByRole('button', { name: 'Pause' }).click();
  let reached = await step(page);
  for (;;) {
    await page.waitForTimeout(400);
    const now = await step(page);
    if (now === reached) return now;
    reached = now;
  }
}

/** The record stored in the page's IndexedDB: its history and whether it holds a run. */
const stored = (page) => storedRecord(page, (r) => r && { history: r.history, run: r.run && { steps: r.run.steps, tail: r.run.tail.length }, writeId: r.writeId, weights: Array.from(r.weights.subarray(0, 4096)) });

for (const webgpu of BACKENDS) {
  const backend = webgpu ? 'WebGPU' : 'CPU';

  test(`a paused run comes back at its step after a reload and resumes with the uninterrupted losses (${backend})`, { skip: webgpu && CPU_ONLY, timeout: 1_800_000 }, async (t) => {
    const b = await browser(webgpu);
    let interrupted;
    try {
      const page = await b.first();
      await setForm(page, RUN);
      await page.getByRole('button', { name: 'Start from random weights' }).click();
      await stepAtLeast(page, 30, 600_000);
      const k = await pause(page);
      assert.ok(k > 0 && k < 141, `paused mid-epoch (step ${k})`);
      assert.equal((await trainStatus(page)).state, 'paused');
      const before = await stored(page);
      assert.equal(before.history.steps.length + before.run.tail, k, 'Pause stored the run at its step');

      await page.reload();
      await waitLoaded(page);
      const s = await trainStatus(page);
      assert.equal(s.state, 'paused');
      assert.equal(Number(s.step), k, `back at step ${k}`);
      assert.match(s.text, /paused/);
      assert.equal(Number(await page.getAttribute('#loss-curve', 'data-points')), k, 'the whole history is back');
      assert.match(await message(page), new RegExp(`paused at step ${k}: Resume continues it`));
      assert.equal(await page.getByRole('button', { name: 'Resume' }).count(), 1);

      await page.getByRole('button', { name: 'Resume' }).click();
      await finished(page, 282);
      assert.equal(await step(page), 282);
      interrupted = (await stored(page)).history;
      assert.equal((await stored(page)).run, undefined, 'a finished run is no longer stored');
      assert.deepEqual(b.errors, []);
    } finally {
      await b.close();
    }

    const fresh = await browser(webgpu);
    try {
      const page = await fresh.first();
      await setForm(page, RUN);
      await page.getByRole('button', { name: 'Start from random weights' }).click();
      await finished(page, 282);
      const whole = (await stored(page)).history;
      assert.equal(whole.steps.length, 282);
      assert.deepEqual(interrupted.steps.map((r) => r.step), whole.steps.map((r) => r.step));
      const losses = (h) => h.steps.flatMap((r) => [r.loss, r.recon, r.kl]);
      const diff = maxDifference(losses(interrupted), losses(whole));
      const testDiff = maxDifference(interrupted.tests.map((r) => r.loss), whole.tests.map((r) => r.loss));
      t.diagnostic(`${backend}: resumed vs uninterrupted, largest difference of a step's loss or part ${diff}, of a test loss ${testDiff}`);
      // Same wasm module, same CPU backend, same operations in the same order: the same bits.
      assert.equal(diff, 0);
      assert.equal(testDiff, 0);
      assert.deepEqual(fresh.errors, []);
    } finally {
      await fresh.close();
    }
  });

  test(`a tab closed mid-run keeps the run as last stored (${backend})`, { skip: webgpu && CPU_ONLY, timeout: 1_800_000 }, async (t) => {
    const b = await browser(webgpu);
    try {
      const page = await b.first();
      // Small batches and many epochs: a long run (45 040 steps), so that it is still mid-run when
      // the tab closes (5 epochs, 5 630 steps, ended within the 6 s wait once a step took ~1 ms).
      await setForm(page, { ...RUN, batchSize: 8, epochs: 40 });
      await page.getByRole('button', { name: 'Start from random weights' }).click();
      await stepAtLeast(page, 300, 600_000);
      // Long enough for an autosave past step 300 (one every 5 s while it trains).
      await page.waitForTimeout(6000);
      const closedAt = await step(page);
      await page.close({ runBeforeUnload: true });
      const second = await b.open();
      const s = await trainStatus(second);
      const kept = Number(s.step);
      assert.equal(s.state, 'paused');
      // At least the autosave after step 300; at most a few seconds' steps are lost (autosaves come
      // every 5 s; the steps between reading closedAt and the close are not counted in it).
      t.diagnostic(`${backend}: step ${closedAt} read just before the close, back at step ${kept}`);
      assert.ok(kept > 300 && kept < 40 * 1126, `back at ${kept}, mid-run`);
      assert.equal(Number(await second.getAttribute('#loss-curve', 'data-points')), kept, 'its history up to that step');
      assert.match(await message(second), new RegExp(`paused at step ${kept}`));
      await second.getByRole('button', { name: 'Resume' }).click();
      await stepAtLeast(second, kept + 5, 600_000);
      await second.getByRole('button', { name: 'Stop' }).click();
      await trainStateIs(second, 'idle');
      assert.deepEqual(b.errors, []);
    } finally {
      await b.close();
    }
  });

  test(`two tabs: a tab never overwrites the model another tab stored after it loaded (${backend})`, { skip: webgpu && CPU_ONLY, timeout: 1_800_000 }, async () => {
    const b = await browser(webgpu);
    try {
      const first = await b.first();
      const second = await b.open();
      // The first tab trains a model and stores it; the second hears of it at once.
      await setForm(first, { ...RUN, hidden: 8, batchSize: 512, epochs: 1 });
      await first.getByRole('button', { name: 'Start from random weights' }).click();
      await finished(first, 18);
      const firstModel = await stored(first);
      assert.equal(firstModel.history.steps.length, 18);
      await second.waitForFunction(() => /Another tab stored its model in this browser/.test(document.getElementById('model-message').textContent));
      // The second tab trains its own: it is kept in that tab, not stored over the first's.
      await setForm(second, { ...RUN, hidden: 16, batchSize: 512, epochs: 1 });
      await second.getByRole('button', { name: 'Start from random weights' }).click();
      await finished(second, 18);
      await second.waitForFunction(() => /this tab's model is not stored: it is kept here, in memory/.test(document.getElementById('model-message').textContent));
      assert.match(await second.textContent('#model-info'), /784 → 16 → 2/);
      assert.deepEqual(await stored(second), firstModel, 'the first tab\'s model is still the stored one');
      // Reloading the second tab loads the stored model; from then on it may store.
      await second.reload();
      await waitLoaded(second);
      assert.match(await second.textContent('#model-info'), /784 → 8 → 2/);
      assert.deepEqual(b.errors, []);
    } finally {
      await b.close();
    }
  });
}
