// The TF.js peer: the seed's VAE (784 → 400 → 20 → 400 → 784) and our training step (BCE from the
// logits summed over the pixels + KL, mean over the batch; Adam lr 1e-3, ε 1e-8), written the way a
// TF.js user would (fused matMul + bias + ReLU, optimizer.minimize), in a worker as ours runs.
// Everything is served from our origin: TF.js from node_modules at /vendor/, this folder at /peer/.
//
// Message {backend: 'wasm'|'webgpu', batch, hidden, warmup, steps, check}. Posts
// {backend, features, readyMs, firstStepMs, firstStepSinceNavigationMs (the page adds it),
// stepMs:{median,…}, samplesPerSecond, check?}.
// `check` replays our RNG (rng.js): our initial weights (seed 0), batch order and ε, so that the
// untrained test loss and the test loss after one epoch can be compared with ours number for number.
const T0 = performance.now();
importScripts(
  '/vendor/tfjs/dist/tf.min.js',
  '/vendor/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  '/vendor/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js',
  './rng.js',
);

const PIXELS = 784;
const LAYERS = (hidden, latent) => [
  ['fc1', PIXELS, hidden], ['fc21', hidden, latent], ['fc22', hidden, latent], ['fc3', latent, hidden], ['fc4', hidden, PIXELS],
];

/** Our data file (crates/vae/src/data.rs): labels, split (1 = test), pixels × 255. */
function parseData(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== 'LSMN') throw new Error('not an LSMN data file');
  const n = view.getUint32(8, true);
  const split = bytes.subarray(16 + n, 16 + 2 * n);
  const pixels = bytes.subarray(16 + 2 * n);
  const train = [];
  const test = [];
  for (let i = 0; i < n; i++) (split[i] ? test : train).push(i);
  return { n, pixels, train, test };
}

function images(data, indices) {
  const out = new Float32Array(indices.length * PIXELS);
  indices.forEach((d, k) => {
    const src = data.pixels.subarray(d * PIXELS, (d + 1) * PIXELS);
    for (let p = 0; p < PIXELS; p++) out[k * PIXELS + p] = src[p] / 255;
  });
  return out;
}

/** VaeWeights::init (crates/vae/src/model/weights.rs): uniform ±1/√inputs from our RNG, PyTorch layout. */
function ourInit(seed, hidden = 400, latent = 20) {
  const rng = new Rng(seed);
  const host = {};
  for (const [name, inputs, outputs] of LAYERS(hidden, latent)) {
    const bound = 1 / Math.sqrt(inputs);
    const uniform = (n) => Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * bound);
    host[name] = { inputs, outputs, weight: uniform(inputs * outputs), bias: uniform(outputs) };
  }
  return host;
}

/** A safetensors file with PyTorch's names and layouts (our model files). */
function parseSafetensors(buffer) {
  const view = new DataView(buffer);
  const headerLen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLen)));
  const tensor = (name) => {
    const [a, b] = header[name].data_offsets;
    return new Float32Array(buffer.slice(8 + headerLen + a, 8 + headerLen + b));
  };
  const host = {};
  for (const name of ['fc1', 'fc21', 'fc22', 'fc3', 'fc4']) {
    const [outputs, inputs] = header[`${name}.weight`].shape;
    host[name] = { inputs, outputs, weight: tensor(`${name}.weight`), bias: tensor(`${name}.bias`) };
  }
  return host;
}

/** Variables in TF.js's layout ([inputs, outputs], as tf.layers.dense keeps them). */
function toVariables(host) {
  const v = {};
  for (const [name, { inputs, outputs, weight, bias }] of Object.entries(host)) {
    const t = new Float32Array(inputs * outputs);
    for (let o = 0; o < outputs; o++) for (let i = 0; i < inputs; i++) t[i * outputs + o] = weight[o * inputs + i];
    v[name] = { w: tf.variable(tf.tensor2d(t, [inputs, outputs])), b: tf.variable(tf.tensor1d(bias)) };
  }
  return v;
}

const dense = (l, x, activation) => tf.fused.matMul({ a: x, b: l.w, bias: l.b, activation });

/** Per-image reconstruction (BCE from logits = softplus(l) − x·l, summed over pixels) and KL. */
function parts(v, x, eps) {
  const h = dense(v.fc1, x, 'relu');
  const mu = dense(v.fc21, h);
  const logvar = dense(v.fc22, h);
  const z = eps ? mu.add(logvar.mul(0.5).exp().mul(eps)) : mu;
  const logits = dense(v.fc4, dense(v.fc3, z, 'relu'));
  const recon = tf.softplus(logits).sub(x.mul(logits)).sum(1);
  const kl = logvar.add(1).sub(mu.square()).sub(logvar.exp()).sum(1).mul(-0.5);
  return [recon, kl];
}

class Trainer {
  constructor(v, latent = 20) {
    this.v = v;
    this.latent = latent;
    this.vars = Object.values(v).flatMap((l) => [l.w, l.b]);
    this.optimizer = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  }

