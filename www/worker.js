// The one Web Worker that owns the model: a wasm Session (the page's model, its neighbour index,
// training). The page sends {id, op, args}; the worker answers {id, ok, value | error, ms} and sends
// events ({event, …}: index, train, model, moved, conditional, backend, tsne, storage, error, and lost — the GPU is gone
// and the page moves everything to a fresh CPU worker; worker/gpu-loss.js). Everything heavy lives
// here, so the page never freezes. The worker's entry is worker-start.js, which starts the first
// answer's downloads and then imports this file. This file makes the worker's parts (worker/*.js) around
// one state object and one queue (worker/scheduler.js: state changes are its steps), and hands each
// call to its part (docs/architecture.md).
import { Modules } from './worker/modules.js';
import { Scheduler } from './worker/scheduler.js';
import * as storage from './worker/storage.js';
import { watchWebgpu } from './worker/gpu-watch.js';
import { TsneMaps } from './worker/tsne.js';
import { workerState, errorText, historyOf } from './worker/state.js';
import { Persistence } from './worker/persistence.js';
import { GpuLoss } from './worker/gpu-loss.js';
import { Backends, adapterName } from './worker/backend.js';
import { PageModel } from './worker/model.js';
import { Training } from './worker/training.js';
import { YourDigits } from './worker/yours.js';
import * as yourStore from './worker/your-store.js';
import { readYourDigits } from './pkg-cpu/vae_web.js';

// The parts refer to those made after them only in calls made once the module has run.
const state = workerState();
const gpu = new GpuLoss({ state, handover: (record) => persistence.handover(record) });

// Before a module can ask for a device.
watchWebgpu(gpu.lost);
// Started at once: the CPU module compiles while the default model downloads; the data set and the
// WebGPU module come after the first answer (worker/modules.js).
const modules = new Modules();

// What `load` restores from this browser, read now, while the CPU module and the model are on their
// way: opening the databases (creating them, on a first visit) took 10-25 ms that the first answer
// waited for after the session was made. Each is used once (a later load would read again).
const readAhead = { stored: storage.readStoredModel(), digits: yourStore.readDigits() };
for (const read of Object.values(readAhead)) read.catch(() => {});
/** The read started ahead for `name`, the first time; undefined after (the caller reads anew). */
const readAheadOnce = (name) => {
  const read = readAhead[name];
  delete readAhead[name];
  return read;
};

const post = (message) => { if (!state.lost) self.postMessage(message); };
const { trapped, lostBy } = gpu;

/** Gives the session a part of the data set once: `bytes()` fetches it (on first ask), `give(bytes)`
 *  hands it over, `flag` (of the state) says it is given. The neighbour index grows (on) over its
 *  digits. The session's answer (a stored run that waited for them, going on now), or null if it
 *  had them already. Between calls and steps, or in one. */
async function giveOnce(flag, bytes, give) {
  if (state[flag]) return null;
  const fetched = await bytes();
  if (state[flag]) return null;
  const answer = JSON.parse(give(fetched));
  state[flag] = true;
  state.indexing = true;
  scheduler.wake();
  return answer;
}

/** The data set's test digits (after the first answer, or when the start needs them). */
const giveData = () => giveOnce('hasData', () => modules.data(), (bytes) => state.session.setData(bytes));

/** The data set's training digits, after its test digits (fetched on first ask: a page where
 *  nobody trains never downloads them); training can start. */
async function giveTrainingData() {
  await giveData();
  return giveOnce('hasTrainingData', trainingBytes, (bytes) => state.session.addTrainingData(bytes));
}

/** The training digits' bytes (modules.trainingData); the page hears while they download (its
 *  training panel says so), and whether they came. */
function trainingBytes() {
  const asked = modules.trainingData();
  if (!trainingHeard.has(asked)) {
    trainingHeard.add(asked);
    post({ event: 'data', training: 'fetching' });
    asked.then(() => post({ event: 'data', training: 'here' }), (e) => post({ event: 'data', training: 'failed', error: errorText(e) }));
  }
  return asked;
}
const trainingHeard = new WeakSet();

/** The calls that train: their training digits are fetched before they join the queue, so that
 *  sketches are answered while the digits download. */
const TRAINS = new Set(['trainStart', 'learnHand']);

/** The conditional model becomes the session's second model (the reading, the redraws, the
 *  chosen-digit samples): after the first answer, and again in the WebGPU module's session. A
 *  session that holds its own (trained, imported, or restored from the stored record) keeps it,
 *  and the shipped one is not fetched for it. A step. */
