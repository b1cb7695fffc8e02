// The training panel: the settings form (its limits are the wasm module's), Train / Pause /
// Resume / Stop, a random start, reset, export and import of the model, and the run's progress:
// status line, progress bar, loss curve and a grid of samples from the weights being trained.
// The worker trains; this panel shows its records ({step, epoch, loss, recon, kl}).
import { $, notice, download } from './dom.js';
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
let model = null; // {hidden, latent, beta, parameters}
let maxModelBytes = null; // from limits(): a bigger file is refused before it is read

export function initTraining() {
  $('train').addEventListener('click', () => trainPauseResume().catch((e) => modelMessage(e.message)));
  $('train-random').addEventListener('click', () => startTraining(true).catch((e) => modelMessage(e.message)));
  $('train-stop').addEventListener('click', () => stopTraining().catch((e) => modelMessage(e.message)));
  $('reset-default').addEventListener('click', () => resetDefault().catch((e) => modelMessage(e.message)));
  $('export').addEventListener('click', () => exportModel().catch((e) => modelMessage(`Could not export the model: ${e.message}`)));
  $('import').addEventListener('click', () => $('import-file').click());
  $('import-file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) importModel(file);
  });
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
 *  its settings in the form and its progress. */
function takeRun(r) {
  const f = $('train-form').elements;
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
  $('model-info').textContent = `Model: 784 → ${m.hidden} → ${m.latent} → ${m.hidden} → 784, β = ${m.beta}, `
    + `${m.parameters.toLocaleString('en')} parameters`;
  if (samples) refreshTrainingSamples();
}

/** A training step (and, at an epoch's end, its test) from the worker's `train` event. */
export function trainingProgress({ progress, record, testRecord, samples, state }) {
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
    modelMessage(`Training finished: test loss ${testRecord.loss.toFixed(2)} nats after epoch ${testRecord.epoch}.`, true);
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
    modelMessage('The form asks for another shape of model, so training starts from random weights.', true);
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
  modelMessage(result.diverged ?? 'Training stopped; the page uses the weights it reached.', !result.diverged);
  showTrainStatus();
}

async function resetDefault() {
  const result = await call('resetDefault');
  history = historyFrom(result.history);
  fillForm(result.model);
  modelMessage('The default model is back.', true);
  showTrainStatus();
}

async function exportModel() {
  const bytes = await call('exportModel');
  download(new Blob([bytes], { type: 'application/octet-stream' }), `latent-sketchpad-z${model.latent}-h${model.hidden}.safetensors`);
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
    history = historyFrom(result.history);
    fillForm(result.model);
    modelMessage(`Imported ${file.name}.`, true);
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
    paintGrid($('train-samples'), await call('trainingSample'), 4);
  } catch (e) {
    notice(e.message);
  } finally {
    samplesBusy = false;
  }
}
