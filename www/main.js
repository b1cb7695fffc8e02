// The page: drawing, rendering and wiring. The model lives in worker.js; every call to it is a
// message, so drawing stays smooth whatever the backend is doing.

const $ = (id) => document.getElementById(id);
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const NEIGHBOURS = 8;
const STEPS = 10;
const VARIATIONS = 8;
const COLOURS = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4'];

// ---- the worker, as promises -------------------------------------------------------------------
const params = new URLSearchParams(location.search);
const backendWanted = ['auto', 'webgpu', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto';
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const pending = new Map();
let nextId = 1;
worker.onmessage = ({ data }) => {
  if (data.event === 'index') { indexProgress(data.progress); return; }
  if (data.event === 'train') { trainProgress(data); return; }
  if (data.event === 'model') { modelChanged(data.model); return; }
  if (data.event === 'backend') { showBackend(data.backend); return; }
  if (data.event === 'error') { notice(data.error); return; }
  const p = pending.get(data.id);
  pending.delete(data.id);
  $('timing').textContent = `last answer ${data.ms.toFixed(0)} ms`;
  $('timing').dataset.ms = data.ms.toFixed(1);
  // Sketch → answer latencies, for the tests' and the README's figures.
  if (p.op === 'analyse' && data.ok) (window.analyseMs ??= []).push(data.ms);
  if (data.ok) p.resolve(data.value); else p.reject(new Error(data.error));
};
worker.onerror = (e) => notice(`The model's worker failed: ${e.message ?? e}`);
function call(op, args = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { op, resolve, reject });
    worker.postMessage({ id, op, args });
  });
}

function notice(text) {
  $('notice').hidden = !text;
  $('notice').textContent = text ?? '';
}

// ---- painting digits -----------------------------------------------------------------------------
/** Paints 28×28 grey images (white ink on black) as a grid filling the canvas, `cols` per row. */
function paintGrid(canvas, pixels, cols) {
  const ctx = canvas.getContext('2d');
  const n = Math.floor(pixels.length / PIXELS);
  const tile = canvas.width / cols;
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < n; i++) {
    const ox = (i % cols) * tile;
    const oy = Math.floor(i / cols) * tile;
    for (let y = 0; y < tile; y++) {
      const row = Math.floor((y * SIDE) / tile);
      for (let x = 0; x < tile; x++) {
        const v = Math.round(255 * Math.min(1, Math.max(0, pixels[i * PIXELS + row * SIDE + Math.floor((x * SIDE) / tile)])));
        const at = ((oy + y) * canvas.width + ox + x) * 4;
        if (at >= image.data.length) continue;
        image.data[at] = image.data[at + 1] = image.data[at + 2] = v;
        image.data[at + 3] = 255;
      }
    }
  }
  ctx.putImageData(image, 0, 0);
}

