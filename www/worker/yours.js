// The person's own digits in the worker: given to the session from this browser's store at
// start-up (and to each new session: the WebGPU module's, a worker taking over from a lost GPU),
// kept, relabelled, removed, cleared, exported and imported; and "Learn my hand", a training run
// the session begins (worker/training.js runs it as any other). The rules (what a kept digit is,
// its label when none is chosen, the IDX files, the held-out fifth, the mixing) are the core's
// (vae::session, yours.rs); this part moves bytes between the session, the store and the page.
// Everything a browser provides is passed in, so that node can run this (tests/unit/).
import { errorText } from './state.js';

const PIXELS = 784;

export class YourDigits {
  #parts;

  /** `parts`: {state, post, store (worker/your-store.js's functions), readFiles (the wasm
   *  module's readYourDigits), training (the worker's Training), giveData (worker.js)}. */
  constructor(parts) {
    this.#parts = parts;
  }

  get #session() {
    return this.#parts.state.session;
  }

  /** The stored digits become the session's (a new session's). A step of the queue, or part of
   *  `load` (`read`: the digits as read ahead, a promise: worker.js); what cannot be read back is
   *  said, and stays stored. */
  restore = async (read = this.#parts.store.readDigits()) => {
    const { post } = this.#parts;
    try {
      const { ids, labels, pixels } = await read;
      if (ids.length) await this.#session.addYourDigits(Float64Array.from(ids), labels, pixels);
    } catch (e) {
      post({ event: 'error', error: `Your kept digits could not be read back from this browser: ${errorText(e)}` });
    }
  };

  /** The kept digits for the page: {digits: [{id, label, heldOut}], pixels: Uint8Array (784 each)}. */
  list() {
    return { digits: JSON.parse(this.#session.yourDigitList()), pixels: this.#session.yourDigitPixels() };
  }

  /** Keeps the sketch on the pad (`grey`, `width × height`) with `label`, or the one the core reads
   *  when it is null: stored first, so a digit the browser cannot keep is not shown as kept. */
  async keep({ grey, width, height, label }) {
    const digit = JSON.parse(await this.#session.digitToKeep(grey, width, height, label ?? undefined));
    const pixels = Uint8Array.from(digit.pixels);
    const ids = await this.#parts.store.addDigits([{ label: digit.label, pixels }]);
    await this.#added(ids, Uint8Array.of(digit.label), pixels);
    return { kept: { id: ids[0], label: digit.label, read: digit.read }, ...this.list() };
  }

  /** Digits stored under `ids` join the session's; if it refuses them, they leave the store again. */
  async #added(ids, labels, pixels) {
    try {
      await this.#session.addYourDigits(Float64Array.from(ids), labels, pixels);
    } catch (e) {
      await this.#parts.store.removeDigits(ids);
      throw e;
    }
  }

  async relabel({ id, label }) {
    this.#session.relabelYourDigit(id, label);
    await this.#parts.store.relabelDigit(id, label);
    return this.list();
  }

  async remove({ id }) {
    await this.#parts.store.removeDigits([id]);
    await this.#session.removeYourDigit(id);
    return this.list();
  }

  async clear() {
    await this.#parts.store.clearDigits();
    this.#session.clearYourDigits();
    return this.list();
  }

  /** The kept digits as the IDX pair `vae eval --data your-digits` reads: [{name, bytes}]. */
  exportFiles() {
    const files = this.#session.exportYourDigits();
    try {
      return files.names.map((name, i) => ({ name, bytes: files.file(i) }));
    } finally {
      files.free();
    }
  }

  /** Keeps the digits of an IDX pair (`files`: [{bytes, name}], two, in either order): read whole
   *  first, so a bad pair keeps nothing and changes nothing. */
  async importFiles({ files }) {
    if (files?.length !== 2) {
      throw new Error(`pick both files of the pair (the images, …-images-idx3-ubyte, and the labels, …-labels-idx1-ubyte); ${files?.length ?? 0} picked`);
    }
    const read = this.#parts.readFiles(files[0].bytes, files[1].bytes);
    const { labels, pixels } = read;
    read.free();
    const digits = Array.from(labels, (label, i) => ({ label, pixels: pixels.slice(i * PIXELS, (i + 1) * PIXELS) }));
    const ids = await this.#parts.store.addDigits(digits);
    await this.#added(ids, labels, pixels);
    return { imported: ids.length, ...this.list() };
  }

  /** "Learn my hand" (`request`: {learningRate, batchSize, epochs, share, seed, kind}): a training
   *  run of the model of `kind` (the page's, or the conditional one) with the person's digits mixed
   *  in, run as any other. */
  async learn(request) {
    await this.#parts.giveData();
    const started = JSON.parse(await this.#session.learnYourHand(JSON.stringify(request)));
    return this.#parts.training.began(started);
  }

  /** How the model of `kind` ('vae': the page's; 'cvae': the conditional one) does on the person's
   *  held-out digits now, and before the last "Learn my hand" of it. */
  async hand({ kind = 'vae' } = {}) {
    return JSON.parse(await this.#session.yourHand(kind));
  }

  /** The worker's calls for the person's digits (worker.js adds them to its ops). */
  ops() {
    return {
      yourDigits: () => this.list(),
      keepDigit: (args) => this.keep(args),
      relabelDigit: (args) => this.relabel(args),
      removeDigit: (args) => this.remove(args),
      clearDigits: () => this.clear(),
      exportDigits: () => this.exportFiles(),
      importDigits: (args) => this.importFiles(args),
      learnHand: (args) => this.learn(args),
      yourHand: (args) => this.hand(args),
    };
  }
}
