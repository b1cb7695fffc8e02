// Times each operation the page uses, first call (kernel compiles) apart from the steady state.
import init, { Sketchpad, compareBackends } from '../pkg/vae_web.js';

async function bytes(url) {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

async function time(n, op) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    ms.push(performance.now() - t0);
  }
  const rest = ms.slice(1).sort((a, b) => a - b);
  return { firstMs: ms[0], medianMs: rest[Math.floor(rest.length / 2)] ?? ms[0] };
}

self.onmessage = async ({ data: { mode, backend, batch, hidden, capture } }) => {
  const cap = capture ? await import('./capture.js') : null; // before init(): it patches WebGPU
  if (mode === 'check') {
    // The cross-backend check: the same problem on the CPU and on WebGPU (see crates/vae/src/check.rs).
    try {
      const t0 = performance.now();
      await init();
      const comparison = JSON.parse(await compareBackends(await bytes('../data/mnist.bin')));
      self.postMessage({ comparison, ms: performance.now() - t0, capture: await cap?.report() });
    } catch (e) {
      self.postMessage({ error: String(e?.message ?? e), capture: await cap?.report() });
    }
    return;
  }
  try {
    const t0 = performance.now();
    await init();
    const [weights, data] = await Promise.all([bytes('../model/default.safetensors'), bytes('../data/mnist.bin')]);
    const pad = await Sketchpad.create(weights, data, backend);
    const result = { backend: JSON.parse(pad.backendInfo()), createMs: performance.now() - t0, batch, hidden };
    const grey = new Float32Array(280 * 280);
    for (let y = 60; y < 220; y++) for (let x = 130; x < 150; x++) grey[y * 280 + x] = 1;
    result.indexStep = await time(4, () => pad.indexStep());
    result.analyse = await time(6, () => pad.analyse(grey, 280, 280, 8));
    result.sample64 = await time(6, (i) => pad.sample(64, 1, BigInt(i)));
    pad.trainStart(JSON.stringify({
      hidden, latent: 20, beta: 1, learningRate: 1e-3, batchSize: batch, epochs: 1, seed: 0, fromScratch: hidden !== 400,
    }));
    result.trainStep = await time(12, () => pad.trainStep());
    result.samplesPerSecond = (1000 * batch) / result.trainStep.medianMs;
    self.postMessage({ ...result, capture: await cap?.report() });
  } catch (e) {
    self.postMessage({ error: String(e?.message ?? e), capture: await cap?.report() });
  }
};