function blank(canvas) {
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'black';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

// ---- the drawing pad -----------------------------------------------------------------------------
const pad = $('pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true });
const strokes = []; // {size, points:[[x,y],…]} or {image: Float32Array(784)}
let drawing = null;

function paintStroke(stroke) {
  if (stroke.image) {
    const cell = pad.width / SIDE;
    for (let i = 0; i < PIXELS; i++) {
      const v = stroke.image[i];
      if (v <= 0) continue;
      padCtx.fillStyle = `rgba(0,0,0,${v})`;
      padCtx.fillRect((i % SIDE) * cell, Math.floor(i / SIDE) * cell, cell, cell);
    }
    return;
  }
  padCtx.strokeStyle = 'black';
  padCtx.fillStyle = 'black';
  padCtx.lineWidth = stroke.size;
  padCtx.lineCap = padCtx.lineJoin = 'round';
  const [first, ...rest] = stroke.points;
  if (rest.length === 0) {
    padCtx.beginPath();
    padCtx.arc(first[0], first[1], stroke.size / 2, 0, Math.PI * 2);
    padCtx.fill();
    return;
  }
  padCtx.beginPath();
  padCtx.moveTo(...first);
  for (const p of rest) padCtx.lineTo(...p);
  padCtx.stroke();
}

function repaintPad() {
  padCtx.fillStyle = 'white';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  strokes.forEach(paintStroke);
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

pad.addEventListener('pointerdown', (e) => {
  if (e.button !== 0) return;
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  drawing = { size: Number($('brush').value), points: [padPoint(e)] };
  strokes.push(drawing);
  paintStroke(drawing);
  scheduleAnalysis(30);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  e.preventDefault();
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) drawing.points.push(padPoint(ev));
  repaintPad();
  scheduleAnalysis(40);
});
// When the last stroke ended, until an analysis that includes it starts: the stroke → answer
// latency (window.strokeAnswerMs) is measured from here, queueing in the worker included.
let strokeEndedAt = null;
const endStroke = () => {
  if (!drawing) return;
  drawing = null;
  strokeEndedAt = performance.now();
  scheduleAnalysis(0);
};
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);

function padGrey() {
  const { data } = padCtx.getImageData(0, 0, pad.width, pad.height);
  const grey = new Float32Array(pad.width * pad.height);
  for (let i = 0; i < grey.length; i++) grey[i] = 1 - data[i * 4] / 255;
  return grey;
}

// ---- analysis: latest request wins ----------------------------------------------------------------
let analysis = null;
let timer = null;
let inFlight = false;
let again = false;
let chosen = 0; // which neighbour the interpolation walks to
let secondary = Promise.resolve(); // the latest analysis's interpolation and variations
let scheduled = false; // an analysis waits on its timer

function scheduleAnalysis(delay) {
  document.body.dataset.idle = 'false';
  clearTimeout(timer);
  timer = setTimeout(analyse, delay);
  scheduled = true;
}

async function analyse() {
  scheduled = false;
  if (inFlight) { again = true; return; }
  if (strokes.length === 0) { clearOutputs(); document.body.dataset.idle = 'true'; return; }
  inFlight = true;
  const answersStrokeOf = drawing ? null : strokeEndedAt;
  if (answersStrokeOf !== null) strokeEndedAt = null;
  try {
    const result = await call('analyse', { grey: padGrey(), width: pad.width, height: pad.height, k: NEIGHBOURS });
    if (strokes.length === 0) clearOutputs(); else {
      analysis = result;
      chosen = 0;
      // Its interpolation and variations follow on their own: a newer sketch need not wait for them.
      secondary = showAnalysis().catch((e) => notice(e.message));
      if (answersStrokeOf !== null) (window.strokeAnswerMs ??= []).push(performance.now() - answersStrokeOf);
    }
  } catch (e) {
    if (/empty/.test(e.message)) clearOutputs(); else notice(e.message);
  } finally {
    inFlight = false;
    if (again) { again = false; analyse(); } else {
      // Idle (for the tests) once the latest analysis's interpolation and variations are shown too.
      const latest = secondary;
      latest.then(() => {
        if (latest === secondary && !inFlight && !again && !scheduled) document.body.dataset.idle = 'true';
      });
    }
  }
}

function clearOutputs() {
  analysis = null;
  for (const id of ['input', 'reconstruction', 'interpolation', 'variations']) blank($(id));
  $('neighbours').replaceChildren();
  $('score').textContent = 'Draw a digit to see its score.';
  delete $('score').dataset.loss;
  delete $('score').dataset.percentile;
  drawMap();
}

async function showAnalysis() {
  const a = analysis;
  paintGrid($('input'), a.input, 1);
  paintGrid($('reconstruction'), a.reconstruction, 1);
  const score = $('score');
  score.dataset.loss = String(a.loss);
  delete score.dataset.percentile;
  if (a.percentile === null) {
    score.textContent = `ELBO ${(-a.loss).toFixed(1)} nats · ranking against the test digits…`;
  } else {
    score.dataset.percentile = String(a.percentile);
    score.textContent = `ELBO ${(-a.loss).toFixed(1)} nats · more digit-like than ${a.percentile.toFixed(0)}% of test digits`;
  }
  score.title = `reconstruction ${a.recon.toFixed(1)} nats + KL ${a.kl.toFixed(1)} nats`;
  showNeighbours(a);
  drawMap();
  await Promise.all([showInterpolation(), showVariations()]);
}

function showNeighbours(a) {
  const list = $('neighbours');
  const items = a.neighbours.map((n, i) => {
    const li = document.createElement('li');
    li.dataset.label = String(n.label);
    li.dataset.distance = String(n.distance);
    li.dataset.index = String(n.index);
    const button = document.createElement('button');
    button.type = 'button';
    button.setAttribute('aria-pressed', String(i === chosen));
    button.setAttribute('aria-label', `Digit ${n.label}, distance ${n.distance.toFixed(2)}: walk to it`);
    const c = document.createElement('canvas');
    c.width = c.height = 56;
    paintGrid(c, a.neighbour_images.slice(i * PIXELS, (i + 1) * PIXELS), 1);
    const text = document.createElement('span');
    text.textContent = `${n.label} · ${n.distance.toFixed(2)}`;
    button.append(c, text);
    button.addEventListener('click', () => {
      chosen = i;
      list.querySelectorAll('button').forEach((b, j) => b.setAttribute('aria-pressed', String(j === i)));
      showInterpolation();
    });
    li.append(button);
    return li;
  });
  list.replaceChildren(...items);
}

async function showInterpolation() {
  const a = analysis;
  if (!a) return;
  const target = a.neighbours[chosen];
  if (!target) return;
  const b = await call('datasetLatent', { index: target.index });
  const strip = await call('interpolate', { a: a.mu, b, steps: STEPS });
  if (analysis !== a) return;
  paintGrid($('interpolation'), strip, STEPS);
  $('interp-hint').textContent = `From your sketch to neighbour ${chosen + 1} (a ${target.label}), in ${STEPS} steps.`;
}

async function showVariations() {
  const a = analysis;
  const images = await call('variations', { image: a.input, n: VARIATIONS, seed: Math.floor(Math.random() * 2 ** 32) });
  if (analysis === a) paintGrid($('variations'), images, VARIATIONS);
}

// ---- latent map ------------------------------------------------------------------------------------
let map = null; // {points, labels, latent, extent}
let manifold = null; // an ImageData of decoded digits behind a 2-D map
const mapCursor = { x: 180, y: 180 };

function mapExtent(points) {
  const xs = [], ys = [];
  for (let i = 0; i < points.length; i += 2) { xs.push(points[i]); ys.push(points[i + 1]); }
  const q = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(p * (s.length - 1))]; };
  const pad = (lo, hi) => { const m = (hi - lo) * 0.08 || 1; return [lo - m, hi + m]; };
  return { x: pad(q(xs, 0.005), q(xs, 0.995)), y: pad(q(ys, 0.005), q(ys, 0.995)) };
}