  /** One Adam step; ε from the host when given, else TF.js's own normal RNG (on the backend). One
   *  read-back of the loss per step, as ours. */
  async step(xHost, n, epsHost) {
    const cost = tf.tidy(() => {
      const x = tf.tensor2d(xHost, [n, PIXELS]);
      const eps = epsHost ? tf.tensor2d(epsHost, [n, this.latent]) : tf.randomNormal([n, this.latent]);
      return this.optimizer.minimize(() => {
        const [recon, kl] = parts(this.v, x, eps);
        return recon.add(kl).mean();
      }, true, this.vars);
    });
    const loss = (await cost.data())[0];
    cost.dispose();
    return loss;
  }

  dispose() {
    this.vars.forEach((t) => t.dispose());
    this.optimizer.dispose();
  }
}

/** Inference::evaluate: chunks of 500 test digits, ε from `rng`; loss with z sampled and z = μ. */
async function evaluate(v, data, indices, rng, latent = 20) {
  const sums = [0, 0, 0, 0];
  for (let i = 0; i < indices.length; i += 500) {
    const chunk = indices.slice(i, i + 500);
    const n = chunk.length;
    const epsHost = rng.normals(n * latent);
    const t = tf.tidy(() => {
      const x = tf.tensor2d(images(data, chunk), [n, PIXELS]);
      const [r, k] = parts(v, x, tf.tensor2d(epsHost, [n, latent]));
      const [rm, km] = parts(v, x, null);
      return tf.stack([r.sum(), k.sum(), rm.sum(), km.sum()]);
    });
    const s = await t.data();
    t.dispose();
    s.forEach((value, j) => { sums[j] += value; });
  }
  const n = indices.length;
  return { loss: (sums[0] + sums[1]) / n, recon: sums[0] / n, kl: sums[1] / n, loss_mu: (sums[2] + sums[3]) / n };
}

async function check(data, batch) {
  const t0 = performance.now();
  const v = toVariables(ourInit(0));
  const untrained = await evaluate(v, data, data.test, new Rng(0));
  // Trainer::new: the order is shuffled by Rng(seed); ε comes from the same stream, step after step.
  const trainer = new Trainer(v);
  const rng = new Rng(0);
  const order = data.train.slice();
  rng.shuffle(order);
  let firstStepLoss = null;
  let trainTotal = 0;
  for (let i = 0; i < order.length; i += batch) {
    const chunk = order.slice(i, i + batch);
    const loss = await trainer.step(images(data, chunk), chunk.length, rng.normals(chunk.length * 20));
    firstStepLoss ??= loss;
    trainTotal += loss * chunk.length;
  }
  const epoch1 = await evaluate(v, data, data.test, new Rng(0 ^ 0x7e57));
  trainer.dispose();
  const model = toVariables(parseSafetensors(await (await fetch('/model/default.safetensors')).arrayBuffer()));
  const defaultModel = await evaluate(model, data, data.test, new Rng(0));
  Object.values(model).forEach((l) => { l.w.dispose(); l.b.dispose(); });
  return { untrained, firstStepLoss, epoch1: { train: trainTotal / order.length, ...epoch1 }, defaultModel, ms: performance.now() - t0 };
}

self.onmessage = async ({ data: { backend, batch = 128, hidden = 400, warmup = 3, steps = 20, check: doCheck = false } }) => {
  try {
    if (backend === 'wasm') {
      tf.wasm.setWasmPaths('/vendor/tfjs-backend-wasm/dist/');
      // The SIMD build on one thread, as our CPU module runs. (Its threaded SIMD build loads here,
      // but in a worker XNNPACK reports 1 thread and steps take as long.)
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    }
    if (!(await tf.setBackend(backend))) throw new Error(`TF.js could not start its ${backend} backend`);
    await tf.ready();
    const features = backend === 'wasm'
      ? {
        simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
        threads: tf.wasm.getThreadsCount(),
      }
      : { adapter: (await navigator.gpu?.requestAdapter())?.info?.description ?? null };
    const data = parseData(await (await fetch('/data/mnist.bin')).arrayBuffer());
    const readyMs = performance.now() - T0;
    const result = { backend: tf.getBackend(), version: tf.version.tfjs, features, batch, hidden, readyMs };
    if (doCheck) result.check = await check(data, batch);

    // Timing: our initial weights, our batch order, ε from TF.js's RNG; `warmup` steps, then `steps`.
    const trainer = new Trainer(toVariables(ourInit(0, hidden)));
    const order = data.train.slice();
    new Rng(1).shuffle(order);
    const ms = [];
    for (let s = 0; s < warmup + steps; s++) {
      const start = (s * batch) % (order.length - batch);
      const t0 = performance.now(); // the batch's gathering and conversion included, as in ours
      await trainer.step(images(data, order.slice(start, start + batch)), batch);
      ms.push(performance.now() - t0);
      // On the epoch's clock: the page turns it into ms since its own navigation, as ours is timed.
      if (s === 0) result.firstStepAt = performance.timeOrigin + performance.now();
    }
    trainer.dispose();
    const timed = ms.slice(warmup).sort((a, b) => a - b);
    result.firstStepMs = ms[0];
    result.stepMs = { median: timed[Math.floor(timed.length / 2)], min: timed[0], max: timed[timed.length - 1], n: timed.length };
    result.samplesPerSecond = (1000 * batch) / result.stepMs.median;
    result.firstStepAfterStartMs = readyMs + ms[0];
    self.postMessage(result);
  } catch (e) {
    self.postMessage({ error: String(e?.stack ?? e) });
  }
};
