// The person's own digits: "Keep this digit" (the sketch on the pad, as the model read it, with the
// label chosen or read), the "Your digits" strip (each with its label to correct and a Remove
// button; the last fifth marked as held out), Clear, Export (the IDX pair `vae eval --data
// your-digits` reads) and Import; and "Learn my hand" in the training panel, with how the model
// does on the held-out digits before and after: the model the training panel trains ("Model to
// train": the page's, or the reading model, which learns each digit with its label and is also
// judged on how much of the test split it still reads right). The worker keeps them
// (worker/yours.js) and the core holds every rule; this panel shows what they answer.
import { $, notice, download } from './dom.js';
import { paintGrid, PIXELS } from './paint.js';
import { call } from './rpc.js';
import { pad, padGrey } from './pad.js';
import * as training from './training.js';
import { hasConditional } from './reading.js';
import * as hooks from './hooks.js';

let answerAgain = () => {}; // the sketch panel answers the pad again (its neighbours change)
let kept = []; // [{id, label, heldOut}] as the worker listed them
let before = null; // how the model did on the held-out digits when "Learn my hand" began (with its kind)

/** `answerAgain()`: the sketch panel's, called when the digits change (the neighbours do). */
export function initYours({ answerAgain: again }) {
  answerAgain = again;
  $('keep-digit').addEventListener('click', () => keep().catch((e) => say(`Could not keep the digit: ${e.message}`)));
  $('clear-digits').addEventListener('click', () => clearAll().catch((e) => say(e.message)));
  $('export-digits').addEventListener('click', () => exportDigits().catch((e) => say(`Could not export your digits: ${e.message}`)));
  $('import-digits').addEventListener('click', () => $('import-digits-file').click());
  $('import-digits-file').addEventListener('change', (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    if (files.length) importDigits(files);
  });
  $('learn-hand').addEventListener('click', () => learn().catch((e) => training.showMessage(e.message)));
  // Another model to train: its figures, not the other's.
  $('train-kind').addEventListener('change', () => {
    showHand(null);
    showHandOf(training.trainedKind());
  });
  showDigits({ digits: [], pixels: new Uint8Array() });
}

/** The model is loaded: the digits the worker read back from this browser. */
export async function loaded() {
  showDigits(await call('yourDigits'));
}

/** The sketch panel's answer (or null for an empty pad). "As read" is the label the core gives a
 *  digit kept without one: the conditional model's reading (shown beside the pad) where the page
 *  has that model, else the label of its nearest neighbour, named here. */
export function sketchAnalysed(answer) {
  const nearest = answer?.neighbours[0]?.label;
  const option = $('keep-label').options[0];
  if (hasConditional()) option.textContent = 'as read (the Reading)';
  else option.textContent = nearest === undefined ? 'as read' : `as read (${nearest})`;
  $('keep-digit').disabled = !answer;
}

function say(text, ok = true) {
  $('yours-message').textContent = text;
  $('yours-message').classList.toggle('ok', ok);
}

async function keep() {
  const choice = $('keep-label').value;
  const answer = await call('keepDigit', {
    grey: padGrey(), width: pad.width, height: pad.height, label: choice === '' ? null : Number(choice),
  });
  showDigits(answer);
  const { label, read } = answer.kept;
  say(`Kept a ${label}${read ? ' (as read: correct it below if it is not)' : ''}. You have ${kept.length}.`);
  $('keep-label').value = '';
  answerAgain();
}

async function relabel(id, label) {
  try {
    showDigits(await call('relabelDigit', { id, label }));
    answerAgain();
  } catch (e) {
    say(`Could not change the label: ${e.message}`, false);
    showDigits(await call('yourDigits'));
  }
}

async function remove(id) {
  showDigits(await call('removeDigit', { id }));
  say(`Removed. You have ${kept.length}.`);
  answerAgain();
}

async function clearAll() {
  showDigits(await call('clearDigits'));
  before = null;
  showHand(null);
  say('Your digits are cleared from this browser.');
  answerAgain();
}

async function exportDigits() {
  const files = await call('exportDigits');
  for (const { name, bytes } of files) download(new Blob([bytes], { type: 'application/octet-stream' }), name);
  say(`Exported ${kept.length} digits as ${files.map((f) => f.name).join(' and ')} (read by vae eval --data your-digits).`);
}

async function importDigits(files) {
  const names = files.map((f) => f.name).join(' and ');
  say(`Importing ${names}…`);
  try {
    const picked = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
    const answer = await call('importDigits', { files: picked });
    showDigits(answer);
    say(`Imported ${answer.imported} digits from ${names}. You have ${kept.length}.`);
    answerAgain();
  } catch (e) {
    say(`Could not import ${names}: ${e.message}. Your digits are as they were.`, false);
  }
}

const LABELS = Array.from({ length: 10 }, (_, d) => String(d));

