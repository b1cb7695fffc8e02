// The one Web Worker that owns the model. The page sends {id, op, args}; the worker answers
// {id, ok, value | error, ms}, and sends events ({event, …}) for work it does on its own: building
// the neighbour index and training. Everything heavy (wasm, WebGPU, the data set, the stored
// model) lives here, so the page never freezes.
import init, { Sketchpad } from './pkg/vae_web.js';

const DEFAULT_MODEL = 'model/default.safetensors';
/** Same bound as the core's MAX_FILE_BYTES: refused before anything is read. */
const MAX_MODEL_BYTES = 64 << 20;

let pad = null;

async function adapterName() {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info ?? {};
    return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  } catch {
    return null;
  }
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// ---- the stored model (IndexedDB) -----------------------------------------------------------------
// One record: {weights: Uint8Array (safetensors), history, savedAt}. Written at every epoch's end,
// on Stop and on import; read at start-up.
const DB = 'latent-sketchpad';
const STORE = 'models';
const KEY = 'current';

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function storage(mode, act) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('the transaction was aborted'));
    });
  } finally {
    db.close();
  }
}

const readStored = () => storage('readonly', (s) => s.get(KEY));
const forgetStored = () => storage('readwrite', (s) => s.delete(KEY));

async function store() {
  try {
    await storage('readwrite', (s) => s.put({ weights: pad.exportModel(), history, savedAt: Date.now() }, KEY));
  } catch (e) {
    self.postMessage({ event: 'error', error: `The model could not be saved in this browser: ${e?.message ?? e}` });
  }
}

// ---- training history ---------------------------------------------------------------------------------
// steps: [step, epoch, loss, recon, kl] per step; tests: [step, epoch, loss, recon, kl] per epoch.
let history = { steps: [], tests: [] };
const emptyHistory = () => ({ steps: [], tests: [] });
const isHistory = (h) => h && Array.isArray(h.steps) && Array.isArray(h.tests)
  && [...h.steps, ...h.tests].every((r) => Array.isArray(r) && r.length === 5 && r.every(Number.isFinite));

// ---- scheduling -----------------------------------------------------------------------------------------
// The page's calls go first, in arrival order, one at a time (the model is never used by two
// calls at once). Background work (index steps and training steps, taken in turn) runs one step
// at a time when no call waits, so a sketch waits at most one step.
const calls = [];
let running = false;
let turn = 0;

// A macrotask boundary between steps, so the page's messages get in; on the CPU backend reads
// resolve as microtasks, and setTimeout is clamped to 4 ms when nested.
const channel = new MessageChannel();
const wakers = [];
channel.port1.onmessage = () => wakers.shift()?.();
const yieldToEvents = () => new Promise((resolve) => { wakers.push(resolve); channel.port2.postMessage(null); });

// The page often answers one call with the next (an analysis, then its interpolation): for a
// moment after a call, background work waits, so such chains are not cut by a step each time.
const GRACE_MS = 15;
let lastCallAt = -Infinity;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function pump() {
  if (running) return;
  running = true;
  try {
    for (;;) {
      await yieldToEvents();
      let job = calls.shift();
      if (job) {
        await job();
        lastCallAt = performance.now();
        continue;
      }
      const grace = lastCallAt + GRACE_MS - performance.now();
      if (grace > 0) {
        await sleep(grace);
        if (calls.length) continue;
      }
      job = backgroundJob();
      if (!job) break;
      await job();
    }
  } finally {
    running = false;
  }
}

function backgroundJob() {
  const jobs = [indexing && indexStep, training?.state === 'running' && trainStep].filter(Boolean);
  return jobs.length ? jobs[turn++ % jobs.length] : null;
}

// ---- WebGPU behind the CPU ("auto") -------------------------------------------------------------------
// The page answers on the CPU from the start. WebGPU is started, checked and warmed up beside the
// queue (its waits are GPU work, during which the CPU calls run); then a queued call moves the
// model over, unless a training run is on, which finishes on the CPU first.
let webgpuStarted = false;
let webgpuWaiting = false;

function prepareWebgpu() {
  pad.prepareWebgpu().then(
    () => { webgpuWaiting = true; useWebgpu(); },
    (e) => self.postMessage({
      event: 'backend',
      backend: { kind: 'cpu', label: 'CPU (ndarray)', fallback_reason: `WebGPU could not be prepared: ${e?.message ?? e}`, warming_up: false },
    }),
  );
}

function useWebgpu() {
  if (!webgpuWaiting || training) return;
  calls.push(async () => {
    const { switched, backend } = JSON.parse(pad.useWebgpu());
    if (switched || !backend.warming_up) webgpuWaiting = false;
    if (backend.kind === 'webgpu') backend.adapter = await adapterName();
    self.postMessage({ event: 'backend', backend });
  });
  pump();
}

// ---- the neighbour index --------------------------------------------------------------------------------
let indexing = false;

function reindex() {
  indexing = true;
  pump();
}

async function indexStep() {
  try {
    const progress = JSON.parse(await pad.indexStep());
    if (progress.done) {
      indexing = false;
      progress.map = JSON.parse(pad.mapPoints());
    }
    self.postMessage({ event: 'index', progress });
  } catch (e) {
    indexing = false;
    self.postMessage({ event: 'error', error: `building the neighbour index failed: ${e?.message ?? e}` });
  }
}

// ---- training ------------------------------------------------------------------------------------------
// {state: 'running' | 'paused', steps, epochs}: steps and epochs the model had before this run.
let training = null;

/** The page's model changed: tell the page, rebuild the index, keep it. */
async function modelChanged(persist = true) {
  self.postMessage({ event: 'model', model: JSON.parse(pad.modelInfo()) });
  reindex();
  if (persist) await store();
}

