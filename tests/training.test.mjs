// The training panel in a real browser, on the CPU backend and on WebGPU: training from random
// weights while the page stays responsive, the model and its history surviving a reload, a
// corrupt stored model, export and import (and a set of bad files refused), and divergence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BACKENDS, ROOT, VAE, openPage, traceDigit, readTiles, waitLoaded, wasmLimits, importFile, maxDifference, aTestDigit, trainStatus, setForm, stepAtLeast, trainStateIs, modelWorker } from './browser.mjs';

const THREE = aTestDigit(3);

const message = (page) => page.textContent('#model-message');
const modelInfo = (page) => page.textContent('#model-info');

/** The reconstruction of a traced digit, as grey levels. */
async function reconstructionOf(page, image) {
  await traceDigit(page, image);
  return (await readTiles(page, '#reconstruction', 1))[0];
}

/** Records every state of the neighbour list from now on (window.neighbourStates): how many there
 *  are, whether they are marked as updating (and the hint), whether the map says it is being
 *  rebuilt, and the score's percentile. */
function watchNeighbours(page) {
  return page.evaluate(() => {
    const states = (window.neighbourStates = []);
    const $ = (id) => document.getElementById(id);
    const record = () => states.push({
      neighbours: $('neighbours').children.length,
      updating: $('neighbours').getAttribute('aria-busy') === 'true',
      hint: $('nb-hint').textContent,
      mapUpdating: $('map-hint').textContent.startsWith('Updating the map'),
      percentile: $('score').dataset.percentile,
    });
    window.neighbourWatch = new MutationObserver(record);
    for (const id of ['neighbours', 'nb-hint', 'map-hint', 'score']) {
      window.neighbourWatch.observe($(id), { childList: true, subtree: true, attributes: true, characterData: true });
    }
    record();
  });
}

/** Rewrites the model stored in the page's IndexedDB with `change(record)`, a function that runs
 *  in the page. */
function updateStored(page, change) {
  return page.evaluate((source) => new Promise((resolve, reject) => {
    const change = (0, eval)(`(${source})`);
    const open = indexedDB.open('latent-sketchpad', 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('models', 'readwrite');
      const store = tx.objectStore('models');
      const get = store.get('current');
      get.onsuccess = () => store.put(change(get.result), 'current');
      tx.oncomplete = () => { open.result.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  }), change.toString());
}

const meanDiff = (a, b) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

// ---- safetensors, to make bad files from a good one ------------------------------------------------
function parseSafetensors(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const body = bytes.subarray(8 + n);
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const raw = body.subarray(t.data_offsets[0], t.data_offsets[1]);
    tensors[name] = { dtype: t.dtype, shape: t.shape, values: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)) };
  }
  return { metadata: header.__metadata__, tensors };
}

function writeSafetensors({ metadata, tensors }) {
  const header = metadata ? { __metadata__: metadata } : {};
  const chunks = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const raw = Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + raw.length] };
    chunks.push(raw);
    offset += raw.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json), ...chunks]);
}

