// Every mark the browser tests (tests/*.mjs) read, and only here. The panels say what happened by
// calling these functions; none of them writes a data attribute or a window field for the tests
// itself, so this file is the whole list of what the tests rely on. Times are in ms since the
// page's scripts started.
import { $ } from './dom.js';

const startedAt = performance.now();
const sinceStart = () => (performance.now() - startedAt).toFixed(0);
const body = document.body.dataset;

/** Sets `data-*` fields of `el`: a value is written as a string, undefined removes the field. */
function mark(el, fields) {
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) delete el.dataset[name];
    else el.dataset[name] = String(value);
  }
}

// ---- the page as a whole: body[data-ready|indexed|idle|backend-settled] -------------------------

/** The page answers: the model is loaded and the first samples are drawn. `arrived`: when each
 *  part of the start was there in the worker (ms since the epoch), marked as ms since navigation. */
export function pageReady(arrived = {}) {
  const phases = Object.fromEntries(Object.entries(arrived).map(([name, at]) => [name, Math.round(at - performance.timeOrigin)]));
  phases.ready = Math.round(performance.now());
  mark(document.body, { ready: 'true', readyMs: sinceStart(), loadPhases: JSON.stringify(phases) });
}

/** The neighbour index is being built for a new model (at start-up and after every change). */
export function indexRebuilding() {
  body.indexed = 'false';
  delete body.indexStartedMs;
}

/** The worker has done a step of the index (the first one marks when the index began to grow). */
export function indexGrew() {
  if (body.indexStartedMs === undefined) body.indexStartedMs = sinceStart();
}

/** The neighbour index (and the map drawn from it) is whole. */
export function indexWhole() {
  mark(document.body, { indexed: 'true', indexedMs: sinceStart() });
}

/** The sketch has work pending: an analysis, or the interpolation and variations it leads to. */
export function sketchBusy() {
  body.idle = 'false';
}

/** Everything the latest sketch leads to is on screen. */
export function sketchIdle() {
  body.idle = 'true';
}

/** The backend shown in the status line: its kind and why the CPU is used, if it is a fallback;
 *  settled once WebGPU is no longer warming up. */
export function backendShown(info) {
  mark($('backend'), { kind: info.kind, reason: info.fallbackReason ?? undefined });
  // #backend-jobs li[data-job|place|cpu-ms|webgpu-ms]: each measured job's place and timings.
  [...$('backend-jobs').children].forEach((li, i) => {
    const job = info.jobs[i];
    mark(li, { job: job.job, place: job.place, cpuMs: job.cpuMs, webgpuMs: job.webgpuMs });
  });
  body.backendSettled = String(!info.warmingUp);
  if (!info.warmingUp) body.settledMs = sinceStart();
}

/** The GPU was lost and a worker on the CPU took over (body[data-gpu-lost] counts the times). */
export function gpuLost() {
  body.gpuLost = String(Number(body.gpuLost ?? 0) + 1);
}

/** The service worker is active: this build is kept for offline use (body[data-offline="ready"]). */
export function availableOffline() {
  body.offline = 'ready';
}

// ---- answers and latencies ------------------------------------------------------------------------

/** Every answer of the worker: its time in the worker (#timing[data-ms]); the analyses of a sketch
 *  (not of an empty pad, which costs nothing) also into window.analyseMs. */
export function answered({ op, ok, ms, value }) {
  $('timing').dataset.ms = ms.toFixed(1);
  if (op === 'analyse' && ok && value !== null) (window.analyseMs ??= []).push(ms);
}

/** From the end of a stroke until its analysis is shown, queueing in the worker included
 *  (window.strokeAnswerMs). */
export function strokeAnswered(ms) {
  (window.strokeAnswerMs ??= []).push(ms);
}

// ---- the sketch panel -----------------------------------------------------------------------------

/** The digit of the data set that "Random digit" put on the pad (#pad[data-digit-index|label]),
 *  or null when the pad holds anything else. */
