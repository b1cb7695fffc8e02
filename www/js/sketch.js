// The sketch panel and the panels that follow it: the analysis of what is on the pad (its 28×28
// input, reconstruction and score), its latent neighbours and the variations; it hands the
// analysis to the map, the walk (js/walk.js) and the latent sliders (js/sliders.js). The latest
// request wins: while an analysis is under way, newer ink waits and only the newest pad is
// analysed next.
import { $, notice } from './dom.js';
import { PIXELS, paintGrid, blank } from './paint.js';
import { call } from './rpc.js';
import { pad, initPad, isDrawing, hasStrokes, padGrey, clearPad, undoStroke, putDigit } from './pad.js';
import { showSketchOnMap } from './map.js';
import * as walk from './walk.js';
import * as sliders from './sliders.js';
import { readSketch, clearReading } from './reading.js';
import * as hooks from './hooks.js';
import * as yours from './yours.js';

const NEIGHBOURS = 8;
const VARIATIONS = 8;

let analysis = null; // the analysis on screen, or null
let timer = null;
let scheduled = false; // an analysis waits on its timer
let inFlight = false;
let again = false; // the pad changed while an analysis was under way
let secondary = Promise.resolve(); // the latest analysis's interpolation and variations
let clears = 0; // Clear presses: an answer asked for before one is not shown
// When the last stroke ended, until an analysis that includes it starts: the stroke → answer
// latency is measured from here, queueing in the worker included.
let strokeEndedAt = null;

export function initSketch() {
  initPad((delay, { strokeEnded }) => {
    hooks.digitOnPad(null);
    if (strokeEnded) strokeEndedAt = performance.now();
    scheduleAnalysis(delay);
  });
  clearOutputs();
  $('clear').addEventListener('click', () => {
    clears++;
    clearPad();
    hooks.digitOnPad(null);
    clearOutputs();
  });
  $('undo').addEventListener('click', () => {
    undoStroke();
    hooks.digitOnPad(null);
    scheduleAnalysis(0);
  });
  $('random-digit').addEventListener('click', () => randomDigit().catch((e) => notice(e.message)));
}

/** The model changed. What is on screen came from the old one: the neighbours stay, marked as
 *  updating, and the sketch is answered again at once (its neighbours come from the old model's
 *  index until the new one is whole). */
export function modelChanged() {
  if (analysis) markUpdating(true);
  if (hasStrokes()) scheduleAnalysis(0);
}

/** The neighbour index is whole, or a t-SNE map is made: the sketch is analysed again, for the
 *  neighbours found while the index was partial or rebuilt and for its place on the new map. */
export function answerAgain() {
  if (analysis) scheduleAnalysis(0);
}

function scheduleAnalysis(delay) {
  hooks.sketchBusy();
  clearTimeout(timer);
  timer = setTimeout(analyse, delay);
  scheduled = true;
}

async function analyse() {
  scheduled = false;
  if (inFlight) { again = true; return; }
  inFlight = true;
  const answersStrokeOf = isDrawing() ? null : strokeEndedAt;
  if (answersStrokeOf !== null) strokeEndedAt = null;
  const clearsBefore = clears;
  try {
    const grey = padGrey();
    const result = await call('analyse', { grey, width: pad.width, height: pad.height, k: NEIGHBOURS });
    if (clears !== clearsBefore) {
      // Clear was pressed meanwhile: the empty outputs stand.
    } else if (result === null) {
      clearOutputs(); // the model found no ink on the pad
    } else {
      analysis = result;
      // Its walk, variations and sliders follow on their own: a newer sketch need not wait for them.
      secondary = Promise.all([showAnalysis(result), readSketch(grey, pad.width, pad.height)]).catch((e) => notice(e.message));
      if (answersStrokeOf !== null) hooks.strokeAnswered(performance.now() - answersStrokeOf);
    }
  } catch (e) {
    notice(e.message);
  } finally {
    inFlight = false;
    if (again) { again = false; analyse(); } else {
      // Idle once the latest analysis's walk, variations and sliders are shown too.
      const latest = secondary;
      latest.then(() => {
        if (latest === secondary && !inFlight && !again && !scheduled) hooks.sketchIdle();
      });
    }
  }
}

