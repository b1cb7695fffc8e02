// What the model's worker holds that its parts share (worker.js makes one and hands it to each
// part; a part's own bookkeeping stays in the part). The state changes are steps of the worker's
// one queue (worker/scheduler.js), so no two parts change it at once.

export function workerState() {
  return {
    /** The wasm Session (the page's model, its neighbour index, training), once `load` made it. */
    session: null,
    /** The training run, or null: {state: 'running' | 'paused', kind: 'vae' | 'cvae'} (kind: the
     *  model it trains, the page's or the conditional one; its steps and the model's history are
     *  the session's). */
    training: null,
    /** The neighbour index is not whole yet. */
    indexing: false,
    /** The session has its data set's test digits (they arrive after the page's first answer:
     *  worker/modules.js). */
    hasData: false,
    /** The session has its data set's training digits too (they arrive when something first
     *  trains). */
    hasTrainingData: false,
    /** The session has the conditional model (worker.js's giveConditional). */
    hasConditional: false,
    /** The session is in the CPU module and the browser has a WebGPU adapter: the WebGPU module is
     *  fetched after the first answer, and the session moves into it. */
    webgpuLater: false,
    /** Background work waits for the page's first answer (the `pageAnswered` call). */
    pageAnswered: false,
    webgpuStarted: false,
    /** WebGPU is checked, warmed up and timed; the jobs have not moved yet. */
    webgpuWaiting: false,
    /** Why this worker's GPU is gone, or null. Once it is, the worker answers, posts and stores
     *  nothing more: the page replaces it (worker/gpu-loss.js, js/rpc.js). */
    lost: null,
    /** In a worker that replaces one whose GPU was lost: {reason, handover}, sent by the page
     *  before anything else. Its `load` runs on the CPU and takes the model handed over. */
    recovery: null,
  };
}

/** The training history of the session's model of `kind` ('vae': the page's; 'cvae': the
 *  conditional one), for the page: {steps, tests}, records {step, epoch, loss, recon, kl} counted
 *  over the model's life. */
export const historyOf = (session, kind = 'vae') => JSON.parse(session.historyOf(kind));

/** An error as the page is told it. */
export const errorText = (e) => String(e?.message ?? e);
