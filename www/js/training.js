// The training panel: the settings form (its limits are the wasm module's), the model it trains
// ("Model to train": the sketchpad's, kind vae, or the reading model, kind cvae), Train / Pause /
// Resume / Stop, a random start, reset, export and import of the models, and the run's progress:
// status line, progress bar, loss curve and a grid of samples from the weights being trained.
// The worker trains; this panel shows its records ({step, epoch, loss, recon, kl}) for the model
// chosen (a run's own while it goes on: the choice is locked then).
import { $, notice, download, thousands } from './dom.js';
import { paintGrid } from './paint.js';
import { call } from './rpc.js';
import { drawLossCurve } from './loss-curve.js';
import * as hooks from './hooks.js';
import { StepRecords } from './records.js';

const MB = 2 ** 20;

let history = { steps: new StepRecords(), tests: [] }; // the model's training records, as the worker keeps them
/** A history as the worker sends it (plain lists), kept compact. */
const historyFrom = ({ steps, tests }) => ({ steps: StepRecords.from(steps), tests });
let trainState = 'idle'; // idle | running | paused
let run = null; // {batch, total, done, rateT0, rateSteps}: this run's progress and speed
let model = null; // the page's model: {kind, hidden, latent, beta, parameters}
let conditional = null; // the reading model (kind cvae), or null while the page has none
let maxModelBytes = null; // from limits(): a bigger file is refused before it is read
const KIND_NAMES = { vae: 'the sketchpad model', cvae: 'the reading model (conditional)' };

/** The model the panel trains and shows: 'vae' (the page's) or 'cvae' (the reading model). */
export const trainedKind = () => $('train-kind').value;

export function initTraining() {
  $('train').addEventListener('click', () => trainPauseResume().catch((e) => modelMessage(e.message)));
  $('train-random').addEventListener('click', () => startTraining(true).catch((e) => modelMessage(e.message)));
  $('train-stop').addEventListener('click', () => stopTraining().catch((e) => modelMessage(e.message)));
  $('reset-default').addEventListener('click', () => resetDefault().catch((e) => modelMessage(e.message)));
  $('export').addEventListener('click', () => exportModel().catch((e) => modelMessage(`Could not export the model: ${e.message}`)));
  $('export-conditional').addEventListener('click', () => exportConditional().catch((e) => modelMessage(`Could not export the reading model: ${e.message}`)));
  $('train-kind').addEventListener('change', () => showKind().catch((e) => modelMessage(e.message)));
  $('import').addEventListener('click', () => $('import-file').click());
  $('import-file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) importModel(file);
  });
  hooks.trainedKindShown(trainedKind());
  showTrainStatus();
}

/** The wasm module's limits(): the form's ranges and the import size bound. */
export function applyLimits(limits) {
  for (const input of $('train-form').elements) {
    const range = limits[input.name];
    if (!range) continue;
    input.min = String(range.min);
    input.max = String(range.max);
  }
  maxModelBytes = limits.maxModelBytes;
}

/** The page's model as the worker loaded it at start-up: its history, how it came back, and the
 *  training run stored with it, paused where it was. */
export function modelLoaded({ model: loadedModel, history: loadedHistory, restored, storedProblem, run: storedRun }) {
  history = historyFrom(loadedHistory);
  fillForm(loadedModel);
  if (storedProblem) modelMessage(storedProblem);
  else if (storedRun) {
    modelMessage(`Your training run from your last visit is back, paused at step ${storedRun.step}: Resume continues it.`, true);
  } else if (restored) modelMessage('Your model from your last visit is back (stored in this browser).', true);
  if (storedRun) takeRun(storedRun);
  showTrainStatus();
}

/** The GPU was lost and a worker on the CPU took over with the page's model: the history and the
 *  run as it has them (a run back at the step it was last read at, training or paused as it was),
 *  or what could not be kept. */
export function modelRecovered({ model: loadedModel, history: loadedHistory, storedProblem, run: movedRun }) {
  history = historyFrom(loadedHistory);
  fillForm(loadedModel);
  if (storedProblem) modelMessage(storedProblem);
  else if (movedRun?.state === 'running') {
    modelMessage(`Training goes on, on the CPU, from step ${movedRun.step} (where it was last saved).`, true);
  } else if (movedRun) modelMessage(`The training run is on the CPU now, paused at step ${movedRun.step}: Resume continues it.`, true);
  if (movedRun) takeRun(movedRun);
  else if (trainState !== 'idle') { setTrainState('idle'); run = null; }
  showTrainStatus();
}

