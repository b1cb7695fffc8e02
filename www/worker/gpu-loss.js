// The GPU-loss handover, the worker's side: once its GPU is lost or poisoned, or the module
// trapped, what the worker holds that is worth keeping goes to the page, once, which hands it to a
// fresh worker on the CPU (js/rpc.js; Burn's WebGPU device can be started only once per module,
// and a trapped module is no longer safe to call). worker/gpu-watch.js hears of the device's loss;
// the worker that takes over loads what was handed over (Persistence.takeOver).
import { usesWebgpu, lossOrTimeout } from './gpu-watch.js';

export class GpuLoss {
  #state;
  #handover;
  #send;

  /** `state`: the worker's (worker/state.js); `handover(record)` is what goes to the page with
   *  the session's record (Persistence.handover); `send(message)` posts to the page
   *  even once the GPU is lost (the worker's `post` then sends nothing). */
  constructor({ state, handover, send = (message) => self.postMessage(message) }) {
    this.#state = state;
    this.#handover = handover;
    this.#send = send;
  }

  /** The GPU is gone for `reason`: the handover goes to the page, and the worker answers, posts
   *  and stores nothing more. The record is the session's, read from its host copies (no GPU
   *  involved): the page's model and its history, and a run's state as last read to be stored (at
   *  its first step, every 5 s and at each epoch's end): the steps since then are run again, the
   *  same steps (the snapshot holds both random streams). If the module cannot answer (it trapped,
   *  or a call waiting on the GPU holds the session), none: the worker that takes over loads this
   *  tab's stored record. */
  lost = (reason) => {
    const state = this.#state;
    if (state.lost) return;
    let record = null;
    try {
      record = state.session?.heldRecord() ?? null;
    } catch {
      // The module trapped, or a call waiting on the GPU holds the session.
    }
    this.#send({ event: 'lost', reason, handover: state.session && this.#handover(record) });
    state.lost = reason;
  };

  /** A wasm trap (a panic: CubeCL panics on an error nobody captured) leaves the module unusable;
   *  in a worker that uses WebGPU it is taken as the GPU lost (a CPU worker's traps stay errors).
   *  True when it was. */
  trapped = (e) => {
    if (!(usesWebgpu() && e instanceof WebAssembly.RuntimeError)) return false;
    this.lost(`the WebGPU backend failed (${e.name}: ${e.message})`);
    return true;
  };

  /** After an error: whether the GPU is lost (then nothing is reported: the page re-sends its
   *  calls to the worker that takes over, which also redoes the steps). A worker on WebGPU first
   *  waits a moment for the device's own news: a read that fails on a lost device may be heard of
   *  before the device says it is lost, and a training step that fails would end the run. */
  lostBy = async (e) => {
    if (this.trapped(e)) return true;
    if (usesWebgpu() && !this.#state.lost) await lossOrTimeout();
    return this.#state.lost !== null;
  };

  /** In a worker that took over (its `load`): {reason, kept} for the page, with the backend's
   *  `info` saying why every job runs on the CPU; null in any other worker. Without a handover
   *  (the GPU was lost before the model loaded) the stored model loaded, as at any start. */
  recovered(info, kept) {
    const { recovery } = this.#state;
    if (!recovery) return null;
    const recovered = { reason: recovery.reason, kept: recovery.handover ? Boolean(kept) : true };
    const model = recovered.kept ? 'with the same model' : 'but the model in use could not be kept (see the training panel)';
    info.fallbackReason = `${recovery.reason}, so every job now runs on the CPU, ${model}`;
    return recovered;
  }
}
