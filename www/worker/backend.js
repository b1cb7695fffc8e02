// The worker's backends: once the page has answered, the session moves from the CPU module into
// the WebGPU module where the browser has an adapter (worker/modules.js); there WebGPU is started,
// checked, warmed up and timed beside the queue, then each job moved to its faster backend (the
// core's session decides: prepareWebgpu and placeJobs in crates/vae-web/src/lib.rs).
import { errorText } from './state.js';

/** The WebGPU adapter's name, marked when the browser says it is a fallback (software) adapter. */
export async function adapterName() {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info ?? {};
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
    return info.isFallbackAdapter || adapter.isFallbackAdapter ? `${name} (a fallback, software adapter)` : name;
  } catch {
    return null;
  }
}

export class Backends {
  #state;
  #scheduler;
  #post;
  #trapped;
  #modules;
  #moved;
  /** The move into the WebGPU module waits for a training run to pause or end. */
  #moveWaiting = false;

  /** `trapped(error)`: true when the error lost the GPU (worker/gpu-loss.js); `modules`: the
   *  worker's (worker/modules.js); `moved()`: the session moved into the WebGPU module (its index
   *  is rebuilt there). */
  constructor({ state, scheduler, post, trapped, modules, moved }) {
    this.#state = state;
    this.#scheduler = scheduler;
    this.#post = post;
    this.#trapped = trapped;
    this.#modules = modules;
    this.#moved = moved;
  }

  /** The page has answered for the first time: the start-up's background work may begin (the
   *  neighbour index; WebGPU's start, check and warm-up, which take the worker's thread for much
   *  of a few seconds). Before this, nothing but the page's calls runs, so the first answer does
   *  not wait behind any of it. */
  pageAnswered() {
    const state = this.#state;
    state.pageAnswered = true;
    this.#scheduler.wake();
    if (state.webgpuLater) {
      state.webgpuLater = false;
      this.#fetchWebgpu();
      return null;
    }
    this.#startWebgpu();
    return null;
  }

  /** In the WebGPU module: WebGPU is started, checked, warmed up and timed (once per worker). */
  #startWebgpu() {
    const state = this.#state;
    if (!state.webgpuStarted && JSON.parse(state.session.backendInfo()).warmingUp) {
      state.webgpuStarted = true;
      this.#prepareWebgpu();
    }
  }

  /** Fetches and compiles the WebGPU module and the data set beside the queue, then moves the
   *  session into it (a step). If the module cannot be had, the CPU stays, with the reason. */
  async #fetchWebgpu() {
    try {
      await Promise.all([this.#modules.webgpu(), this.#modules.data()]);
    } catch (e) {
      const backend = JSON.parse(this.#state.session.backendInfo());
      this.#post({ event: 'backend', backend: { ...backend, warmingUp: false, fallbackReason: `the WebGPU module could not be loaded: ${errorText(e)}` } });
      return;
    }
    this.#scheduler.step(this.move);
  }

  /** The session moves into the WebGPU module: its record (the model, its history, a paused run)
   *  is restored there, with the data set as the session had it (its training digits or not).
   *  Not while a training run runs (its steps are this session's): the run's pause or end asks
   *  again. A step of the queue. */
  move = async () => {
    const state = this.#state;
    this.#moveWaiting = state.training?.state === 'running';
    if (this.#moveWaiting) return;
    const record = await state.session.record();
    const { session, restored } = await this.#modules.webgpuSession(record, state.hasTrainingData);
    const old = state.session;
    state.session = session;
    old.free();
    state.hasData = true;
    state.indexing = true;
    if (restored.runError !== null) state.training = null;
    this.#moved();
    this.#scheduler.wake();
    this.#startWebgpu();
  };

  /** A training run paused or ended: the move into the WebGPU module, if it waited, goes on. */
  runChanged() {
    if (this.#moveWaiting) this.#scheduler.step(this.move);
  }

  /** WebGPU is ready and each job was timed: each moves to its faster backend (the model and its
   *  index are copied). The session refuses during a training run (its optimiser state lives on
   *  its device); the run's end asks again (Training.ended). A step of the queue. */
  placeJobs = async () => {
    const { switched, backend } = JSON.parse(this.#state.session.placeJobs());
    if (switched || !backend.warmingUp) this.#state.webgpuWaiting = false;
    backend.adapter = await adapterName();
    this.#post({ event: 'backend', backend });
  };

  /** Starts, checks, warms up and times WebGPU beside the queue (its waits are GPU work, during
   *  which the calls run). It resolves with the CPU and the reason when WebGPU cannot be used,
   *  else ready and waiting: then placing the jobs is a step. */
  #prepareWebgpu() {
    this.#state.session.prepareWebgpu().then(
      (json) => {
        const backend = JSON.parse(json);
        if (backend.warmingUp) {
          this.#state.webgpuWaiting = true;
          this.#scheduler.step(this.placeJobs);
        } else {
          this.#post({ event: 'backend', backend });
        }
      },
      (e) => this.#trapped(e) || this.#post({ event: 'error', error: `WebGPU could not be prepared: ${errorText(e)}` }),
    );
  }
}