/** A run the worker holds (RunInfo, with the page's step count), paused unless it says otherwise:
 *  its settings in the form and its progress; the panel shows the model it trains. */
function takeRun(r) {
  const f = $('train-form').elements;
  if (r.model.kind !== trainedKind()) {
    f.kind.value = r.model.kind;
    showKind().catch((e) => modelMessage(e.message));
  }
  f.learningRate.value = r.learningRate;
  f.batchSize.value = r.batchSize;
  f.epochs.value = r.epochs;
  run = { batch: r.batchSize, total: r.epochs * r.stepsPerEpoch, done: r.runStep, rateT0: performance.now(), rateSteps: 0 };
  setTrainState(r.state ?? 'paused');
}

/** Another tab stored a model, or this tab's could not be stored (worker/storage.js's rule). */
export function storageMessage(text) {
  modelMessage(text);
}

/** The page has a new model (the worker's `model` event). `samples`: its training samples are
 *  drawn now (before the page's first answer they wait: main.js draws them after it). */
export function modelChanged(m, { samples = true } = {}) {
  model = m;
  showModelInfo();
  if (samples && trainedKind() === 'vae') refreshTrainingSamples();
}

/** The reading model arrived or changed (the worker's `conditional` event: a run's epoch end or
 *  Stop, an import, the shipped model), or could not be had (`info` null). */
export function conditionalChanged(info) {
  conditional = info ?? null;
  $('export-conditional').disabled = conditional === null;
  showModelInfo();
  if (trainedKind() === 'cvae') refreshTrainingSamples();
}

/** The chosen model's shape under the panel. */
function showModelInfo() {
  const m = trainedKind() === 'cvae' ? conditional : model;
  if (!m) {
    $('model-info').textContent = trainedKind() === 'cvae' ? 'Reading model: not here (yet); training it starts from random weights.' : '';
    return;
  }
  const label = m.kind === 'cvae' ? ' + 10 (the digit)' : '';
  $('model-info').textContent = `${m.kind === 'cvae' ? 'Reading model (conditional)' : 'Model'}: 784${label} → ${m.hidden} → ${m.latent}${label} → `
    + `${m.hidden} → 784, β = ${m.beta}, ${thousands(m.parameters)} parameters`;
}

/** "Model to train" changed (or a restored run trains the other model): the panel shows that
 *  model's shape, history and samples. */
async function showKind() {
  const kind = trainedKind();
  const shown = await call('trainedModel', { kind });
  if (kind !== trainedKind()) return; // changed again meanwhile
  history = historyFrom(shown.history);
  if (shown.model) fillForm(shown.model);
  hooks.trainedKindShown(kind);
  showModelInfo();
  showTrainStatus();
  refreshTrainingSamples();
}

/** A training step (and, at an epoch's end, its test) from the worker's `train` event. */
export function trainingProgress({ progress, record, testRecord, samples, state, kind }) {
  if (record) {
    history.steps.push(record);
    if (run) { run.done++; run.rateSteps++; }
  }
  if (testRecord) history.tests.push(testRecord);
  if (progress.diverged) {
    modelMessage(progress.diverged);
  } else if (progress.error) {
    modelMessage(`Training stopped: ${progress.error}`);
  } else if (progress.finished && testRecord) {
    const reading = kind === 'cvae' ? ' The Reading, the redraws and "Digit to sample" use the new reading model.' : '';
    modelMessage(`Training finished: test loss ${testRecord.loss.toFixed(2)} nats after epoch ${testRecord.epoch}.${reading}`, true);
  }
  if (state === 'idle' && trainState !== 'idle') { setTrainState('idle'); run = null; }
  if (progress.diverged) hooks.trainingState('diverged');
  showTrainStatus();
  if (samples) paintGrid($('train-samples'), samples, 4);
  else if (state !== 'running') refreshTrainingSamples();
}