const toCanvas = ([x, y]) => {
  const c = $('map'), e = map.extent;
  return [((x - e.x[0]) / (e.x[1] - e.x[0])) * c.width, (1 - (y - e.y[0]) / (e.y[1] - e.y[0])) * c.height];
};
const fromCanvas = ([px, py]) => {
  const c = $('map'), e = map.extent;
  return [e.x[0] + (px / c.width) * (e.x[1] - e.x[0]), e.y[0] + (1 - py / c.height) * (e.y[1] - e.y[0])];
};

function drawMap() {
  if (!map) {
    const c = $('map');
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#111';
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.fillStyle = '#bbb';
    ctx.font = '14px system-ui';
    ctx.fillText($('map').dataset.progress ?? 'Encoding the data set…', 20, 180);
    return;
  }
  const c = $('map');
  const ctx = c.getContext('2d');
  ctx.globalAlpha = 1;
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, c.width, c.height);
  if (manifold) {
    ctx.globalAlpha = 0.35;
    ctx.drawImage(manifold, 0, 0, c.width, c.height);
  }
  ctx.globalAlpha = 0.55;
  for (let i = 0; i < map.labels.length; i++) {
    const [x, y] = toCanvas([map.points[2 * i], map.points[2 * i + 1]]);
    ctx.fillStyle = COLOURS[map.labels[i]] ?? '#888';
    ctx.fillRect(x - 1, y - 1, 2.5, 2.5);
  }
  ctx.globalAlpha = 1;
  // The keyboard cursor.
  ctx.strokeStyle = '#aaa';
  ctx.lineWidth = 1;
  ctx.strokeRect(mapCursor.x - 5, mapCursor.y - 5, 10, 10);
  if (analysis) {
    const [x, y] = toCanvas(analysis.map);
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'white';
    ctx.beginPath();
    ctx.arc(x, y, 8, 0, Math.PI * 2);
    ctx.stroke();
    c.dataset.markerX = x.toFixed(1);
    c.dataset.markerY = y.toFixed(1);
  } else {
    delete c.dataset.markerX;
    delete c.dataset.markerY;
  }
}

