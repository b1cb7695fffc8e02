// The training panel's loss curve: train loss and its reconstruction and KL parts per step
// (smoothed), test loss per epoch, on a log scale.
import * as hooks from './hooks.js';

const SERIES = [
  { name: 'train loss', colour: '#1d2330', part: 'loss' },
  { name: 'reconstruction', colour: '#3a6ea5', part: 'recon' },
  { name: 'KL', colour: '#e07b39', part: 'kl' },
];
const TEST_COLOUR = '#c0392b';

/** Draws `history` ({steps: StepRecords, tests: records {step, epoch, loss, recon, kl}}) on `canvas`. */
export function drawLossCurve(canvas, history) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 44, R = 10, T = 22, B = 24;
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, W, H);
  const { steps, tests } = history;
  hooks.lossCurveDrawn(steps.length);
  if (!steps.length) {
    ctx.fillStyle = '#6b7280';
    ctx.font = '13px system-ui';
    ctx.fillText('The loss per step appears here while training.', L, H / 2);
    return;
  }
  // The range of every positive value (no spread into arguments: a run has tens of thousands).
  let min = Infinity, max = -Infinity;
  for (const values of [...SERIES.map((s) => steps.column(s.part)), tests.map((r) => r.loss)]) {
    for (const v of values) if (v > 0) { min = Math.min(min, v); max = Math.max(max, v); }
  }
  // Below 1 nat (a KL term at the very start) is pressed onto the floor of the chart.
  let lo = Math.log10(Math.max(1, min));
  let hi = Math.log10(max);
  if (hi - lo < 0.5) { lo -= 0.25; hi += 0.25; }
  const stepOf = steps.column('step');
  const x0 = stepOf[0] - 1, x1 = Math.max(stepOf[steps.length - 1], x0 + 1);
  const X = (step) => L + ((step - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + (1 - (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (H - T - B);
  ctx.strokeStyle = '#eee';
  ctx.fillStyle = '#6b7280';
  ctx.font = '11px system-ui';
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < lo || Math.log10(v) > hi) continue;
      ctx.beginPath(); ctx.moveTo(L, Y(v)); ctx.lineTo(W - R, Y(v)); ctx.stroke();
      ctx.fillText(String(v), 4, Y(v) + 4);
    }
  }
  ctx.fillText(`step ${x1}`, W - R - 60, H - 6);
  ctx.fillText(`${x0 + 1}`, L, H - 6);
  // An exponential moving average over ~1% of the run keeps the lines readable.
  const alpha = Math.min(1, 20 / steps.length + 0.02);
  for (const s of SERIES) {
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    const part = steps.column(s.part);
    let ema = part[0];
    ctx.moveTo(X(stepOf[0]), Y(ema));
    for (let i = 1; i < part.length; i++) {
      ema += alpha * (part[i] - ema);
      ctx.lineTo(X(stepOf[i]), Y(ema));
    }
    ctx.stroke();
  }
  ctx.fillStyle = TEST_COLOUR;
  for (const t of tests) {
    ctx.beginPath(); ctx.arc(X(t.step), Y(t.loss), 3.5, 0, Math.PI * 2); ctx.fill();
  }
  let lx = L;
  for (const [name, colour] of [...SERIES.map((s) => [s.name, s.colour]), ['test loss (per epoch)', TEST_COLOUR]]) {
    ctx.fillStyle = colour;
    ctx.fillRect(lx, 7, 10, 10);
    ctx.fillStyle = '#1d2330';
    ctx.fillText(name, lx + 14, 16);
    lx += ctx.measureText(name).width + 30;
  }
}
