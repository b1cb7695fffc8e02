// The latent map: every digit of the data set placed by its latent code, the sketch marked on it.
// Two methods (the "Map method" choice): PCA, a linear projection (for a 2-D latent, the latent
// space itself with decoded digits behind), where any point decodes (a click, or the arrow keys
// and Enter); and t-SNE, shipped beside the default model, or made in the model's worker in
// background steps the first time it is asked for another model and kept in this browser
// (worker/tsne.js), which keeps each digit's neighbours near it but has no decodable coordinates
// nor out-of-sample transform: a click shows the nearest data digit, and the sketch is placed
// among its latent neighbours. The point picked is an end for the walk. Each map is drawn from the
// neighbour index; while the index is rebuilt for new weights the previous map stays up, marked as
// out of date. The person's choice is remembered; until there is one, the worker picks the first
// map: t-SNE when the model's needs no making (the default model's), else PCA.
import { $, notice } from './dom.js';
import { SIDE, paintGrid } from './paint.js';
import { call } from './rpc.js';
import { picked } from './walk.js';
import * as hooks from './hooks.js';

const COLOURS = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4'];
const HINTS = {
  pca: $('map-hint').textContent, // as the page has it
  tsne: 'Every digit of the data set, placed by t-SNE of its latent code: each digit\'s neighbours stay near it, '
    + 'distances between clusters mean little. t-SNE has no out-of-sample transform, so your sketch is placed among its '
    + 'nearest latent neighbours. Click a point (or use the arrow keys and Enter) to see that digit.',
};
const CAPTIONS = { pca: 'Decoded point', tsne: 'Data digit' };
const NAMES = { pca: 'PCA', tsne: 't-SNE' };
const REMEMBERED = 'latent-sketchpad-map-method';

const canvas = $('map');
let method = 'pca';
/** Each method's map, {points, labels, indices, latent, labelAgreement, extent}: the last whole
 *  index's (PCA), the last one made (t-SNE). */
const maps = { pca: null, tsne: null };
let manifold = null; // a canvas of decoded digits behind a 2-D PCA map
let indexText = 'Encoding the data set…'; // how far the index is, while it is rebuilt
let indexDone = false;
let tsneStatus = null; // the t-SNE map being made: {state, fraction}, or null
let asked = false; // the worker was told the method since the page loaded
let chosen = false; // the person chose the method, here or on an earlier visit
/** The sketch's position on each map (map coordinates), or null. */
const markers = { pca: null, tsne: null };
const cursor = { x: canvas.width / 2, y: canvas.height / 2 }; // the keyboard's point

export function initMap() {
  drawLegend();
  const remembered = localStorage.getItem(REMEMBERED);
  if (remembered === 'tsne') $('map-method').value = 'tsne';
  chosen = remembered !== null;
  method = $('map-method').value;
  show();
  $('map-method').addEventListener('change', () => {
    chosen = true;
    method = $('map-method').value;
    localStorage.setItem(REMEMBERED, method);
    $('map-decode-caption').textContent = CAPTIONS[method];
    show();
    tellWorker();
  });
  canvas.addEventListener('click', (e) => {
    if (!maps[method]) return;
    const r = canvas.getBoundingClientRect();
    cursor.x = ((e.clientX - r.left) * canvas.width) / r.width;
    cursor.y = ((e.clientY - r.top) * canvas.height) / r.height;
    draw();
    pickAt(cursor.x, cursor.y).catch((err) => notice(err.message));
  });
  canvas.addEventListener('keydown', (e) => {
    if (!maps[method]) return;
    const step = e.shiftKey ? 30 : 8;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      e.preventDefault();
      cursor.x = Math.min(canvas.width, Math.max(0, cursor.x + moves[e.key][0]));
      cursor.y = Math.min(canvas.height, Math.max(0, cursor.y + moves[e.key][1]));
      draw();
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      pickAt(cursor.x, cursor.y).catch((err) => notice(err.message));
    }
  });
}

/** Marks the sketch's analysis on the maps (its PCA position, and its t-SNE place once that map
 *  is made), or nowhere for null. */
export function showSketchOnMap(analysis) {
  markers.pca = analysis?.map ?? null;
  markers.tsne = analysis?.tsne ?? null;
  draw();
}

/** The neighbour index grew ({indexed, total, done, map when done}): until it is whole, the map
 *  says how far it is; then the PCA map is drawn anew from it. */
