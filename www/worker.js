// The one Web Worker that owns the model: a wasm Session (the page's model, its neighbour index,
// training). The page sends {id, op, args}; the worker answers {id, ok, value | error, ms}, and
// sends events ({event, …}) for what happens on its own: the neighbour index growing (index),
// training steps (train), a new model (model), the backend (backend), problems (error), and the
// GPU lost (lost: the page then moves everything to a fresh CPU worker, handing it this one's
// model and training run; see gpuLost).
// Everything heavy (wasm, WebGPU, the data set, the stored model) lives here, so the page never
// freezes. Jobs run one at a time (worker/scheduler.js); the state changes below are steps of
// that queue.
import init, { Session, limits } from './pkg/vae_web.js';
import { Scheduler } from './worker/scheduler.js';
import { readStoredModel, storeModel, forgetStoredModel, onStoredElsewhere } from './worker/storage.js';
import { emptyHistory, historyForStore, historyFromStore } from './worker/history.js';
import { watchWebgpu, usesWebgpu, lossOrTimeout } from './worker/gpu-watch.js';
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
// Before the module can ask for a device.
watchWebgpu((reason) => gpuLost(reason));
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
/** Why this worker's GPU is gone, or null. Once it is, the worker answers, posts and stores
 *  nothing more: the page replaces it (gpuLost, js/rpc.js). */
let lost = null;
/** The training run as last read to be stored (a stored record's `run`: {snapshot, steps,
 *  epochs, tail}), kept for a handover: the run's last good state if the GPU is lost, stored or
 *  not (another tab's model keeps this tab's from being stored). */
let lastRun = null;
/** The page's model as a safetensors file, read at each change of model (modelSwapped): what a
 *  handover gives when the module cannot be asked any more (trapped, or held by a call that waits
 *  on the lost GPU). */
let modelBytes = null;
/** A store under way ({writeId, run}): if the GPU is lost meanwhile, the write may still land. */
let writing = null;
/** In a worker that replaces one whose GPU was lost: {reason, handover} (gpuLost's), sent by the
 *  page before anything else. Its `load` runs on the CPU and takes the model handed over. */
let recovery = null;

const post = (message) => { if (!lost) self.postMessage(message); };
const errorText = (e) => String(e?.message ?? e);

const tsne = new TsneMaps({
  post, onError: (error) => post({ event: 'error', error }), isTraining: () => training?.state === 'running',
});
/** A step of the queue, queued wherever a training run begins, pauses, resumes or ends. */
const tsneTrainingChanged = () => tsne.trainingChanged(session, !indexing);
const tsneStep = () => tsne.step(session);

const scheduler = new Scheduler({
  background: () => (pageAnswered && !lost
    ? [indexing && indexStep, tsne.making && tsneStep, training?.state === 'running' && trainStep]
    : []).filter(Boolean),
  onStepError: (e) => {
    trapped(e);
    post({ event: 'error', error: errorText(e) });
  },
});

// ---- a lost GPU -------------------------------------------------------------------------------

/** The GPU is lost or poisoned, or the module trapped: what this worker holds that is worth
 *  keeping goes to the page, once, which hands it to a fresh worker on the CPU (Burn's WebGPU
 *  device can be started only once per module, and a trapped module is no longer safe to call).
 *  The page's model is read from the session's host copy (no GPU involved), or is the one read at
 *  its last change when the module cannot answer; a run's state is the one last read to be stored
 *  (at its first step, every 5 s and at each epoch's end): the steps since then are run again, the
 *  same steps (the snapshot holds both random streams). */
function gpuLost(reason) {
  if (lost) return;
  let weights = modelBytes;
  try {
    weights = session?.exportModel() ?? weights;
  } catch {
    // The module trapped, or a call waiting on the GPU holds the session: the model as it was
    // read at its last change.
  }
  const handover = session && {
    record: weights && { weights, history: historyForStore(history, modelSteps), run: training ? lastRun : null },
    running: training?.state === 'running',
    storedId, runStored, writing,
  };
  self.postMessage({ event: 'lost', reason, handover });
  lost = reason;
}

/** A wasm trap (a panic: CubeCL panics on an error nobody captured) leaves the module unusable; in
 *  a worker that uses WebGPU it is taken as the GPU lost (a CPU worker's traps stay errors). True
 *  when it was. */
function trapped(e) {
  if (!(usesWebgpu() && e instanceof WebAssembly.RuntimeError)) return false;
  gpuLost(`the WebGPU backend failed (${e.name}: ${e.message})`);
  return true;
}
/** After an error: whether the GPU is lost (then nothing is reported: the page re-sends its calls
 *  to the worker that takes over, which also redoes the steps). A worker on WebGPU first waits a
 *  moment for the device's own news: a read that fails on a lost device may be heard of before
 *  the device says it is lost, and a training step that fails would end the run. */