async function decodeAt(px, py) {
  const [x, y] = fromCanvas([px, py]);
  paintGrid($('map-decode'), await call('decodeMapPoint', { x, y }), 1);
  $('map-decode').dataset.point = `${x.toFixed(3)},${y.toFixed(3)}`;
}

$('map').addEventListener('click', (e) => {
  if (!map) return;
  const r = e.currentTarget.getBoundingClientRect();
  mapCursor.x = ((e.clientX - r.left) * e.currentTarget.width) / r.width;
  mapCursor.y = ((e.clientY - r.top) * e.currentTarget.height) / r.height;
  drawMap();
  decodeAt(mapCursor.x, mapCursor.y).catch((err) => notice(err.message));
});
$('map').addEventListener('keydown', (e) => {
  if (!map) return;
  const step = e.shiftKey ? 30 : 8;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (moves[e.key]) {
    e.preventDefault();
    mapCursor.x = Math.min(360, Math.max(0, mapCursor.x + moves[e.key][0]));
    mapCursor.y = Math.min(360, Math.max(0, mapCursor.y + moves[e.key][1]));
    drawMap();
  } else if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    decodeAt(mapCursor.x, mapCursor.y).catch((err) => notice(err.message));
  }
});

/** For a 2-D latent the map is the latent space itself: decode a grid over it to show the manifold. */
async function buildManifold() {
  if (map.latent !== 2) return;
  const n = 15;
  const z = [];
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      z.push(...fromCanvas([((col + 0.5) / n) * 360, ((row + 0.5) / n) * 360]));
    }
  }
  const images = await call('decode', { z });
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = n * SIDE;
  paintGrid(canvas, images, n);
  manifold = canvas;
  $('map-hint').textContent = 'This model has a 2-D latent space: the map is that space, with decoded digits behind the data.';
}

function drawLegend() {
  $('legend').replaceChildren(...COLOURS.map((colour, digit) => {
    const li = document.createElement('li');
    const dot = document.createElement('span');
    dot.style.background = colour;
    li.append(dot, String(digit));
    return li;
  }));
}

// ---- samples ------------------------------------------------------------------------------------------
async function sample() {
  const temperature = Number($('temperature').value);
  const images = await call('sample', { n: 64, temperature, seed: Math.floor(Math.random() * 2 ** 32) });
  paintGrid($('samples'), images, 8);
}
$('sample').addEventListener('click', () => sample().catch((e) => notice(e.message)));
$('temperature').addEventListener('input', () => { $('temperature-value').textContent = Number($('temperature').value).toFixed(2); });
$('temperature').addEventListener('change', () => sample().catch((e) => notice(e.message)));

// ---- buttons ------------------------------------------------------------------------------------------
$('clear').addEventListener('click', () => { strokes.length = 0; repaintPad(); clearOutputs(); });
$('undo').addEventListener('click', () => { strokes.pop(); repaintPad(); scheduleAnalysis(0); });
$('random-digit').addEventListener('click', async () => {
  document.body.dataset.idle = 'false';
  const index = 9000 + Math.floor(Math.random() * 1000);
  strokes.length = 0;
  strokes.push({ image: await call('datasetImage', { index }) });
  repaintPad();
  scheduleAnalysis(0);
});
$('backend-choice').value = backendWanted;
$('backend-choice').addEventListener('change', (e) => {
  const url = new URL(location.href);
  url.searchParams.set('backend', e.target.value);
  location.href = url.href;
});

