// The reading model (the conditional one, kind cvae: the Reading, the redraws, "Digit to sample")
// trained in a real browser, on the CPU backend and with WebGPU, with real pointer strokes: "Learn
// my hand" on it with 30 digits traced in a slanted hand lowers their held-out loss while it still
// reads the test split within 2 points; the tuned model is exported and read by the real CLI (`vae
// read`, `vae eval`), kept across a reload and imported back; and a short run from random weights
// ends with the Reading coming from the new model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  BACKENDS, VAE, ROOT, openPage, dataset, aTestDigit, traceDigitQuickly, setForm, trainStateIs, slantedDigits, keep,
  readTiles, writeFloatIdx, importFile,
} from './browser.mjs';

// The reading model the page fetches (8-bit weights; worker/modules.js).
const SHIPPED = path.join(ROOT, 'www/model/conditional-q8.safetensors');

/** The Reading on screen: its digit, the ten confidences, and the ten redraws (28×28 each, as
 *  painted: a clean digit's confidence is 1 to many places under any good model, its redraws are not). */
async function reading(page) {
  const el = await page.$eval('#reading', (e) => ({ ...e.dataset }));
  const redraws = await Promise.all([...Array(10).keys()].map(async (d) => (await readTiles(page, `#redraws li:nth-child(${d + 1}) canvas`, 1))[0]));
  return { digit: Number(el.digit), confidence: el.confidence.split(',').map(Number), redraws };
}

/** The largest difference between two readings' redraws, grey levels 0–1. */
const redrawDifference = (a, b) => Math.max(...a.redraws.map((img, d) => largestDifference(img, b.redraws[d])));
/** Two readings by the same model: the same confidences and redraws (as painted). */
const sameReading = (a, b) => largestDifference(a.confidence, b.confidence) < 1e-6 && redrawDifference(a, b) <= 1 / 255;

/** Traces `image` (a 28×28 digit) and waits until the Reading is of it (a new one on screen). */
async function readingOf(page, cdp, image) {
  await page.click('#clear');
  await page.waitForFunction(() => document.getElementById('reading').dataset.digit === undefined);
  await traceDigitQuickly(page, cdp, image);
  await page.waitForFunction(() => document.getElementById('reading').dataset.digit !== undefined);
  return reading(page);
}

const largestDifference = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

/** Clicks the training panel's "Export reading model"; the file saved in `dir`. */
async function exportReadingModel(page, dir) {
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export reading model' }).click();
  const d = await download;
  const file = path.join(dir, d.suggestedFilename());
  await d.saveAs(file);
  return file;
}

/** `vae read --model model` of 28×28 images: [{digit, confidence}]. */
function readByCli(dir, model, images) {
  const file = path.join(dir, `images-${process.hrtime.bigint()}`);
  writeFloatIdx(file, images);
  return JSON.parse(execFileSync(VAE, ['read', '--model', model, '--images', file, '--json'], { encoding: 'utf8' })).readings;
}

/** The share of the first `n` test digits `vae read` reads right with `model`, in %. */
function cliTestReading(dir, model, n) {
  const data = dataset();
  const test = [];
  for (let i = 0; i < data.n && test.length < n; i++) if (data.isTest(i)) test.push(i);
  const readings = readByCli(dir, model, test.map((i) => data.image(i)));
  return (100 * readings.filter((r, k) => r.digit === data.label(test[k])).length) / n;
}

