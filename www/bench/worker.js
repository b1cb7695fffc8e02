// Times each operation the page uses on one backend, first call (kernel compiles) apart from the
// steady state, through the page's own wasm module (the Session API, as www/worker.js uses it).
// scripts/bench-browser.sh runs it on both backends beside the TF.js peer and prints the ratios.
// The CPU is timed in the CPU module (pkg-cpu), which a page without WebGPU runs on; WebGPU and the
// cross-backend check in the WebGPU module (pkg).
const moduleFor = (backend) => import(backend === 'cpu' ? '../pkg-cpu/vae_web.js' : '../pkg/vae_web.js');

async function bytes(url) {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

const median = (sorted) => sorted[Math.floor(sorted.length / 2)];

/** Runs `op` n times; first call apart, then the median (and spread) of the rest. */
async function time(n, op) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    ms.push(performance.now() - t0);
  }
  const rest = ms.slice(1).sort((a, b) => a - b);
  return { firstMs: ms[0], medianMs: rest.length ? median(rest) : ms[0], minMs: rest[0] ?? ms[0], maxMs: rest[rest.length - 1] ?? ms[0], n };
}

/** Sketch `i` of a series: a stroke (a thick line) whose angle, length and place change with i,
 *  so that no two analyses see the same input. 280 × 280 grey levels, as the page's canvas. */
function sketch(i) {
  const size = 280;
  const grey = new Float32Array(size * size);
  const angle = (i * 0.61) % Math.PI;
  const length = 80 + ((i * 37) % 80);
  const cx = 140 + ((i * 13) % 41) - 20;
  const cy = 140 + ((i * 29) % 41) - 20;
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  for (let t = -length; t <= length; t++) {
    const x = Math.round(cx + dx * t);
    const y = Math.round(cy + dy * t);
    for (let oy = -9; oy <= 9; oy++) for (let ox = -9; ox <= 9; ox++) {
      const px = x + ox;
      const py = y + oy;
      if (px >= 0 && px < size && py >= 0 && py < size && ox * ox + oy * oy <= 81) grey[py * size + px] = 1;
    }
  }
  return grey;
}

self.onmessage = async ({ data: msg }) => {
  const { mode, backend, batch, hidden, capture } = msg;
  const cap = capture ? await import('../diagnosis/capture.js') : null; // before init(): it patches WebGPU
  if (mode === 'check') {
    // The cross-backend check: the same problem on the CPU and on WebGPU (see crates/vae/src/device/check.rs).
    try {
      const t0 = performance.now();
      const { default: init, compareBackends } = await moduleFor('webgpu');
      await init();
      const { comparison, matmul } = JSON.parse(await compareBackends(await bytes('../data/mnist.bin')));
      self.postMessage({ comparison, matmul, ms: performance.now() - t0, capture: await cap?.report() });
    } catch (e) {
      self.postMessage({ error: String(e?.message ?? e), capture: await cap?.report() });
    }
    return;
  }
  // Counts (the WebGPU adapter here is a CPU, SwiftShader: the bench asks for fewer there).
  const { sketches = 200, samples = 20, warmup = 3, trainSteps = 20, epochCheck = false } = msg;
  try {
    const t0 = performance.now();
    const { default: init, Session } = await moduleFor(backend);
    await init();
    const [weights, data] = await Promise.all([bytes('../model/default.safetensors'), bytes('../data/mnist.bin')]);
    const session = await Session.create(weights, data, backend);
    const result = { backend: JSON.parse(session.backendInfo()), createMs: performance.now() - t0, batch, hidden };

    // The whole neighbour index, as the page has it once settled; each step is 500 digits.
    const index = [];
    for (let done = false; !done;) {
      const s = performance.now();
      done = JSON.parse(await session.indexStep()).done;
      index.push(performance.now() - s);
    }
    const indexRest = index.slice(1).sort((a, b) => a - b);
    result.indexStep = { firstMs: index[0], medianMs: indexRest.length ? median(indexRest) : index[0], steps: index.length };
    result.indexMs = index.reduce((a, b) => a + b, 0);

    // Sketch → full answer (reconstruction, loss and its parts, percentile, map place, 8 neighbours).
    // The sketches are drawn before the clock starts: the page reads its pad's pixels, it does
    // not draw them. Timed: the call, its figures parsed, its images (input, reconstruction, 8
    // neighbours) in hand, as the page's worker does.
    const drawn = Array.from({ length: sketches + 1 }, (_, i) => sketch(i));
    result.analyse = await time(sketches + 1, async (i) => {
      const answer = await session.analyse(drawn[i], 280, 280, 8);
      if (!answer) throw new Error(`analyse ${i}: no answer`);
      const figures = JSON.parse(answer.json);
      const images = answer.images;
      answer.free();
      if (figures.neighbours.length !== 8 || images.length !== 10 * 784) throw new Error(`analyse ${i}: no full answer`);
    });
    result.sample64 = await time(samples + 1, (i) => session.sample(64, 1, BigInt(i)));

    // Training from the default model (or random weights when the width differs); warm-up steps
    // first (kernel compiles, allocations), then the median step.
    session.trainStart(JSON.stringify({
      hidden, latent: 20, beta: 1, learningRate: 1e-3, batchSize: batch, epochs: 100, seed: 0, fromScratch: hidden !== 400,
    }));
    // One training step as the page's worker takes it (run, then applied).
    const trainStep = async () => {
      await session.trainStepRun(false, 0, 0n); // no snapshot, no samples
      return session.trainStepEnd();
    };
    const steps = [];
    for (let s = 0; s < warmup + trainSteps; s++) {
      const start = performance.now();
      await trainStep();
      steps.push(performance.now() - start);
    }
    await session.trainStop();
    const timed = steps.slice(warmup).sort((a, b) => a - b);
    result.trainStep = { firstMs: steps[0], medianMs: median(timed), minMs: timed[0], maxMs: timed[timed.length - 1], warmup, n: timed.length };
    result.samplesPerSecond = (1000 * batch) / result.trainStep.medianMs;

    // One epoch from random weights, seed 0: the first step's loss and the test loss after it must
    // be the ones the TF.js peer (and `vae train --epochs 1`) computes from the same numbers.
    if (epochCheck) {
      const c0 = performance.now();
      session.trainStart(JSON.stringify({
        hidden: 400, latent: 20, beta: 1, learningRate: 1e-3, batchSize: 128, epochs: 1, seed: 0, fromScratch: true,
      }));
      let firstStepLoss = null;
      let test = null;
      for (let guard = 0; !test && guard < 10_000; guard++) {
        const r = JSON.parse(await trainStep());
        if (r.diverged) throw new Error(`the check epoch diverged: ${r.diverged}`);
        firstStepLoss ??= r.report?.parts?.loss ?? null;
        test = r.test;
        if (r.finished && !test) break;
      }
      result.check = { firstStepLoss, epoch1: test, ms: performance.now() - c0 };
    }
    self.postMessage({ ...result, capture: await cap?.report() });
  } catch (e) {
    self.postMessage({ error: String(e?.message ?? e), capture: await cap?.report() });
  }
};