async function trainStep() {
  let progress;
  try {
    progress = JSON.parse(await pad.trainStep());
  } catch (e) {
    progress = { finished: true, error: String(e?.message ?? e) };
  }
  // The core counts steps and epochs per run; the history counts them over the model's life.
  const r = progress.report;
  const record = r && [training.steps + r.step, training.epochs + r.epoch + 1, r.parts.loss, r.parts.recon, r.parts.kl];
  if (record) history.steps.push(record);
  const t = progress.test;
  const testRecord = t && record && [record[0], record[1], t.loss, t.recon, t.kl];
  if (testRecord) history.tests.push(testRecord);
  if (progress.finished) training = null;
  self.postMessage({ event: 'train', progress, record, testRecord, state: training?.state ?? 'idle' });
  if (t) await modelChanged();
  if (progress.finished) useWebgpu();
}

// ---- the page's calls -----------------------------------------------------------------------------------
const ops = {
  async load({ backend }) {
    const t0 = performance.now();
    const [, weights, data] = await Promise.all([init(), fetchBytes(DEFAULT_MODEL), fetchBytes('data/mnist.bin')]);
    pad = await Sketchpad.create(weights, data, backend);
    const info = JSON.parse(pad.backendInfo());
    if (info.kind === 'webgpu') info.adapter = await adapterName();
    // A model the person trained or imported earlier comes back, unless it is unusable.
    let restored = false;
    let storedProblem = null;
    try {
      const stored = await readStored();
      if (stored) {
        if (!(stored.weights instanceof Uint8Array)) throw new Error('it is not a model file');
        if (!isHistory(stored.history)) throw new Error('its training history is damaged');
        pad.loadModel(stored.weights);
        history = stored.history;
        restored = true;
      }
    } catch (e) {
      storedProblem = `The model stored in this browser could not be used (${e?.message ?? e}); the default model is loaded.`;
      history = emptyHistory();
      await forgetStored().catch(() => {});
    }
    reindex();
    return {
      backend: info, model: JSON.parse(pad.modelInfo()), history, restored, storedProblem,
      loadMs: performance.now() - t0,
    };
  },
  // The page asks once it has answered for the first time: warming WebGPU up takes the worker's
  // thread for much of a few seconds, and the first answer should not wait behind it.
  // (prepareWebgpu itself does nothing unless the backend is "auto" with an adapter.)
  warmUpWebgpu() {
    if (!webgpuStarted) {
      webgpuStarted = true;
      prepareWebgpu();
    }
    return null;
  },
  analyse: async ({ grey, width, height, k }) => JSON.parse(await pad.analyse(grey, width, height, k)),
  sample: ({ n, temperature, seed }) => pad.sample(n, temperature, BigInt(seed)),
  trainingSample: ({ n, seed }) => pad.trainingSample(n, BigInt(seed)),
  decode: ({ z }) => pad.decode(z),
  decodeMapPoint: ({ x, y }) => pad.decodeMapPoint(x, y),
  interpolate: ({ a, b, steps }) => pad.interpolate(a, b, steps),
  variations: ({ image, n, seed }) => pad.variations(image, n, BigInt(seed)),
  datasetLatent: ({ index }) => pad.datasetLatent(index),
  datasetImage: ({ index }) => pad.datasetImage(index),

  async trainStart(request) {
    const started = JSON.parse(pad.trainStart(JSON.stringify(request)));
    if (started.fromScratch) history = emptyHistory();
    const last = history.steps.at(-1);
    training = { state: 'running', steps: last?.[0] ?? 0, epochs: history.tests.at(-1)?.[1] ?? 0 };
    // The model is the random start (or the same one with a new β): shown at once, stored at the
    // first epoch's end.
    if (started.fromScratch) await modelChanged(false);
    return { ...started, history };
  },
  trainPause() {
    if (training) training.state = 'paused';
    return { state: training?.state ?? 'idle' };
  },
  trainResume() {
    if (training) training.state = 'running';
    return { state: training?.state ?? 'idle' };
  },
  async trainStop() {
    const wasTraining = training !== null;
    training = null;
    const progress = JSON.parse(await pad.trainStop());
    if (wasTraining) await modelChanged();
    useWebgpu();
    return progress;
  },
  exportModel: () => pad.exportModel(),
  async importModel({ bytes, name }) {
    if (bytes.length > MAX_MODEL_BYTES) {
      throw new Error(`${name} is ${(bytes.length / 2 ** 20).toFixed(0)} MB; a model file here is at most 64 MB`);
    }
    const model = JSON.parse(pad.loadModel(bytes));
    training = null;
    useWebgpu();
    history = emptyHistory();
    await modelChanged();
    return { model, history };
  },
  async resetDefault() {
    pad.loadModel(await fetchBytes(DEFAULT_MODEL));
    training = null;
    useWebgpu();
    history = emptyHistory();
    await forgetStored();
    await modelChanged(false);
    return { model: JSON.parse(pad.modelInfo()), history };
  },
};

self.onmessage = ({ data: { id, op, args } }) => {
  calls.push(async () => {
    const t0 = performance.now();
    try {
      if (!ops[op]) throw new Error(`unknown operation ${op}`);
      if (op !== 'load' && !pad) throw new Error('the model is not loaded yet');
      const value = await ops[op](args ?? {});
      self.postMessage({ id, ok: true, value, ms: performance.now() - t0 });
    } catch (e) {
      self.postMessage({ id, ok: false, error: String(e?.message ?? e), ms: performance.now() - t0 });
    }
  });
  pump();
};