async function giveConditional() {
  const { session } = state;
  const conditional = JSON.parse(session.hasOwnConditional() ? session.conditionalInfo() : session.setConditional(await modules.conditional()));
  state.hasConditional = true;
  post({ event: 'conditional', conditional });
}

const tsne = new TsneMaps({ post, onError: (error) => post({ event: 'error', error }), isTraining: () => training.running });
const scheduler = new Scheduler({
  background: () => (state.pageAnswered && !state.lost
    ? [state.indexing && state.hasData && model.indexStep, tsne.making && (() => tsne.step(state.session)), training.running && training.step]
    : []).filter(Boolean),
  onStepError: (e) => {
    trapped(e);
    post({ event: 'error', error: errorText(e) });
  },
});
const parts = { state, scheduler, tsne, post, lostBy };
// A stored run waits for the training digits (and so for the test digits before them).
const persistence = new Persistence({ ...parts, storage, giveData: giveTrainingData });
const backends = new Backends({
  state, scheduler, post, trapped, modules,
  moved: () => scheduler.step(model.moved, yours.restore, ...(state.hasConditional ? [giveConditional] : [])),
});
const model = new PageModel({ ...parts, persistence, runEnded: () => training.ended() });
const training = new Training({ ...parts, persistence, model, backends });
const yours = new YourDigits({ state, post, store: yourStore, readFiles: readYourDigits, training, giveData: giveTrainingData });

// A trap in a callback of the GPU's (CubeCL's error handler), outside any call: handled here, not
// reported to the page as the worker's failure.
self.addEventListener('error', (e) => { if (trapped(e.error)) e.preventDefault(); });
self.addEventListener('unhandledrejection', (e) => { if (trapped(e.reason)) e.preventDefault(); });

const session = () => state.session;
const ops = {
  /** limits(): the form's ranges, the import size bound, the backend labels. */
  limits: () => modules.limits(),
  /** Starts the session on `backend` with the stored model (the default if none). In a worker
   *  that replaces one whose GPU was lost: on the CPU, with the model handed over; `recovered`
   *  then says whether the model was kept. */
  async load({ backend }) {
    const { session: created, webgpuLater } = await modules.noted('session', modules.session(backend, state.recovery !== null));
    state.session = created;
    state.hasData = created.hasData();
    state.hasTrainingData = created.hasTrainingData();
    state.webgpuLater = webgpuLater;
    await yours.restore(readAheadOnce('digits'));
    const info = JSON.parse(session().backendInfo());
    if (info.kind !== 'cpu') info.adapter = await adapterName();
    const handover = state.recovery?.handover;
    const { restored, storedProblem, run, kept } = await modules.noted('stored', handover ? persistence.takeOver(handover) : persistence.restoreStored(readAheadOnce('stored')));
    const recovered = gpu.recovered(info, kept);
    scheduler.step(model.swapped({ keep: false }));
    // A conditional model of the session's own came back with the record: it answers at once.
    if (session().conditionalInfo() !== undefined) scheduler.step(model.changed('cvae', { keep: false }));
    return {
      backend: info, model: JSON.parse(session().modelInfo()), history: historyOf(session()), restored, storedProblem, run, arrived: modules.arrived, recovered,
    };
  },
  pageAnswered: () => {
    // The data set's test digits after the first answer, given to the session as soon as they are
    // here; its training digits wait for something that trains (giveTrainingData).
    modules.data().then(() => scheduler.step(giveData), (e) => post({ event: 'error', error: `The data set could not be loaded: ${errorText(e)}` }));
    if (state.session.hasOwnConditional()) scheduler.step(giveConditional);
    else {
      modules.conditional().then(() => scheduler.step(giveConditional), (e) => {
        if (!state.hasConditional) post({ event: 'conditional', error: `The conditional model could not be loaded: ${errorText(e)}` });
      });
    }
    return backends.pageAnswered();
  },

  // null for an empty sketch
  analyse: (args) => model.analyse(args),
  sample: ({ n, temperature, seed }) => session().sample(n, temperature, BigInt(seed)),
  /** `n` samples of `digit` from the conditional model. */
  sampleDigit: ({ n, temperature, seed, digit }) => session().sampleDigit(n, temperature, BigInt(seed), digit),
  /** The conditional model's reading of a sketch and its redraws as 0 … 9; null for an empty pad,
   *  or before the conditional model is here (a worker that took over after a lost GPU gets it
   *  again once the page has answered: its `conditional` event says so). */
  readSketch: ({ grey, width, height }) => (state.hasConditional ? model.readSketch({ grey, width, height }) : null),
  encodeImage: ({ image }) => session().encodeImage(image),
  trainingSample: ({ kind }) => training.sample(kind),
  decode: ({ z }) => session().decode(z),
  decodeMapPoint: ({ x, y }) => session().decodeMapPoint(x, y),
  mapPointLatent: ({ x, y }) => session().mapPointLatent(x, y),
  /** The page shows the "pca" or "tsne" map, or asks for the "first" one (worker/tsne.js). */
  mapMethod: ({ method }) => tsne.show(session(), method, !state.indexing),
  dataDigit: async ({ index }) => {
    await giveData();
    return JSON.parse(await session().dataDigit(index));
  },
  interpolate: ({ a, b, steps, walk = 'linear' }) => session().interpolate(a, b, steps, walk),
  traverse: ({ z, dim, steps }) => session().traverse(z, dim, steps),
  sampleLatents: ({ n, temperature, seed }) => session().sampleLatents(n, temperature, BigInt(seed)),
  variations: ({ image, n, seed }) => session().variations(image, n, BigInt(seed)),
  randomTestDigit: async ({ seed }) => {
    await giveData();
    return JSON.parse(session().randomTestDigit(BigInt(seed)));
  },

  trainStart: async (request) => {
    await giveTrainingData();
    return training.start(request);
  },
  trainPause: () => training.pause(),
  trainResume: () => training.resume(),
  trainStop: () => training.stop(),
  /** The model of `kind` ('vae' | 'cvae') the training panel shows: {model (null while the page has
   *  no conditional model), history}. */
  trainedModel: ({ kind }) => ({ model: JSON.parse(session()[kind === 'cvae' ? 'conditionalInfo' : 'modelInfo']() ?? 'null'), history: historyOf(session(), kind) }),

  /** What the worker holds now, for checks (tests/concurrency.test.mjs): the model, the backend
   *  and the training run's state (idle | running | paused). */
  status: () => ({
    model: JSON.parse(session().modelInfo()), backend: JSON.parse(session().backendInfo()), training: state.training?.state ?? 'idle',
  }),
  exportModel: () => session().exportModel(),
  exportConditional: () => session().exportConditional(),
  importModel: async (file) => model.importFile(file, (await modules.limits()).maxModelBytes),
  resetDefault: async () => model.resetDefault(await modules.defaultModel()),
  pageHidden: () => persistence.pageHidden(),
  // The person's own digits and "Learn my hand" (worker/yours.js).
  ...yours.ops(),
};

