// The page's model in the worker: what follows each change of model (the page hears of it, its
// neighbour index is rebuilt, it is stored if it is one to keep), the index built as background
// work, a sketch's analysis, and the model replaced by an imported file or the default.

import { errorText, historyOf } from './state.js';

const MB = 2 ** 20;
const PIXELS = 784;
/** A run ended by a new model (import, reset) is over for the page too: no step will say so. */
const RUN_ENDED_BY_NEW_MODEL = { event: 'train', progress: { finished: true }, state: 'idle' };

/** A sketch's figures with its images: `images` holds the input, the reconstruction and the
 *  neighbours, 784 grey levels each (views on one buffer, so the answer is copied to the page once). */
function withImages(answer, images) {
  const at = (i, n = 1) => images.subarray(i * PIXELS, (i + n) * PIXELS);
  return { ...answer, input: at(0), reconstruction: at(1), neighbourImages: at(2, answer.neighbours.length) };
}

export class PageModel {
  #parts;

  /** `parts`: {state, persistence, scheduler, tsne, post, lostBy} as for Persistence, the
   *  worker's TsneMaps, and `runEnded`, the step that ends a training run (Training.ended), queued
   *  when a new model ends one. */
  constructor(parts) {
    this.#parts = parts;
  }

  /** A step for a new model of the page's (loaded, imported, reset, a run's start, an epoch's
   *  end, Stop): the page hears of it, the neighbour index is rebuilt for it, and it is stored if
   *  it is one to keep (not the default, not a run's start). */
  swapped({ keep }) {
    return async () => {
      const { state, post, persistence } = this.#parts;
      post({ event: 'model', model: JSON.parse(state.session.modelInfo()) });
      state.indexing = true;
      if (keep) await persistence.save();
    };
  }

  /** A step for a new model of `kind`: the page's ('vae': as `swapped`) or the conditional one
   *  ('cvae': the page hears of it, and its reading, redraws and chosen-digit samples come from it;
   *  the page's model and its index stay), stored if it is one to keep. */
  changed(kind, { keep }) {
    if (kind === 'vae') return this.swapped({ keep });
    return async () => {
      const { state, post, persistence } = this.#parts;
      state.hasConditional = true;
      post({ event: 'conditional', conditional: JSON.parse(state.session.conditionalInfo()) });
      if (keep) await persistence.save();
    };
  }

  /** The session moved into the WebGPU module (worker/backend.js): the same model, whose
   *  neighbour index is built again there; the page hears of it. A step of the queue. */
  moved = async () => {
    const { state, post } = this.#parts;
    post({ event: 'moved', backend: JSON.parse(state.session.backendInfo()), model: JSON.parse(state.session.modelInfo()) });
  };

  /** One step of building the neighbour index (background work). */
  indexStep = async () => {
    const { state, scheduler, tsne, post, lostBy } = this.#parts;
    const { session } = state;
    try {
      const progress = JSON.parse(await session.indexStep());
      if (progress.done) {
        state.indexing = false;
        progress.map = JSON.parse(session.mapPoints());
        scheduler.step(() => tsne.indexWhole(session));
      }
      post({ event: 'index', progress });
    } catch (e) {
      state.indexing = false;
      if (!(await lostBy(e))) post({ event: 'error', error: `building the neighbour index failed: ${errorText(e)}` });
    }
  };

  /** The page's analysis of a sketch (its figures and images), or null for an empty sketch. */
  async analyse({ grey, width, height, k }) {
    const answer = await this.#parts.state.session.analyse(grey, width, height, k);
    if (!answer) return null;
    try {
      return withImages(JSON.parse(answer.json), answer.images);
    } finally {
      answer.free();
    }
  }

  /** The conditional model's reading of a sketch: {digit, confidence, redraws} (redraws: 10 ×
   *  784 grey levels, digit by digit), or null for an empty sketch. */
  async readSketch({ grey, width, height }) {
    const answer = await this.#parts.state.session.readSketch(grey, width, height);
    if (!answer) return null;
    try {
      return { ...JSON.parse(answer.json), redraws: answer.images };
    } finally {
      answer.free();
    }
  }

  /** A model file the page imports, of at most `maxModelBytes`, becomes the model of its kind (the
   *  core's rule: the seed's kind the page's model, which ends a training run; a conditional one the
   *  reading model, refused during a run) and is stored. {model (with its kind), history}. */
  importFile({ bytes, name }, maxModelBytes) {
    if (bytes.length > maxModelBytes) {
      throw new Error(`${name} is ${(bytes.length / MB).toFixed(0)} MB; a model file here is at most ${(maxModelBytes / MB).toFixed(0)} MB`);
    }
    const { state, scheduler, runEnded } = this.#parts;
    const ended = state.training !== null;
    const model = JSON.parse(state.session.importModel(bytes));
    if (model.kind === 'vae') this.#runEndedByNewModel(ended);
    scheduler.step(...(model.kind === 'vae' ? [runEnded] : []), this.changed(model.kind, { keep: true }));
    return { model, history: historyOf(state.session, model.kind) };
  }

  /** The default model (`weights`) becomes the page's; the stored record is deleted, or, when it
   *  holds the session's own conditional model (trained or imported here), stored again with the
   *  default as the page's model. */
  async resetDefault(weights) {
    const { state, persistence, scheduler, runEnded } = this.#parts;
    const ended = state.training !== null;
    state.session.loadModel(weights);
    this.#runEndedByNewModel(ended);
    if (state.lost) throw new Error(state.lost); // the worker that takes over does it
    if (state.session.hasOwnConditional()) await persistence.save();
    else await persistence.forgetStored();
    scheduler.step(runEnded, this.swapped({ keep: false }));
    return { model: JSON.parse(state.session.modelInfo()), history: historyOf(state.session) };
  }

  /** The session loaded a new model of the page's, which ended the training run if `ended`: the page
   *  hears of it. The model's own store, queued by the caller, replaces a stored run. */
  #runEndedByNewModel(ended) {
    if (ended) this.#parts.post(RUN_ENDED_BY_NEW_MODEL);
    this.#parts.persistence.runReplaced();
  }
}