// ---- the neighbour index grows after start-up and after every change of model -------------------
async function indexProgress(p) {
  const c = $('map');
  c.dataset.progress = `Encoding the data set: ${p.indexed} of ${p.total} digits…`;
  if (!p.done) {
    // The previous map stays up (marked as out of date) until the new one is whole.
    if (map) $('map-hint').textContent = `Updating the map for the new weights: ${p.indexed} of ${p.total} digits…`;
    drawMap();
    return;
  }
  map = { ...p.map, extent: mapExtent(p.map.points) };
  manifold = null;
  delete c.dataset.progress;
  $('map-hint').textContent = 'Every digit of the data set, placed by its latent code. Click (or use the arrow keys and Enter) to decode a point.';
  try { await buildManifold(); } catch (e) { notice(e.message); }
  drawMap();
  c.dataset.generation = String(Number(c.dataset.generation ?? 0) + 1);
  document.body.dataset.indexed = 'true';
  document.body.dataset.indexedMs = (performance.now() - startedAt).toFixed(0);
  // Neighbours found while the index was partial are refreshed against the whole data set.
  if (analysis) scheduleAnalysis(0);
}

// ---- training ----------------------------------------------------------------------------------------
let history = { steps: [], tests: [] }; // the worker's records: [step, epoch, loss, recon, kl]
let trainState = 'idle'; // idle | running | paused
let run = null; // {batch, total, done, rateT0, rateSteps}: this run's progress and speed
let model = null; // {hidden, latent, beta, parameters}
const TRAIN_SAMPLE_SEED = 7; // the same z every time, so the grid visibly sharpens

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

function modelChanged(m) {
  model = m;
  // The worker rebuilds the neighbour index for the new weights.
  document.body.dataset.indexed = 'false';
  $('model-info').textContent = `Model: 784 → ${m.hidden} → ${m.latent} → ${m.hidden} → 784, β = ${m.beta}, `
    + `${m.parameters.toLocaleString('en')} parameters`;
  $('model-info').dataset.latent = String(m.latent);
  $('model-info').dataset.hidden = String(m.hidden);
  // New weights: the sketch's answer is redone now; its neighbours again when the index is whole.
  if (strokes.length) scheduleAnalysis(0);
  refreshTrainingSamples(true);
  if (document.body.dataset.ready === 'true') sample().catch((e) => notice(e.message));
}

function setTrainState(state) {
  trainState = state;
  const train = $('train');
  train.textContent = { idle: 'Train', running: 'Pause', paused: 'Resume' }[state];
  $('train-stop').disabled = state === 'idle';
  for (const id of ['train-random', 'reset-default', 'import']) $(id).disabled = state !== 'idle';
  for (const input of $('train-form').elements) input.disabled = state !== 'idle';
  $('train-status').dataset.state = state;
}

async function startTraining(fromScratch) {
  const request = readForm();
  if (!request) return;
  modelMessage(null);
  const started = await call('trainStart', { ...request, fromScratch, seed: 0 });
  history = started.history;
  run = {
    batch: request.batchSize, total: request.epochs * started.stepsPerEpoch, done: 0,
    rateT0: performance.now(), rateSteps: 0,
  };
  if (started.fromScratch && !fromScratch) {
    modelMessage('The form asks for another shape of model, so training starts from random weights.', true);
  }
  setTrainState('running');
  showTrainStatus();
}

function trainProgress({ progress, record, testRecord, state }) {
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
    modelMessage(`Training finished: test loss ${testRecord[2].toFixed(2)} nats after epoch ${testRecord[1]}.`, true);
  }
  if (state === 'idle' && trainState !== 'idle') { setTrainState('idle'); run = null; }
  if (progress.diverged) $('train-status').dataset.state = 'diverged';
  showTrainStatus();
  refreshTrainingSamples(Boolean(testRecord));
}

const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

function showTrainStatus() {
  const status = $('train-status');
  const last = history.steps.at(-1);
  status.dataset.step = String(last?.[0] ?? 0);
  status.dataset.epoch = String(last?.[1] ?? 0);
  status.dataset.loss = last ? String(last[2]) : '';
  const test = history.tests.at(-1);
  if (test) status.dataset.testLoss = String(test[2]); else delete status.dataset.testLoss;
  const parts = [];
  if (last) {
    parts.push(`Epoch ${last[1]} · step ${last[0]} · loss ${last[2].toFixed(1)} (reconstruction ${last[3].toFixed(1)}, KL ${last[4].toFixed(1)})`);
  }
  if (test) parts.push(`test loss ${test[2].toFixed(2)}`);
  if (run && trainState === 'running' && run.rateSteps > 2) {
    const seconds = (performance.now() - run.rateT0) / 1000;
    const stepsPerS = run.rateSteps / seconds;
    status.dataset.samplesPerSecond = (stepsPerS * run.batch).toFixed(0);
    parts.push(`${(stepsPerS * run.batch).toFixed(0)} samples/s`, `ETA ${clock((run.total - run.done) / stepsPerS)}`);
  }
  if (trainState === 'paused') parts.push('paused');
  status.textContent = parts.length ? parts.join(' · ') : 'No training yet.';
  if (run) $('train-progress').value = run.done / run.total;
  requestCurve();
}

