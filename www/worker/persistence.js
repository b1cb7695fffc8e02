// The page's model kept in this browser, from the worker: stored at each model worth keeping, a
// training run autosaved while it trains and stored when paused or hidden, read back at start-up,
// and, in a worker that replaces one whose GPU was lost, taken over from it. What a record holds
// and how it is checked is the core's (vae::Session::record, restore, held_record: the model, its
// training history and the run, one blob; the worker keeps no copy of any of it); where it is kept
// and who may overwrite it is the storage's (worker/storage.js: IndexedDB, one record shared by the
// tabs).
// Everything a browser provides is passed in, so that node can run this (tests/unit/).

import { errorText } from './state.js';

// While a run trains, it is stored at most every AUTOSAVE_MS, and saving takes at most about 1/20
// of the time (a big model's snapshot costs more): closing the tab keeps the run as last saved,
// a few seconds back at most. Not more often: the default model's run is 7.8 MB a write.
export const AUTOSAVE_MS = 5000;

export const NOT_STORED = 'Another tab stored a newer model in this browser since this tab loaded it, so this tab\'s '
  + 'model is not stored: it is kept here, in memory (Export model keeps it; reloading loads the other tab\'s).';
export const STORED_ELSEWHERE = 'Another tab stored its model in this browser. This tab\'s model stays here, in memory, and '
  + 'is no longer stored from this tab (Export model keeps it; reloading loads the other tab\'s).';
const UNREAD = 'This tab\'s model could not be read back from the worker that lost the GPU';

export class Persistence {
  #state;
  #storage;
  #scheduler;
  #post;
  #lostBy;
  #now;
  #newId;
  #giveData;
  /** The write id of the stored record this tab read or last wrote (worker/storage.js): a write
   *  goes through only over that one. */
  #storedId = null;
  /** The stored record holds a training run (to be replaced when the run ends). */
  #runStored = false;
  /** A store under way ({writeId, run}): if the GPU is lost meanwhile, the write may still land. */
  #writing = null;
  #lastSaveAt = 0;
  #saveMs = 0;

