// The one Web Worker that owns the model. The page sends {id, op, args}; the worker answers
// {id, ok, value | error, ms}. Everything heavy (wasm, WebGPU, the data set) lives here, so the
// page never freezes.
import init, { Sketchpad } from './pkg/vae_web.js';

let pad = null;

async function adapterName() {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info ?? {};
    return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  } catch {
    return null;
  }
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const ops = {
  async load({ backend }) {
    const t0 = performance.now();
    const [, weights, data] = await Promise.all([
      init(), fetchBytes('model/default.safetensors'), fetchBytes('data/mnist.bin'),
    ]);
    pad = await Sketchpad.create(weights, data, backend);
    const info = JSON.parse(pad.backendInfo());
    if (info.kind === 'webgpu') info.adapter = await adapterName();
    indexMore();
    return { backend: info, latent: pad.latent(), loadMs: performance.now() - t0 };
  },
  analyse: async ({ grey, width, height, k }) => JSON.parse(await pad.analyse(grey, width, height, k)),
  sample: ({ n, temperature, seed }) => pad.sample(n, temperature, BigInt(seed)),
  decode: ({ z }) => pad.decode(z),
  decodeMapPoint: ({ x, y }) => pad.decodeMapPoint(x, y),
  interpolate: ({ a, b, steps }) => pad.interpolate(a, b, steps),
  variations: ({ image, n, seed }) => pad.variations(image, n, BigInt(seed)),
  datasetLatent: ({ index }) => pad.datasetLatent(index),
  datasetImage: ({ index }) => pad.datasetImage(index),
};

// One call at a time, in arrival order: the model is never used by two calls at once, and the
// neighbour index grows in steps queued between the page's calls, so a sketch waits at most one step.
let queue = Promise.resolve();
const enqueue = (job) => { queue = queue.then(job); };

// A macrotask boundary: on the CPU backend reads resolve as microtasks, so without it the steps
// would run back to back and no message from the page could get in between them.
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

function indexMore() {
  enqueue(async () => {
    await yieldToEvents();
    try {
      const progress = JSON.parse(await pad.indexStep());
      if (progress.done) progress.map = JSON.parse(pad.mapPoints());
      self.postMessage({ event: 'index', progress });
      if (!progress.done) indexMore();
    } catch (e) {
      self.postMessage({ event: 'error', error: `building the neighbour index failed: ${e?.message ?? e}` });
    }
  });
}

self.onmessage = ({ data: { id, op, args } }) => enqueue(async () => {
  const t0 = performance.now();
  try {
    if (!ops[op]) throw new Error(`unknown operation ${op}`);
    if (op !== 'load' && !pad) throw new Error('the model is not loaded yet');
    const value = await ops[op](args ?? {});
    self.postMessage({ id, ok: true, value, ms: performance.now() - t0 });
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e?.message ?? e), ms: performance.now() - t0 });
  }
});
