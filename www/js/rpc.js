// The model's worker (../worker.js) as promises and events. A call is a message {id, op, args};
// the worker answers {id, ok, value | error, ms}. It also sends events ({event, …}) for work it
// does on its own: the neighbour index growing, training, a new model, the backend, errors.

const worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
const pending = new Map(); // id → {op, resolve, reject}
const listeners = new Map(); // event name → handlers
const answerListeners = [];
let nextId = 1;

function emit(name, message) {
  for (const handler of listeners.get(name) ?? []) handler(message);
}

worker.onmessage = ({ data }) => {
  if (data.event) { emit(data.event, data); return; }
  const call = pending.get(data.id);
  pending.delete(data.id);
  for (const handler of answerListeners) handler({ op: call.op, ok: data.ok, ms: data.ms, value: data.value });
  if (data.ok) call.resolve(data.value); else call.reject(new Error(data.error));
};
worker.onerror = (e) => emit('error', { error: `The model's worker failed: ${e.message ?? e}` });

/** Asks the worker to run `op`; resolves with its value, rejects with its error message. */
export function call(op, args = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { op, resolve, reject });
    worker.postMessage({ id, op, args });
  });
}

/** Calls `handler(message)` for each event `name` the worker sends: index, train, model, backend,
 *  error. */
export function on(name, handler) {
  listeners.set(name, [...(listeners.get(name) ?? []), handler]);
}

/** Calls `handler({op, ok, ms, value})` for every answer, before the caller sees it. */
export function onAnswer(handler) {
  answerListeners.push(handler);
}