const WITHOUT_SESSION = new Set(['limits', 'load']);
/** The calls that read the page's model and change nothing: they may run while a training step
 *  waits on its device (scheduler.overlapping). */
const OVERLAPPING = new Set(['limits', 'analyse', 'sample', 'sampleDigit', 'readSketch', 'encodeImage', 'decode', 'decodeMapPoint', 'interpolate', 'variations',
  'randomTestDigit', 'exportModel', 'exportConditional', 'mapPointLatent', 'dataDigit', 'traverse', 'sampleLatents']);

/** A message from the page (worker-start.js hands each one over, in order). */
export function received(data) {
  if (data.recover) {
    state.recovery = data.recover;
    return;
  }
  // Once the GPU is lost, calls are left to the worker that takes over (the page re-sends them).
  if (state.lost) return;
  if (TRAINS.has(data.op) && state.session && !state.hasTrainingData) {
    // Queued once the bytes are here (or failed: the call then asks again, and says why).
    const queue = () => queued(data);
    trainingBytes().then(queue, queue);
    return;
  }
  queued(data);
}

/** A page's call joins the worker's queue. */
function queued({ id, op, args }) {
  if (state.lost) return;
  scheduler.call(
    () => {
      if (!ops[op]) throw new Error(`unknown operation ${op}`);
      if (!state.session && !WITHOUT_SESSION.has(op)) throw new Error('the model is not loaded yet');
      return ops[op](args ?? {});
    },
    async ({ ok, value, error, ms }) => {
      // A trap loses the GPU: then the answer is not sent (post), and the page re-sends the call.
      // So does a backend error on a lost device, but the device's news can come after the failed
      // read ("the staging buffer could not be mapped", seen in tests/gpu-loss.test.mjs): it is
      // waited for (lostBy) before such an error is answered.
      if (!ok) await (errorText(error).startsWith('backend error') ? lostBy(error) : trapped(error));
      post(ok ? { id, ok, value, ms } : { id, ok, error: errorText(error), ms });
    },
    { overlaps: OVERLAPPING.has(op) },
  );
}
