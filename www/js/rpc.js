// The model's worker (../worker-start.js, then ../worker.js; index.html starts it) as promises and events. A call is a message {id, op, args};
// the worker answers {id, ok, value | error, ms}. It also sends events ({event, …}) for work it
// does on its own: the neighbour index growing, training, a new model, the backend, errors.
//
// A worker that loses its GPU says so (its `lost` event, with what it hands over) and is replaced
// here by a fresh one, which runs on the CPU: it is loaded first, as the lost one was, then every
// call still waiting is sent to it again, in order, so none is left hanging. The `lost` event's
// listeners get that load's answer (null while the page's own first `load` is still waiting: it
// is among the calls sent again).

const pending = new Map(); // id → {op, args, resolve, reject}, in the order the calls were made
const listeners = new Map(); // event name → handlers
const unheard = []; // errors before anyone listened to them
const answerListeners = [];
let nextId = 1;
let loadArgs = null; // the last `load` call's arguments: a replacement worker is loaded the same way
let unstarted = null; // why the worker never ran (its script did not load): every call fails so
// The page's first worker was started by index.html's inline script, before this file arrived.
let worker = startWorker(self.modelWorker);

/** Hands `message` to the listeners of `name`. An error that nobody listens to yet is kept for
 *  the first listener: this file runs before main.js, which listens, and a worker can fail in
 *  between. */
function emit(name, message) {
  const handlers = listeners.get(name) ?? [];
  if (name === 'error' && !handlers.length) unheard.push(message);
  for (const handler of handlers) handler(message);
}

/** Listens to the worker `started` already (index.html's: its failure, if it came before this
 *  file, was noted on it), or to a new one. */
function startWorker(started) {
  const w = started ?? new Worker(new URL('../worker-start.js', import.meta.url), { type: 'module' });
  const failed = (e) => {
    if (w !== worker) return;
    // An ErrorEvent is an error its code did not catch, and the worker goes on. A plain event: its
    // script did not load, and no call will be answered.
    if (!(e instanceof ErrorEvent)) {
      unstarted = 'the model\'s worker did not start (its script did not load)';
      for (const { reject } of pending.values()) reject(new Error(unstarted));
      pending.clear();
    }
    emit('error', { error: `The model's worker failed: ${e.message ?? 'its script did not load'}` });
  };
  // A replaced worker is ended at once; anything it had already sent is not heard.
  w.onmessage = ({ data }) => { if (w === worker) received(data); };
  w.onerror = failed;
  if (started?.failedEarly) queueMicrotask(() => failed(started.failedEarly));
  return w;
}

function received(data) {
  if (data.event === 'lost') { replaceWorker(data); return; }
  if (data.event) { emit(data.event, data); return; }
  const call = pending.get(data.id);
  pending.delete(data.id);
  for (const handler of answerListeners) handler({ op: call.op, ok: data.ok, ms: data.ms, value: data.value });
  if (data.ok) call.resolve(data.value); else call.reject(new Error(data.error));
}

/** The worker lost its GPU: a fresh one takes over with what it handed over. */
function replaceWorker({ reason, handover }) {
  const waiting = [...pending.entries()];
  worker.terminate();
  worker = startWorker();
  worker.postMessage({ recover: { reason, handover } });
  const loaded = loadArgs && !waiting.some(([, c]) => c.op === 'load') ? call('load', loadArgs) : null;
  for (const [id, { op, args }] of waiting) worker.postMessage({ id, op, args });
  emit('lost', { reason, loaded });
}

/** Asks the worker to run `op`; resolves with its value, rejects with its error message. */
export function call(op, args = {}) {
  const id = nextId++;
  if (op === 'load') loadArgs = args;
  return new Promise((resolve, reject) => {
    if (unstarted) { reject(new Error(unstarted)); return; }
    pending.set(id, { op, args, resolve, reject });
    worker.postMessage({ id, op, args });
  });
}

/** Calls `handler(message)` for each event `name` the worker sends: index, train, model, backend,
 *  error, storage, and lost ({reason, loaded}: the GPU was lost and a worker on the CPU took
 *  over; `loaded` is its load's answer, a promise, or null if the page's own load was waiting). */
export function on(name, handler) {
  listeners.set(name, [...(listeners.get(name) ?? []), handler]);
  if (name === 'error') for (const message of unheard.splice(0)) handler(message);
}

/** Calls `handler({op, ok, ms, value})` for every answer, before the caller sees it. */
export function onAnswer(handler) {
  answerListeners.push(handler);
}
