// Stand-ins for what the browser gives the worker, for its unit tests in node: IndexedDB's stored
// record (a store shared by "tabs", with worker/storage.js's rule that a tab writes only over the
// record it last read or wrote, and its announcement of each write to the other tabs) and the wasm
// Session's parts that persistence and training use (the model as bytes, a run as its step, its
// history and record as counts). The
// browser tests (tests/resume.test.mjs, tests/gpu-loss.test.mjs, tests/training.test.mjs) run the
// same worker code with the real module and IndexedDB.
import crypto from 'node:crypto';
import { Persistence } from '../../www/worker/persistence.js';
import { workerState } from '../../www/worker/state.js';
import { Scheduler } from '../../www/worker/scheduler.js';

/** A macrotask boundary for the worker's queue, as its MessageChannel gives: in node an open
 *  MessagePort keeps the process alive. */
export const yieldToEvents = () => new Promise((resolve) => { setImmediate(resolve); });

/** One browser profile's stored record, as worker/storage.js keeps it: `tab()` gives a tab's
 *  storage functions; a write is announced to the other tabs, as its BroadcastChannel does, and
 *  kept in `writes`. */
export function browserStore() {
  const store = { record: undefined, tabs: [], writes: [] };
  store.tab = () => {
    const tab = { heard: null };
    store.tabs.push(tab);
    return {
      readStoredModel: async () => structuredClone(store.record), // IndexedDB hands out copies
      async storeModel(record, expectedId, writeId = record ? crypto.randomUUID() : null) {
        if ((store.record?.writeId ?? null) !== expectedId) return { stored: false };
        store.record = record ? structuredClone({ ...record, writeId, savedAt: Date.now() }) : undefined; // and keeps them
        store.writes.push(store.record);
        for (const other of store.tabs) if (other !== tab) other.heard?.(writeId);
        return { stored: true, writeId };
      },
      forgetStoredModel: async () => { store.record = undefined; },
      onStoredElsewhere: (handler) => { tab.heard = handler; },
    };
  };
  return store;
}

/** A stand-in record's contents: {model, steps, modelSteps, tests, run} (steps and tests: their
 *  steps; modelSteps: how many steps are the model's; run: the step it was read at, or null). */
export const recordOf = (bytes) => JSON.parse(new TextDecoder().decode(bytes));

/** The session's parts that persistence and training use: the model as bytes (a first byte 0 is
 *  refused, as the core refuses a file that is not safetensors), a run as its step (its snapshot:
 *  [step]), the history as the number of step and test records the model has, and its record as
 *  JSON of those ({model, steps, tests, run}: what the core's record holds, not its format). A run
 *  of `epochs` epochs of `stepsPerEpoch` steps ends each epoch with a test and makes its weights
 *  ([1, step]) the model, as the core's does; `asked` lists what each step was asked to read. */
