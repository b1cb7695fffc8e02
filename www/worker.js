// The one Web Worker that owns the model: a wasm Session (the page's model, its neighbour index,
// training). The page sends {id, op, args}; the worker answers {id, ok, value | error, ms}, and
// sends events ({event, …}) for what happens on its own: the neighbour index growing (index),
// training steps (train), a new model (model), the backend (backend), problems (error).
// Everything heavy (wasm, WebGPU, the data set, the stored model) lives here, so the page never
// freezes. Jobs run one at a time (worker/scheduler.js); the state changes below are steps of
// that queue.
import init, { Session, limits } from './pkg/vae_web.js';
import { Scheduler } from './worker/scheduler.js';
import { readStoredModel, storeModel, forgetStoredModel } from './worker/storage.js';
import { emptyHistory, historyFromStore } from './worker/history.js';

const MB = 2 ** 20;

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// Started at once: the wasm module compiles while the default model and the data download. (The
// catches only keep a failure from being reported before the `load` call reports it.)
// When each part of the start arrived (ms since the epoch, for the page's load breakdown).
const arrived = {};
const noted = (name, promise) => promise.then((value) => {
  arrived[name] = performance.timeOrigin + performance.now();
  return value;
});
const wasmReady = noted('wasm', init());
const wasmLimits = wasmReady.then(() => JSON.parse(limits()));
// The default model in f16 (`vae convert --f16`): half the bytes of the f32 file, the same test
// loss to 0.02 nats (a CLI test); the session computes in f32.
const defaultModel = noted('model', fetchBytes('model/default-f16.safetensors'));
const dataFile = noted('data', fetchBytes('data/mnist.bin'));
for (const p of [wasmReady, wasmLimits, defaultModel, dataFile]) p.catch(() => {});

let session = null;
let history = emptyHistory(); // the page's model's training records (worker/history.js)
/** The training run, or null: {state: 'running' | 'paused', steps, epochs}, with the steps and
 *  epochs the model had before it (the session counts per run, the history over its life). */
let training = null;
let indexing = false; // the neighbour index is not whole yet
let pageAnswered = false; // background work waits for the page's first answer (ops.pageAnswered)
let webgpuStarted = false;
let webgpuWaiting = false; // WebGPU is checked, warmed up and timed; the jobs have not moved yet

const post = (message) => self.postMessage(message);
const errorText = (e) => String(e?.message ?? e);

const scheduler = new Scheduler({
  background: () => (pageAnswered ? [indexing && indexStep, training?.state === 'running' && trainStep] : []).filter(Boolean),
  onStepError: (e) => post({ event: 'error', error: errorText(e) }),
});

