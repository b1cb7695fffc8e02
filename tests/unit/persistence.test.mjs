// The worker's persistence (www/worker/persistence.js, storing and restoring the session's record)
// in node, without a browser: what is stored, what comes back, what is refused and said, what two
// tabs do to each other, the autosave's pace, and what a worker that takes over after a lost GPU
// loads. The browser provides IndexedDB and the wasm Session; here they are stand-ins
// (tests/unit/stand-ins.mjs): the logic tested is the worker's. tests/resume.test.mjs and tests/gpu-loss.test.mjs run the same paths in Chromium with
// the real module and IndexedDB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOT_STORED, STORED_ELSEWHERE, AUTOSAVE_MS } from '../../www/worker/persistence.js';
import { browserStore, recordOf, tab } from './stand-ins.mjs';

/** Trains `steps` steps of a run begun on the tab's model (as Training.start and .step do). */
function train({ state, persistence, session }, steps) {
  state.training = { state: 'running' };
  persistence.runStarted();
  session.run = { step: 0, epochs: 1, stepsPerEpoch: 1000 };
  for (let i = 1; i <= steps; i++) {
    session.run.step = i;
    session.steps.push(i);
  }
}

const stored = (store) => recordOf(store.record.record);

test('a run is stored with its snapshot and its steps, and comes back paused at its step in another tab', async () => {
  const store = browserStore();
  const first = tab(store);
  train(first, 3);
  await first.persistence.save();
  assert.deepEqual(stored(store), { model: [1, 2, 3], steps: [1, 2, 3], modelSteps: 0, tests: [], run: 3 }, 'no step is the model\'s yet');
  assert.deepEqual(first.posted, []);

  const second = tab(store);
  const back = await second.persistence.restoreStored();
  assert.equal(back.restored, true);
  assert.equal(back.storedProblem, null);
  assert.equal(back.run.step, 3);
  assert.deepEqual(second.state.training, { state: 'paused', kind: 'vae' });
  assert.deepEqual(JSON.parse(second.session.history()).steps.map((r) => r.step), [1, 2, 3]);
  // The run's end stores the model alone in place of the run.
  second.state.training = null;
  second.session.run = null;
  await second.persistence.runEnded();
  assert.equal(stored(store).run, null);
});

test('a stored run whose history disagrees with its snapshot is dropped, said, and its model kept', async () => {
  const store = browserStore();
  const first = tab(store);
  train(first, 3);
  first.session.run.step = 4; // a step the history does not hold
  await first.persistence.save();
  const second = tab(store);
  const back = await second.persistence.restoreStored();
  assert.equal(back.restored, true);
  assert.equal(back.run, undefined);
  assert.equal(back.storedProblem,
    'The training run stored in this browser could not be resumed (its history ends at step 3, the run at step 4); its model is loaded.');
  assert.equal(second.state.training, null);
  assert.equal(second.session.run, null, 'the session holds no run');
  assert.deepEqual(second.session.model, Uint8Array.of(1, 2, 3));
});

test('an unusable stored model is forgotten and the default stays, with the reason', async () => {
  const store = browserStore();
  const encoded = (model) => new TextEncoder().encode(JSON.stringify({ model, steps: [], modelSteps: 0, tests: [], run: null }));
  for (const [record, reason] of [[{ weights: [1, 2] }, 'it is not a model record'], [{ record: encoded([0, 1]) }, 'not a safetensors file']]) {
    store.record = { ...record, writeId: 'w' };
    const t = tab(store);
    const back = await t.persistence.restoreStored();
    assert.deepEqual(back, {
      restored: false, storedProblem: `The model stored in this browser could not be used (${reason}); the default model is loaded.`,
    });
    assert.equal(store.record, undefined);
    assert.equal(t.session.loads, 0);
  }
});

test('a model stored before the record was the core\'s loads alone; its run is dropped, said', async () => {
  const store = browserStore();
  store.record = { weights: Uint8Array.of(1, 9), history: { steps: [], tests: [] }, run: { snapshot: Uint8Array.of(2) }, writeId: 'w' };
  const t = tab(store);
  const back = await t.persistence.restoreStored();
  assert.equal(back.restored, true);
  assert.equal(back.storedProblem,
    'The training run stored in this browser could not be resumed (it was stored by an earlier version of this page); its model is loaded.');
  assert.deepEqual(t.session.model, Uint8Array.of(1, 9));
  assert.equal(t.session.run, null);
});

