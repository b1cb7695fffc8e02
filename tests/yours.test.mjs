// The person's own digits in a real browser, on the CPU backend and with WebGPU: digits traced with
// real pointer strokes and kept survive a reload and come back as neighbours marked as theirs;
// exported, they are read back by the real CLI (`vae eval --data your-digits`), and a bad import
// changes nothing; "Learn my hand" on 30 digits traced in a slanted hand lowers the loss on the
// fifth it holds out, while the test digits' loss stays within 2 nats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BACKENDS, VAE, openPage, traceDigit, traceDigitQuickly, setForm, trainStateIs, slantedDigits, keep } from './browser.mjs';


const count = (page) => page.$eval('#your-digits', (e) => Number(e.dataset.count ?? 0));
const message = (page) => page.textContent('#yours-message');

/** The neighbour list: label, whether it is the person's, its aria-label and visible text. */
const neighbours = (page) => page.$$eval('#neighbours li', (lis) => lis.map((li) => ({
  label: Number(li.dataset.label), yours: li.dataset.yours === 'true', index: Number(li.dataset.index),
  name: li.querySelector('button').getAttribute('aria-label'), text: li.textContent,
})));

/** Picks `files` with the "Import your digits" button; resolves with the message it ends with. */
async function importDigits(page, files) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Import your digits' }).click();
  await (await chooser).setFiles(files);
  await page.waitForFunction(() => /^(Imported|Could not import)/.test(document.getElementById('yours-message').textContent));
  return message(page);
}

