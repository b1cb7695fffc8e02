// The worker's backends: WebGPU started, checked, warmed up and timed beside the queue once the
// page has answered, then each job moved to its faster backend (the core's session decides:
// prepareWebgpu and placeJobs in crates/vae-web/src/lib.rs).
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

  /** `trapped(error)`: true when the error lost the GPU (worker/gpu-loss.js). */
  constructor({ state, scheduler, post, trapped }) {
    this.#state = state;
    this.#scheduler = scheduler;
    this.#post = post;
    this.#trapped = trapped;
  }

  /** The page has answered for the first time: the start-up's background work may begin (the
   *  neighbour index; WebGPU's start, check and warm-up, which take the worker's thread for much
   *  of a few seconds). Before this, nothing but the page's calls runs, so the first answer does
   *  not wait behind any of it. */
  pageAnswered() {
    const state = this.#state;
    state.pageAnswered = true;
    this.#scheduler.wake();
    if (!state.webgpuStarted && JSON.parse(state.session.backendInfo()).warmingUp) {
      state.webgpuStarted = true;
      this.#prepareWebgpu();
    }
    return null;
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
