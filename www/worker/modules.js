// What the worker fetches, and when: the page's first answer needs only the CPU module
// (pkg-cpu: burn-ndarray alone) and the model; the data set comes after it, and the WebGPU module
// (pkg: both backends) only where the browser gives a WebGPU adapter, after it too. When that
// module is there, the page's session moves into it (its record: the model, its history, a run;
// vae::Session::record and restore) and WebGPU is checked, warmed up and timed there as before
// (worker/backend.js). The backend's label for a module and the move are the core's and vae-web's;
// here is only the order of the fetches.
// What the first answer waits for (the CPU module, the model, the adapter question) starts in the
// worker's entry (worker-start.js), before these modules load.
import initCpu, { Session as CpuSession, limits as cpuLimits } from '../pkg-cpu/vae_web.js';
import { fetchBytes, startedFirst } from '../worker-start.js';
export const DATA_SET = 'data/mnist.bin';
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

  /** The data set's bytes, fetched on first ask (after the first answer, or when the start needs
   *  them: WebGPU chosen outright, a worker taking over from a lost GPU, a stored run). */
  data() {
    this.#data ??= this.noted('data', fetchBytes(DATA_SET));
    return this.#data;
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
   *  set, on "auto": WebGPU is then started, checked, warmed up and timed in it as at any start. */
  async webgpuSession(record) {
    const [module, data, weights] = await Promise.all([this.webgpu(), this.data(), this.#model]);
    const session = await module.Session.create(weights, data, 'auto');
    try {
      return { session, restored: JSON.parse(session.restore(record)) };
    } catch (e) {
      session.free();
      throw e;
    }
  }
}
