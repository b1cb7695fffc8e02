// Overlapping requests: sketching, sampling, importing, resetting, training and the map,
// fired at once, never panic the wasm module; each request is answered in the order it was made or
// refused with a message, and the page's state (model, backend, training) stays the worker's.
//
// Each round fires, in one task of the page and in a shuffled order, clicks on the page's own
// controls (Sample, Train/Pause/Resume, Stop, Start from random weights, Reset to default model,
// Import model, Random digit, a neighbour, Undo, a click on the map) and calls straight to the
// worker (tests the page's disabled buttons cannot stop: import and reset during a run, a bad file,
// a bad training request, an analysis, samples, the map, export…), while a digit is traced with
// real mouse strokes. Then:
// - the calls made straight to the worker are answered in the order they were sent (the worker's
//   scheduler runs one call at a time, in order: were two ever run at once, the wasm module would
//   refuse one as busy, or an answer would overtake another), each with its value or the refusal
//   expected of it;
// - at once after the round, and again when it has settled, the worker's own account (its
//   `status` call) is what the page shows: the model, the backend label and the training state;
// - nothing is logged as an error, in the page or the worker, and no message anywhere speaks of a
//   panic ("recursive use of an object", "already borrowed", "unreachable", RuntimeError) or of a
//   busy model.
// Finally a traced sketch is answered, and a training run starts and stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, openPage, dataset, traceDigitQuickly, waitIdle, trainStatus, trainStateIs, stepAtLeast } from './browser.mjs';

const data = dataset();
const PANIC = /recursive use|already borrowed|already mutably borrowed|unreachable|RuntimeError|panicked|busy with another call/i;

/** A small deterministic shuffle (xorshift), so a failing round can be replayed. */
function shuffled(items, seed) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// What each request does, in the page. `ui:` clicks the page's own control (a disabled one does
// nothing, as for a person); `call:` goes straight to the worker and records its outcome, with
// the refusal it must get (`refused`) or none (it must succeed).
const ACTIONS = ['ui:sample', 'ui:train', 'ui:stop', 'ui:random', 'ui:reset', 'ui:import', 'ui:digit', 'ui:neighbour',
  'ui:undo', 'ui:map', 'call:analyse', 'call:sample', 'call:import', 'call:importBad', 'call:reset', 'call:trainBad',
  'call:export', 'call:map', 'call:variations', 'call:interpolate', 'call:trainingSample', 'call:digit', 'call:status'];

/** Fires `actions` in one task of the page; returns at once (the outcomes are awaited by settle). */
function fire(page, actions, digit) {
  return page.evaluate(async ({ actions, digit }) => {
    const { call } = await import('/js/rpc.js');
    const $ = (id) => document.getElementById(id);
    const round = (window.round = { sent: [], settled: [], outcomes: [] });
    const direct = (op, args, refused) => {
      const i = round.sent.length;
      round.sent.push(op);
      round.outcomes.push(call(op, args).then(
        (value) => { round.settled.push(i); return { op, ok: true, refused, value: op === 'status' ? value : undefined }; },
        (e) => { round.settled.push(i); return { op, ok: false, refused, error: e.message }; },
      ));
    };
    const grey = Float32Array.from(digit);
    const run = {
      'ui:sample': () => $('sample').click(),
      'ui:train': () => $('train').click(),
      'ui:stop': () => $('train-stop').click(),
      'ui:random': () => $('train-random').click(),
      'ui:reset': () => $('reset-default').click(),
      'ui:import': () => {
        // The file input behind Import model (its button is disabled during a run; the input is not).
        const files = new DataTransfer();
        files.items.add(new File([window.modelA], 'model-a.safetensors'));
        $('import-file').files = files.files;
        $('import-file').dispatchEvent(new Event('change'));
      },
      'ui:digit': () => $('random-digit').click(),
      'ui:neighbour': () => document.querySelector('#neighbours button')?.click(),
      'ui:undo': () => $('undo').click(),
      'ui:map': () => {
        const r = $('map').getBoundingClientRect();
        $('map').dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: r.left + r.width * 0.4, clientY: r.top + r.height * 0.6 }));
      },
      'call:analyse': () => direct('analyse', { grey, width: 28, height: 28, k: 8 }),
      'call:sample': () => direct('sample', { n: 64, temperature: 1, seed: 3 }),
      'call:import': () => direct('importModel', { bytes: window.modelA, name: 'model-a.safetensors' }),
      'call:importBad': () => direct('importModel', { bytes: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), name: 'bad' }, 'not a safetensors file'),
      'call:reset': () => direct('resetDefault'),
      'call:trainBad': () => direct('trainStart', { latent: 2, hidden: 32, beta: 1, learningRate: 0, batchSize: 64, epochs: 1, fromScratch: true, seed: 0 }, 'learning rate|a training run is going on already'),
      'call:export': () => direct('exportModel'),
      'call:map': () => direct('decodeMapPoint', { x: 0.1, y: -0.2 }),
      'call:variations': () => direct('variations', { image: grey, n: 8, seed: 5 }),
      'call:interpolate': () => direct('interpolate', { a: [0.5, -0.5], b: [-1, 1], steps: 10 }),
      'call:trainingSample': () => direct('trainingSample'),
      'call:digit': () => direct('randomTestDigit', { seed: 11 }),
      'call:status': () => direct('status'),
    };
    for (const a of actions) run[a]();
  }, { actions, digit });
}

