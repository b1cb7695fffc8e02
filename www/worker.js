// The one Web Worker that owns the model: a wasm Session (the page's model, its neighbour index,
// training). The page sends {id, op, args}; the worker answers {id, ok, value | error, ms}, and
// sends events ({event, …}) for what happens on its own: the neighbour index growing (index),
// training steps (train), a new model (model), the backend (backend), problems (error).
// Everything heavy (wasm, WebGPU, the data set, the stored model) lives here, so the page never
// freezes. Jobs run one at a time (worker/scheduler.js); the state changes below are steps of
// that queue.
import init, { Session, limits } from './pkg/vae_web.js';
import { Scheduler } from './worker/scheduler.js';
import { readStoredModel, storeModel, forgetStoredModel, onStoredElsewhere } from './worker/storage.js';
import { emptyHistory, historyForStore, historyFromStore } from './worker/history.js';
import { TsneMaps } from './worker/tsne.js';

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
/** How many of history.steps belong to the page's model; those after it are the run's since its
 *  last epoch's end (the run's snapshot holds their weights). */
let modelSteps = 0;
/** The write id of the stored record this tab read or last wrote (worker/storage.js): a write
 *  goes through only over that one. */
let storedId = null;
/** The stored record holds a training run (to be replaced when the run ends). */
let runStored = false;
// While a run trains, it is stored at most every AUTOSAVE_MS, and saving takes at most about 1/20
// of the time (a big model's snapshot costs more): closing the tab keeps the run as last saved,
// a few seconds back at most. Not more often: the default model's run is 7.8 MB a write.
const AUTOSAVE_MS = 5000;
let lastSaveAt = 0;
let saveMs = 0;
// The page's grid of digits from the weights being trained: the same z every time, so the grid
// visibly sharpens; drawn by a training step at most every TRAINING_SAMPLES.everyMs and sent with
// its progress, so that the page need not ask (its call would wait for the step, and a sketch
// behind it too).
const TRAINING_SAMPLES = { n: 16, seed: 7n, everyMs: 1000 };
let trainingSamplesAt = -Infinity;
/** The training run, or null: {state: 'running' | 'paused', steps, epochs}, with the steps and
 *  epochs the model had before it (the session counts per run, the history over its life). */
let training = null;
let indexing = false; // the neighbour index is not whole yet
let pageAnswered = false; // background work waits for the page's first answer (ops.pageAnswered)
let webgpuStarted = false;
let webgpuWaiting = false; // WebGPU is checked, warmed up and timed; the jobs have not moved yet

const post = (message) => self.postMessage(message);
const errorText = (e) => String(e?.message ?? e);

const tsne = new TsneMaps({ post, onError: (error) => post({ event: 'error', error }) });
const tsneStep = () => tsne.step(session);

