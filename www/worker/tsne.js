// The t-SNE map in the model's worker. The core's session holds the map and makes it
// (vae::Session::tsne_begin/step/restore); here is when: it is begun when the page shows the
// t-SNE map and the model's neighbour index is whole (again for each new model while the page
// shows it), made one background step at a time (worker/scheduler.js: a sketch waits one step at
// most), and kept per model in this browser (worker/map-store.js), so that a reload, or a model
// that comes back, shows its map at once instead of after tens of seconds. Not while a training
// run runs: each epoch's end is a new model, whose map would be begun again before the last one
// was half made, and its steps would slow the training; it waits for the run to pause or end.
// The default model's map is not made here: it is made with the CLI when the model is trained
// (`vae map --page-file`, scripts/train-default.sh, through the same core session) and shipped
// beside the model; the core takes it only for the model it was made for (its digest).
// Until the person chooses a method, the page asks for the "first" one: t-SNE when the model's map
// needs no making here (shipped, kept in this browser, or made), else PCA.
import { mapKey, readMap, storeMap, forgetMap } from './map-store.js';

/** Progress events at most this often (a step takes a few ms to tens of ms). */
const PROGRESS_EVERY_MS = 200;
/** The default model's t-SNE map file (vae::session::TsneMapFile). */
const SHIPPED_MAP = new URL('../model/default-tsne.bin', import.meta.url);

/** The shipped map file's bytes, or {problem} if it could not be fetched. */
async function fetchShippedMap() {
  try {
    const response = await fetch(SHIPPED_MAP);
    if (!response.ok) return { problem: `HTTP ${response.status}` };
    return new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    return { problem: e?.message ?? String(e) };
  }
}

export class TsneMaps {
  #post;
  #onError;
  /** The page shows the t-SNE map: each new model's is begun once its index is whole. */
  #wanted = false;
  /** The map being made: {generation, key}, or null. */
  #making = null;
  #progressAt = -Infinity;
  #isTraining;
  /** The shipped map file (bytes, or {problem}, or null once said unusable), fetched when first
   *  needed: with the first index event, after the data set, so never before the first answer. */
  #shipped;
  #fetchShipped;

  /** `post(message)` sends the page an event; `onError(text)` says a problem; `isTraining()` is
   *  true while a training run runs (not paused); `fetchShipped()`, the default model's map file
   *  (bytes, or {problem}): from beside the page's default model unless given. */
  constructor({ post, onError, isTraining, fetchShipped = fetchShippedMap }) {
    this.#post = post;
    this.#onError = onError;
    this.#isTraining = isTraining;
    this.#fetchShipped = fetchShipped;
  }

  /** A map is being made, and no training run runs: its steps are background work. */
  get making() {
    return this.#making !== null && !this.#isTraining();
  }