export async function showIndexProgress(p) {
  if (!asked) tellWorker(); // the first event after the model is loaded: the remembered method
  indexText = `${p.indexed} of ${p.total} digits`;
  indexDone = p.done;
  if (!p.done) {
    // The old map stays as it is (only its hint counts the digits): redrawing its 10 000 points
    // for every step of the index cost the page most of its frames on a software-composited canvas.
    if (maps[method]) showHint();
    else draw();
    return;
  }
  maps.pca = { ...p.map, extent: extentOf(p.map.points) };
  manifold = null;
  showAgreement();
  // The hint says the map is whole at once, not after the manifold's decode: a sketch answered
  // meanwhile is answered by the whole index.
  showHint();
  try { await buildManifold(); } catch (e) { notice(e.message); }
  show();
  hooks.mapRebuilt();
}

/** The worker's t-SNE news: {map, restored} once made (restored: false when made just now, else
 *  "held" by the worker already, "stored" in this browser, or "shipped" beside the default model),
 *  or {status} while it is made. */
export function showTsne({ map, restored, status }) {
  if (map) {
    maps.tsne = { ...map, extent: extentOf(map.points) };
    tsneStatus = null;
    showAgreement();
    hooks.tsneMapShown(restored || 'made');
  } else if (status) {
    tsneStatus = status.state === 'made' ? null : status;
    if (status.state === 'making') hooks.tsneMaking();
  }
  $('tsne-progress').hidden = !tsneStatus || tsneStatus.state !== 'making';
  $('tsne-progress').value = tsneStatus?.fraction ?? 0;
  if (method !== 'tsne') return;
  if (map) show();
  else if (maps.tsne) showHint();
  else draw();
}

/** A new worker took over (the GPU was lost): it is told the method at its first index event. */
export function workerReplaced() {
  asked = false;
}

/** Tells the worker the method shown, or, until the person chooses one, asks it for the first. */
function tellWorker() {
  asked = true;
  const asking = chosen ? method : 'first';
  call('mapMethod', { method: asking }).then((shown) => {
    if (asking === 'first') {
      if (chosen) return; // the person chose meanwhile: the worker was told, and answers that
      method = shown.method;
      $('map-method').value = method;
      $('map-decode-caption').textContent = CAPTIONS[method];
      show();
    }
    if (method === 'tsne') showTsne(shown);
  }, (e) => notice(e.message));
}

/** Draws the chosen map with its hint. */
function show() {
  showHint();
  draw();
}

function showHint() {
  let hint = HINTS[method];
  // Said in the hint too, where a screen reader finds it (the canvas's text is pixels).
  if (!maps[method]) hint = `${waitingText()} ${hint}`;
  if (method === 'pca' && manifold) hint = 'This model has a 2-D latent space: the map is that space, with decoded digits behind the data.';
  if (method === 'pca' && maps.pca && !indexDone) hint = `Updating the map for the new weights: ${indexText}…`;
  if (method === 'tsne' && maps.tsne && tsneStatus) hint = `${tsneText()}: meanwhile, the previous one.`;
  $('map-hint').textContent = hint;
}

function showAgreement() {
  const known = ['pca', 'tsne'].filter((m) => maps[m]);
  $('map-agreement').textContent = `How often a digit's 10 nearest on the map are the same digit: ${
    known.map((m) => `${(100 * maps[m].labelAgreement).toFixed(1)}% (${NAMES[m]})`).join(' · ')}.`;
  hooks.mapAgreement(Object.fromEntries(known.map((m) => [m, maps[m].labelAgreement])));
}

/** What the canvas says while the chosen method has no map yet. */
function waitingText() {
  if (method === 'pca' || (!indexDone && tsneStatus?.state !== 'waiting')) return `Encoding the data set: ${indexText}…`;
  return tsneStatus ? `${tsneText()}.` : 'Waiting for the t-SNE map…';
}

/** Where the t-SNE map of the current model is (tsneStatus is set). */
function tsneText() {
  const made = `${(100 * tsneStatus.fraction).toFixed(0)}%`;
  if (tsneStatus.state === 'making') return `Making the t-SNE map of the current weights: ${made}`;
  if (tsneStatus.state === 'waiting') {
    return `The t-SNE map of the current weights is made when training pauses or ends (each epoch changes them${
      tsneStatus.fraction > 0 ? `; ${made} made` : ''})`;
  }
  return 'The t-SNE map of the current weights is begun once its digits are encoded';
}

