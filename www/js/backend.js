// The status line: which backend answers (and, for a CPU fallback, why), how long the last answer
// took, and the backend choice, which reloads the page with ?backend=auto|webgpu|cpu.
import { $, notice } from './dom.js';
import * as hooks from './hooks.js';

const params = new URLSearchParams(location.search);
/** The backend the page asks the worker for. */
export const backendWanted = ['auto', 'webgpu', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto';

export function initBackend() {
  const choice = $('backend-choice');
  choice.value = backendWanted;
  choice.addEventListener('change', () => {
    const url = new URL(location.href);
    url.searchParams.set('backend', choice.value);
    location.href = url.href;
  });
}

/** Names the choices with the wasm module's labels ({cpu, webgpu}, from limits()). */
export function nameBackends(labels) {
  const option = (value) => $('backend-choice').querySelector(`option[value="${value}"]`);
  option('cpu').textContent = labels.cpu;
  option('webgpu').textContent = labels.webgpu;
  option('auto').textContent = `Auto (${labels.webgpu}, else CPU)`;
}

/** Shows the worker's BackendInfo ({kind, label, fallback_reason, warming_up, adapter?}). */
export function showBackend(info) {
  $('backend').textContent = info.label;
  $('adapter').textContent = info.warming_up ? 'WebGPU is warming up; the CPU answers meanwhile'
    : info.adapter ? `adapter: ${info.adapter}` : '';
  if (info.fallback_reason) notice(`Using the CPU: ${info.fallback_reason}.`);
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