  /** A training run began, paused, resumed or ended: while it runs, the page hears that the map
   *  waits (state "waiting", with the fraction made so far); once it pauses or ends, the map is
   *  begun or goes on, if the page shows t-SNE. A step of the worker's queue. */
  async trainingChanged(session, indexWhole) {
    if (!this.#wanted) return;
    const status = JSON.parse(session.tsneStatus());
    if (status.state === 'made') return;
    if (this.#isTraining() || !indexWhole) {
      this.#post({ event: 'tsne', status: this.#said(status) });
      return;
    }
    this.#post({ event: 'tsne', ...(await this.#begin(session)) });
  }

  /** The page shows the `method` map ("pca" or "tsne"; "first" until the person chooses one: t-SNE
   *  if the model's map needs no making here, else PCA, said as {method}). For t-SNE, resolves with
   *  what there is to show now: {map, restored} (restored: "held" by the session already, "stored"
   *  in this browser or "shipped" beside the default model; false when made just now), or {status}
   *  (being made, or waiting for the index: state "none"); the map follows as an event. */
  async show(session, method, indexWhole) {
    if (method === 'first') {
      const first = (await this.#atHand(session)) ? 'tsne' : 'pca';
      return { method: first, ...(await this.show(session, first, indexWhole)) };
    }
    this.#wanted = method === 'tsne';
    if (!this.#wanted) return {};
    const shown = session.tsneMap();
    const status = JSON.parse(session.tsneStatus());
    if (shown && (status.state === 'made' || !indexWhole)) return { map: JSON.parse(shown), restored: 'held' };
    if (!indexWhole) return { status: this.#said(status) };
    return this.#begin(session);
  }

  /** The model's neighbour index is whole: its map is begun if the page shows t-SNE. A step of
   *  the worker's queue. */
  async indexWhole(session) {
    if (!this.#wanted) return;
    const shown = await this.#begin(session);
    this.#post({ event: 'tsne', ...shown });
  }

  /** One step of the map being made (background work); once made it is stored and sent. */
  async step(session) {
    const status = JSON.parse(session.tsneStep());
    const making = this.#making;
    if (status.generation !== making.generation || status.state === 'none') {
      // A new model dropped it (the session keeps no half-made map of an old model), or the
      // training digits came (a map of the test digits alone is made again once they are indexed).
      this.#making = null;
      return;
    }
    if (status.state !== 'made') {
      if (performance.now() - this.#progressAt >= PROGRESS_EVERY_MS) {
        this.#progressAt = performance.now();
        this.#post({ event: 'tsne', status });
      }
      return;
    }
    this.#making = null;
    const map = JSON.parse(session.tsneMap());
    this.#post({ event: 'tsne', map, restored: false });
    try {
      await storeMap(making.key, Float32Array.from(map.points));
    } catch (e) {
      this.#onError(`The t-SNE map could not be kept in this browser: ${e?.message ?? e}`);
    }
  }

  /** Shows the current model's map: the shipped one if it is this model's, or read back if this
   *  browser has it for this model, else begun. */
  async #begin(session) {
    const status = JSON.parse(session.tsneStatus());
    if (status.state === 'made') return { map: JSON.parse(session.tsneMap()), restored: 'held' };
    if (status.state === 'making') return { status: this.#said(status) };
    const shipped = await this.#shippedFor(session);
    if (shipped) {
      try {
        session.tsneRestoreFile(shipped);
        return { map: JSON.parse(session.tsneMap()), restored: 'shipped' };
      } catch (e) {
        // Refused by the core (a data set of another size): made here.
        this.#onError(`The default model's t-SNE map shipped with the page could not be used (${e?.message ?? e}); it is made here.`);
      }
    }
    const key = mapKey(session);
    try {
      const positions = await readMap(key);
      if (positions) {
        session.tsneRestore(positions);
        return { map: JSON.parse(session.tsneMap()), restored: 'stored' };
      }
    } catch (e) {
      // Unreadable, or refused by the core (another data set): made again, and replaced.
      await forgetMap(key).catch(() => {});
      this.#onError(`The t-SNE map kept in this browser could not be used (${e?.message ?? e}); it is made again.`);
    }
    if (this.#isTraining()) return { status: this.#said(status) };
    const begun = JSON.parse(session.tsneBegin());
    this.#making = { generation: begun.generation, key };
    this.#progressAt = performance.now();
    return { status: begun };
  }

  /** The model's map needs no making here: made, shipped for it, or kept in this browser. */
  async #atHand(session) {
    if (JSON.parse(session.tsneStatus()).state === 'made' || await this.#shippedFor(session)) return true;
    return (await readMap(mapKey(session)).catch(() => undefined)) !== undefined;
  }

  /** The shipped map file if it is the current model's, else null. A file that could not be
   *  fetched or that the core cannot read is said once; the maps are then made here. */
  async #shippedFor(session) {
    if (this.#shipped === undefined) this.#shipped = this.#fetchShipped();
    const shipped = await this.#shipped;
    if (!(shipped instanceof Uint8Array)) {
      if (shipped?.problem) {
        this.#onError(`The default model's t-SNE map could not be fetched (${shipped.problem}); it is made here.`);
        this.#shipped = null;
      }
      return null;
    }
    try {
      return session.tsneFileFits(shipped) ? shipped : null;
    } catch (e) {
      this.#onError(`The default model's t-SNE map shipped with the page is not usable (${e?.message ?? e}); it is made here.`);
      this.#shipped = null;
      return null;
    }
  }

  /** The core's status as the page hears it: "waiting" for a map not made while a run trains. */
  #said(status) {
    return this.#isTraining() && status.state !== 'made' ? { ...status, state: 'waiting' } : status;
  }
}
