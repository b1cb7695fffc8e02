// The benchmark page's entry (index.html): runs the worker with the query's settings and shows
// its result in body[data-result], where scripts/bench/browser.mjs and tests/webgpu.test.mjs read it.
const query = new URLSearchParams(location.search);
const backend = query.get('backend') ?? 'cpu';
const batch = Number(query.get('batch') ?? 128);
const hidden = Number(query.get('hidden') ?? 400);
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const show = (data) => {
  document.getElementById('out').textContent = JSON.stringify(data, null, 2);
  document.body.dataset.result = JSON.stringify(data);
};
worker.onmessage = ({ data }) => show(data);
// A wasm panic (a trap) inside a GPU callback never settles the awaited promise: it surfaces
// here as the worker's uncaught error, which ends the run with what went wrong.
worker.onerror = (e) => { if (!document.body.dataset.result) show({ error: `the worker failed: ${e.message}` }); };
const count = (name) => (query.has(name) ? Number(query.get(name)) : undefined);
worker.postMessage({
  mode: query.get('mode') ?? 'bench', backend, batch, hidden, capture: query.get('capture') === '1',
  sketches: count('sketches'), samples: count('samples'), warmup: count('warmup'), trainSteps: count('trainSteps'),
  epochCheck: query.get('epochCheck') === '1',
});
