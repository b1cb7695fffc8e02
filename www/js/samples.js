// The samples panel: 64 digits decoded from z ~ N(0, T² I), T the temperature.
import { $, notice } from './dom.js';
import { paintGrid } from './paint.js';
import { call } from './rpc.js';

export function initSamples() {
  $('sample').addEventListener('click', () => sample().catch((e) => notice(e.message)));
  $('temperature').addEventListener('input', () => {
    $('temperature-value').textContent = Number($('temperature').value).toFixed(2);
  });
  $('temperature').addEventListener('change', () => sample().catch((e) => notice(e.message)));
}

/** Draws a new grid of samples from the page's model. */
export async function sample() {
  const temperature = Number($('temperature').value);
  const images = await call('sample', { n: 64, temperature, seed: Math.floor(Math.random() * 2 ** 32) });
  paintGrid($('samples'), images, 8);
}
