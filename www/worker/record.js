// The page's model's record as the worker keeps it: its training history (worker/history.js), how
// much of it belongs to the model, and the training run as last read to be stored. A record
// ({weights, history, run}) is what is stored in this browser and handed over when the GPU is
// lost; `record()` reads one and `restore()` makes one the session's, checking that the run's
// snapshot and its history agree. The core's session is to keep all of this itself
// (record()/restore(bytes)); this file, the only user of worker/history.js, is what that replaces.
import { emptyHistory, historyForStore, historyFromStore } from './history.js';
import { errorText } from './state.js';

export class ModelRecord {
  #history = emptyHistory();
  /** How many of the history's steps belong to the page's model; those after it are the run's
   *  since its last epoch's end (the run's snapshot holds their weights). */
  #modelSteps = 0;
  /** The training run as last read to be stored (a record's `run`: {snapshot, steps, epochs,
   *  tail}), kept for a handover: the run's last good state if the GPU is lost, stored or not
   *  (another tab's model keeps this tab's from being stored). */
  #lastRun = null;

  /** A new model with no history (imported, the default, or a stored one that was unusable). */
  clear() {
    this.#history = emptyHistory();
    this.#modelSteps = 0;
  }

  /** The whole history as plain lists, for the page. */
  forPage() {
    return historyForStore(this.#history);
  }

  /** A run begins (from random weights when `fromScratch`): its steps and epochs count on from
   *  the model's, {steps, epochs}. Its state is read again at its first step. */
  runStarted(fromScratch) {
    if (fromScratch) this.#history = emptyHistory();
    this.#modelSteps = this.#history.steps.length;
    this.#lastRun = null;
    return { steps: this.#history.steps.at(-1)?.step ?? 0, epochs: this.#history.tests.at(-1)?.epoch ?? 0 };
  }

  /** The run's weights became the page's model (an epoch's end, Stop): its steps are the model's. */
  modelReached() {
    this.#modelSteps = this.#history.steps.length;
  }

  /** The run is over: no state of it is kept for a handover. */
  forgetRun() {
    this.#lastRun = null;
  }

  /** A training step's progress (the session's, counted within the `training` run) kept in the
   *  history: {record, testRecord} (the step's, and the test set's at an epoch's end), as sent. */
  stepDone(training, progress) {
    const r = progress.report;
    const record = r && {
      step: training.steps + r.step, epoch: training.epochs + r.epoch + 1,
      loss: r.parts.loss, recon: r.parts.recon, kl: r.parts.kl,
    };
    if (record) this.#history.steps.push(record);
    const t = progress.test;
    const testRecord = t && record && { step: record.step, epoch: record.epoch, loss: t.loss, recon: t.recon, kl: t.kl };
    if (testRecord) this.#history.tests.push(testRecord);
    return { record, testRecord };
  }

  /** The record to store: the session's model, its history, and the `training` run if there is
   *  one and `snapshot` (the session's run snapshot) was read: then it is also the one kept for a
   *  handover. */
  record(session, training, snapshot) {
    const run = snapshot && training
      && { snapshot, steps: training.steps, epochs: training.epochs, tail: this.#history.steps.toArray(this.#modelSteps) };
    if (run) this.#lastRun = run;
    return { weights: session.exportModel(), history: historyForStore(this.#history, this.#modelSteps), run };
  }

  /** The record handed over when the GPU is lost: `weights` (the model, as last read), its
   *  history, and the run as last read to be stored while one is on; null without weights. */
  handover(weights, training) {
    return weights && { weights, history: historyForStore(this.#history, this.#modelSteps), run: training ? this.#lastRun : null };
  }

  /** Makes `record` (stored in this browser, or handed over) the session's model, and its run, if
   *  it has one, the session's, paused at the step it was read at. Throws if the model cannot be
   *  used (the session's model and this history stay). Resolves with {run, training} (the page's
   *  RunInfo and the run's counts) when a run resumed, {runError} when the run could not be (it
   *  is dropped; the model stays), {} without one. */
  restore(session, record) {
    if (!(record.weights instanceof Uint8Array)) throw new Error('it is not a model file');
    const history = historyFromStore(record.history);
    session.loadModel(record.weights);
    this.#history = history;
    this.#modelSteps = history.steps.length;
    if (!record.run) return {};
    try {
      const { snapshot, steps, epochs, tail } = record.run;
      if (!(snapshot instanceof Uint8Array) || !Number.isInteger(steps) || !Number.isInteger(epochs)) {
        throw new Error('it is damaged');
      }
      const tailSteps = historyFromStore({ steps: tail, tests: [] }).steps;
      const run = JSON.parse(session.restoreRun(snapshot));
      const last = tailSteps.at(-1)?.step ?? history.steps.at(-1)?.step ?? 0;
      if (last !== steps + run.step) {
        session.loadModel(record.weights); // ends the run; the same model
        throw new Error(`its history ends at step ${last}, the run at step ${steps + run.step}`);
      }
      history.steps.append(tailSteps);
      return { run: { ...run, runStep: run.step, step: steps + run.step }, training: { state: 'paused', steps, epochs } };
    } catch (e) {
      return { runError: errorText(e) };
    }
  }
}