/** Bad model files made from a good one, each with the words its refusal must contain. */
function badFiles(good, dir, maxModelBytes) {
  const model = () => parseSafetensors(good);
  const files = [];
  const add = (name, bytes, expect) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    files.push({ file, expect });
  };
  add('notes.safetensors', Buffer.from('these are my notes, not a model\n'), /not a safetensors file/);
  add('truncated.safetensors', good.subarray(0, Math.floor(good.length / 2)), /truncated/);
  const renamed = model();
  renamed.tensors['encoder.weight'] = renamed.tensors['fc1.weight'];
  delete renamed.tensors['fc1.weight'];
  add('renamed.safetensors', writeSafetensors(renamed), /missing tensor\(s\) fc1\.weight/);
  const reshaped = model();
  const fc3 = reshaped.tensors['fc3.weight'];
  fc3.shape = [fc3.shape[0], fc3.shape[1] + 1];
  fc3.values = new Float32Array(fc3.shape[0] * fc3.shape[1]);
  add('reshaped.safetensors', writeSafetensors(reshaped), /fc3\.weight/);
  const nan = model();
  nan.tensors['fc4.bias'].values[7] = NaN;
  add('nan.safetensors', writeSafetensors(nan), /fc4\.bias holds a non-finite value/);
  // A conditional model (kind cvae) becomes the reading model (tests/reading-training.test.mjs); a
  // broken one is refused as any other, the reading model and the page's kept.
  const conditional = parseSafetensors(fs.readFileSync(path.join(ROOT, 'www/model/conditional.safetensors')));
  conditional.tensors['fc21.bias'].values[3] = Infinity;
  add('conditional-inf.safetensors', writeSafetensors(conditional), /fc21\.bias holds a non-finite value/);
  // Hundreds of MB, refused before it is read (a sparse file: no disk is used).
  const huge = path.join(dir, 'huge.safetensors');
  fs.writeFileSync(huge, good);
  fs.truncateSync(huge, 300 * 2 ** 20);
  files.push({ file: huge, expect: new RegExp(`300 MB; a model file here is at most ${maxModelBytes / 2 ** 20} MB`) });
  return files;
}

// What the page does with stored records, the form and bad files does not depend on the backend;
// on SwiftShader each of those tests costs page loads with WebGPU's self-test and slow training
// steps for nothing the CPU run has not already shown.
const CPU_ONLY = 'the same on every backend: run on the CPU';