  /** `state`: the worker's (worker/state.js); `storage`: worker/storage.js's
   *  functions (readStoredModel, storeModel, forgetStoredModel, onStoredElsewhere); `scheduler`: the worker's queue;
   *  `post(message)` sends the page an event; `lostBy(error)` resolves true when the error means
   *  the GPU is lost (worker/gpu-loss.js); `now()` and `newId()` are the clock and the write ids;
   *  `giveData()` gives the session its data set (worker.js), for a stored run, which waits for it. */
  constructor({
    state, storage, scheduler, post, lostBy, giveData,
    now = () => performance.now(), newId = () => crypto.randomUUID(),
  }) {
    this.#giveData = giveData;
    this.#state = state;
    this.#storage = storage;
    this.#scheduler = scheduler;
    this.#post = post;
    this.#lostBy = lostBy;
    this.#now = now;
    this.#newId = newId;
    storage.onStoredElsewhere((writeId) => {
      if (writeId !== this.#storedId) post({ event: 'storage', message: STORED_ELSEWHERE });
    });
  }

  /** Stores the session's record (the page's model, its history and the training run if there is
   *  one), unless another tab stored one since: then it says so. Between steps only (a call or a
   *  step of the queue). */
  save = async () => {
    if (this.#state.lost) return; // the worker that takes over stores from now on
    const t0 = this.#now();
    try {
      const { session, training } = this.#state;
      // The run in it as read by the last training step when it was asked to (an autosave) or
      // ended an epoch, while the page's calls were answered; else read now (Pause, a hidden page).
      const record = { record: await session.record() };
      this.#writing = { writeId: this.#newId(), run: training !== null };
      // The write changes nothing the page's calls see: they are answered meanwhile.
      const { stored, writeId } = await this.#scheduler.overlapping(this.#storage.storeModel(record, this.#storedId, this.#writing.writeId));
      if (stored) {
        this.#storedId = writeId;
        this.#runStored = this.#writing.run;
      } else {
        this.#post({ event: 'storage', message: NOT_STORED });
      }
    } catch (e) {
      if (!(await this.#lostBy(e))) this.#post({ event: 'error', error: `The model could not be saved in this browser: ${errorText(e)}` });
    } finally {
      this.#writing = null;
      this.#lastSaveAt = this.#now();
      this.#saveMs = this.#lastSaveAt - t0;
    }
  };

  /** The page is hidden or closing: the run is stored at the step reached. Best effort: a closing
   *  tab's worker is ended at once (in Chromium no write begun then completes); the autosave and
   *  Pause are what a closed tab keeps. */
  pageHidden = async () => {
    if (this.#state.training) await this.save();
  };

  /** Whether the next training step should read the run for an autosave. */
  autosaveDue() {
    return this.#now() - this.#lastSaveAt > Math.max(AUTOSAVE_MS, 20 * this.#saveMs);
  }

  /** A run began: its first step reads it to store it, so that a lost GPU or a closed tab never
   *  loses a run whole. */
  runStarted() {
    this.#lastSaveAt = -Infinity;
  }

  /** The run is over: a stored run is replaced by the model alone. */
  async runEnded() {
    if (this.#runStored) await this.save();
  }

  /** The model's own store, queued by the caller, replaces the stored run (Stop, a new model). */
  runReplaced() {
    this.#runStored = false;
  }

  /** The default model is the page's: the stored record is deleted, unless another tab stored
   *  one since (then it says so). */
  async forgetStored() {
    const { stored } = await this.#storage.storeModel(null, this.#storedId);
    if (stored) this.#storedId = null;
    else this.#post({ event: 'storage', message: NOT_STORED });
  }

  /** What a worker that takes over gets when the GPU is lost (worker/gpu-loss.js): `record`, the
   *  session's record as it holds it (the run as last read to be stored; null if the module could
   *  not give it), whether the run was running, and what it must know of the stored record. */
  handover(record) {
    const { training } = this.#state;
    return {
      record, running: training?.state === 'running',
      storedId: this.#storedId, runStored: this.#runStored, writing: this.#writing,
    };
  }

  /** The model stored in this browser becomes the page's, unless it cannot be used: then it is
   *  dropped and the default stays, with the reason. A stored training run comes back paused at
   *  the step it was stored at; one that cannot be resumed is dropped with the reason, the model
   *  stays. `read`: the record as read (a promise), when it was read ahead (worker.js). {restored,
   *  storedProblem, run?}. */
  async restoreStored(read = this.#storage.readStoredModel()) {
    let stored;
    let restored;
    try {
      stored = await read;
      if (!stored) return { restored: false, storedProblem: null };
      restored = await this.#restore(stored);
      this.#storedId = stored.writeId ?? null;
    } catch (e) {
      await this.#storage.forgetStoredModel().catch(() => {});
      return {
        restored: false,
        storedProblem: `The model stored in this browser could not be used (${errorText(e)}); the default model is loaded.`,
      };
    }
    const resumed = this.#resumed(restored, 'The training run stored in this browser could not be resumed');
    if (resumed.run) this.#runStored = true;
    return { restored: true, ...resumed };
  }

  /** In a worker that replaces one whose GPU was lost: the model and training run it handed over
   *  (worker/gpu-loss.js), or, if it could not read its model, this tab's last stored one (else
   *  the default, said). A run that was training goes on, from the step its state was read at; one
   *  that had not been read yet is said to be lost. Nothing is written: the stored record stays
   *  this tab's (the lost worker's last write may have landed after the handover: then it is that
   *  one). {restored, kept, storedProblem, run?}. */
  async takeOver({ record, running, storedId, runStored, writing }) {
    const current = await this.#storage.readStoredModel().catch(() => undefined);
    const landed = writing !== null && current?.writeId === writing.writeId;
    this.#storedId = landed ? writing.writeId : storedId;
    this.#runStored = landed ? writing.run : runStored;
    const source = record ? { record } : (current && this.#storedId !== null && current.writeId === this.#storedId ? current : null);
    if (!source) return { restored: false, kept: false, storedProblem: `${UNREAD}, and it was not stored: the default model is loaded.` };
    let restored;
    try {
      restored = await this.#restore(source);
    } catch (e) {
      return { restored: false, kept: false, storedProblem: `The model could not be moved to the CPU (${errorText(e)}); the default model is loaded.` };
    }
    const resumed = this.#resumed(restored, 'The training run could not be moved to the CPU');
    if (resumed.run && running) {
      this.#state.training.state = 'running';
      resumed.run.state = 'running';
    }
    let problem = resumed.storedProblem;
    if (!record) problem ??= `${UNREAD}: its last stored version is loaded.`;
    if (running && !restored.run && restored.runError === undefined) problem ??= 'The training run had only just started and nothing of it had been read yet: Train starts it again.';
    return { restored: true, kept: record !== null, ...resumed, storedProblem: problem };
  }

  /** Makes a stored or handed-over record the session's model, and its run, if it has one, the
   *  session's, paused at the step it was read at (a session without its data set yet gets it
   *  first: a run needs its digits). Throws if the model cannot be used (the session's model
   *  stays). {run, training} when a run resumed, {runError} when it could not be (it is dropped;
   *  the model stays), {} without one. */
  async #restore(stored) {
    const { session } = this.#state;
    if (stored.record instanceof Uint8Array) {
      const restored = JSON.parse(session.restore(stored.record));
      const { run, runError } = restored.runWaitsForData ? await this.#giveData() : restored;
      if (runError !== null) return { runError };
      return run ? { run, training: { state: 'paused', kind: run.model.kind } } : {};
    }
    // Stored before the record was the core's ({weights, history, run}): its model alone.
    if (!(stored.weights instanceof Uint8Array)) throw new Error('it is not a model record');
    session.loadModel(stored.weights);
    return stored.run ? { runError: 'it was stored by an earlier version of this page' } : {};
  }

  /** A restored record's run becomes the worker's: {storedProblem, run?}; a run that could not be
   *  resumed is said as `problem` with the reason. */
  #resumed({ run, training, runError }, problem) {
    if (runError !== undefined) return { storedProblem: `${problem} (${runError}); its model is loaded.` };
    if (!run) return { storedProblem: null };
    this.#state.training = training;
    return { storedProblem: null, run };
  }
}
