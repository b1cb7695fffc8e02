// What the worker fetches, and when: the page's first answer needs only the CPU module
// (pkg-cpu: burn-ndarray alone) and the model; the data set's test digits come after it (the
// neighbours, the score's percentile, the map), its training digits only when something first
// trains (scripts/split-data.mjs makes the two files), and the WebGPU module
// (pkg: both backends) only where the browser gives a WebGPU adapter, after it too. When that
// module is there, the page's session moves into it (its record: the model, its history, a run;
// vae::Session::record and restore) and WebGPU is checked, warmed up and timed there as before
// (worker/backend.js). The backend's label for a module and the move are the core's and vae-web's;
// here is only the order of the fetches.
// What the first answer waits for (the CPU module, the model, the adapter question) starts in the
// worker's entry (worker-start.js), before these modules load.
import initCpu, { Session as CpuSession, limits as cpuLimits } from '../pkg-cpu/vae_web.js';
import { fetchBytes, startedFirst } from '../worker-start.js';
/** The data set's 997 test digits, 0.14 MB with brotli: after the first answer. */
export const TEST_DATA = 'data/mnist-test.bin';
/** Its 9 003 training digits, 1.2 MB with brotli: when something first trains. The session
 *  appends them to the test digits (vae::Session::add_training_data). */
export const TRAINING_DATA = 'data/mnist-train.bin';
/** The conditional model (the reading, the redraws, chosen-digit samples), 8-bit for transfer too:
 *  0.41 MB with brotli; fetched after the first answer. */
export const CONDITIONAL_MODEL = 'model/conditional-q8.safetensors';
/** The CPU module's choice while the WebGPU module loads: the CPU answers, WebGPU is to come
 *  (crates/vae-web/src/backend.rs). */
const CPU_FIRST = 'cpu-first';

export class Modules {
  /** When each part of the start arrived (ms since the epoch), for the page's load breakdown. */
  arrived = {};
  #cpu;
  #webgpu = null;
  #data = null;
  #trainingData = null;
  #conditional = null;
  #model;

  /** Takes what every start needs: the CPU module, compiled while it downloaded, and the model. */
  constructor() {
    this.#cpu = this.noted('wasm', initCpu({ module_or_path: startedFirst.cpuModule }));
    this.#model = this.noted('model', startedFirst.model);
    // A failure is reported by `load`, which waits for them, not before.
    for (const p of [this.#cpu, this.#model]) p.catch(() => {});
  }

  /** `promise`, with its arrival noted under `name`. */
  noted(name, promise) {
    return promise.then((value) => {
      this.arrived[name] = performance.timeOrigin + performance.now();
      return value;
    });
  }

  /** The form's ranges and the backends' labels (the CPU module's: both modules have the same). */
  async limits() {
    await this.#cpu;
    return JSON.parse(cpuLimits());
  }

  defaultModel() {
    return this.#model;
  }

  /** The data set's test digits (a data file), fetched on first ask (after the first answer, or
   *  when the start needs them: WebGPU chosen outright, a worker taking over from a lost GPU, a
   *  stored run). */
  data() {
    this.#data ??= this.noted('data', fetchBytes(TEST_DATA));
    return this.#data;
  }

  /** The data set's training digits (a data file), fetched on first ask: a training run, "Learn
   *  my hand", a stored run, or a worker taking over one that had them. */
  trainingData() {
    if (!this.#trainingData) {
      const asked = this.noted('trainingData', fetchBytes(TRAINING_DATA));
      this.#trainingData = asked;
      // A failed download is tried again at the next ask (the next Train).
      asked.catch(() => { if (this.#trainingData === asked) this.#trainingData = null; });
    }
    return this.#trainingData;
  }

  /** The conditional model's bytes, fetched on first ask (after the first answer). */
  conditional() {
    this.#conditional ??= this.noted('conditional', fetchBytes(CONDITIONAL_MODEL));
    return this.#conditional;
  }

  /** The WebGPU module, fetched and compiled on first ask. */
  webgpu() {
    this.#webgpu ??= this.noted('webgpuModule', import('../pkg/vae_web.js').then(async (module) => {
      await module.default();
      return module;
    }));
    return this.#webgpu;
  }

  /** The page's first session for the `backend` it wants: {session, webgpuLater}. "cpu", or "auto"
   *  without an adapter: the CPU module for good. "auto" with one: the CPU module now, the WebGPU
   *  module after the first answer (`webgpuLater`). "webgpu" and "webgpu-training": the WebGPU
   *  module now, with the data set, on which it is checked before it answers. `recovering`: a worker
   *  taking over from one whose GPU was lost: the CPU module, with the data set. */
  async session(backend, recovering) {
    const weights = await this.#model;
    if (!recovering && (backend === 'webgpu' || backend === 'webgpu-training')) {
      const [module, data] = await Promise.all([this.webgpu(), this.data()]);
      return { session: await module.Session.create(weights, data, backend), webgpuLater: false };
    }
    const webgpuLater = !recovering && backend === 'auto' && (await startedFirst.hasAdapter);
    await this.#cpu;
    const data = recovering ? await this.data() : undefined;
    const choice = recovering ? 'cpu' : (webgpuLater ? CPU_FIRST : backend);
    return { session: await CpuSession.create(weights, data, choice), webgpuLater };
  }

  /** A session in the WebGPU module holding `record` (the CPU module session's), with the data
   *  set (its training digits too if `withTraining`), on "auto": WebGPU is then started, checked,
   *  warmed up and timed in it as at any start. */
  async webgpuSession(record, withTraining) {
    const [module, data, weights, training] = await Promise.all([this.webgpu(), this.data(), this.#model, withTraining ? this.trainingData() : null]);
    const session = await module.Session.create(weights, data, 'auto');
    try {
      if (training) session.addTrainingData(training);
      return { session, restored: JSON.parse(session.restore(record)) };
    } catch (e) {
      session.free();
      throw e;
    }
  }
}