for (const webgpu of BACKENDS) {
  const backend = webgpu ? 'WebGPU' : 'CPU';
  // A training step on SwiftShader's WebGPU (a CPU emulating a GPU) takes about a second whatever
  // the model's size (docs/speed.md), so it trains a smaller model for fewer steps; the assertions are
  // the same.
  const run = webgpu
    ? { latent: 2, hidden: 32, batchSize: 256, epochs: 1, learningRate: 0.003 } // 36 steps
    : { latent: 2, hidden: 128, batchSize: 64, epochs: 2, learningRate: 0.001 }; // 2 × 141 steps

  // On WebGPU, training alone: "auto" keeps every job on the CPU on this software adapter
  // (page.test.mjs), and the sketches stay on the CPU while the GPU trains (the two devices at
  // once). Every job on WebGPU is page.test.mjs's.
  const query = webgpu ? '?backend=webgpu-training' : '';
  test(`training panel on ${backend}`, { timeout: 1_800_000 }, async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'models-'));
    const p = await openPage({ webgpu, query });
    const { page } = p;
    // The PCA map, whose rebuilding for each new model the subtests watch (the default model's
    // first map is its t-SNE map).
    await page.getByLabel('Map method', { exact: true }).selectOption({ label: 'PCA' });
    let exported; // the trained model's file
    let trained; // its reconstruction of THREE
    try {
      await t.test('trains from random weights while the page stays responsive', async () => {
        assert.equal(await page.getAttribute('#backend', 'data-kind'), webgpu ? 'mixed' : 'cpu');
        if (webgpu) {
          const places = await page.$$eval('#backend-jobs li', (lis) => lis.map((li) => [li.dataset.job, li.dataset.place]));
          assert.deepEqual(places, [['sketch', 'cpu'], ['index', 'cpu'], ['training', 'webgpu']]);
        }
        assert.equal((await trainStatus(page)).state, 'idle');
        const samplesBefore = await readTiles(page, '#train-samples', 4, 4);
        const mapBefore = Number(await page.getAttribute('#map', 'data-generation'));
        // A sketch on the pad: its neighbours must stay on screen while the index is rebuilt.
        await traceDigit(page, THREE);
        await watchNeighbours(page);
        await setForm(page, run);
        await page.getByRole('button', { name: 'Start from random weights' }).click();
        await stepAtLeast(page, 5, 600_000);
        assert.equal((await trainStatus(page)).state, 'running');
        assert.equal(await page.getByRole('button', { name: 'Pause' }).count(), 1, 'Train becomes Pause');
        await page.waitForFunction(() => /samples\/s · ETA \d+:\d\d/.test(document.getElementById('train-status').textContent));
        assert.match((await trainStatus(page)).text, /^Epoch \d+ · step \d+ · loss \d+\.\d/);
        assert.ok(Number((await trainStatus(page)).samplesPerSecond) > 0, 'samples/s is measured');
        assert.ok(await page.$eval('#train-progress', (e) => e.value > 0 && e.value < 1), 'the progress bar moves');
        assert.match(await modelInfo(page), /784 → \d+ → 2 → \d+ → 784/);

        // A stroke while training: drawn at once, answered soon (the worker puts the page's calls
        // before its next training step).
        await page.locator('#pad').scrollIntoViewIfNeeded();
        const box = await page.locator('#pad').boundingBox();
        const answered = await page.evaluate(() => (window.strokeAnswerMs ?? []).length);
        // Left of the traced 3 (MNIST digits keep clear of the image's outer 4 pixels, 40 here).
        const inked = () => page.$eval('#pad', (c) => {
          const d = c.getContext('2d').getImageData(15, 100, 10, 80).data;
          return d.filter((v, i) => i % 4 === 0 && v < 128).length;
        });
        assert.equal(await inked(), 0, 'the band is blank before the stroke');
        // Meanwhile, how long the worker's event loop is held: a training step must leave it free
        // while the device works (wasm-ld's constructors, once run at every call into the module,
        // held it 1.0–1.4 s of each 1.1 s WebGPU step here, so a stroke waited for the step).
        const worker = modelWorker(page);
        await worker.evaluate(() => {
          const probe = (self.eventLoopProbe = { since: performance.now(), held: 0, longest: 0 });
          let last = probe.since;
          probe.timer = setInterval(() => {
            const now = performance.now();
            const held = now - last - 10;
            if (held > 40) { probe.held += held; probe.longest = Math.max(probe.longest, held); }
            last = now;
          }, 10);
        });
        // Three strokes, each waited for: on SwiftShader the "GPU" is this machine's two cores, so
        // a stroke competes with the training step for them and one answer can be late; the
        // median is the page's latency. Nothing the page asks during a run waits for a step: the
        // grid of training samples comes with the steps (asked for, it waited for the step under
        // way, and a stroke behind it too: 550–650 ms here on WebGPU).
        const answerMs = [];
        for (const x of [20, 26, 32]) {
          await page.mouse.move(box.x + x, box.y + 60);
          await page.mouse.down();
          await page.mouse.move(box.x + x, box.y + 220, { steps: 8 });
          await page.mouse.up();
          assert.ok(await inked() > 100, 'the stroke is on the pad');
          await page.waitForFunction((n) => (window.strokeAnswerMs ?? []).length > n, answered + answerMs.length, { timeout: 120_000 });
          answerMs.push(await page.evaluate(() => window.strokeAnswerMs.at(-1)));
        }
        const median = [...answerMs].sort((a, b) => a - b)[1];
        t.diagnostic(`${backend}: strokes answered in ${answerMs.map((ms) => ms.toFixed(0)).join(', ')} ms during training (median ${median.toFixed(0)})`);
        const loop = await worker.evaluate(() => {
          const probe = self.eventLoopProbe;
          clearInterval(probe.timer);
          return { share: probe.held / (performance.now() - probe.since), longest: probe.longest };
        });
        t.diagnostic(`${backend}: the worker's event loop held ${(100 * loop.share).toFixed(0)} % of the time meanwhile (longest ${loop.longest.toFixed(0)} ms)`);
        assert.ok(loop.share < 0.5, `the worker was held ${(100 * loop.share).toFixed(0)} % of the time`);
        // On WebGPU a step takes seconds here: the strokes are answered while the GPU trains.
        assert.ok(median < 200, `strokes answered in ${answerMs.join(', ')} ms`);
        assert.equal((await trainStatus(page)).state, 'running', 'the stroke was answered during training');

        await trainStateIs(page, 'idle', 1_500_000);
        const s = await trainStatus(page);
        const steps = await page.evaluate(() => Number(document.getElementById('train-status').dataset.step));
        assert.equal(steps, run.epochs * Math.ceil(9003 / run.batchSize), `trained ${steps} steps`);
        assert.match(await message(page), new RegExp(`Training finished: test loss \\d+\\.\\d+ nats after epoch ${run.epochs}`));
        assert.ok(Number(s.testLoss) < 300, `test loss ${s.testLoss}`);
        // The loss curve holds every step; the loss fell from the random start (~543 nats).
        assert.equal(Number(await page.getAttribute('#loss-curve', 'data-points')), steps);
        assert.ok(Number(s.loss) < 0.6 * 543, `last step's loss ${s.loss}`);
        // Samples changed; the map was redrawn for the new weights: each time a model's index is
        // whole, so for the last epoch's weights, and on the CPU also for an earlier model (index
        // and training steps take turns: the CPU run's 282 steps leave time for 87 index steps,
        // WebGPU's 36 do not).
        const samplesAfter = await readTiles(page, '#train-samples', 4, 4);
        assert.ok(meanDiff(samplesBefore.flat(), samplesAfter.flat()) > 0.05, 'the training samples changed');
        await page.waitForSelector('body[data-indexed="true"]');
        const redraws = webgpu ? 1 : 2;
        await page.waitForFunction(([g, n]) => Number(document.getElementById('map').dataset.generation) >= g + n, [mapBefore, redraws], { timeout: 600_000 });
        assert.deepEqual(p.errors, []);
      });

      await t.test('while the index is rebuilt, the neighbours stay on screen, marked as updating', async () => {
        // Once the last index is whole and the sketch answered against it, the mark goes.
        await page.waitForFunction(() => document.body.dataset.indexed === 'true' && document.body.dataset.idle === 'true'
          && document.getElementById('neighbours').getAttribute('aria-busy') === 'false', null, { timeout: 300_000 });
        // Every state of the neighbours, the map's hint and the score since training started.
        const seen = await page.evaluate(() => { window.neighbourWatch.disconnect(); return window.neighbourStates; });
        t.diagnostic(`${backend}: ${seen.length} states seen, ${seen.filter((r) => r.updating).length} marked as updating`);
        assert.ok(seen.some((r) => r.mapUpdating), 'the map was rebuilt');
        assert.ok(seen.some((r) => r.updating && r.hint.startsWith('Updating for the new weights')), 'the neighbours were marked as updating, with a hint');
        for (const r of seen) {
          assert.equal(r.neighbours, 8, `the neighbour list had ${r.neighbours} entries: ${JSON.stringify(r)}`);
          assert.ok(r.percentile !== undefined, `the score lost its percentile: ${JSON.stringify(r)}`);
          if (r.mapUpdating) assert.ok(r.updating, `the map is updating but the neighbours are not marked: ${JSON.stringify(r)}`);
        }
        assert.equal(await page.$$eval('#neighbours li', (l) => l.length), 8);
        assert.equal(await page.textContent('#nb-hint'), await page.evaluate(() => window.neighbourStates[0].hint), 'the hint is back');
        // The trained model's reconstruction, for the subtests below (the watch above is over:
        // tracing again clears the pad).
        trained = await reconstructionOf(page, THREE);
      });

      // The stored model is the weights the page answers with, read back from the training device
      // (on WebGPU the export and the fresh page's import below check that read); storing and
      // loading are the same on every backend.
      await t.test('the trained model and its history come back after a reload', { skip: webgpu && CPU_ONLY }, async () => {
        const before = { status: await trainStatus(page), info: await modelInfo(page) };
        await p.reload();
        const after = await trainStatus(page);
        assert.equal(after.step, before.status.step);
        assert.equal(after.testLoss, before.status.testLoss);
        assert.equal(await page.getAttribute('#loss-curve', 'data-points'), before.status.step);
        assert.equal(await modelInfo(page), before.info);
        assert.match(await message(page), /from your last visit is back/);
        assert.ok(maxDifference(await reconstructionOf(page, THREE), trained) <= 1 / 255, 'same weights');
      });

      await t.test('a model stored by the previous version ({weights, history}) still loads', { skip: webgpu && CPU_ONLY }, async () => {
        const before = await modelInfo(page);
        await updateStored(page, (stored) => {
          // The model's safetensors file out of the core's record (a safetensors file itself).
          const bytes = stored.record;
          const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
          const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
          const [from, to] = header.model.data_offsets;
          const weights = bytes.slice(8 + length + from, 8 + length + to);
          return { weights, history: { steps: [], tests: [] }, run: null, writeId: stored.writeId };
        });
        await p.reload();
        assert.match(await message(page), /from your last visit is back/);
        assert.equal(await modelInfo(page), before);
        assert.ok(maxDifference(await reconstructionOf(page, THREE), trained) <= 1 / 255, 'same weights');
        assert.deepEqual(p.errors, []);
      });

      await t.test('Export model downloads the safetensors file', async () => {
        const download = page.waitForEvent('download');
        await page.getByRole('button', { name: 'Export model' }).click();
        const file = path.join(tmp, (await download).suggestedFilename());
        await (await download).saveAs(file);
        assert.match(path.basename(file), /^latent-sketchpad-z2-h\d+\.safetensors$/);
        exported = fs.readFileSync(file);
        const { metadata, tensors } = parseSafetensors(exported);
        assert.equal(metadata.latent, '2');
        assert.equal(metadata.hidden, String(run.hidden));
        assert.deepEqual(Object.keys(tensors).sort(), ['fc1.bias', 'fc1.weight', 'fc21.bias', 'fc21.weight', 'fc22.bias',
          'fc22.weight', 'fc3.bias', 'fc3.weight', 'fc4.bias', 'fc4.weight']);
        assert.deepEqual(tensors['fc1.weight'].shape, [run.hidden, 784]);
      });

      await t.test('lr 10 diverges: training stops, the weights come back, the page says so', async () => {
        await setForm(page, { learningRate: 10, epochs: 1 });
        await page.getByRole('button', { name: 'Train' }).click();
        await trainStateIs(page, 'diverged', 600_000);
        assert.match(await message(page), /training diverged at step \d+: /);
        assert.match(await message(page), /Training stopped; the model from before training is back/);
        assert.equal(await page.getByRole('button', { name: 'Train' }).count(), 1);
        assert.ok(maxDifference(await reconstructionOf(page, THREE), trained) <= 1 / 255, 'the weights from before training');
        assert.deepEqual(p.errors, []);
      });

      await t.test('out-of-range settings are refused in the form', { skip: webgpu && CPU_ONLY }, async () => {
        const limits = await wasmLimits(page);
        const cases = [['learningRate', limits.learningRate.max * 1.1, 'Learning rate'], ['learningRate', 0, 'Learning rate'],
          ['batchSize', 0, 'Batch size'], ['batchSize', 1.5, 'Batch size'], ['latent', 0, 'Latent size'],
          ['beta', -1, 'β'], ['epochs', '', 'Epochs'], ['latent', limits.latent.max + 1, 'Latent size'],
          ['hidden', limits.hidden.max + 1, 'Hidden width'], ['batchSize', limits.batchSize.max + 1, 'Batch size'],
          ['epochs', limits.epochs.max + 1, 'Epochs'], ['beta', limits.beta.max + 1, 'β']];
        for (const [name, value, label] of cases) {
          await setForm(page, { ...run, beta: 1, learningRate: 0.001, [name]: value });
          await page.getByRole('button', { name: 'Train' }).click();
          assert.notEqual((await trainStatus(page)).state, 'running', `${name} = ${value} must not start training`);
          assert.match(await message(page), new RegExp(`^${label}`), `${name} = ${value} gets a message`);
        }
        await setForm(page, { ...run, beta: 1, learningRate: 0.001 });
      });

      await t.test('extreme valid settings train: Pause, Resume and Stop work', async () => {
        // latent 1, batch 1, β 0 and lr 1e-6 are all accepted by the form and must not break anything.
        await setForm(page, { latent: 1, hidden: 8, beta: 0, learningRate: 0.000001, batchSize: 1, epochs: 1 });
        // With the t-SNE map shown: it waits while the run trains (each epoch's end would begin it
        // again, and its steps would slow the training) and is made while the run is paused.
        await page.selectOption('#map-method', 'tsne');
        const mapHint = (pattern) => page.waitForFunction((p) => new RegExp(p).test(document.getElementById('map-hint').textContent), pattern.source, { timeout: 120_000 });
        await page.getByRole('button', { name: 'Start from random weights' }).click();
        await stepAtLeast(page, 5, 300_000);
        await mapHint(/The t-SNE map of the current weights is made when training pauses or ends/);
        assert.equal(await page.$eval('#tsne-progress', (e) => e.hidden), true, 'no t-SNE progress while the run trains');
        await page.getByRole('button', { name: 'Pause' }).click();
        assert.equal((await trainStatus(page)).state, 'paused');
        await page.waitForTimeout(webgpu ? 3000 : 300); // the step under way ends
        const paused = Number((await trainStatus(page)).step);
        await page.waitForTimeout(1500);
        assert.ok(Number((await trainStatus(page)).step) <= paused + 1, 'no steps while paused (one may have been under way)');
        await mapHint(/^Making the t-SNE map of the current weights: \d+%/);
        await page.getByRole('button', { name: 'Resume' }).click();
        await stepAtLeast(page, paused + 3, 300_000);
        await mapHint(/made when training pauses or ends/);
        // PCA for the tests that follow (the choice is remembered): Stop's new model drops the
        // half-made map, and no other is begun.
        await page.selectOption('#map-method', 'pca');
        await page.getByRole('button', { name: 'Stop' }).click();
        await trainStateIs(page, 'idle');
        assert.match(await message(page), /Training stopped; the page uses the weights it reached/);
        assert.match(await modelInfo(page), /784 → 8 → 1 → 8 → 784, β = 0/);
        await page.waitForSelector('body[data-indexed="true"]');
        await reconstructionOf(page, THREE);
        assert.ok(Number.isFinite(Number(await page.getAttribute('#score', 'data-loss'))), 'a 1-D model scores a sketch');
        assert.deepEqual(p.errors, []);
      });

      await t.test('a corrupt stored model is ignored: the default loads, with a message', { skip: webgpu && CPU_ONLY }, async () => {
        // A record cut short.
        await updateStored(page, (stored) => ({ ...stored, record: stored.record.slice(0, stored.record.length - 1) }));
        await p.reload();
        assert.match(await message(page), /The model stored in this browser could not be used \(invalid input: not a record of a model this page can read: not a safetensors file/);
        assert.match(await modelInfo(page), /784 → 400 → 20 → 400 → 784/);
        assert.equal((await trainStatus(page)).step, '0');
        // The previous version's form, with weights that are not a model file.
        await updateStored(page, () => ({ weights: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), history: { steps: [], tests: [] } }));
        await p.reload();
        assert.match(await message(page), /The model stored in this browser could not be used \(invalid weights: not a safetensors file/);
        assert.match(await modelInfo(page), /784 → 400 → 20 → 400 → 784/);
        assert.equal((await trainStatus(page)).step, '0');
      });

      await t.test('the whole session kept to the page\'s origin and its content policy', () => {
        assert.deepEqual(p.foreignRequests, []);
        assert.deepEqual(p.violations, []);
      });
    } finally {
      await p.close();
    }

    assert.ok(exported, 'the export step ran');
    // The fresh page on the CPU, whatever the first one trained on: the first page answered its
    // sketches on the CPU too (training alone was on WebGPU), so the same computation is compared;
    // what WebGPU adds is the export itself, read back from the training device. (A page with
    // WebGPU costs its self-test and warm-up: ≈ 25 s here.)
    const fresh = await openPage({ webgpu: false });
    try {
      await t.test('an exported model imports into a fresh page with identical reconstructions', async () => {
        const good = path.join(tmp, 'exported.safetensors');
        fs.writeFileSync(good, exported);
        assert.match(await importFile(fresh.page, good), /Imported exported\.safetensors/);
        await waitLoaded(fresh.page);
        assert.match(await modelInfo(fresh.page), new RegExp(`784 → ${run.hidden} → 2 → ${run.hidden} → 784`));
        // The first page's reconstruction of the same strokes, by the same weights on the same backend.
        assert.ok(maxDifference(await reconstructionOf(fresh.page, THREE), trained) <= 1 / 255, 'identical reconstructions');
      });

      await t.test('bad model files are refused with what is wrong; the model stays', { skip: webgpu && CPU_ONLY }, async () => {
        const info = await modelInfo(fresh.page);
        const before = await reconstructionOf(fresh.page, THREE);
        const { maxModelBytes } = await wasmLimits(fresh.page);
        for (const { file, expect } of badFiles(exported, tmp, maxModelBytes)) {
          const text = await importFile(fresh.page, file);
          assert.match(text, new RegExp(`Could not import ${path.basename(file)}`));
          assert.match(text, expect, `${path.basename(file)}: ${text}`);
          assert.match(text, /The current model is kept/);
          assert.equal(await modelInfo(fresh.page), info);
        }
        assert.equal(maxDifference(await reconstructionOf(fresh.page, THREE), before), 0, 'the weights did not change');
        assert.deepEqual(fresh.errors, []);
      });

      // The page's training is the core's: one epoch from the same seed and settings reaches the
      // CLI's test loss (CPU only: an epoch of the default model takes minutes on SwiftShader).
      await t.test('one epoch in the page reaches the CLI\'s test loss', { skip: webgpu && 'CPU only' }, async () => {
        const page = fresh.page;
        await setForm(page, { latent: 20, hidden: 400, beta: 1, learningRate: 0.001, batchSize: 128, epochs: 1 });
        const t0 = Date.now();
        await page.getByRole('button', { name: 'Start from random weights' }).click();
        await page.waitForFunction(() => document.getElementById('train-status').dataset.testLoss, null, { timeout: 600_000 });
        const seconds = (Date.now() - t0) / 1000;
        const pageLoss = Number((await trainStatus(page)).testLoss);
        const cli = execFileSync(VAE, ['train', '--epochs', '1', '--seed', '0', '--out', path.join(tmp, 'cli.safetensors')], { encoding: 'utf8' });
        const cliLoss = Number(/test loss (\d+\.\d+)/.exec(cli)[1]);
        t.diagnostic(`test loss after 1 epoch (seed 0, defaults): page ${pageLoss.toFixed(2)} in ${seconds.toFixed(1)} s, CLI ${cliLoss.toFixed(2)}`);
        assert.ok(Math.abs(pageLoss - cliLoss) < 0.5, `page ${pageLoss} vs CLI ${cliLoss}`);
      });

      await t.test('the fresh page kept to its origin and its content policy', () => {
        assert.deepEqual(fresh.foreignRequests, []);
        assert.deepEqual(fresh.violations, []);
      });
    } finally {
      await fresh.close();
    }
  });
}