function modelMessage(text, ok = false) {
  const m = $('model-message');
  m.hidden = !text;
  m.textContent = text ?? '';
  m.classList.toggle('ok', ok);
}

function fillForm(m) {
  const f = $('train-form').elements;
  f.latent.value = m.latent;
  f.hidden.value = m.hidden;
  f.beta.value = m.beta;
}

/** The form's values, or null (with the browser's message on the first bad field). */
function readForm() {
  const form = $('train-form');
  for (const input of form.elements) {
    if (!input.checkValidity()) {
      input.reportValidity();
      modelMessage(`${input.parentElement.firstChild.textContent.trim()}: ${input.validationMessage}`);
      return null;
    }
  }
  const f = form.elements;
  return {
    kind: f.kind.value,
    latent: Number(f.latent.value), hidden: Number(f.hidden.value), beta: Number(f.beta.value),
    learningRate: Number(f.learningRate.value), batchSize: Number(f.batchSize.value), epochs: Number(f.epochs.value),
  };
}

function setTrainState(state) {
  trainState = state;
  $('train').textContent = { idle: 'Train', running: 'Pause', paused: 'Resume' }[state];
  $('train-stop').disabled = state === 'idle';
  for (const id of ['train-random', 'reset-default', 'import', 'learn-hand']) $(id).disabled = state !== 'idle';
  for (const form of ['train-form', 'learn-form']) for (const input of $(form).elements) input.disabled = state !== 'idle';
  hooks.trainingState(state);
}

async function startTraining(fromScratch) {
  const request = readForm();
  if (!request) return;
  modelMessage(null);
  const started = await call('trainStart', { ...request, fromScratch, seed: 0 });
  runBegan(started, request);
  if (started.fromScratch && !fromScratch) {
    const why = request.kind === 'cvae' && !conditional ? 'The page has no reading model yet' : 'The form asks for another shape of model';
    modelMessage(`${why}, so training starts from random weights.`, true);
  } else {
    modelMessage(`Training ${KIND_NAMES[request.kind]}.`, true);
  }
}

/** A run the worker began (Train here, or "Learn my hand": js/yours.js): `started` its answer
 *  (with the model's history), `batchSize` and `epochs` its settings. */
export function runBegan(started, { batchSize, epochs }) {
  history = historyFrom(started.history);
  run = { batch: batchSize, total: epochs * started.stepsPerEpoch, done: 0, rateT0: performance.now(), rateSteps: 0 };
  setTrainState('running');
  showTrainStatus();
}

/** The form's learning rate and batch size (for "Learn my hand"), or null with the browser's
 *  message on a bad one. */
export function formSettings() {
  const request = readForm();
  return request && { learningRate: request.learningRate, batchSize: request.batchSize };
}

/** The data set's training digits, fetched when something first trains ({training: "fetching" |
 *  "here" | "failed", error}): the panel says so while they download (#train-status's
 *  data-training-digits too). */
export function trainingDigits({ training, error }) {
  const status = $('train-status');
  status.dataset.trainingDigits = training;
  if (training === 'fetching') status.textContent = 'Fetching the training digits (1.2 MB)…';
  else if (training === 'failed') modelMessage(`The training digits could not be loaded: ${error}`);
  else showTrainStatus();
}

/** A run is going on (training or paused). */
export const isTraining = () => trainState !== 'idle';

/** Says `text` in the training panel (`ok`: good news). */
export const showMessage = (text, ok = false) => modelMessage(text, ok);

async function trainPauseResume() {
  if (trainState === 'idle') {
    await startTraining(false);
  } else if (trainState === 'running') {
    // At once: the worker takes the pause after the step under way.
    setTrainState('paused');
    showTrainStatus();
    followWorker((await call('trainPause')).state);
  } else {
    const { state } = await call('trainResume');
    if (run) { run.rateT0 = performance.now(); run.rateSteps = 0; }
    followWorker(state);
  }
}

/** The run's state as the worker answered a Pause or Resume: idle if the run ended meanwhile (a
 *  model imported or reset straight after the click). */
function followWorker(state) {
  if (state === 'idle') run = null;
  setTrainState(state);
  showTrainStatus();
}