/** The strip: one small canvas per digit, its label (a select to correct it) and Remove. */
function showDigits({ digits, pixels }) {
  kept = digits;
  const items = digits.map((d, i) => {
    const li = document.createElement('li');
    hooks.yourDigitShown(li, d);
    if (d.heldOut) li.classList.add('held-out');
    const c = document.createElement('canvas');
    c.width = c.height = 56;
    c.setAttribute('aria-label', `Your digit ${i + 1}: a ${d.label}${d.heldOut ? ', held out' : ''}`);
    paintGrid(c, Array.from(pixels.subarray(i * PIXELS, (i + 1) * PIXELS), (v) => v / 255), 1);
    const select = document.createElement('select');
    select.setAttribute('aria-label', `Label of your digit ${i + 1}`);
    select.append(...LABELS.map((l) => new Option(l, l, false, Number(l) === d.label)));
    select.addEventListener('change', () => relabel(d.id, Number(select.value)));
    const removeButton = document.createElement('button');
    removeButton.type = 'button';
    removeButton.className = 'secondary';
    removeButton.textContent = '×';
    removeButton.title = 'Remove';
    removeButton.setAttribute('aria-label', `Remove your digit ${i + 1}`);
    removeButton.addEventListener('click', () => remove(d.id).catch((e) => say(e.message, false)));
    li.append(c, select, removeButton);
    return li;
  });
  $('your-digits').replaceChildren(...items);
  const held = digits.filter((d) => d.heldOut).length;
  const aside = held === 1 ? 'the last (marked) is' : `the last ${held} (marked) are`;
  $('yours-count').textContent = digits.length
    ? `${digits.length} kept; ${aside} held out to judge "Learn my hand".`
    : 'None kept yet: draw a digit and press "Keep this digit".';
  for (const id of ['clear-digits', 'export-digits']) $(id).disabled = digits.length === 0;
  hooks.yourDigitsShown(digits.length);
}

// ---- "Learn my hand" -------------------------------------------------------------------------------

/** The learn form's values as a fraction and a count, or null (with the browser's message). */
function readLearnForm() {
  const form = $('learn-form');
  for (const input of form.elements) {
    if (!input.checkValidity()) {
      input.reportValidity();
      training.showMessage(`${input.parentElement.firstChild.textContent.trim()}: ${input.validationMessage}`);
      return null;
    }
  }
  return { epochs: Number(form.elements.epochs.value), share: Number(form.elements.share.value) / 100 };
}

/** The wasm module's limits(): the share's range (a fraction; the form's is in %) and the epochs'. */
export function applyLimits(limits) {
  const { share, epochs } = $('learn-form').elements;
  share.min = String(limits.yourShare.min * 100);
  share.max = String(limits.yourShare.max * 100);
  epochs.min = String(limits.epochs.min);
  epochs.max = String(limits.epochs.max);
}

async function learn() {
  const settings = training.formSettings();
  const mine = readLearnForm();
  if (!settings || !mine) return;
  const request = { learningRate: settings.learningRate, batchSize: settings.batchSize, ...mine, seed: 0, kind: training.trainedKind() };
  const started = await call('learnHand', request);
  training.runBegan(started, request);
  before = started.before;
  training.showMessage(`Learning your hand from ${started.learnsFrom} of your digits, ${started.perBatch[1]} of each batch of `
    + `${request.batchSize}; ${started.before.heldOut} held out to judge it.`, true);
  showHand({ before, now: null });
}

/** The neighbour index of the page's model is whole (or the digits changed): how it does on the
 *  held-out digits now, beside how it did before "Learn my hand" (when the panel shows it). */
export async function indexWhole() {
  if (training.trainedKind() === 'vae') await showHandOf('vae');
}

/** The reading model changed (a run's epoch end or Stop, an import): as `indexWhole`, for it. */
export async function conditionalChanged() {
  if (training.trainedKind() === 'cvae') await showHandOf('cvae');
}

/** How the model of `kind` does on the held-out digits now, beside how it did before "Learn my
 *  hand" of it; not during a run. */
async function showHandOf(kind) {
  if (!kept.length || training.isTraining()) return;
  try {
    const hand = await call('yourHand', { kind });
    // A run began meanwhile (its start is a new model too): its end asks again.
    if (training.isTraining() || kind !== training.trainedKind()) return;
    if (hand.now.readRight === null) return; // the index grows again: its next whole state asks
    const earlier = before?.kind === kind ? before : null;
    showHand({ before: hand.before ?? earlier, now: hand.now });
  } catch (e) {
    notice(e.message);
  }
}

const figures = (r) => `loss ${r.loss.toFixed(1)} nats`
  + (r.readRight === null ? '' : `, ${r.readRight} of ${r.heldOut} read right (${r.readBy})`)
  + (r.testLoss === null ? '' : `; test digits' loss ${r.testLoss.toFixed(1)} nats`)
  + (r.testReadPercent === null ? '' : `, ${r.testReadPercent.toFixed(1)} % of them read right`);

function showHand(hand) {
  const report = $('hand-report');
  hooks.handShown(hand);
  if (!hand) { report.textContent = ''; return; }
  const parts = [];
  if (hand.before) parts.push(`Before learning your hand: ${figures(hand.before)}.`);
  if (hand.now) parts.push(`${hand.before ? 'Now' : 'The page\'s model'}: ${figures(hand.now)}.`);
  else parts.push('Learning…');
  const shown = hand.now ?? hand.before;
  const which = shown.kind === 'cvae' ? ', reading model (conditional)' : '';
  report.textContent = `Your ${shown.heldOut} held-out digits${which}. ${parts.join(' ')}`;
}
