// The conditional model's panels: the digit a sketch reads as and how sure the model is (the ten
// labels' confidences as bars), and the sketch redrawn as every digit in the same hand (a click
// makes a redraw the walk's end). The conditional model arrives after the page's first answer
// (worker/modules.js); until it does, or if it cannot be had, the panels say so.
import { $, notice } from './dom.js';
import { PIXELS, paintGrid, blank } from './paint.js';
import { call } from './rpc.js';
import { picked } from './walk.js';
import * as hooks from './hooks.js';

const DIGITS = 10;
const WAITING = 'The conditional model is on its way: the reading and the redraws come once it is here.';
const HINT = $('hand-hint').textContent;

let available = false;
let shown = null; // the redraws on screen (10 × 784), or null
let asked = 0; // the latest reading asked for: an older answer is not shown

export function initReading() {
  const bars = $('reading-bars');
  const list = $('redraws');
  for (let d = 0; d < DIGITS; d++) {
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.dataset.digit = String(d);
    bar.append(Object.assign(document.createElement('span'), { className: 'fill' }), Object.assign(document.createElement('span'), { className: 'label', textContent: String(d) }));
    bars.append(bar);

    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.title = `Walk to your sketch redrawn as ${d}`;
    const canvas = Object.assign(document.createElement('canvas'), { width: 56, height: 56 });
    canvas.setAttribute('aria-label', `as ${d}`);
    button.append(canvas);
    button.addEventListener('click', () => walkToRedraw(d).catch((e) => notice(e.message)));
    li.append(button);
    list.append(li);
  }
  $('hand-hint').textContent = WAITING;
  $('sample-digit').disabled = true;
  clearReading();
}

/** The conditional model arrived (or could not be had: `error`). */
export function conditionalArrived({ error }) {
  available = !error;
  $('hand-hint').textContent = error ? `${error}: the reading, the redraws and the chosen-digit samples are not available.` : HINT;
  $('sample-digit').disabled = !available;
  hooks.conditionalShown(available);
}

/** Whether the page has a conditional model. */
export const hasConditional = () => available;

/** Reads the sketch on the pad (`grey`, `width` × `height`) and shows the reading and the redraws;
 *  resolves once they are on screen (at once without a conditional model). */
export async function readSketch(grey, width, height) {
  if (!available) return;
  const mine = ++asked;
  const answer = await call('readSketch', { grey, width, height });
  if (mine !== asked) return;
  if (!answer) { clearReading(); return; }
  const { digit, confidence, redraws } = answer;
  $('reading').textContent = `${digit} · ${(100 * confidence[digit]).toFixed(0)} %`;
  $('reading-bars').querySelectorAll('.bar').forEach((bar, d) => {
    bar.style.setProperty('--confidence', confidence[d].toFixed(3));
    bar.title = `${d}: ${(100 * confidence[d]).toFixed(1)} %`;
  });
  $('reading-bars').setAttribute('aria-label', `Each digit's confidence: ${confidence.map((c, d) => `${d} ${(100 * c).toFixed(0)} %`).join(', ')}`);
  $('redraws').querySelectorAll('canvas').forEach((canvas, d) => paintGrid(canvas, redraws.subarray(d * PIXELS, (d + 1) * PIXELS), 1));
  shown = redraws;
  hooks.readingShown(digit, confidence);
}

/** No sketch: no reading. */
export function clearReading() {
  asked++;
  shown = null;
  $('reading').textContent = '–';
  $('reading-bars').querySelectorAll('.bar').forEach((bar) => bar.style.setProperty('--confidence', '0'));
  $('redraws').querySelectorAll('canvas').forEach(blank);
  hooks.readingShown(null);
}

/** The redraw as `digit` becomes the walk's end: its code under the page's model. */
async function walkToRedraw(digit) {
  if (!shown) return;
  const z = await call('encodeImage', { image: shown.slice(digit * PIXELS, (digit + 1) * PIXELS) });
  picked('redraw', z, `your sketch redrawn as ${digit}`, { walkTo: true });
}