let curvePending = false;
function requestCurve() {
  if (curvePending) return;
  curvePending = true;
  requestAnimationFrame(() => { curvePending = false; drawLossCurve(); });
}

/** Train loss, its reconstruction and KL parts (per step, smoothed) and test loss (per epoch), log scale. */
function drawLossCurve() {
  const c = $('loss-curve');
  const ctx = c.getContext('2d');
  const W = c.width, H = c.height, L = 44, R = 10, T = 22, B = 24;
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, W, H);
  const steps = history.steps;
  c.dataset.points = String(steps.length);
  if (!steps.length) {
    ctx.fillStyle = '#6b7280';
    ctx.font = '13px system-ui';
    ctx.fillText('The loss per step appears here while training.', L, H / 2);
    return;
  }
  const series = [
    { name: 'train loss', colour: '#1d2330', at: 2 },
    { name: 'reconstruction', colour: '#3a6ea5', at: 3 },
    { name: 'KL', colour: '#e07b39', at: 4 },
  ];
  const values = [...steps.flatMap((r) => [r[2], r[3], r[4]]), ...history.tests.map((r) => r[2])].filter((v) => v > 0);
  // Below 1 nat (a KL term at the very start) is pressed onto the floor of the chart.
  let lo = Math.log10(Math.max(1, Math.min(...values)));
  let hi = Math.log10(Math.max(...values));
  if (hi - lo < 0.5) { lo -= 0.25; hi += 0.25; }
  const x0 = steps[0][0] - 1, x1 = Math.max(steps.at(-1)[0], x0 + 1);
  const X = (step) => L + ((step - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + (1 - (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (H - T - B);
  ctx.strokeStyle = '#eee';
  ctx.fillStyle = '#6b7280';
  ctx.font = '11px system-ui';
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < lo || Math.log10(v) > hi) continue;
      ctx.beginPath(); ctx.moveTo(L, Y(v)); ctx.lineTo(W - R, Y(v)); ctx.stroke();
      ctx.fillText(String(v), 4, Y(v) + 4);
    }
  }
  ctx.fillText(`step ${x1}`, W - R - 60, H - 6);
  ctx.fillText(`${x0 + 1}`, L, H - 6);
  // An exponential moving average over ~1% of the run keeps the lines readable.
  const alpha = Math.min(1, 20 / steps.length + 0.02);
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let ema = null;
    steps.forEach((r, i) => {
      ema = ema === null ? r[s.at] : ema + alpha * (r[s.at] - ema);
      if (i === 0) ctx.moveTo(X(r[0]), Y(ema)); else ctx.lineTo(X(r[0]), Y(ema));
    });
    ctx.stroke();
  }
  ctx.fillStyle = '#c0392b';
  for (const t of history.tests) {
    ctx.beginPath(); ctx.arc(X(t[0]), Y(t[2]), 3.5, 0, Math.PI * 2); ctx.fill();
  }
  let lx = L;
  for (const [name, colour] of [...series.map((s) => [s.name, s.colour]), ['test loss (per epoch)', '#c0392b']]) {
    ctx.fillStyle = colour;
    ctx.fillRect(lx, 7, 10, 10);
    ctx.fillStyle = '#1d2330';
    ctx.fillText(name, lx + 14, 16);
    lx += ctx.measureText(name).width + 30;
  }
}

// The samples grid follows the weights being trained, at most about once a second.
let samplesAt = 0;
let samplesBusy = false;
async function refreshTrainingSamples(now = false) {
  if (samplesBusy || (!now && performance.now() - samplesAt < 1000)) return;
  samplesBusy = true;
  try {
    const images = await call('trainingSample', { n: 16, seed: TRAIN_SAMPLE_SEED });
    paintGrid($('train-samples'), images, 4);
    samplesAt = performance.now();
    $('train-samples').dataset.step = $('train-status').dataset.step;
  } catch (e) {
    notice(e.message);
  } finally {
    samplesBusy = false;
  }
}