export function digitOnPad(digit) {
  mark($('pad'), { digitIndex: digit?.index, digitLabel: digit?.label });
}

/** The score shown for an analysis (#score[data-loss|percentile]), or null for none; and the 784
 *  grey levels it scored, the sketch as the model saw it (window.scoredInput), so that a test can
 *  score the very same input elsewhere (the CLI); and its μ (window.sketchMu). */
export function scoreShown(analysis) {
  mark($('score'), { loss: analysis?.loss, percentile: analysis?.percentile ?? undefined });
  window.scoredInput = analysis ? Array.from(analysis.input) : null;
  window.sketchMu = analysis ? Array.from(analysis.mu) : null;
}

/** One neighbour in the list (li[data-label|distance|index|mu|yours], mu comma-separated; yours
 *  "true" for a digit the person kept, whose index is its place among theirs). */
export function neighbourShown(li, neighbour) {
  mark(li, {
    label: neighbour.label, distance: neighbour.distance, index: neighbour.index, mu: neighbour.mu.join(','), yours: neighbour.yours || undefined,
  });
}

// ---- the latent map -------------------------------------------------------------------------------

/** Where the sketch is marked on the map, in canvas pixels (#map[data-marker-x|y]), or null. */
export function mapMarker(xy) {
  mark($('map'), { markerX: xy?.[0].toFixed(1), markerY: xy?.[1].toFixed(1) });
}

/** The map was drawn anew from a whole index (#map[data-generation] counts them). */
export function mapRebuilt() {
  const map = $('map');
  map.dataset.generation = String(Number(map.dataset.generation ?? 0) + 1);
}

/** The point of the map decoded last, in latent map coordinates (#map-decode[data-point]). */
export function mapPointDecoded(x, y) {
  $('map-decode').dataset.point = `${x.toFixed(3)},${y.toFixed(3)}`;
}

/** The map on screen: its method (#map[data-method]), and its points, labels and the sketch's
 *  place in map coordinates (window.shownMap: {method, points, labels, marker}; points null
 *  while the method has no map yet). */
export function mapDrawn(method, map, marker) {
  $('map').dataset.method = method;
  window.shownMap = { method, points: map?.points ?? null, labels: map?.labels ?? null, marker: marker ?? null };
}

/** A t-SNE map came: made in this page just now, shown again as the worker held it, read back from
 *  this browser, or shipped beside the default model (#map[data-tsne="made"|"held"|"stored"|"shipped"]),
 *  at data-tsne-ms. */
export function tsneMapShown(source) {
  mark($('map'), { tsne: source, tsneMs: sinceStart() });
}

/** The worker says it is making a t-SNE map here (#map[data-tsne-making]: how many times it said so). */
export function tsneMaking() {
  const map = $('map');
  map.dataset.tsneMaking = String(Number(map.dataset.tsneMaking ?? 0) + 1);
}

/** The maps' 10-NN label agreement, as fractions (#map-agreement[data-pca|tsne]). */
export function mapAgreement({ pca, tsne }) {
  mark($('map-agreement'), { pca, tsne });
}

/** The data digit shown for a point of the t-SNE map (#map-decode[data-digit-index|label]). */
export function mapDigitShown(digit) {
  mark($('map-decode'), { digitIndex: digit.index, digitLabel: digit.label });
}

// ---- the walk, the sliders and the samples ---------------------------------------------------------

/** The walk on the Interpolation strip: its ends' options and codes, and its path
 *  (#interpolation[data-from|to|walk], window.walk: {from, to, walk, a, b}). */
export function walkShown(walk) {
  mark($('interpolation'), { from: walk.from, to: walk.to, walk: walk.walk });
  window.walk = { ...walk, a: Array.from(walk.a), b: Array.from(walk.b) };
}