/** The box the map shows: the data's middle 99% on each axis, with a margin. */
function extentOf(points) {
  const xs = [], ys = [];
  for (let i = 0; i < points.length; i += 2) { xs.push(points[i]); ys.push(points[i + 1]); }
  const q = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(p * (s.length - 1))]; };
  const widen = (lo, hi) => { const m = (hi - lo) * 0.08 || 1; return [lo - m, hi + m]; };
  return { x: widen(q(xs, 0.005), q(xs, 0.995)), y: widen(q(ys, 0.005), q(ys, 0.995)) };
}

const toCanvas = ([x, y], map = maps[method]) => {
  const e = map.extent;
  return [((x - e.x[0]) / (e.x[1] - e.x[0])) * canvas.width, (1 - (y - e.y[0]) / (e.y[1] - e.y[0])) * canvas.height];
};
const fromCanvas = ([px, py], map = maps[method]) => {
  const e = map.extent;
  return [e.x[0] + (px / canvas.width) * (e.x[1] - e.x[0]), e.y[0] + (1 - py / canvas.height) * (e.y[1] - e.y[0])];
};

function draw() {
  const ctx = canvas.getContext('2d');
  const map = maps[method];
  const marker = map && markers[method];
  ctx.globalAlpha = 1;
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  hooks.mapDrawn(method, map, marker);
  if (!map) {
    ctx.fillStyle = '#bbb';
    ctx.font = '14px system-ui';
    ctx.fillText(waitingText(), 20, canvas.height / 2);
    showHint();
    hooks.mapMarker(null);
    return;
  }
  if (manifold && method === 'pca') {
    ctx.globalAlpha = 0.35;
    ctx.drawImage(manifold, 0, 0, canvas.width, canvas.height);
  }
  ctx.globalAlpha = 0.55;
  for (let i = 0; i < map.labels.length; i++) {
    const [x, y] = toCanvas([map.points[2 * i], map.points[2 * i + 1]]);
    ctx.fillStyle = COLOURS[map.labels[i]] ?? '#888';
    ctx.fillRect(x - 1, y - 1, 2.5, 2.5);
  }
  ctx.globalAlpha = 1;
  // The keyboard's point.
  ctx.strokeStyle = '#aaa';
  ctx.lineWidth = 1;
  ctx.strokeRect(cursor.x - 5, cursor.y - 5, 10, 10);
  if (marker) {
    const [x, y] = toCanvas(marker);
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'white';
    ctx.beginPath();
    ctx.arc(x, y, 8, 0, Math.PI * 2);
    ctx.stroke();
    hooks.mapMarker([x, y]);
  } else {
    hooks.mapMarker(null);
  }
}

/** The point under (px, py) on the canvas: decoded on the PCA map, the nearest digit on t-SNE's. */
function pickAt(px, py) {
  return method === 'pca' ? decodeAt(px, py) : showDigitAt(px, py);
}

async function decodeAt(px, py) {
  const [x, y] = fromCanvas([px, py]);
  const [image, z] = await Promise.all([call('decodeMapPoint', { x, y }), call('mapPointLatent', { x, y })]);
  paintGrid($('map-decode'), image, 1);
  $('map-decode-caption').textContent = CAPTIONS.pca;
  hooks.mapPointDecoded(x, y);
  picked('map', z, `the map point (${x.toFixed(2)}, ${y.toFixed(2)})`);
}

/** Shows the data digit nearest to (px, py) on the t-SNE map (nearest on screen). */
async function showDigitAt(px, py) {
  const map = maps.tsne;
  let nearest = -1;
  let best = Infinity;
  for (let i = 0; i < map.labels.length; i++) {
    const [x, y] = toCanvas([map.points[2 * i], map.points[2 * i + 1]], map);
    const d = (x - px) ** 2 + (y - py) ** 2;
    if (d < best) { best = d; nearest = i; }
  }
  const digit = await call('dataDigit', { index: map.indices[nearest] });
  paintGrid($('map-decode'), digit.image, 1);
  $('map-decode-caption').textContent = `Data digit ${digit.index}: a ${digit.label}`;
  hooks.mapDigitShown(digit);
  picked('map', digit.mu, `data digit ${digit.index} (a ${digit.label})`);
}

/** For a 2-D latent the map is the latent space itself: decode a grid over it to show the manifold. */
async function buildManifold() {
  if (maps.pca.latent !== 2) return;
  const n = 15;
  const z = [];
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      z.push(...fromCanvas([((col + 0.5) / n) * canvas.width, ((row + 0.5) / n) * canvas.height], maps.pca));
    }
  }
  const images = await call('decode', { z });
  const grid = document.createElement('canvas');
  grid.width = grid.height = n * SIDE;
  paintGrid(grid, images, n);
  manifold = grid;
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