/** The WebGPU adapter's name, marked when the browser says it is a fallback (software) adapter. */
async function adapterName() {
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

async function saveModel() {
  try {
    await storeModel(session.exportModel(), history);
  } catch (e) {
    post({ event: 'error', error: `The model could not be saved in this browser: ${errorText(e)}` });
  }
}

// ---- state changes: each a step of the queue, queued where it happens --------------------------

/** A new model is the page's (loaded, imported, reset, a run's start, an epoch's end, Stop): the
 *  page hears of it, the neighbour index is rebuilt for it, and it is stored if it is one to keep
 *  (not the default, not a run's start). */
const modelSwapped = ({ keep }) => async function modelSwappedStep() {
  post({ event: 'model', model: JSON.parse(session.modelInfo()) });
  indexing = true;
  if (keep) await saveModel();
};

/** A run ended by a new model (import, reset) is over for the page too: no step will say so. */
const RUN_ENDED_BY_NEW_MODEL = { event: 'train', progress: { finished: true }, state: 'idle' };

/** The training run is over (finished, diverged, failed, stopped, or ended by a new model). */
async function trainingEnded() {
  training = null;
  if (webgpuWaiting) scheduler.step(placeJobs);
}

/** WebGPU is ready and each job was timed: each moves to its faster backend (the model and its
 *  index are copied). The session refuses during a training run (its optimiser state lives on its
 *  device); trainingEnded asks again. */
async function placeJobs() {
  const { switched, backend } = JSON.parse(session.placeJobs());
  if (switched || !backend.warming_up) webgpuWaiting = false;
  backend.adapter = await adapterName();
  post({ event: 'backend', backend });
}

/** Starts, checks, warms up and times WebGPU beside the queue (its waits are GPU work, during
 *  which the calls run). It resolves with the CPU and the reason when WebGPU cannot be used, else
 *  ready and waiting: then placing the jobs is a step. */
function prepareWebgpu() {
  session.prepareWebgpu().then(
    (json) => {
      const backend = JSON.parse(json);
      if (backend.warming_up) {
        webgpuWaiting = true;
        scheduler.step(placeJobs);
      } else {
        post({ event: 'backend', backend });
      }
    },
    (e) => post({ event: 'error', error: `WebGPU could not be prepared: ${errorText(e)}` }),
  );
}

// ---- background work --------------------------------------------------------------------------

async function indexStep() {
  try {
    const progress = JSON.parse(await session.indexStep());
    if (progress.done) {
      indexing = false;
      progress.map = JSON.parse(session.mapPoints());
    }
    post({ event: 'index', progress });
  } catch (e) {
    indexing = false;
    post({ event: 'error', error: `building the neighbour index failed: ${errorText(e)}` });
  }
}

/** One training step: run on the training device (while it waits there, the calls that change
 *  nothing are answered with the page's model: a sketch need not wait for a GPU's step), then
 *  applied to the session. */
async function trainStep() {
  let progress;
  try {
    await scheduler.overlapping(session.trainStepRun());
    progress = JSON.parse(session.trainStepEnd());
  } catch (e) {
    progress = { finished: true, error: errorText(e) };
  }
  const r = progress.report;
  const record = r && {
    step: training.steps + r.step, epoch: training.epochs + r.epoch + 1,
    loss: r.parts.loss, recon: r.parts.recon, kl: r.parts.kl,
  };
  if (record) history.steps.push(record);
  const t = progress.test;
  const testRecord = t && record && { step: record.step, epoch: record.epoch, loss: t.loss, recon: t.recon, kl: t.kl };
  if (testRecord) history.tests.push(testRecord);
  post({ event: 'train', progress, record, testRecord, state: progress.finished ? 'idle' : training.state });
  // An epoch's end makes its weights the page's model.
  if (t) scheduler.step(modelSwapped({ keep: true }));
  if (progress.finished) scheduler.step(trainingEnded);
}

/** A sketch's figures with its images: `images` holds the input, the reconstruction and the
 *  neighbours, 784 grey levels each (views on one buffer, so the answer is copied to the page once). */
function withImages(answer, images) {
  const PIXELS = 784;
  const at = (i, n = 1) => images.subarray(i * PIXELS, (i + n) * PIXELS);
  return { ...answer, input: at(0), reconstruction: at(1), neighbour_images: at(2, answer.neighbours.length) };
}

// ---- the page's calls -------------------------------------------------------------------------

/** The model stored in this browser becomes the page's, unless it cannot be used: then it is
 *  dropped and the default stays, with the reason. */
async function restoreStoredModel() {
  try {
    const stored = await readStoredModel();
    if (!stored) return { restored: false, storedProblem: null };
    if (!(stored.weights instanceof Uint8Array)) throw new Error('it is not a model file');
    const storedHistory = historyFromStore(stored.history);
    session.loadModel(stored.weights);
    history = storedHistory;
    return { restored: true, storedProblem: null };
  } catch (e) {
    history = emptyHistory();
    await forgetStoredModel().catch(() => {});
    return {
      restored: false,
      storedProblem: `The model stored in this browser could not be used (${errorText(e)}); the default model is loaded.`,
    };
  }
}

const ops = {
  /** limits(): the form's ranges, the import size bound, the backend labels. */
  limits: () => wasmLimits,

  async load({ backend }) {
    const [, weights, data] = await Promise.all([wasmReady, defaultModel, dataFile]);
    session = await noted('session', Session.create(weights, data, backend));
    const info = JSON.parse(session.backendInfo());
    if (info.kind !== 'cpu') info.adapter = await adapterName();
    const { restored, storedProblem } = await noted('stored', restoreStoredModel());
    scheduler.step(modelSwapped({ keep: false }));
    return { backend: info, model: JSON.parse(session.modelInfo()), history, restored, storedProblem, arrived };
  },
  /** The page has answered for the first time: the start-up's background work may begin (the
   *  neighbour index; WebGPU's start, check and warm-up, which take the worker's thread for much
   *  of a few seconds). Before this, nothing but the page's calls runs, so the first answer does
   *  not wait behind any of it. */
  pageAnswered() {
    pageAnswered = true;
    scheduler.wake();
    if (!webgpuStarted && JSON.parse(session.backendInfo()).warming_up) {
      webgpuStarted = true;
      prepareWebgpu();
    }
    return null;
  },

  // null for an empty sketch
  async analyse({ grey, width, height, k }) {
    const answer = await session.analyse(grey, width, height, k);
    if (!answer) return null;
    try {
      return withImages(JSON.parse(answer.json), answer.images);
    } finally {
      answer.free();
    }
  },
  sample: ({ n, temperature, seed }) => session.sample(n, temperature, BigInt(seed)),
  trainingSample: ({ n, seed }) => session.trainingSample(n, BigInt(seed)),
  decode: ({ z }) => session.decode(z),
  decodeMapPoint: ({ x, y }) => session.decodeMapPoint(x, y),
  interpolate: ({ a, b, steps }) => session.interpolate(a, b, steps),
  variations: ({ image, n, seed }) => session.variations(image, n, BigInt(seed)),
  randomTestDigit: ({ seed }) => JSON.parse(session.randomTestDigit(BigInt(seed))),

  trainStart(request) {
    const started = JSON.parse(session.trainStart(JSON.stringify(request)));
    if (started.fromScratch) history = emptyHistory();
    training = { state: 'running', steps: history.steps.at(-1)?.step ?? 0, epochs: history.tests.at(-1)?.epoch ?? 0 };
    // The run's start is the page's model from now on (random weights, or the same ones with the
    // form's β): shown at once, stored at the first epoch's end.
    scheduler.step(modelSwapped({ keep: false }));
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
    const progress = JSON.parse(await session.trainStop());
    // The page's model becomes the weights reached (or stays the checkpoint, with the reason).
    if (wasTraining) scheduler.step(trainingEnded, modelSwapped({ keep: true }));
    return progress;
  },

  /** What the worker holds now, for checks (tests/concurrency.test.mjs): the model, the backend
   *  and the training run's state (idle | running | paused). */
  status: () => ({
    model: JSON.parse(session.modelInfo()), backend: JSON.parse(session.backendInfo()), training: training?.state ?? 'idle',
  }),

  exportModel: () => session.exportModel(),
  async importModel({ bytes, name }) {
    const { maxModelBytes } = await wasmLimits;
    if (bytes.length > maxModelBytes) {
      throw new Error(`${name} is ${(bytes.length / MB).toFixed(0)} MB; a model file here is at most ${(maxModelBytes / MB).toFixed(0)} MB`);
    }
    const ended = training !== null;
    const model = JSON.parse(session.loadModel(bytes)); // ends a training run
    history = emptyHistory();
    if (ended) post(RUN_ENDED_BY_NEW_MODEL);
    scheduler.step(trainingEnded, modelSwapped({ keep: true }));
    return { model, history };
  },
  async resetDefault() {
    const ended = training !== null;
    session.loadModel(await defaultModel); // ends a training run
    history = emptyHistory();
    if (ended) post(RUN_ENDED_BY_NEW_MODEL);
    await forgetStoredModel();
    scheduler.step(trainingEnded, modelSwapped({ keep: false }));
    return { model: JSON.parse(session.modelInfo()), history };
  },
};

const WITHOUT_SESSION = new Set(['limits', 'load']);
/** The calls that read the page's model and change nothing: they may run while a training step
 *  waits on its device (scheduler.overlapping). */
const OVERLAPPING = new Set(['limits', 'analyse', 'sample', 'decode', 'decodeMapPoint', 'interpolate', 'variations',
  'randomTestDigit', 'exportModel']);

self.onmessage = ({ data: { id, op, args } }) => {
  scheduler.call(
    () => {
      if (!ops[op]) throw new Error(`unknown operation ${op}`);
      if (!session && !WITHOUT_SESSION.has(op)) throw new Error('the model is not loaded yet');
      return ops[op](args ?? {});
    },
    ({ ok, value, error, ms }) => post(ok ? { id, ok, value, ms } : { id, ok, error: errorText(error), ms }),
    { overlaps: OVERLAPPING.has(op) },
  );
};
