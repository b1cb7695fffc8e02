// The samples panel: 64 digits decoded from z ~ N(0, T² I), T the temperature, drawn from a seed
// the page shows (a new one for each Sample; any one can be typed in to draw its grid again). A
// sample can be picked (a click, or the arrow keys and Enter) to walk to it.
import { $, notice } from './dom.js';
import { PIXELS, paintGrid } from './paint.js';
import { call } from './rpc.js';
import { picked } from './walk.js';
import * as hooks from './hooks.js';

const COLS = 8;
const N = COLS * COLS;

let shown = null; // the grid on screen: {seed, temperature}
let cursor = 0; // the keyboard's sample

export function initSamples() {
  $('sample').addEventListener('click', () => sample().catch((e) => notice(e.message)));
  $('temperature').addEventListener('input', () => {
    $('temperature-value').textContent = Number($('temperature').value).toFixed(2);
  });
  $('temperature').addEventListener('change', () => sample().catch((e) => notice(e.message)));
  $('sample-digit').addEventListener('change', () => sample().catch((e) => notice(e.message)));
  $('seed-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!$('seed-form').reportValidity()) return;
    draw(Number($('sample-seed').value)).catch((err) => notice(err.message));
  });
  const canvas = $('samples');
  canvas.addEventListener('click', (e) => {
    const r = canvas.getBoundingClientRect();
    const col = Math.min(COLS - 1, Math.floor(((e.clientX - r.left) / r.width) * COLS));
    const row = Math.min(COLS - 1, Math.floor(((e.clientY - r.top) / r.height) * COLS));
    cursor = row * COLS + col;
    pick(cursor).catch((err) => notice(err.message));
  });
  canvas.addEventListener('keydown', (e) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -COLS, ArrowDown: COLS };
    if (moves[e.key] !== undefined) {
      e.preventDefault();
      cursor = Math.min(N - 1, Math.max(0, cursor + moves[e.key]));
      $('sample-hint').textContent = `Sample ${cursor + 1} (row ${Math.floor(cursor / COLS) + 1}, column ${(cursor % COLS) + 1}): Enter to walk to it.`;
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      pick(cursor).catch((err) => notice(err.message));
    }
  });
}

/** Draws a new grid of samples from the page's model, from a new seed. */
export function sample() {
  return draw(Math.floor(Math.random() * 2 ** 32));
}

async function draw(seed) {
  const temperature = Number($('temperature').value);
  const chosen = $('sample-digit').value;
  // "any": the page's model; a digit: the conditional model's samples of it.
  const digit = chosen === 'any' || $('sample-digit').disabled ? null : Number(chosen);
  $('sample-seed').value = String(seed);
  const images = digit === null ? await call('sample', { n: N, temperature, seed }) : await call('sampleDigit', { n: N, temperature, seed, digit });
  shown = { seed, temperature, digit };
  paintGrid($('samples'), images, COLS);
  hooks.samplesShown(seed, digit);
}

/** Sample `i` of the grid on screen becomes the walk's end: its code is the core's draw for the
 *  grid's seed and temperature. */
async function pick(i) {
  if (!shown) return;
  const { seed, temperature, digit } = shown;
  const name = `sample ${i + 1} of seed ${seed}`;
  if (digit !== null) {
    // A conditional model's sample: its code under the page's model.
    const images = await call('sampleDigit', { n: N, temperature, seed, digit });
    const z = await call('encodeImage', { image: images.slice(i * PIXELS, (i + 1) * PIXELS) });
    picked('sample', z, `${name} (a ${digit})`, { walkTo: true });
    $('sample-hint').textContent = `Walking to ${name} (row ${Math.floor(i / COLS) + 1}, column ${(i % COLS) + 1}).`;
    return;
  }
  const z = await call('sampleLatents', { n: N, temperature, seed });
  const latent = z.length / N;
  picked('sample', z.subarray(i * latent, (i + 1) * latent), name, { walkTo: true });
  $('sample-hint').textContent = `Walking to ${name} (row ${Math.floor(i / COLS) + 1}, column ${(i % COLS) + 1}).`;
}
