// The status line: which backend answers (and, for a CPU fallback, why), how long the last answer
// took, and the backend choice, which reloads the page with ?backend=auto|webgpu|webgpu-training|cpu.
import { $, notice } from './dom.js';
import * as hooks from './hooks.js';

const params = new URLSearchParams(location.search);
/** The backend the page asks the worker for. */
export const backendWanted = ['auto', 'webgpu', 'webgpu-training', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto';

export function initBackend() {
  const choice = $('backend-choice');
  choice.value = backendWanted;
  choice.addEventListener('change', () => {
    const url = new URL(location.href);
    url.searchParams.set('backend', choice.value);
    location.href = url.href;
  });
}

/** Names the choices with the wasm module's labels ({cpu, webgpu, webgpu-training}, from limits()). */
export function nameBackends(labels) {
  const option = (value) => $('backend-choice').querySelector(`option[value="${value}"]`);
  for (const value of ['cpu', 'webgpu', 'webgpu-training']) option(value).textContent = labels[value];
  option('auto').textContent = 'Auto (the faster for each job)';
}

const PLACE_NAMES = { cpu: 'CPU', webgpu: 'WebGPU' };
const ms = (v) => (v < 10 ? v.toFixed(1) : v.toFixed(0));

/** Shows the worker's BackendInfo ({kind, label, fallbackReason, warmingUp, jobs, matmul?, adapter?}):
 *  the label, the adapter, and for each job where it runs, both timings and why. */
export function showBackend(info) {
  $('backend').textContent = info.label;
  const adapter = info.adapter ? `WebGPU adapter: ${info.adapter}${info.matmul ? ` · ${info.matmul}` : ''}` : '';
  $('adapter').textContent = info.warmingUp ? 'WebGPU is being checked and timed; the CPU answers meanwhile' : adapter;
  // Said on the details' one line too, which is always in view.
  $('backend-checking').textContent = info.warmingUp ? '· checking WebGPU…' : '';
  if (info.fallbackReason) notice(`Using the CPU: ${info.fallbackReason}.`);
  const measured = info.jobs.some((job) => job.cpuMs != null);
  // Each job's place when it was measured or differs between jobs (one backend needs no list).
  $('backend-jobs').replaceChildren(...(measured || info.kind === 'mixed' ? info.jobs : []).map((job) => {
    const li = document.createElement('li');
    const timings = job.cpuMs != null ? `CPU ${ms(job.cpuMs)} ms · WebGPU ${ms(job.webgpuMs)} ms → ` : '';
    li.textContent = `${job.label}: ${timings}${PLACE_NAMES[job.place]}${info.warmingUp ? ' (soon)' : ''} (${job.reason})`;
    return li;
  }));
  hooks.backendShown(info);
}

/** The worker's time for its last answer. */
export function showAnswerTime(ms) {
  $('timing').textContent = `last answer ${ms.toFixed(0)} ms`;
}

/** The page could not load its model at all. */
export function showLoadFailure() {
  $('backend').textContent = 'Failed to load';
}