/** The worker's status and what the page shows, read in the same turn of the page's event loop:
 *  every event the worker sent before its answer has been handled, none after. */
function compareState(page) {
  return page.evaluate(async () => {
    const { call } = await import('/js/rpc.js');
    const worker = await call('status');
    const $ = (id) => document.getElementById(id);
    const m = worker.model;
    return {
      worker: {
        model: `Model: 784 → ${m.hidden} → ${m.latent} → ${m.hidden} → 784, β = ${m.beta}, ${m.parameters.toLocaleString('en')} parameters`,
        backend: worker.backend.label, kind: worker.backend.kind, training: worker.training,
        button: { idle: 'Train', running: 'Pause', paused: 'Resume' }[worker.training],
      },
      page: {
        model: $('model-info').textContent, backend: $('backend').textContent, kind: $('backend').dataset.kind,
        training: $('train-status').dataset.state, button: $('train').textContent,
      },
    };
  });
}

async function assertConsistent(page, when) {
  const { worker, page: shown } = await compareState(page);
  assert.deepEqual(shown, worker, `${when}: the page shows a state the worker does not hold`);
}

/** Waits for the round's direct calls, the page's sketch and import to be done (the neighbour
 *  index and a training run may go on: the next round overlaps them). */
async function settle(page) {
  const round = await page.evaluate(async () => ({
    sent: window.round.sent, settled: window.round.settled, outcomes: await Promise.all(window.round.outcomes),
  }));
  await waitIdle(page);
  await page.waitForFunction(() => !document.getElementById('model-message').textContent.startsWith('Importing'), null, { timeout: 300_000 });
  return round;
}


/** Brings the training run to `state` (idle | running | paused) with the page's buttons. */
async function bringTo(page, state) {
  if (state === 'idle' && (await trainStatus(page)).state !== 'idle') await page.click('#train-stop');
  if (state !== 'idle' && (await trainStatus(page)).state !== 'running') {
    await page.click('#train'); // Train or Resume
    await trainStateIs(page, 'running', 300_000);
  }
  if (state === 'paused') await page.click('#train');
  await trainStateIs(page, state, 300_000);
}

// The orders known to have left the page's training state behind the worker's, first, from the
// state each needs; then shuffled rounds from wherever the previous one left the run.
// `found`: the order that showed the bug (the page said "running" with no run in the worker).
const SCRIPTED = [
  { from: 'idle', actions: ['ui:train', 'call:reset'], found: true }, // a run started, then ended by a new model
  { from: 'idle', actions: ['ui:random', 'ui:import'] },
  { from: 'paused', actions: ['call:reset', 'ui:train'], found: true }, // Resume of a run that a new model ended
  { from: 'running', actions: ['call:import', 'ui:train'] }, // Pause of a run that a new model ended
  { from: 'paused', actions: ['call:import', 'ui:stop', 'ui:train'] },
  { from: 'running', actions: ['ui:stop', 'ui:train', 'call:reset', 'ui:random'] },
];