for (const webgpu of BACKENDS) {
  const backend = webgpu ? 'WebGPU' : 'CPU';
  test(`your digits on ${backend}`, { timeout: 1_800_000 }, async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'your-digits-'));
    const p = await openPage({ webgpu });
    const { page } = p;
    const cdp = await page.context().newCDPSession(page);
    const hand = slantedDigits(30);
    try {
      await t.test('kept digits survive a reload and come back as neighbours marked as yours', async () => {
        assert.equal(await count(page), 0);
        assert.ok(await page.getByRole('button', { name: 'Keep this digit' }).isDisabled(), 'nothing on the pad to keep');
        // The first with Playwright's strokes, one call each, on the CPU; the others (and every one
        // with WebGPU) with the same strokes sent at once (traceDigitQuickly): with WebGPU's flags
        // Chromium paints in software, and a digit traced stroke by stroke, each stroke answered
        // and painted, took 55-65 s there (2026-12-06), 4 s on the CPU.
        const trace = (i, image) => (i === 0 && !webgpu ? traceDigit(page, image) : traceDigitQuickly(page, cdp, image));
        for (const [i, { label, image }] of hand.slice(0, 3).entries()) {
          await trace(i, image);
          await keep(page, label, i + 1);
        }
        assert.match(await message(page), /Kept a 2\. You have 3\./);
        const labels = () => page.$$eval('#your-digits li', (lis) => lis.map((li) => Number(li.dataset.label)));
        assert.deepEqual(await labels(), [0, 1, 2]);
        // Kept as read (the conditional model's reading, beside the pad), then corrected with its select.
        await page.waitForSelector('body[data-conditional="true"]');
        await trace(3, hand[3].image);
        assert.equal(await page.$eval('#keep-label', (s) => s.options[0].textContent), 'as read (the Reading)');
        const reading = Number(await page.getAttribute('#reading', 'data-digit'));
        await page.selectOption('#keep-label', '');
        await page.getByRole('button', { name: 'Keep this digit' }).click();
        await page.waitForFunction(() => Number(document.getElementById('your-digits').dataset.count) === 4);
        assert.equal((await labels())[3], reading);
        await page.getByRole('combobox', { name: 'Label of your digit 4' }).selectOption('3');
        await page.waitForFunction(() => document.querySelector('#your-digits li:nth-child(4)').dataset.label === '3');

        await p.reload();
        assert.equal(await count(page), 4, 'kept in this browser');
        assert.deepEqual(await labels(), [0, 1, 2, 3]);
        // Each traced again: its nearest neighbour is the person's own, marked to the eye and to a
        // screen reader.
        for (const [i, { label, image }] of hand.slice(0, 4).entries()) {
          await trace(i, image);
          const [first] = await neighbours(page);
          assert.ok(first.yours && first.index === i && first.label === label, JSON.stringify(first));
          assert.match(first.name, new RegExp(`^Your digit ${label}, distance`));
          assert.match(first.text, /yours/);
        }
        const others = (await neighbours(page)).filter((n) => !n.yours);
        assert.ok(others.length > 0 && others.every((n) => /^Digit \d/.test(n.name)), 'the data set\'s are not marked');
      });

      await t.test('exported, they are read back by the CLI; a bad import changes nothing', async () => {
        const downloads = [];
        page.on('download', (d) => downloads.push(d));
        await page.getByRole('button', { name: 'Export your digits' }).click();
        await page.waitForFunction(() => /^Exported 4 digits/.test(document.getElementById('yours-message').textContent));
        while (downloads.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
        const files = [];
        for (const d of downloads) {
          const file = path.join(tmp, d.suggestedFilename());
          await d.saveAs(file);
          files.push(file);
        }
        assert.deepEqual(files.map((f) => path.basename(f)).sort(), ['your-digits-images-idx3-ubyte', 'your-digits-labels-idx1-ubyte']);
        const labelsFile = fs.readFileSync(path.join(tmp, 'your-digits-labels-idx1-ubyte'));
        assert.deepEqual([...labelsFile.subarray(8)], [0, 1, 2, 3]);
        const evaluated = JSON.parse(execFileSync(VAE, ['eval', '--data', path.join(tmp, 'your-digits'), '--json'], { encoding: 'utf8' }));
        assert.equal(evaluated.n, 4);
        assert.ok(Number.isFinite(evaluated.loss_mu) && evaluated.loss_mu > 0, JSON.stringify(evaluated));

        const notes = path.join(tmp, 'notes.txt');
        fs.writeFileSync(notes, 'my shopping list\n');
        const truncated = path.join(tmp, 'truncated-images-idx3-ubyte');
        fs.writeFileSync(truncated, fs.readFileSync(files[0]).subarray(0, 1000));
        for (const [picked, expected] of [
          [[notes, files[1]], /not an IDX file/],
          [[truncated, path.join(tmp, 'your-digits-labels-idx1-ubyte')], /does not match its dimensions/],
          [[files[0]], /pick both files/],
        ]) {
          const said = await importDigits(page, picked);
          assert.match(said, /^Could not import/);
          assert.match(said, expected);
          assert.match(said, /Your digits are as they were\.$/);
          assert.equal(await count(page), 4);
        }
        assert.match(await importDigits(page, files), /^Imported 4 digits/);
        assert.equal(await count(page), 8);
        await page.getByRole('button', { name: 'Remove your digit 8' }).click();
        await page.waitForFunction(() => Number(document.getElementById('your-digits').dataset.count) === 7);
        await page.getByRole('button', { name: 'Clear your digits' }).click();
        await page.waitForFunction(() => Number(document.getElementById('your-digits').dataset.count) === 0);
        await p.reload();
        assert.equal(await count(page), 0, 'cleared from this browser too');
      });

      await t.test('"Learn my hand" lowers the loss on the held-out fifth and keeps the test digits\' loss', async () => {
        for (const [i, { label, image }] of hand.slice(0, 4).entries()) {
          await traceDigitQuickly(page, cdp, image);
          await keep(page, label, i + 1);
        }
        const learnButton = page.getByRole('button', { name: 'Learn my hand' });
        await learnButton.click();
        await page.waitForFunction(() => /at least 5 of your digits/.test(document.getElementById('model-message').textContent));
        assert.match(await page.textContent('#model-message'), /you have kept 4/);
        assert.equal((await page.$eval('#train-status', (e) => e.dataset.state)), 'idle', 'no run began');
        for (const [i, { label, image }] of hand.slice(4).entries()) {
          await traceDigitQuickly(page, cdp, image);
          await keep(page, label, i + 5);
        }
        const heldOut = await page.$$eval('#your-digits li[data-held-out="true"]', (lis) => lis.length);
        assert.equal(heldOut, 6, 'the last fifth of 30');
        await page.waitForSelector('body[data-indexed="true"]');
        await setForm(page, { learningRate: 0.001, batchSize: 128 });
        // The defaults: 3 epochs, a quarter of each batch the person's.
        assert.deepEqual(await page.$eval('#learn-form', (f) => [f.elements.epochs.value, f.elements.share.value]), ['3', '25']);
        const t0 = Date.now();
        await learnButton.click();
        await trainStateIs(page, 'running');
        assert.match(await page.textContent('#model-message'), /Learning your hand from 24 of your digits, 32 of each batch of 128; 6 held out/);
        await trainStateIs(page, 'idle', 1_200_000);
        await page.waitForSelector('#hand-report[data-now-loss][data-before-loss]', { timeout: 600_000 });
        const r = await page.$eval('#hand-report', (e) => ({ ...e.dataset, text: e.textContent }));
        const figure = (name) => Number(r[name]);
        console.log(`${backend}: "Learn my hand" (3 epochs, batch 128, 25 %) took ${((Date.now() - t0) / 1000).toFixed(1)} s; `
          + `held-out loss ${figure('beforeLoss').toFixed(2)} → ${figure('nowLoss').toFixed(2)} nats, read right `
          + `${r.beforeRead} → ${r.nowRead} of ${r.heldOut}; test loss ${figure('beforeTestLoss').toFixed(2)} → ${figure('nowTestLoss').toFixed(2)} nats`);
        assert.equal(r.heldOut, '6');
        assert.ok(figure('nowLoss') < figure('beforeLoss'), `held-out loss ${r.beforeLoss} → ${r.nowLoss}`);
        assert.ok(figure('nowTestLoss') < figure('beforeTestLoss') + 2, `test loss ${r.beforeTestLoss} → ${r.nowTestLoss}`);
        assert.match(r.text, /^Your 6 held-out digits\. Before learning your hand: loss \d+\.\d nats, \d of 6 read right/);
        // The tuned model is the page's, kept in this browser like any other.
        await p.reload();
        await page.waitForSelector('#hand-report[data-now-loss]');
        const stored = await page.$eval('#hand-report', (e) => e.dataset.nowLoss);
        assert.ok(Math.abs(Number(stored) - figure('nowLoss')) < 1e-6, `after a reload: ${stored}, before it: ${r.nowLoss}`);
      });
      assert.deepEqual(p.errors, []);
    } finally {
      await p.close();
    }
  });
}
