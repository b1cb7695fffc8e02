// A training run in the worker: its start, pause, resume and stop (the page's calls), its steps
// (background work, one at a time: a sketch waits one step at most), the grid of digits drawn
// during training, the model at each epoch's end, the autosave, and the run's end. A run trains the
// page's model or the conditional one (its `kind`, the session's answer's): the worker's PageModel
// says which changed (PageModel.changed).

import { errorText, historyOf } from './state.js';

// The page's grid of digits from the weights being trained: the same z every time, so the grid
// visibly sharpens; drawn by a training step at most every TRAINING_SAMPLES.everyMs and sent with
// its progress, so that the page need not ask (its call would wait for the step, and a sketch
// behind it too).
const TRAINING_SAMPLES = { n: 16, seed: 7n, everyMs: 1000 };

export class Training {
  #parts;
  #samplesAt = -Infinity;

  /** `parts`: {state, persistence, scheduler, tsne, post, lostBy} as for Persistence, and
   *  the worker's PageModel (`model`) and Backends (`backends`). */
  constructor(parts) {
    this.#parts = parts;
  }

  /** A run is on and not paused: its steps are background work. */
  get running() {
    return this.#parts.state.training?.state === 'running';
  }

  /** A step of the queue, queued wherever a run begins, pauses, resumes or ends (worker/tsne.js). */
  tsneChanged = () => {
    const { tsne, state } = this.#parts;
    return tsne.trainingChanged(state.session, !state.indexing);
  };

  /** Starts a run (the page's form, `request`); the run's start is the page's model from now on
   *  (random weights, or the same ones with the form's β): shown at once, stored at the first
   *  epoch's end. */
  start(request) {
    return this.began(JSON.parse(this.#parts.state.session.trainStart(JSON.stringify(request))));
  }

  /** A run the session began (Train, or "Learn my hand": worker/yours.js), `started` its answer:
   *  running from now on, its start the model it trains (the page's or the conditional one). */
  began(started) {
    const { state, persistence, scheduler, model } = this.#parts;
    const { kind } = started.model;
    state.training = { state: 'running', kind };
    persistence.runStarted();
    scheduler.step(model.changed(kind, { keep: false }), this.tsneChanged);
    return { ...started, history: historyOf(state.session, kind) };
  }

  /** Pauses after the step under way, and stores the run as it is then. */
  async pause() {
    const { state, scheduler, persistence } = this.#parts;
    if (state.training) {
      state.training.state = 'paused';
      scheduler.step(this.tsneChanged);
      this.#parts.backends.runChanged();
      await persistence.save();
    }
    return { state: state.training?.state ?? 'idle' };
  }

  resume() {
    const { state, scheduler } = this.#parts;
    if (state.training) {
      state.training.state = 'running';
      scheduler.step(this.tsneChanged);
    }
    return { state: state.training?.state ?? 'idle' };
  }

  /** Ends the run: the page's model becomes the weights reached (or stays the checkpoint, with the
   *  reason), and is stored in place of the run. */
  async stop() {
    const { state, persistence, scheduler, model } = this.#parts;
    const kind = state.training?.kind;
    const progress = JSON.parse(await state.session.trainStop());
    persistence.runReplaced();
    if (kind) scheduler.step(this.ended, model.changed(kind, { keep: true }));
    return progress;
  }

  /** The grid of digits from the weights being trained (when no run is on, the model of `kind`). */
  sample(kind = 'vae') {
    return this.#parts.state.session.trainingSample(TRAINING_SAMPLES.n, TRAINING_SAMPLES.seed, kind);
  }

  /** One training step: run on the training device (while it waits there, the calls that change
   *  nothing are answered with the page's model: a sketch need not wait for a GPU's step), then
   *  applied to the session. */
  step = async () => {
    const { state, persistence, scheduler, model, post, lostBy } = this.#parts;
    const { session } = state;
    const { kind } = state.training;
    let progress;
    const autosave = persistence.autosaveDue();
    const sampling = performance.now() - this.#samplesAt >= TRAINING_SAMPLES.everyMs;
    let samples;
    try {
      await scheduler.overlapping(session.trainStepRun(autosave, sampling ? TRAINING_SAMPLES.n : 0, TRAINING_SAMPLES.seed));
      progress = JSON.parse(session.trainStepEnd());
      samples = session.takeStepSamples();
      if (samples) this.#samplesAt = performance.now();
    } catch (e) {
      if (await lostBy(e)) return; // the worker that takes over goes on with the run
      progress = { finished: true, error: errorText(e) };
    }
    // The step's records over the model's life, as the session's history keeps them.
    const { record, testRecord } = progress;
    post({ event: 'train', progress, record, testRecord, samples, kind, state: progress.finished ? 'idle' : state.training.state });
    // The session's run is over: a record stored from now on holds none.
    if (progress.finished) state.training = null;
    // An epoch's end makes its weights the trained model (stored with the run, if it goes on).
    if (testRecord) {
      scheduler.step(model.changed(kind, { keep: true }));
    } else if (!progress.finished && autosave) {
      scheduler.step(persistence.save);
    }
    if (progress.finished) scheduler.step(this.ended);
  };

  /** The run is over (finished, diverged, failed, stopped, or ended by a new model); a stored run
   *  is replaced by the model alone. A step of the queue. */
  ended = async () => {
    const { state, persistence, scheduler, backends } = this.#parts;
    state.training = null;
    await persistence.runEnded();
    if (state.webgpuWaiting) scheduler.step(backends.placeJobs);
    backends.runChanged();
    scheduler.step(this.tsneChanged);
  };
}