$('train').addEventListener('click', async () => {
  try {
    if (trainState === 'idle') await startTraining(false);
    else if (trainState === 'running') {
      // At once: the worker takes the pause after the step under way.
      setTrainState('paused');
      showTrainStatus();
      await call('trainPause');
    }
    else {
      await call('trainResume');
      if (run) { run.rateT0 = performance.now(); run.rateSteps = 0; }
      setTrainState('running');
    }
  } catch (e) { modelMessage(e.message); }
});
$('train-random').addEventListener('click', () => startTraining(true).catch((e) => modelMessage(e.message)));
$('train-stop').addEventListener('click', async () => {
  try {
    const result = await call('trainStop');
    setTrainState('idle');
    run = null;
    modelMessage(result.diverged ?? 'Training stopped; the page uses the weights it reached.', !result.diverged);
    showTrainStatus();
  } catch (e) { modelMessage(e.message); }
});
$('reset-default').addEventListener('click', async () => {
  try {
    const result = await call('resetDefault');
    history = result.history;
    fillForm(result.model);
    modelMessage('The default model is back.', true);
    showTrainStatus();
  } catch (e) { modelMessage(e.message); }
});
$('export').addEventListener('click', async () => {
  try {
    const bytes = await call('exportModel');
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `latent-sketchpad-z${model.latent}-h${model.hidden}.safetensors`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { modelMessage(`Could not export the model: ${e.message}`); }
});
$('import').addEventListener('click', () => $('import-file').click());
$('import-file').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (!file) return;
  try {
    // Refused before reading: a tab should not load hundreds of MB to find out.
    if (file.size > 64 * 2 ** 20) {
      throw new Error(`it is ${(file.size / 2 ** 20).toFixed(0)} MB; a model file here is at most 64 MB`);
    }
    modelMessage(`Importing ${file.name}…`, true);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const result = await call('importModel', { bytes, name: file.name });
    history = result.history;
    fillForm(result.model);
    modelMessage(`Imported ${file.name}.`, true);
    showTrainStatus();
  } catch (err) {
    modelMessage(`Could not import ${file.name}: ${err.message}. The current model is kept.`);
  }
});

// ---- backend -------------------------------------------------------------------------------------------
function showBackend(info) {
  const label = $('backend');
  label.textContent = info.label;
  label.dataset.kind = info.kind;
  if (info.fallback_reason) label.dataset.reason = info.fallback_reason; else delete label.dataset.reason;
  $('adapter').textContent = info.warming_up ? 'WebGPU is warming up; the CPU answers meanwhile'
    : info.adapter ? `adapter: ${info.adapter}` : '';
  if (info.fallback_reason) notice(`Using the CPU: ${info.fallback_reason}.`);
  document.body.dataset.backendSettled = String(!info.warming_up);
  if (!info.warming_up) document.body.dataset.settledMs = (performance.now() - startedAt).toFixed(0);
}

// ---- start --------------------------------------------------------------------------------------------
const startedAt = performance.now();
async function start() {
  repaintPad();
  clearOutputs();
  drawLegend();
  const t0 = startedAt;
  const loaded = await call('load', { backend: backendWanted });
  showBackend(loaded.backend);
  history = loaded.history;
  modelChanged(loaded.model);
  fillForm(loaded.model);
  if (loaded.storedProblem) modelMessage(loaded.storedProblem);
  else if (loaded.restored) modelMessage('Your model from your last visit is back (stored in this browser).', true);
  showTrainStatus();
  await sample();
  $('app').setAttribute('aria-busy', 'false');
  document.body.dataset.ready = 'true';
  document.body.dataset.readyMs = (performance.now() - t0).toFixed(0);
  if (loaded.backend.warming_up) call('warmUpWebgpu').catch((e) => notice(e.message));
}
start().catch((e) => {
  $('backend').textContent = 'Failed to load';
  notice(`The model could not be loaded: ${e.message}`);
});