test('two tabs never overwrite each other\'s model: the one behind says so, and hears of the other\'s writes', async () => {
  const store = browserStore();
  const a = tab(store);
  const b = tab(store);
  await a.persistence.restoreStored();
  await b.persistence.restoreStored();
  await a.persistence.save();
  const aWrite = store.record.writeId;
  assert.deepEqual(b.posted, [{ event: 'storage', message: STORED_ELSEWHERE }]);
  await b.persistence.save();
  assert.equal(store.record.writeId, aWrite, 'a\'s model stays stored');
  assert.deepEqual(b.posted.at(-1), { event: 'storage', message: NOT_STORED });
  await b.persistence.forgetStored();
  assert.equal(store.record.writeId, aWrite, 'nor does a reset in b delete it');
  // a goes on writing over its own record, and deletes it on a reset.
  await a.persistence.save();
  assert.notEqual(store.record.writeId, aWrite);
  await a.persistence.forgetStored();
  assert.equal(store.record, undefined);
  assert.deepEqual(a.posted, []);
});

test('the autosave waits AUTOSAVE_MS, or twenty times the last save\'s time when that is longer', async () => {
  let now = 0;
  const t = tab(browserStore(), { clock: () => now });
  train(t, 1);
  assert.equal(t.persistence.autosaveDue(), true, 'a run\'s first step reads it');
  const save = t.persistence.save();
  now = 1000; // the save took 1000 ms: the next is due 20 s after it ends
  await save;
  now = 1000 + 20_000;
  assert.equal(t.persistence.autosaveDue(), false);
  now += 1;
  assert.equal(t.persistence.autosaveDue(), true);
  now = 0;
  const quick = t.persistence.save();
  now = 10; // 10 ms: AUTOSAVE_MS after it
  await quick;
  now = 10 + AUTOSAVE_MS;
  assert.equal(t.persistence.autosaveDue(), false);
  now += 1;
  assert.equal(t.persistence.autosaveDue(), true);
});

test('after a lost GPU: the handover carries the run as last stored, and the worker that takes over goes on with it', async () => {
  const store = browserStore();
  const lost = tab(store);
  train(lost, 2);
  await lost.persistence.save(); // the run as last read: step 2
  lost.session.run.step = 3;
  lost.session.steps.push(3);
  const handover = lost.persistence.handover(lost.session.heldRecord());
  assert.equal(handover.running, true);
  assert.equal(handover.storedId, store.record.writeId);
  assert.equal(handover.runStored, true);
  const { steps, run } = recordOf(handover.record);
  assert.deepEqual([steps, run], [[1, 2], 2], 'the run as last read, not the steps after');

  const next = tab(store);
  const taken = await next.persistence.takeOver(structuredClone(handover));
  assert.equal(taken.restored, true);
  assert.equal(taken.kept, true);
  assert.equal(taken.storedProblem, null);
  assert.equal(taken.run.step, 2);
  assert.equal(taken.run.state, 'running');
  assert.deepEqual(next.state.training, { state: 'running', kind: 'vae' });
  assert.equal(store.record.writeId, handover.storedId, 'nothing is written');
  // The new worker writes over the lost one's record.
  await next.persistence.save();
  assert.notEqual(store.record.writeId, handover.storedId);
  assert.deepEqual(next.posted, []);
});

test('after a lost GPU whose model could not be read: the stored one loads if it is this tab\'s, said so', async () => {
  const store = browserStore();
  const lost = tab(store);
  await lost.persistence.save();
  // A write under way when the GPU was lost, which landed after the handover.
  const writing = { writeId: 'late', run: false };
  const handover = { record: null, running: false, storedId: store.record.writeId, runStored: false, writing };
  store.record = { ...store.record, writeId: 'late' };
  const next = tab(store);
  const taken = await next.persistence.takeOver(handover);
  assert.deepEqual([taken.restored, taken.kept], [true, false]);
  assert.equal(taken.storedProblem, 'This tab\'s model could not be read back from the worker that lost the GPU: its last stored version is loaded.');
  // Another tab's record is not this tab's: the default stays.
  store.record = { ...store.record, writeId: 'another tab' };
  const other = await tab(store).persistence.takeOver(handover);
  assert.deepEqual([other.restored, other.kept], [false, false]);
  assert.match(other.storedProblem, /and it was not stored: the default model is loaded\.$/);
});
