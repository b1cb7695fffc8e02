// The walk between two digits: from and to any of the sketch, a neighbour, the point picked on the
// map and the sample picked in the grid, in a straight line or along the sphere (slerp: the core's
// vae::model::inference::walk_latents), decoded in 10 steps (the "Interpolation" strip) and played as a
// short animation there and back. The ends are latent codes under the page's model; an end that
// is not there (no sketch, nothing picked) is a disabled option.
import { $, notice } from './dom.js';
import { PIXELS, paintGrid, blank } from './paint.js';
import { call } from './rpc.js';
import * as hooks from './hooks.js';

const STEPS = 10;
const FRAME_MS = 120;

const from = $('walk-from');
const to = $('walk-to');
const path = $('walk-path');
/** value → {z, name}: the ends there are now (see the options of #walk-from). */
const ends = new Map();
let strip = null; // the walk on screen: its STEPS decodes, or null
let shownFor = 0; // the latest walk asked for: an older answer is not shown
let playing = null; // the animation's timer

export function initWalk() {
  to.replaceChildren(...[...from.options].map((o) => o.cloneNode(true)));
  to.value = 'neighbour:0';
  for (const select of [from, to, path]) select.addEventListener('change', () => showWalk().catch((e) => notice(e.message)));
  $('walk-play').addEventListener('click', () => (playing ? stop() : play()));
  enableEnds();
  blank($('walk-frame'));
}

/** A new analysis of the sketch: its code and its neighbours' are ends; the walk is shown again
 *  (resolves once it is). */
export function sketchAnalysed(analysis) {
  forgetSketchEnds();
  ends.set('sketch', { z: analysis.mu, name: 'your sketch' });
  analysis.neighbours.forEach((n, i) => ends.set(`neighbour:${i}`, { z: n.mu, name: `neighbour ${i + 1} (a ${n.label})` }));
  for (const select of [from, to]) {
    for (const option of select.options) {
      const [kind, i] = option.value.split(':');
      const n = analysis.neighbours[i];
      if (kind === 'neighbour') option.textContent = n ? `Neighbour ${Number(i) + 1} (a ${n.label})` : `Neighbour ${Number(i) + 1}`;
    }
  }
  enableEnds();
  return showWalk();
}

/** The sketch's code and its neighbours' are no longer ends. */
function forgetSketchEnds() {
  for (const key of [...ends.keys()]) if (key === 'sketch' || key.startsWith('neighbour:')) ends.delete(key);
}

/** No sketch: its ends are gone. */
export function sketchCleared() {
  forgetSketchEnds();
  enableEnds();
  clearStrip();
}

/** A new model: the picked map point and sample were codes of the old one. */
export function modelChanged() {
  ends.delete('map');
  ends.delete('sample');
  ends.delete('redraw');
  enableEnds();
}

/** A digit was picked elsewhere — `end` "map" (a map point) or "sample" — with its code `z`. It
 *  becomes an end; `walkTo` makes it the walk's end now. */
export function picked(end, z, name, { walkTo = false } = {}) {
  ends.set(end, { z, name });
  enableEnds();
  if (walkTo) to.value = end;
  if (walkTo || from.value === end || to.value === end) showWalk().catch((e) => notice(e.message));
}

/** Walks to neighbour `i` (its button in the neighbours list). */
export function walkToNeighbour(i) {
  to.value = `neighbour:${i}`;
  return showWalk();
}

/** Whether the walk goes to neighbour `i`. */
export const walksToNeighbour = (i) => to.value === `neighbour:${i}`;

/** The neighbours' buttons are pressed while the walk goes to theirs. */
function pressNeighbour() {
  document.querySelectorAll('#neighbours button').forEach((b, i) => b.setAttribute('aria-pressed', String(walksToNeighbour(i))));
}

function enableEnds() {
  for (const select of [from, to]) {
    for (const option of select.options) option.disabled = !ends.has(option.value);
  }
}

async function showWalk() {
  pressNeighbour();
  const asked = ++shownFor;
  const [a, b] = [ends.get(from.value), ends.get(to.value)];
  if (!a || !b) {
    clearStrip();
    return;
  }
  const walk = path.value;
  const images = await call('interpolate', { a: a.z, b: b.z, steps: STEPS, walk });
  if (asked !== shownFor) return;
  strip = images;
  paintGrid($('interpolation'), images, STEPS);
  const how = walk === 'spherical' ? 'along the sphere (slerp)' : 'in a straight line';
  $('interp-hint').textContent = `From ${a.name} to ${b.name}, ${how}, in ${STEPS} steps.`;
  hooks.walkShown({ from: from.value, to: to.value, walk, a: a.z, b: b.z });
}

function clearStrip() {
  shownFor++;
  strip = null;
  stop();
  blank($('interpolation'));
}

/** Shows the strip's steps one after another, there and back, in the animation's canvas. */
function play() {
  if (!strip) return;
  const images = strip;
  const order = [...Array(STEPS).keys(), ...[...Array(STEPS - 1).keys()].reverse()];
  let at = 0;
  $('walk-play').textContent = 'Stop';
  const next = () => {
    paintGrid($('walk-frame'), images.subarray(order[at] * PIXELS, (order[at] + 1) * PIXELS), 1);
    hooks.walkFrame(order[at], at === order.length - 1);
    at++;
    playing = at < order.length ? setTimeout(next, FRAME_MS) : null;
    if (!playing) $('walk-play').textContent = 'Play';
  };
  next();
}

function stop() {
  clearTimeout(playing);
  playing = null;
  $('walk-play').textContent = 'Play';
}
