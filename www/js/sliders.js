// Latent sliders: one per latent dimension, set to the sketch's code (μ); moving one decodes the
// code the sliders make at once (the newest wins: changes made while a decode is under way are
// decoded together next). The traverse shows what one dimension does: decodes of the sliders'
// code with that dimension moved from −3 to +3 (the core's vae::model::inference::traverse_latents).
import { $, notice } from './dom.js';
import { paintGrid, blank } from './paint.js';
import { call } from './rpc.js';
import * as hooks from './hooks.js';

const RANGE = 4; // each slider's reach either way: a code of the prior is within ±4 almost always
const TRAVERSE_STEPS = 7;

let z = []; // the sliders' code
let mu = null; // the sketch's code, or null
let changed = false; // the code changed since its last decode began
let movedAt = null; // when the oldest slider move not yet decoded was made (ms), or null
let decoding = null; // the decodes under way: resolves once the newest code is shown
let traverseFor = 0; // the latest traverse asked for

export function initSliders() {
  $('sliders-reset').addEventListener('click', () => {
    if (mu) setCode(mu).catch((e) => notice(e.message));
  });
  $('traverse-dim').addEventListener('change', () => showTraverse().catch((e) => notice(e.message)));
  blank($('slider-decode'));
  blank($('traverse'));
}

/** The model's latent size: one slider per dimension, at 0 (the prior's centre) until a sketch. */
export function modelChanged({ latent }) {
  if (latent === z.length) return;
  z = new Array(latent).fill(0);
  mu = null;
  const rows = z.map((_, i) => {
    const id = `latent-${i + 1}`;
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = `Latent dimension ${i + 1}`;
    const input = Object.assign(document.createElement('input'), { type: 'range', id, min: -RANGE, max: RANGE, step: 0.05, value: 0 });
    const output = document.createElement('output');
    output.htmlFor.add(id);
    output.textContent = '0.00';
    input.addEventListener('input', () => {
      z[i] = Number(input.value);
      output.textContent = z[i].toFixed(2);
      changed = true;
      movedAt ??= performance.now();
      $('traverse-dim').value = String(i);
      decode().catch((e) => notice(e.message));
    });
    // The traverse follows when a move ends (a drag's release, each key press).
    input.addEventListener('change', () => showTraverse().catch((e) => notice(e.message)));
    return [label, input, output];
  });
  $('sliders').replaceChildren(...rows.flat());
  $('traverse-dim').replaceChildren(...z.map((_, i) => new Option(`${i + 1}`, String(i))));
  blank($('slider-decode'));
  blank($('traverse'));
}

/** A new analysis of the sketch: the sliders go to its code (resolves once decoded). */
export function sketchAnalysed(analysis) {
  mu = Array.from(analysis.mu);
  return setCode(mu);
}

async function setCode(code) {
  z = Array.from(code);
  $('sliders').querySelectorAll('input').forEach((input, i) => {
    input.value = String(z[i]);
    input.nextElementSibling.textContent = z[i].toFixed(2);
  });
  changed = true;
  await Promise.all([decode(), showTraverse()]);
}

/** Decodes the sliders' code, and again while it changed meanwhile; resolves once the newest code
 *  is shown. The time from a slider's move to its decode on screen is recorded. */
function decode() {
  decoding ??= (async () => {
    try {
      while (changed) {
        changed = false;
        const moved = movedAt;
        movedAt = null;
        const image = await call('decode', { z: Float32Array.from(z) });
        paintGrid($('slider-decode'), image, 1);
        if (moved !== null) hooks.sliderDecoded(performance.now() - moved);
      }
    } finally {
      decoding = null;
    }
  })();
  return decoding;
}

async function showTraverse() {
  if (!z.length) return;
  const asked = ++traverseFor;
  const dim = Number($('traverse-dim').value);
  const images = await call('traverse', { z: Float32Array.from(z), dim, steps: TRAVERSE_STEPS });
  if (asked !== traverseFor) return;
  paintGrid($('traverse'), images, TRAVERSE_STEPS);
  $('traverse-hint').textContent = `Latent dimension ${dim + 1} from −3 to +3 around the sliders' code, the others held.`;
  hooks.traverseShown(dim);
}