for (const webgpu of BACKENDS) {
  const backend = webgpu ? 'WebGPU' : 'the CPU';
  // With WebGPU, training on it and the rest on the CPU ("auto" keeps every job on the CPU on this
  // software adapter, page.test.mjs): a training step's reads wait for the GPU, and the calls
  // that may overlap it run meanwhile (worker/scheduler.js), where on the CPU a step runs through
  // at once. Kept short, as SwiftShader takes 2.4 s a step: the orders that found bugs and one
  // shuffled round.
  const scripted = webgpu ? SCRIPTED.filter((s) => s.found) : SCRIPTED;
  const rounds = webgpu ? 1 : 8;
  test(`overlapping requests never panic the wasm module and keep the page's state the worker's, on ${backend}`, { timeout: 900_000 }, async (t) => {
    // Not waiting for the neighbour index: the first rounds overlap its building.
    const p = await openPage({ webgpu, query: webgpu ? '?backend=webgpu-training' : '', whole: false });
    const { page } = p;
    const t0 = Date.now();
    const workerErrors = [];
    page.workers()[0].on('console', (m) => { if (m.type() === 'error') workerErrors.push(m.text()); });
    const cdp = await page.context().newCDPSession(page);
    const alerts = [];
    await page.exposeFunction('recordAlert', (text) => alerts.push(text));
    await page.evaluate(() => {
      for (const id of ['notice', 'model-message']) {
        const el = document.getElementById(id);
        new MutationObserver(() => { if (el.textContent) window.recordAlert(`${id}: ${el.textContent}`); })
          .observe(el, { childList: true, characterData: true, subtree: true });
      }
    });
    try {
      // Model A, of another shape than the default: a few steps from random weights, stopped, exported.
      for (const [name, value] of Object.entries({ latent: 2, hidden: 32, batchSize: 256, epochs: 100 })) {
        await page.fill(`#train-form input[name=${name}]`, String(value));
      }
      await page.click('#train-random');
      await stepAtLeast(page, 3, 300_000);
      await page.click('#train-stop');
      await trainStateIs(page, 'idle');
      await page.evaluate(async () => { window.modelA = await (await import('/js/rpc.js')).call('exportModel'); });
      await page.click('#reset-default');
      await page.waitForFunction(() => document.getElementById('model-message').textContent === 'The default model is back.');

      const seen = { refused: new Set(), ops: 0 };
      await page.fill('#train-form input[name=epochs]', '3');
      for (let r = 0; r < scripted.length + rounds; r++) {
        if (scripted[r]) await bringTo(page, scripted[r].from);
        const order = scripted[r]?.actions ?? shuffled(ACTIONS, 1000 + r);
        const digit = data.image((r * 1237) % data.n);
        // The strokes' events go in while the round's requests are made.
        const where = `round ${r} (${order.join(' ')})`;
        await Promise.all([traceDigitQuickly(page, cdp, digit, { wait: false }), fire(page, order, digit)]);
        await assertConsistent(page, `${where}, at once`);
        const { sent, settled, outcomes } = await settle(page);
        await assertConsistent(page, `${where}, settled`);
        assert.deepEqual(settled, sent.map((_, i) => i), `${where}: answers overtook each other: ${settled.map((i) => sent[i]).join(' ')}`);
        for (const o of outcomes) {
          if (o.refused) {
            assert.equal(o.ok, false, `${where}: ${o.op} must be refused`);
            assert.match(o.error, new RegExp(o.refused, 'i'), `${where}: ${o.op} refused for another reason`);
            seen.refused.add(o.op);
          } else {
            assert.ok(o.ok, `${where}: ${o.op} failed: ${o.error}`);
          }
          seen.ops++;
        }
        assert.deepEqual(p.errors, [], `${where}: errors in the page`);
        assert.deepEqual(workerErrors, [], `${where}: errors in the worker`);
      }
      t.diagnostic(`${scripted.length} + ${rounds} rounds in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${seen.ops} calls straight to the worker (refused as expected: ${[...seen.refused].join(', ') || 'none'}); messages shown: ${[...new Set(alerts)].join(' | ')}`);
      for (const a of alerts) assert.doesNotMatch(a, PANIC);

      await t.test('afterwards a sketch is answered and training starts and stops', async () => {
        if ((await trainStatus(page)).state !== 'idle') {
          await page.click('#train-stop');
          await trainStateIs(page, 'idle');
        }
        await page.waitForSelector('body[data-indexed="true"]', { timeout: 300_000 });
        const digit = data.image(42);
        await traceDigitQuickly(page, cdp, digit);
        assert.equal(await page.$$eval('#neighbours li', (l) => l.length), 8);
        assert.ok(Number.isFinite(Number(await page.$eval('#score', (e) => e.dataset.loss))), 'the sketch is scored');
        await page.click('#train');
        await trainStateIs(page, 'running');
        await assertConsistent(page, 'training');
        await page.click('#train-stop');
        await trainStateIs(page, 'idle');
        await assertConsistent(page, 'stopped');
        assert.deepEqual(p.errors, []);
        assert.deepEqual(workerErrors, []);
        assert.deepEqual(p.violations, []);
      });
    } finally {
      await p.close();
    }
  });
}