function clearOutputs() {
  analysis = null;
  for (const id of ['input', 'reconstruction', 'variations']) blank($(id));
  walk.sketchCleared();
  $('neighbours').replaceChildren();
  markUpdating(false);
  $('score').textContent = 'Draw a digit to see its score.';
  hooks.scoreShown(null);
  showSketchOnMap(null);
  clearReading();
  yours.sketchAnalysed(null);
}

async function showAnalysis(a) {
  paintGrid($('input'), a.input, 1);
  paintGrid($('reconstruction'), a.reconstruction, 1);
  showScore(a);
  showNeighbours(a);
  yours.sketchAnalysed(a);
  showSketchOnMap(a);
  await Promise.all([walk.sketchAnalysed(a), showVariations(), sliders.sketchAnalysed(a)]);
}

function showScore(a) {
  const score = $('score');
  const elbo = `ELBO ${(-a.loss).toFixed(1)} nats`;
  score.textContent = a.percentile === null
    ? `${elbo} · ranking against the test digits…`
    : `${elbo} · more digit-like than ${a.percentile.toFixed(0)}% of test digits`;
  // Its two terms in a line of their own, in view (not a tooltip: a touch screen has no hover).
  const terms = document.createElement('small');
  terms.textContent = `reconstruction ${a.recon.toFixed(1)} nats + KL ${a.kl.toFixed(1)} nats`;
  score.append(terms);
  hooks.scoreShown(a);
}

const NEIGHBOURS_HINT = $('nb-hint').textContent; // as the page has it
const UPDATING_HINT = 'Updating for the new weights… meanwhile, these are the previous model\'s neighbours.';
/** The data set comes after the page's first answer, then is indexed: no neighbours until then. */
const WAITING_HINT = 'The data set is on its way: the neighbours appear once its digits are indexed.';

/** Marks the neighbours as the previous model's while the index is rebuilt for new weights (as
 *  the map marks itself), or as current. */
function markUpdating(updating, waiting = false) {
  // aria-busy takes "true" or "false" only (Lighthouse's aria-valid-attr-value failed on "undefined").
  $('neighbours').setAttribute('aria-busy', String(updating || waiting));
  $('nb-hint').textContent = updating ? UPDATING_HINT : (waiting ? WAITING_HINT : NEIGHBOURS_HINT);
}

function showNeighbours(a) {
  const list = $('neighbours');
  const items = a.neighbours.map((n, i) => {
    const li = document.createElement('li');
    hooks.neighbourShown(li, n);
    const button = document.createElement('button');
    button.type = 'button';
    // Pressed while the walk goes to it (js/walk.js keeps that up to date).
    button.setAttribute('aria-pressed', String(walk.walksToNeighbour(i)));
    // A digit the person kept (js/yours.js) says so, to the eye and to a screen reader.
    const whose = n.yours ? 'Your digit' : 'Digit';
    button.setAttribute('aria-label', `${whose} ${n.label}, distance ${n.distance.toFixed(2)}: walk to it`);
    if (n.yours) li.classList.add('yours');
    const c = document.createElement('canvas');
    c.width = c.height = 56;
    paintGrid(c, a.neighbourImages.slice(i * PIXELS, (i + 1) * PIXELS), 1);
    const text = document.createElement('span');
    text.textContent = `${n.label} · ${n.distance.toFixed(2)}${n.yours ? ' · yours' : ''}`;
    button.append(c, text);
    button.addEventListener('click', () => walk.walkToNeighbour(i).catch((e) => notice(e.message)));
    li.append(button);
    return li;
  });
  list.replaceChildren(...items);
  markUpdating(a.updating, items.length === 0);
}

async function showVariations() {
  const a = analysis;
  const images = await call('variations', { image: a.input, n: VARIATIONS, seed: randomSeed() });
  if (analysis === a) paintGrid($('variations'), images, VARIATIONS);
}

/** Puts a random digit of the test split on the pad. */
async function randomDigit() {
  hooks.sketchBusy();
  const digit = await call('randomTestDigit', { seed: randomSeed() });
  putDigit(Float32Array.from(digit.image));
  hooks.digitOnPad(digit);
  scheduleAnalysis(0);
}

const randomSeed = () => Math.floor(Math.random() * 2 ** 32);