for (const webgpu of BACKENDS) {
  const backend = webgpu ? 'WebGPU' : 'CPU';
  test(`the reading model trained, tuned, exported, kept and imported in the page on ${backend}`, { timeout: 1_800_000 }, async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reading-training-'));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const p = await openPage({ webgpu });
    const { page } = p;
    const cdp = await page.context().newCDPSession(page);
    const seven = aTestDigit(7);
    const modelToTrain = page.getByRole('combobox', { name: 'Model to train' });
    let tuned; // the tuned reading model's file and its reading of the 7
    try {
      await page.waitForSelector('body[data-conditional="true"]', { timeout: 120_000 });
      const shipped = await readingOf(page, cdp, seven);

      await t.test('"Learn my hand" on the reading model lowers the held-out loss and keeps reading the test digits', async () => {
        const hand = slantedDigits(30);
        for (const [i, { label, image }] of hand.entries()) {
          await traceDigitQuickly(page, cdp, image);
          await keep(page, label, i + 1);
        }
        await modelToTrain.selectOption('cvae');
        await page.waitForSelector('#train-form[data-kind="cvae"]');
        // The form shows the reading model's shape (the shipped one: 794 → 400 → 8 + 10, β 5).
        assert.deepEqual(await page.$eval('#train-form', (f) => [f.elements.hidden.value, f.elements.latent.value, f.elements.beta.value]), ['400', '8', '5']);
        assert.match(await page.textContent('#model-info'), /^Reading model \(conditional\): 784 \+ 10 \(the digit\) → 400 → 8/);
        await setForm(page, { learningRate: 0.001, batchSize: 128 });
        const t0 = Date.now();
        await page.getByRole('button', { name: 'Learn my hand' }).click();
        await trainStateIs(page, 'running');
        assert.match(await page.textContent('#model-message'), /Learning your hand from 24 of your digits, 32 of each batch of 128; 6 held out/);
        assert.ok(await modelToTrain.isDisabled(), 'the model to train is locked during its run');
        await trainStateIs(page, 'idle', 1_200_000);
        // The tuned model's figures: a later model than the one measured before.
        await page.waitForFunction(() => {
          const { kind, nowGeneration, beforeGeneration } = document.getElementById('hand-report').dataset;
          return kind === 'cvae' && Number(nowGeneration) > Number(beforeGeneration);
        }, null, { timeout: 600_000 });
        const r = await page.$eval('#hand-report', (e) => ({ ...e.dataset, text: e.textContent }));
        const figure = (name) => Number(r[name]);
        console.log(`${backend}: "Learn my hand" on the reading model (3 epochs, batch 128, 25 %) took ${((Date.now() - t0) / 1000).toFixed(1)} s; `
          + `held-out loss ${figure('beforeLoss').toFixed(2)} → ${figure('nowLoss').toFixed(2)} nats, read right ${r.beforeRead} → ${r.nowRead} of ${r.heldOut}; `
          + `test split read right ${figure('beforeTestRead').toFixed(2)} → ${figure('nowTestRead').toFixed(2)} %, its loss ${figure('beforeTestLoss').toFixed(2)} → ${figure('nowTestLoss').toFixed(2)} nats`);
        assert.equal(r.heldOut, '6');
        assert.ok(figure('nowLoss') < figure('beforeLoss'), `held-out loss ${r.beforeLoss} → ${r.nowLoss}`);
        assert.ok(figure('nowTestRead') >= figure('beforeTestRead') - 2, `test split read right ${r.beforeTestRead} → ${r.nowTestRead} %`);
        assert.match(r.text, /^Your 6 held-out digits, reading model \(conditional\)\. Before learning your hand: loss \d+\.\d nats, \d of 6 read right \(the model's reading\); test digits' loss \d+\.\d nats, \d+\.\d % of them read right\. Now: /);
        // The Reading comes from the tuned model at once.
        const now = await readingOf(page, cdp, seven);
        assert.ok(redrawDifference(now, shipped) > 0.05, `the redraws changed with the model (by ${redrawDifference(now, shipped)})`);
        tuned = { reading: now };
      });

      await t.test('exported, the real CLI reads the tuned model; a reload keeps it; imported back, it reads again', async () => {
        const file = await exportReadingModel(page, tmp);
        assert.equal(path.basename(file), 'latent-sketchpad-cvae-z8-h400.safetensors');
        assert.notDeepEqual(fs.readFileSync(file), fs.readFileSync(SHIPPED), 'not the shipped model');
        // The CLI reads the pad's input as the page did.
        const [input] = await readTiles(page, '#input', 1);
        const [cli] = readByCli(tmp, file, [input]);
        assert.equal(cli.digit, tuned.reading.digit);
        assert.ok(largestDifference(cli.confidence, tuned.reading.confidence) < 0.05, `CLI ${cli.confidence} vs page ${tuned.reading.confidence}`);
        const share = cliTestReading(tmp, file, 200);
        const evaluated = JSON.parse(execFileSync(VAE, ['eval', '--model', file, '--json'], { encoding: 'utf8' }));
        t.diagnostic(`vae read with the exported model: ${share.toFixed(1)} % of 200 test digits right; vae eval: loss ${evaluated.loss_mu.toFixed(2)} nats (z = μ)`);
        assert.ok(share >= 90, `${share} % read right`);
        assert.ok(Number.isFinite(evaluated.loss_mu), JSON.stringify(evaluated));
        tuned.file = file;

        const shippedAsked = [];
        const onRequest = (request) => { if (new URL(request.url()).pathname === '/model/conditional-q8.safetensors') shippedAsked.push(request.url()); };
        page.on('request', onRequest);
        await p.reload();
        // Its own model from the record, then again once the page has answered; the shipped one,
        // which it would not take, is not even fetched.
        await page.waitForFunction(() => Number(document.body.dataset.conditionalEvents) >= 2, null, { timeout: 120_000 });
        page.off('request', onRequest);
        assert.deepEqual(shippedAsked, [], 'the shipped reading model is not fetched for a page that keeps its own');
        const kept = await readingOf(page, cdp, seven);
        assert.ok(sameReading(kept, tuned.reading), `after a reload: ${kept.confidence}, before it: ${tuned.reading.confidence}`);

        // The shipped model imported: the Reading is its again; the tuned file imported back: the tuned one's.
        assert.match(await importFile(page, SHIPPED), /^Imported conditional-q8\.safetensors as the reading model \(conditional\)/);
        const again = await readingOf(page, cdp, seven);
        assert.ok(sameReading(again, shipped), 'the shipped model reads as at first');
        assert.equal(await modelToTrain.inputValue(), 'cvae');
        assert.match(await importFile(page, file), /^Imported latent-sketchpad-cvae-z8-h400\.safetensors as the reading model/);
        const back = await readingOf(page, cdp, seven);
        assert.ok(sameReading(back, tuned.reading), 'the tuned model reads as before');
      });

      await t.test('a short run of the reading model from random weights ends, and the Reading comes from it', async () => {
        await modelToTrain.selectOption('cvae');
        await setForm(page, { latent: 8, hidden: 64, beta: 1, learningRate: 0.002, batchSize: 128, epochs: 1 });
        await page.getByRole('button', { name: 'Start from random weights' }).click();
        await trainStateIs(page, 'running');
        await trainStateIs(page, 'idle', 600_000);
        const said = await page.textContent('#model-message');
        assert.match(said, /^Training finished: test loss \d+\.\d\d nats after epoch 1\. The Reading, the redraws and "Digit to sample" use the new reading model\.$/);
        assert.match(await page.textContent('#model-info'), /^Reading model \(conditional\): 784 \+ 10 \(the digit\) → 64 → 8/);
        const fresh = await readingOf(page, cdp, seven);
        assert.ok(redrawDifference(fresh, tuned.reading) > 0.05, 'the new model redraws');
        const file = await exportReadingModel(page, tmp);
        assert.equal(path.basename(file), 'latent-sketchpad-cvae-z8-h64.safetensors');
        const [input] = await readTiles(page, '#input', 1);
        const [cli] = readByCli(tmp, file, [input]);
        assert.equal(cli.digit, fresh.digit, 'the CLI reads the pad as the page did');
        const share = cliTestReading(tmp, file, 200);
        t.diagnostic(`one epoch from random weights (hidden 64): vae read gets ${share.toFixed(1)} % of 200 test digits right`);
        assert.ok(share >= 70, `${share} % read right after one epoch`);
        // The page's own model is untouched: its form and shape are as they were.
        await modelToTrain.selectOption('vae');
        await page.waitForSelector('#train-form[data-kind="vae"]');
        assert.match(await page.textContent('#model-info'), /^Model: 784 → 400 → 20 → 400 → 784/);
      });
      assert.deepEqual(p.errors, []);
    } finally {
      await p.close();
    }
  });
}
