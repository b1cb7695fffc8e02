// A training run in the worker (www/worker/training.js with worker/model.js and persistence.js, on
// the worker's real queue) in node, without a browser: the steps' records counted
// over the model's life, the first step read for the autosave, each epoch's end made the page's
// model and stored with the run, Pause storing the run, Stop and the run's end storing the model
// alone. The session and IndexedDB are stand-ins (tests/unit/stand-ins.mjs); tests/training.test.mjs
// and tests/resume.test.mjs run the same code in Chromium with the real module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Training } from '../../www/worker/training.js';
import { PageModel } from '../../www/worker/model.js';
import { Backends } from '../../www/worker/backend.js';
import { TsneMaps } from '../../www/worker/tsne.js';
import { browserStore, recordOf, tab } from './stand-ins.mjs';

/** A tab's worker with its training parts; `call(run)` answers like a page's call. */
function worker(store) {
  let training;
  const t = tab(store, { background: () => (training.running ? [training.step] : []) });
  const { state, persistence, scheduler, posted } = t;
  const post = (m) => posted.push(m);
  const lostBy = async () => false;
  const tsne = new TsneMaps({ post, onError: (error) => post({ event: 'error', error }), isTraining: () => training.running });
  const backends = new Backends({ state, scheduler, post, trapped: () => false });
  const parts = { state, persistence, scheduler, tsne, post, lostBy };
  const model = new PageModel({ ...parts, runEnded: () => training.ended() });
  training = new Training({ ...parts, model, backends });
  state.pageAnswered = true;
  const call = (run) => new Promise((resolve, reject) => {
    scheduler.call(run, ({ ok, value, error }) => (ok ? resolve(value) : reject(error)));
  });
  /** Resolves once the worker has posted a `train` event for which `until(event)` holds. */
  const trained = (until) => new Promise((resolve) => {
    const check = () => { const e = posted.find((m) => m.event === 'train' && until(m)); if (e) resolve(e); else setTimeout(check, 2); };
    check();
  });
  return { ...t, training, call, trained };
}

const RUN = { epochs: 2, stepsPerEpoch: 3 };

test('a run: records over the model\'s life, the first step autosaved, each epoch\'s end the page\'s model, stored; the end stores the model alone', async () => {
  const store = browserStore();
  const w = worker(store);
  const started = await w.call(() => w.training.start(RUN));
  assert.deepEqual(started.history, { steps: [], tests: [] });
  await w.trained((e) => e.state === 'idle');
  await w.call(() => null); // the run's end and its steps, done
  const trains = w.posted.filter((m) => m.event === 'train');
  assert.deepEqual(trains.map((e) => [e.record.step, e.record.epoch, e.testRecord?.step ?? null, e.state]), [
    [1, 1, null, 'running'], [2, 1, null, 'running'], [3, 1, 3, 'running'],
    [4, 2, null, 'running'], [5, 2, null, 'running'], [6, 2, 6, 'idle'],
  ]);
  assert.deepEqual(w.session.asked.map((a) => a.snapshot), [true, false, false, false, false, false], 'the first step reads the run, then every 5 s');
  assert.equal(w.session.asked[0].samples, 16, 'the first step draws the grid of samples');
  assert.equal(w.posted.filter((m) => m.event === 'model').length, 3, 'the run\'s start and each epoch\'s end');
  // What was stored: the run at its first step; the model at each epoch's end with the run; the
  // model alone at the end.
  const writes = store.writes.map((r) => recordOf(r.record)).map((r) => [r.model, r.steps, r.modelSteps, r.tests, r.run]);
  assert.deepEqual(writes, [
    [[1, 2, 3], [1], 0, [], 1],
    [[1, 3], [1, 2, 3], 3, [3], 3],
    [[1, 6], [1, 2, 3, 4, 5, 6], 6, [3, 6], null],
  ]);
  assert.equal(w.state.training, null);
  assert.deepEqual(w.posted.filter((m) => m.event === 'error'), []);
});

test('Pause stores the run at the step reached; Stop makes the weights reached the model, stored in place of the run', async () => {
  const store = browserStore();
  const w = worker(store);
  await w.call(() => w.training.start({ epochs: 1, stepsPerEpoch: 1000 }));
  await w.trained((e) => e.record.step >= 4);
  const { state } = await w.call(() => w.training.pause());
  assert.equal(state, 'paused');
  const reached = w.session.run.step;
  const paused = recordOf(store.record.record);
  assert.deepEqual(paused.steps, Array.from({ length: reached }, (_, i) => i + 1), 'the run as paused');
  assert.equal(paused.run, reached);
  await new Promise((resolve) => { setTimeout(resolve, 30); });
  assert.equal(w.session.run.step, reached, 'no step while paused');
  await w.call(() => w.training.stop());
  const stopped = recordOf(store.record.record);
  assert.deepEqual(stopped.model, [1, reached]);
  assert.equal(stopped.run, null);
  assert.equal(stopped.modelSteps, reached, 'the steps are the model\'s now');
  assert.equal(w.state.training, null);
});
