// The model's worker's entry (js/rpc.js starts it). The first answer's two downloads, the CPU
// module and the default model, start here, before the worker's own ~15 ES modules (worker.js,
// worker/*.js, the module's JS glue) load: a module's code runs only once its whole import graph
// has arrived, level by level, which had these fetches starting ~0.15 s after the worker did
// (docs/speed.md, 2026-12-06). So this file imports nothing. Calls that arrive meanwhile are
// kept, then handed to worker.js in order.

/** The default model, as its 8-bit copy for transfer (`vae convert --q8`): 0.50 MB with brotli
 *  against 1.12 MB for the f16 copy and 2.38 MB for f32, its test loss within 0.1 nats of the f32
 *  model's (core and CLI tests); the session computes in f32. */
const DEFAULT_MODEL = 'model/default-q8.safetensors';
/** The CPU module (burn-ndarray alone), on which every page starts (worker/modules.js). */
const CPU_MODULE = 'pkg-cpu/vae_web_bg.wasm';

/** The response for `url` (relative to the site: this file's folder), refused unless it is OK. */
async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  return response;
}

/** The body of `url`. */
export async function fetchBytes(url) {
  return new Uint8Array(await (await fetchOk(url)).arrayBuffer());
}

/** Whether the browser gives a WebGPU adapter (asked of the browser, not of a module): 5-40 ms
 *  here, so asked beside the downloads. */
async function hasAdapter() {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
}

/** What the first answer waits for, started at once: the CPU module, compiled while it downloads,
 *  the default model's bytes, and whether there is a WebGPU adapter (the backend "auto" then loads
 *  the WebGPU module after the first answer). A failure is reported by the call that waits for
 *  them (worker/modules.js), not before. */
export const startedFirst = {
  cpuModule: WebAssembly.compileStreaming(fetchOk(CPU_MODULE)),
  model: fetchBytes(DEFAULT_MODEL),
  hasAdapter: hasAdapter(),
};
for (const p of Object.values(startedFirst)) p.catch(() => {});

/** Every module of worker.js's import graph, asked for at once. A graph arrives level by level
 *  (a module's imports are asked for once it has arrived): this entry, then worker.js, then its
 *  parts, then the parts' own imports, which left the worker's code ~0.1 s behind its downloads.
 *  Each module still runs once, when its imports have run. tests/unit/module-lists.test.mjs holds
 *  this list equal to the graph: a module left out would load later, not fail. */
export const WORKER_MODULES = [
  './worker.js', './worker/modules.js', './pkg-cpu/vae_web.js', './worker/scheduler.js', './worker/storage.js',
  './worker/idb.js', './worker/gpu-watch.js', './worker/tsne.js', './worker/map-store.js', './worker/state.js',
  './worker/persistence.js', './worker/gpu-loss.js', './worker/backend.js', './worker/model.js',
  './worker/training.js', './worker/yours.js', './worker/your-store.js',
];

const early = [];
self.onmessage = ({ data }) => early.push(data);
// worker.js first (the requests queue in this order); not awaited at the top level:
// worker/modules.js imports this file, which must have finished.
import('./worker.js').then(
  ({ received }) => {
    for (const data of early) received(data);
    self.onmessage = ({ data }) => received(data);
  },
  // As an error in the worker's own script: the page's `onerror` hears of it (js/rpc.js).
  (e) => reportError(e),
);
// A failure is worker.js's import's to report, above.
for (const url of WORKER_MODULES.slice(1)) import(url).catch(() => {});