const scheduler = new Scheduler({
  background: () => (pageAnswered
    ? [indexing && indexStep, tsne.making && tsneStep, training?.state === 'running' && trainStep]
    : []).filter(Boolean),
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

const NOT_STORED = 'Another tab stored a newer model in this browser since this tab loaded it, so this tab\'s '
  + 'model is not stored: it is kept here, in memory (Export model keeps it; reloading loads the other tab\'s).';
const STORED_ELSEWHERE = 'Another tab stored its model in this browser. This tab\'s model stays here, in memory, and '
  + 'is no longer stored from this tab (Export model keeps it; reloading loads the other tab\'s).';

/** Stores the page's model, its history and the training run if there is one (its snapshot, and
 *  its steps since the model's last epoch end), unless another tab stored one since: then it says
 *  so. Between steps only (a call or a step of the queue). */
async function saveModel() {
  const t0 = performance.now();
  try {
    // Read by the last training step when it was asked to (an autosave) or ended an epoch, while
    // the page's calls were answered; else read now (Pause, a hidden page).
    const snapshot = session.takeStepSnapshot() ?? await session.runSnapshot();
    const run = snapshot && training
      && { snapshot, steps: training.steps, epochs: training.epochs, tail: history.steps.toArray(modelSteps) };
    const record = { weights: session.exportModel(), history: historyForStore(history, modelSteps), run };
    // The write changes nothing the page's calls see: they are answered meanwhile.
    const { stored, writeId } = await scheduler.overlapping(storeModel(record, storedId));
    if (stored) {
      storedId = writeId;
      runStored = Boolean(run);
    } else {
      post({ event: 'storage', message: NOT_STORED });
    }
  } catch (e) {
    post({ event: 'error', error: `The model could not be saved in this browser: ${errorText(e)}` });
  } finally {
    lastSaveAt = performance.now();
    saveMs = lastSaveAt - t0;
  }
}

onStoredElsewhere((writeId) => {
  if (writeId !== storedId) post({ event: 'storage', message: STORED_ELSEWHERE });
});

/** The page is hidden or closing: the run is stored at the step reached. Best effort: a closing
 *  tab's worker is ended at once (in Chromium no write begun then completes); the autosave and
 *  Pause are what a closed tab keeps. */
async function pageHidden() {
  if (training) await saveModel();
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

/** The training run is over (finished, diverged, failed, stopped, or ended by a new model); a
 *  stored run is replaced by the model alone. */
async function trainingEnded() {
  training = null;
  if (runStored) await saveModel();
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
      scheduler.step(() => tsne.indexWhole(session));
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
  const autosave = performance.now() - lastSaveAt > Math.max(AUTOSAVE_MS, 20 * saveMs);
  const sampling = performance.now() - trainingSamplesAt >= TRAINING_SAMPLES.everyMs;
  let samples;
  try {
    await scheduler.overlapping(session.trainStepRun(autosave, sampling ? TRAINING_SAMPLES.n : 0, TRAINING_SAMPLES.seed));
    progress = JSON.parse(session.trainStepEnd());
    samples = session.takeStepSamples();
    if (samples) trainingSamplesAt = performance.now();
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
  post({ event: 'train', progress, record, testRecord, samples, state: progress.finished ? 'idle' : training.state });
  // An epoch's end makes its weights the page's model (stored with the run).
  if (t) {
    modelSteps = history.steps.length;
    scheduler.step(modelSwapped({ keep: true }));
  } else if (!progress.finished && autosave) {
    scheduler.step(saveModel);
  }
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
 *  dropped and the default stays, with the reason. A stored training run comes back paused at
 *  the step it was stored at; one that cannot be resumed is dropped with the reason, the model
 *  stays. */
async function restoreStoredModel() {
  let stored;
  try {
    stored = await readStoredModel();
    if (!stored) return { restored: false, storedProblem: null };
    if (!(stored.weights instanceof Uint8Array)) throw new Error('it is not a model file');
    const storedHistory = historyFromStore(stored.history);
    session.loadModel(stored.weights);
    history = storedHistory;
    modelSteps = history.steps.length;
    storedId = stored.writeId ?? null;
  } catch (e) {
    history = emptyHistory();
    modelSteps = 0;
    await forgetStoredModel().catch(() => {});
    return {
      restored: false,
      storedProblem: `The model stored in this browser could not be used (${errorText(e)}); the default model is loaded.`,
    };
  }
  if (!stored.run) return { restored: true, storedProblem: null };
  try {
    const { snapshot, steps, epochs, tail } = stored.run;
    if (!(snapshot instanceof Uint8Array) || !Number.isInteger(steps) || !Number.isInteger(epochs)) {
      throw new Error('it is damaged');
    }
    const tailSteps = historyFromStore({ steps: tail, tests: [] }).steps;
    const run = JSON.parse(session.restoreRun(snapshot));
    const last = tailSteps.at(-1)?.step ?? history.steps.at(-1)?.step ?? 0;
    if (last !== steps + run.step) {
      session.loadModel(stored.weights); // ends the run; the same model
      throw new Error(`its history ends at step ${last}, the run at step ${steps + run.step}`);
    }
    history.steps.append(tailSteps);
    training = { state: 'paused', steps, epochs };
    runStored = true;
    return { restored: true, storedProblem: null, run: { ...run, runStep: run.step, step: steps + run.step } };
  } catch (e) {
    return {
      restored: true,
      storedProblem: `The training run stored in this browser could not be resumed (${errorText(e)}); its model is loaded.`,
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
    const { restored, storedProblem, run } = await noted('stored', restoreStoredModel());
    scheduler.step(modelSwapped({ keep: false }));
    return { backend: info, model: JSON.parse(session.modelInfo()), history: historyForStore(history), restored, storedProblem, run, arrived };
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
  /** The grid of digits from the weights being trained (the page's model when no run is on). */
  trainingSample: () => session.trainingSample(TRAINING_SAMPLES.n, TRAINING_SAMPLES.seed),
  decode: ({ z }) => session.decode(z),
  decodeMapPoint: ({ x, y }) => session.decodeMapPoint(x, y),
  mapPointLatent: ({ x, y }) => session.mapPointLatent(x, y),
  /** The page shows the "pca" or "tsne" map (worker/tsne.js). */
  mapMethod: ({ method }) => tsne.show(session, method, !indexing),
  dataDigit: async ({ index }) => JSON.parse(await session.dataDigit(index)),
  interpolate: ({ a, b, steps, walk = 'linear' }) => session.interpolate(a, b, steps, walk),
  traverse: ({ z, dim, steps }) => session.traverse(z, dim, steps),
  sampleLatents: ({ n, temperature, seed }) => session.sampleLatents(n, temperature, BigInt(seed)),
  variations: ({ image, n, seed }) => session.variations(image, n, BigInt(seed)),
  randomTestDigit: ({ seed }) => JSON.parse(session.randomTestDigit(BigInt(seed))),

  trainStart(request) {
    const started = JSON.parse(session.trainStart(JSON.stringify(request)));
    if (started.fromScratch) history = emptyHistory();
    modelSteps = history.steps.length;
    training = { state: 'running', steps: history.steps.at(-1)?.step ?? 0, epochs: history.tests.at(-1)?.epoch ?? 0 };
    // The run's start is the page's model from now on (random weights, or the same ones with the
    // form's β): shown at once, stored at the first epoch's end.
    scheduler.step(modelSwapped({ keep: false }));
    return { ...started, history: historyForStore(history) };
  },
  /** Pauses after the step under way, and stores the run as it is then. */
  async trainPause() {
    if (training) {
      training.state = 'paused';
      await saveModel();
    }
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
    if (!progress.diverged) modelSteps = history.steps.length;
    runStored = false; // the model's own store (below) replaces the run
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
    modelSteps = 0;
    runStored = false; // the model's own store replaces the run
    scheduler.step(trainingEnded, modelSwapped({ keep: true }));
    return { model, history: historyForStore(history) };
  },
  async resetDefault() {
    const ended = training !== null;
    session.loadModel(await defaultModel); // ends a training run
    history = emptyHistory();
    if (ended) post(RUN_ENDED_BY_NEW_MODEL);
    modelSteps = 0;
    runStored = false;
    const { stored } = await storeModel(null, storedId);
    if (stored) storedId = null;
    else post({ event: 'storage', message: NOT_STORED });
    scheduler.step(trainingEnded, modelSwapped({ keep: false }));
    return { model: JSON.parse(session.modelInfo()), history: historyForStore(history) };
  },
  pageHidden,
};

const WITHOUT_SESSION = new Set(['limits', 'load']);
/** The calls that read the page's model and change nothing: they may run while a training step
 *  waits on its device (scheduler.overlapping). */
const OVERLAPPING = new Set(['limits', 'analyse', 'sample', 'decode', 'decodeMapPoint', 'interpolate', 'variations',
  'randomTestDigit', 'exportModel', 'mapPointLatent', 'dataDigit', 'traverse', 'sampleLatents']);

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
