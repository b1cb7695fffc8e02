// The drawing pad: the person's strokes (or a digit of the data set) painted black on white, and
// its ink as grey levels for the model. Whether that ink makes a sketch is the model's to say (an
// empty sketch is answered with null), not the pad's.
import { $ } from './dom.js';
import { SIDE, PIXELS } from './paint.js';

export const pad = $('pad');
const ctx = pad.getContext('2d', { willReadFrequently: true });
const strokes = []; // {size, points:[[x,y],…]} or {image: Float32Array(784)}
let drawing = null; // the stroke under the pointer

function paintStroke(stroke) {
  if (stroke.image) {
    const cell = pad.width / SIDE;
    for (let i = 0; i < PIXELS; i++) {
      const v = stroke.image[i];
      if (v <= 0) continue;
      ctx.fillStyle = `rgba(0,0,0,${v})`;
      ctx.fillRect((i % SIDE) * cell, Math.floor(i / SIDE) * cell, cell, cell);
    }
    return;
  }
  ctx.strokeStyle = 'black';
  ctx.fillStyle = 'black';
  ctx.lineWidth = stroke.size;
  ctx.lineCap = ctx.lineJoin = 'round';
  const [first, ...rest] = stroke.points;
  if (rest.length === 0) {
    ctx.beginPath();
    ctx.arc(first[0], first[1], stroke.size / 2, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(...first);
  for (const p of rest) ctx.lineTo(...p);
  ctx.stroke();
}

function repaint() {
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, pad.width, pad.height);
  strokes.forEach(paintStroke);
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

/** Starts the pad. `inked(delay, {strokeEnded})` is called whenever ink is added: the sketch is
 *  worth analysing after `delay` ms (sooner at a stroke's end, which strokeEnded says). */
export function initPad(inked) {
  repaint();
  pad.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    drawing = { size: Number($('brush').value), points: [padPoint(e)] };
    strokes.push(drawing);
    paintStroke(drawing);
    inked(30, { strokeEnded: false });
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) drawing.points.push(padPoint(ev));
    repaint();
    inked(40, { strokeEnded: false });
  });
  const endStroke = () => {
    if (!drawing) return;
    drawing = null;
    inked(0, { strokeEnded: true });
  };
  pad.addEventListener('pointerup', endStroke);
  pad.addEventListener('pointercancel', endStroke);
}

/** Whether a stroke is being drawn right now. */
export const isDrawing = () => drawing !== null;

/** Whether anything (a stroke, a digit) is on the pad. */
export const hasStrokes = () => strokes.length > 0;

/** The pad as grey levels, ink = 1, row-major, pad.width × pad.height. */
export function padGrey() {
  const { data } = ctx.getImageData(0, 0, pad.width, pad.height);
  const grey = new Float32Array(pad.width * pad.height);
  for (let i = 0; i < grey.length; i++) grey[i] = 1 - data[i * 4] / 255;
  return grey;
}

export function clearPad() {
  strokes.length = 0;
  drawing = null;
  repaint();
}

/** Takes the last stroke (or digit) off the pad. */
export function undoStroke() {
  strokes.pop();
  repaint();
}

/** Replaces what is on the pad by a 28×28 digit. */
export function putDigit(image) {
  strokes.length = 0;
  strokes.push({ image });
  repaint();
}