async function stopTraining() {
  const result = await call('trainStop');
  setTrainState('idle');
  run = null;
  const kept = trainedKind() === 'cvae' ? 'the reading model is now the weights it reached' : 'the page uses the weights it reached';
  modelMessage(result.diverged ?? `Training stopped; ${kept}.`, !result.diverged);
  showTrainStatus();
}

async function resetDefault() {
  const result = await call('resetDefault');
  $('train-kind').value = 'vae';
  hooks.trainedKindShown('vae');
  history = historyFrom(result.history);
  fillForm(result.model);
  modelMessage('The default model is back.', true);
  showTrainStatus();
}

async function exportModel() {
  const bytes = await call('exportModel');
  download(new Blob([bytes], { type: 'application/octet-stream' }), `latent-sketchpad-z${model.latent}-h${model.hidden}.safetensors`);
}

/** The reading model as a safetensors file (`vae read --model FILE` reads it). */
async function exportConditional() {
  const bytes = await call('exportConditional');
  download(new Blob([bytes], { type: 'application/octet-stream' }), `latent-sketchpad-cvae-z${conditional.latent}-h${conditional.hidden}.safetensors`);
  modelMessage('Exported the reading model (vae read and vae eval read it).', true);
}

async function importModel(file) {
  try {
    // Refused before reading: a tab should not load hundreds of MB to find out.
    if (file.size > maxModelBytes) {
      throw new Error(`it is ${(file.size / MB).toFixed(0)} MB; a model file here is at most ${(maxModelBytes / MB).toFixed(0)} MB`);
    }
    modelMessage(`Importing ${file.name}…`, true);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const result = await call('importModel', { bytes, name: file.name });
    const { kind } = result.model;
    if (kind !== trainedKind()) $('train-kind').value = kind;
    history = historyFrom(result.history);
    fillForm(result.model);
    hooks.trainedKindShown(kind);
    showModelInfo();
    modelMessage(kind === 'cvae'
      ? `Imported ${file.name} as the reading model (conditional): the Reading, the redraws and "Digit to sample" use it.`
      : `Imported ${file.name}.`, true);
    showTrainStatus();
  } catch (err) {
    modelMessage(`Could not import ${file.name}: ${err.message}. The current model is kept.`);
  }
}

const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

function showTrainStatus() {
  const last = history.steps.at(-1);
  const test = history.tests.at(-1);
  const parts = [];
  if (last) {
    parts.push(`Epoch ${last.epoch} · step ${last.step} · loss ${last.loss.toFixed(1)} `
      + `(reconstruction ${last.recon.toFixed(1)}, KL ${last.kl.toFixed(1)})`);
  }
  if (test) parts.push(`test loss ${test.loss.toFixed(2)}`);
  let samplesPerSecond;
  if (run && trainState === 'running' && run.rateSteps > 2) {
    const stepsPerS = run.rateSteps / ((performance.now() - run.rateT0) / 1000);
    samplesPerSecond = stepsPerS * run.batch;
    parts.push(`${samplesPerSecond.toFixed(0)} samples/s`, `ETA ${clock((run.total - run.done) / stepsPerS)}`);
  }
  if (trainState === 'paused') parts.push('paused');
  $('train-status').textContent = parts.length ? parts.join(' · ') : 'No training yet.';
  hooks.trainingProgress({
    step: last?.step ?? 0, epoch: last?.epoch ?? 0, loss: last?.loss, testLoss: test?.loss, samplesPerSecond,
  });
  if (run) $('train-progress').value = run.done / run.total;
  requestCurve();
}

let curvePending = false;
function requestCurve() {
  if (curvePending) return;
  curvePending = true;
  requestAnimationFrame(() => { curvePending = false; drawLossCurve($('loss-curve'), history); });
}

// The samples grid follows the weights being trained: during a run the steps bring them (about
// once a second); otherwise the page asks.
let samplesBusy = false;
export async function refreshTrainingSamples() {
  if (samplesBusy || trainState === 'running') return;
  samplesBusy = true;
  try {
    paintGrid($('train-samples'), await call('trainingSample', { kind: trainedKind() }), 4);
  } catch (e) {
    notice(e.message);
  } finally {
    samplesBusy = false;
  }
}
