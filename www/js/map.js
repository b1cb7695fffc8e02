// The latent map: every digit of the data set placed by its latent code (a projection of it; for
// a 2-D latent, the latent space itself with decoded digits behind), the sketch marked on it, and
// any point decoded on a click or from the keyboard. It is drawn from the neighbour index; while
// the index is rebuilt for new weights the previous map stays up, marked as out of date.
import { $, notice } from './dom.js';
import { SIDE, paintGrid } from './paint.js';
import { call } from './rpc.js';
import * as hooks from './hooks.js';

const COLOURS = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4'];
const HINT = $('map-hint').textContent; // as the page has it

const canvas = $('map');
let map = null; // {points, labels, indices, latent, extent}: the last whole index's map
let manifold = null; // a canvas of decoded digits behind a 2-D map
let progress = 'Encoding the data set…'; // shown until there is a map
let marker = null; // the sketch's position in map coordinates, or null
const cursor = { x: canvas.width / 2, y: canvas.height / 2 }; // the keyboard's point

export function initMap() {
  drawLegend();
  draw();
  canvas.addEventListener('click', (e) => {
    if (!map) return;
    const r = canvas.getBoundingClientRect();
    cursor.x = ((e.clientX - r.left) * canvas.width) / r.width;
    cursor.y = ((e.clientY - r.top) * canvas.height) / r.height;
    draw();
    decodeAt(cursor.x, cursor.y).catch((err) => notice(err.message));
  });
  canvas.addEventListener('keydown', (e) => {
    if (!map) return;
    const step = e.shiftKey ? 30 : 8;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      e.preventDefault();
      cursor.x = Math.min(canvas.width, Math.max(0, cursor.x + moves[e.key][0]));
      cursor.y = Math.min(canvas.height, Math.max(0, cursor.y + moves[e.key][1]));
      draw();
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      decodeAt(cursor.x, cursor.y).catch((err) => notice(err.message));
    }
  });
}

/** Marks the sketch at `xy` (map coordinates), or nowhere for null. */
export function showSketchOnMap(xy) {
  marker = xy;
  draw();
}

/** The neighbour index grew ({indexed, total, done, map when done}): until it is whole, the map
 *  says how far it is; then the map is drawn anew from it. */
export async function showIndexProgress(p) {
  progress = `Encoding the data set: ${p.indexed} of ${p.total} digits…`;
  if (!p.done) {
    // The old map stays as it is (only its hint counts the digits): redrawing its 10 000 points
    // for every step of the index cost the page most of its frames on a software-composited canvas.
    if (map) $('map-hint').textContent = `Updating the map for the new weights: ${p.indexed} of ${p.total} digits…`;
    else draw();
    return;
  }
  map = { ...p.map, extent: extentOf(p.map.points) };
  manifold = null;
  $('map-hint').textContent = HINT;
  try { await buildManifold(); } catch (e) { notice(e.message); }
  draw();
  hooks.mapRebuilt();
}

/** The box the map shows: the data's middle 99% on each axis, with a margin. */
function extentOf(points) {
  const xs = [], ys = [];
  for (let i = 0; i < points.length; i += 2) { xs.push(points[i]); ys.push(points[i + 1]); }
  const q = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(p * (s.length - 1))]; };
  const widen = (lo, hi) => { const m = (hi - lo) * 0.08 || 1; return [lo - m, hi + m]; };
  return { x: widen(q(xs, 0.005), q(xs, 0.995)), y: widen(q(ys, 0.005), q(ys, 0.995)) };
}

const toCanvas = ([x, y]) => {
  const e = map.extent;
  return [((x - e.x[0]) / (e.x[1] - e.x[0])) * canvas.width, (1 - (y - e.y[0]) / (e.y[1] - e.y[0])) * canvas.height];
};
const fromCanvas = ([px, py]) => {
  const e = map.extent;
  return [e.x[0] + (px / canvas.width) * (e.x[1] - e.x[0]), e.y[0] + (1 - py / canvas.height) * (e.y[1] - e.y[0])];
};

function draw() {
  const ctx = canvas.getContext('2d');
  ctx.globalAlpha = 1;
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!map) {
    ctx.fillStyle = '#bbb';
    ctx.font = '14px system-ui';
    ctx.fillText(progress, 20, canvas.height / 2);
    hooks.mapMarker(null);
    return;
  }
  if (manifold) {
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

async function decodeAt(px, py) {
  const [x, y] = fromCanvas([px, py]);
  paintGrid($('map-decode'), await call('decodeMapPoint', { x, y }), 1);
  hooks.mapPointDecoded(x, y);
}

/** For a 2-D latent the map is the latent space itself: decode a grid over it to show the manifold. */
async function buildManifold() {
  if (map.latent !== 2) return;
  const n = 15;
  const z = [];
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      z.push(...fromCanvas([((col + 0.5) / n) * canvas.width, ((row + 0.5) / n) * canvas.height]));
    }
  }
  const images = await call('decode', { z });
  const grid = document.createElement('canvas');
  grid.width = grid.height = n * SIDE;
  paintGrid(grid, images, n);
  manifold = grid;
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