async function lostBy(e) {
  if (trapped(e)) return true;
  if (usesWebgpu() && !lost) await lossOrTimeout();
  return lost !== null;
}

// A trap in a callback of the GPU's (CubeCL's error handler), outside any call: handled here, not
// reported to the page as the worker's failure.
self.addEventListener('error', (e) => { if (trapped(e.error)) e.preventDefault(); });
self.addEventListener('unhandledrejection', (e) => { if (trapped(e.reason)) e.preventDefault(); });

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
  if (lost) return; // the worker that takes over stores from now on
  const t0 = performance.now();
  try {
    // Read by the last training step when it was asked to (an autosave) or ended an epoch, while
    // the page's calls were answered; else read now (Pause, a hidden page).
    const snapshot = session.takeStepSnapshot() ?? await session.runSnapshot();
    const run = snapshot && training
      && { snapshot, steps: training.steps, epochs: training.epochs, tail: history.steps.toArray(modelSteps) };
    if (run) lastRun = run;
    const record = { weights: session.exportModel(), history: historyForStore(history, modelSteps), run };
    writing = { writeId: crypto.randomUUID(), run: Boolean(run) };
    // The write changes nothing the page's calls see: they are answered meanwhile.
    const { stored, writeId } = await scheduler.overlapping(storeModel(record, storedId, writing.writeId));
    if (stored) {
      storedId = writeId;
      runStored = Boolean(run);
    } else {
      post({ event: 'storage', message: NOT_STORED });
    }
  } catch (e) {
    if (!(await lostBy(e))) post({ event: 'error', error: `The model could not be saved in this browser: ${errorText(e)}` });
  } finally {
    writing = null;
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
  modelBytes = session.exportModel();
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
  lastRun = null;
  if (runStored) await saveModel();
  if (webgpuWaiting) scheduler.step(placeJobs);
  scheduler.step(tsneTrainingChanged);
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
    (e) => trapped(e) || post({ event: 'error', error: `WebGPU could not be prepared: ${errorText(e)}` }),
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
    if (!(await lostBy(e))) post({ event: 'error', error: `building the neighbour index failed: ${errorText(e)}` });
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
    if (await lostBy(e)) return; // the worker that takes over goes on with the run
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

/** Makes a record ({weights, history, run?}: stored in this browser, or handed over by a worker
 *  whose GPU was lost) the page's model; throws if it cannot be used (the model stays). */
function loadRecordModel(record) {
  if (!(record.weights instanceof Uint8Array)) throw new Error('it is not a model file');
  const recordHistory = historyFromStore(record.history);
  session.loadModel(record.weights);
  history = recordHistory;
  modelSteps = history.steps.length;
}

/** Makes the record's training run, if it has one, the session's, paused at the step it was
 *  read at: {run} (the page's RunInfo), or {storedProblem} (`problem` and the reason) when it
 *  cannot be resumed: then it is dropped and its model stays. */
function resumeRecordRun(record, problem) {
  if (!record.run) return { storedProblem: null };
  try {
    const { snapshot, steps, epochs, tail } = record.run;
    if (!(snapshot instanceof Uint8Array) || !Number.isInteger(steps) || !Number.isInteger(epochs)) {
      throw new Error('it is damaged');
    }
    const tailSteps = historyFromStore({ steps: tail, tests: [] }).steps;
    const run = JSON.parse(session.restoreRun(snapshot));
    const last = tailSteps.at(-1)?.step ?? history.steps.at(-1)?.step ?? 0;
    if (last !== steps + run.step) {
      session.loadModel(record.weights); // ends the run; the same model
      throw new Error(`its history ends at step ${last}, the run at step ${steps + run.step}`);
    }
    history.steps.append(tailSteps);
    training = { state: 'paused', steps, epochs };
    return { storedProblem: null, run: { ...run, runStep: run.step, step: steps + run.step } };
  } catch (e) {
    return { storedProblem: `${problem} (${errorText(e)}); its model is loaded.` };
  }
}

/** The model stored in this browser becomes the page's, unless it cannot be used: then it is
 *  dropped and the default stays, with the reason. A stored training run comes back paused at
 *  the step it was stored at; one that cannot be resumed is dropped with the reason, the model
 *  stays. */
async function restoreStoredModel() {
  let stored;
  try {
    stored = await readStoredModel();
    if (!stored) return { restored: false, storedProblem: null };
    loadRecordModel(stored);
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
  const resumed = resumeRecordRun(stored, 'The training run stored in this browser could not be resumed');
  if (resumed.run) runStored = true;
  return { restored: true, ...resumed };
}

const UNREAD = 'This tab\'s model could not be read back from the worker that lost the GPU';

/** In a worker that replaces one whose GPU was lost: the model and training run it handed over
 *  (gpuLost), or, if it could not read its model, this tab's last stored one (else the default,
 *  said). A run that was training goes on, from the step its state was read at; one that had
 *  not been read yet is said to be lost. Nothing is written: the stored record stays this tab's
 *  (the lost worker's last write may have landed after the handover: then it is that one). */
async function takeOver({ record, running, storedId: id, runStored: hadRun, writing: write }) {
  const current = await readStoredModel().catch(() => undefined);
  const landed = write !== null && current?.writeId === write.writeId;
  storedId = landed ? write.writeId : id;
  runStored = landed ? write.run : hadRun;
  const source = record ?? (current && storedId !== null && current.writeId === storedId ? current : null);
  if (!source) return { restored: false, kept: false, storedProblem: `${UNREAD}, and it was not stored: the default model is loaded.` };
  try {
    loadRecordModel(source);
  } catch (e) {
    history = emptyHistory();
    modelSteps = 0;
    return { restored: false, kept: false, storedProblem: `The model could not be moved to the CPU (${errorText(e)}); the default model is loaded.` };
  }
  const resumed = resumeRecordRun(source, 'The training run could not be moved to the CPU');
  if (resumed.run && running) {
    training.state = 'running';
    resumed.run.state = 'running';
  }
  let problem = resumed.storedProblem;
  if (!record) problem ??= `${UNREAD}: its last stored version is loaded.`;
  if (running && !source.run) problem ??= 'The training run had only just started and nothing of it had been read yet: Train starts it again.';
  return { restored: true, kept: record !== null, ...resumed, storedProblem: problem };
}

const ops = {
  /** limits(): the form's ranges, the import size bound, the backend labels. */
  limits: () => wasmLimits,

  /** Starts the session on `backend` with the stored model (the default if none). In a worker
   *  that replaces one whose GPU was lost: on the CPU, with the model handed over; `recovered`
   *  then says whether the model was kept. */
  async load({ backend }) {
    const [, weights, data] = await Promise.all([wasmReady, defaultModel, dataFile]);
    session = await noted('session', Session.create(weights, data, recovery ? 'cpu' : backend));
    const info = JSON.parse(session.backendInfo());
    if (info.kind !== 'cpu') info.adapter = await adapterName();
    const handover = recovery?.handover;
    const { restored, storedProblem, run, kept } = await noted('stored', handover ? takeOver(handover) : restoreStoredModel());
    // Without a handover (the GPU was lost before the model loaded) the stored model loads, as at any start.
    const recovered = recovery && { reason: recovery.reason, kept: handover ? Boolean(kept) : true };
    if (recovered) {
      const model = recovered.kept ? 'with the same model' : 'but the model in use could not be kept (see the training panel)';
      info.fallback_reason = `${recovery.reason}, so every job now runs on the CPU, ${model}`;
    }
    scheduler.step(modelSwapped({ keep: false }));
    return {
      backend: info, model: JSON.parse(session.modelInfo()), history: historyForStore(history), restored, storedProblem, run, arrived, recovered,
    };
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
    // The first step reads the run to store it, so that a lost GPU or a closed tab never loses
    // a run whole.
    lastRun = null;
    lastSaveAt = -Infinity;
    // The run's start is the page's model from now on (random weights, or the same ones with the
    // form's β): shown at once, stored at the first epoch's end.
    scheduler.step(modelSwapped({ keep: false }), tsneTrainingChanged);
    return { ...started, history: historyForStore(history) };
  },
  /** Pauses after the step under way, and stores the run as it is then. */
  async trainPause() {
    if (training) {
      training.state = 'paused';
      scheduler.step(tsneTrainingChanged);
      await saveModel();
    }
    return { state: training?.state ?? 'idle' };
  },
  trainResume() {
    if (training) {
      training.state = 'running';
      scheduler.step(tsneTrainingChanged);
    }
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
    if (lost) throw new Error(lost); // the worker that takes over does it
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

self.onmessage = ({ data }) => {
  if (data.recover) {
    recovery = data.recover;
    return;
  }
  // Once the GPU is lost, calls are left to the worker that takes over (the page re-sends them).
  if (lost) return;
  const { id, op, args } = data;
  scheduler.call(
    () => {
      if (!ops[op]) throw new Error(`unknown operation ${op}`);
      if (!session && !WITHOUT_SESSION.has(op)) throw new Error('the model is not loaded yet');
      return ops[op](args ?? {});
    },
    ({ ok, value, error, ms }) => {
      // A trap loses the GPU: then the answer is not sent (post), and the page re-sends the call.
      if (!ok) trapped(error);
      post(ok ? { id, ok, value, ms } : { id, ok, error: errorText(error), ms });
    },
    { overlaps: OVERLAPPING.has(op) },
  );
};