export class SessionStandIn {
  model = Uint8Array.of(1, 2, 3);
  run = null;
  /** Step records (their lifetime steps) and test records; how many steps are the model's. */
  steps = [];
  tests = [];
  modelSteps = 0;
  /** The run as last read for a record ({run, steps}). */
  held = null;
  loads = 0;
  asked = [];
  #reads = null;
  exportModel() { return this.model.slice(); }
  modelInfo() { return JSON.stringify({ latent: 2, bytes: this.model.length }); }
  history() { return JSON.stringify({ steps: this.steps.map((step) => ({ step })), tests: this.tests.map((step) => ({ step })) }); }
  /** The page's model's history (this stand-in trains that model only). */
  historyOf(kind) {
    if (kind !== 'vae') throw new Error(`the stand-in has no model of kind ${kind}`);
    return this.history();
  }
  loadModel(bytes) {
    if (bytes[0] === 0) throw new Error('not a safetensors file');
    this.model = bytes.slice();
    this.run = null;
    this.held = null;
    this.steps = [];
    this.tests = [];
    this.modelSteps = 0;
    this.loads++;
    return JSON.stringify({ latent: 2 });
  }
  takeStepSamples() { return this.#take('samples'); }
  async record() {
    // The run as the last step read it, else now (as the core's record() does).
    const snapshot = this.#take('snapshot') ?? (this.run && Uint8Array.of(this.run.step));
    this.held = snapshot ? { run: snapshot[0], steps: this.steps.length } : null;
    return this.#record(this.held);
  }
  heldRecord() { return this.#record(this.run && this.held); }
  #record(held) {
    const steps = this.steps.slice(0, held?.steps ?? this.modelSteps);
    const record = { model: Array.from(this.model), steps, modelSteps: this.modelSteps, tests: this.tests, run: held?.run ?? null };
    return new TextEncoder().encode(JSON.stringify(record));
  }
  restore(bytes) {
    const { model, steps, modelSteps, tests, run } = recordOf(bytes);
    this.loadModel(Uint8Array.from(model));
    Object.assign(this, { steps, tests, modelSteps });
    if (run === null) return JSON.stringify({ model: {}, run: null, runError: null });
    if (run !== (steps.at(-1) ?? 0)) {
      this.steps = steps.slice(0, modelSteps);
      return JSON.stringify({ model: {}, run: null, runError: `its history ends at step ${steps.at(-1) ?? 0}, the run at step ${run}` });
    }
    this.run = { step: run, epochs: 1, stepsPerEpoch: 1000 };
    return JSON.stringify({ model: {}, run: { step: run, runStep: run, model: { kind: 'vae' } }, runError: null });
  }
  trainStart(request) {
    const { epochs, stepsPerEpoch, fromScratch } = JSON.parse(request);
    this.run = { step: 0, epochs, stepsPerEpoch };
    this.held = null;
    return JSON.stringify({ fromScratch: Boolean(fromScratch), model: { kind: 'vae' } });
  }
  async trainStepRun(snapshot, samples) {
    this.asked.push({ snapshot, samples });
    this.run.step++;
    this.#reads = { snapshot: snapshot ? Uint8Array.of(this.run.step) : undefined, samples: samples ? new Float32Array(samples * 784) : undefined };
  }
  trainStepEnd() {
    const { step, stepsPerEpoch, epochs } = this.run;
    const epoch = Math.floor((step - 1) / stepsPerEpoch);
    const epochEnd = step % stepsPerEpoch === 0;
    const finished = epochEnd && epoch + 1 === epochs;
    const progress = { report: { step, epoch, parts: { loss: 200 - step, recon: 180 - step, kl: 20 } }, finished };
    progress.record = { step, epoch: epoch + 1, loss: 200 - step, recon: 180 - step, kl: 20 };
    this.steps.push(step);
    if (epochEnd) {
      progress.testRecord = { step, epoch: epoch + 1, loss: 190 - step, recon: 170 - step, kl: 20 };
      this.tests.push(step);
      this.modelSteps = this.steps.length;
      this.model = Uint8Array.of(1, step);
      if (!finished) this.#reads.snapshot ??= Uint8Array.of(step); // an epoch's end reads the run
    }
    if (finished) this.run = null;
    return JSON.stringify(progress);
  }
  async trainStop() {
    if (this.run) this.model = Uint8Array.of(1, this.run.step);
    this.modelSteps = this.steps.length;
    this.run = null;
    return JSON.stringify({ finished: true, diverged: false });
  }
  #take(what) {
    const read = this.#reads?.[what];
    if (this.#reads) this.#reads[what] = undefined;
    return read;
  }
}

/** A tab's worker: its state, queue and persistence on `store`; `clock` is the
 *  persistence's; `background()` lists the queue's background jobs (none unless given). */
export function tab(store, { clock = () => 0, background = () => [] } = {}) {
  const state = workerState();
  state.session = new SessionStandIn();
  const posted = [];
  const scheduler = new Scheduler({
    background: () => background(), onStepError: (e) => { throw e; }, yieldToEvents,
  });
  const persistence = new Persistence({
    state, storage: store.tab(), scheduler, post: (m) => posted.push(m), lostBy: async () => false, now: clock,
  });
  return { state, persistence, posted, scheduler, session: state.session };
}