/** The animation showed step `step` of the strip (#walk-frame[data-step|frames]); `last`: it has ended. */
export function walkFrame(step, last) {
  const frame = $('walk-frame');
  frame.dataset.step = String(step);
  frame.dataset.frames = String(Number(frame.dataset.frames ?? 0) + 1);
  frame.dataset.playing = String(!last);
}

/** From a latent slider's move to its decode on screen (window.sliderDecodeMs). */
export function sliderDecoded(ms) {
  (window.sliderDecodeMs ??= []).push(ms);
}

/** The traverse shows latent dimension `dim` (from 0) (#traverse[data-dim], counted in data-shown). */
export function traverseShown(dim) {
  const traverse = $('traverse');
  mark(traverse, { dim, shown: Number(traverse.dataset.shown ?? 0) + 1 });
}

/** The samples grid was drawn from `seed` (#samples[data-seed]). */
export function samplesShown(seed, digit) {
  mark($('samples'), { seed, digit: digit ?? undefined });
}

// ---- the conditional model's panels: body[data-conditional], #reading[data-digit|confidence] ------

/** The conditional model is there (true) or could not be had (false); body[data-conditional-events]
 *  counts the worker's word of it (the shipped model, or one of the session's own: trained,
 *  imported, kept across a reload). */
export function conditionalShown(available) {
  body.conditional = String(available);
  body.conditionalEvents = String(Number(body.conditionalEvents ?? 0) + 1);
}

/** The reading on screen: its digit and the ten confidences (comma-separated), or none. */
export function readingShown(digit, confidence) {
  mark($('reading'), { digit: digit ?? undefined, confidence: confidence?.join(',') });
}

// ---- the person's own digits ----------------------------------------------------------------------

/** One of the person's kept digits in the strip (li[data-id|label|held-out]). */
export function yourDigitShown(li, digit) {
  mark(li, { id: digit.id, label: digit.label, heldOut: digit.heldOut || undefined });
}

/** The strip shows `n` kept digits (#your-digits[data-count]). */
export function yourDigitsShown(n) {
  $('your-digits').dataset.count = String(n);
}

/** How the model does on the held-out digits (#hand-report[data-kind|before-loss|before-read|
 *  before-test-loss|before-test-read|before-generation|now-loss|now-read|now-test-loss|now-test-read|
 *  held-out|now-generation]; test-read: the reading model's share of the test split read right, in %), or
 *  null for none. */
export function handShown(hand) {
  const { before, now } = hand ?? {};
  mark($('hand-report'), {
    kind: (now ?? before)?.kind,
    heldOut: (now ?? before)?.heldOut,
    beforeLoss: before?.loss, beforeRead: before?.readRight, beforeTestLoss: before?.testLoss, beforeTestRead: before?.testReadPercent, beforeGeneration: before?.generation,
    nowLoss: now?.loss, nowRead: now?.readRight, nowTestLoss: now?.testLoss, nowTestRead: now?.testReadPercent, nowGeneration: now?.generation,
  });
}

// ---- the training panel ---------------------------------------------------------------------------

/** The model the training panel trains and shows (#train-form[data-kind]): vae | cvae. */
export function trainedKindShown(kind) {
  $('train-form').dataset.kind = kind;
}

/** The training run's state (#train-status[data-state]): idle | running | paused | diverged. */
export function trainingState(state) {
  $('train-status').dataset.state = state;
}

/** The last step and test shown (#train-status[data-step|epoch|loss|test-loss]) and, while it is
 *  measured, the speed (data-samples-per-second; the last figure stays when it is not). */
export function trainingProgress({ step, epoch, loss, testLoss, samplesPerSecond }) {
  mark($('train-status'), { step, epoch, loss: loss ?? '', testLoss });
  if (samplesPerSecond !== undefined) $('train-status').dataset.samplesPerSecond = samplesPerSecond.toFixed(0);
}

/** How many steps the loss curve holds (#loss-curve[data-points]). */
export function lossCurveDrawn(points) {
  $('loss-curve').dataset.points = String(points);
}
