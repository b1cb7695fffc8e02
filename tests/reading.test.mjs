// The conditional model in the page (www/js/reading.js): a traced digit is read, its ten redraws
// ("Every digit in your hand") change with each stroke, a redraw is a walk's end, and "Digit to
// sample" draws that digit — as the real CLI's `vae read` judges it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BACKENDS, VAE, ROOT, openPage, aTestDigit, waitIdle, readTiles, maxDifference, writeFloatIdx } from './browser.mjs';

const CONDITIONAL = path.join(ROOT, 'www/model/conditional.safetensors');

/** The runs of ink of a 28×28 digit along each row, as strokes: [row, first, last]. */
function strokesOf(image) {
  const runs = [];
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (image[y * 28 + x] < 0.4) continue;
      const start = x;
      while (x < 28 && image[y * 28 + x] >= 0.4) x++;
      runs.push([y, start, x - 1]);
    }
  }
  return runs;
}

/** Draws `strokes` on the pad (not cleared) with real pointer strokes, and waits for the answers. */
async function draw(page, strokes) {
  const box = await page.locator('#pad').boundingBox();
  const cell = box.width / 28;
  for (const [y, first, last] of strokes) {
    await page.mouse.move(box.x + (first + 0.5) * cell, box.y + (y + 0.5) * cell);
    await page.mouse.down();
    await page.mouse.move(box.x + (last + 0.5) * cell, box.y + (y + 0.5) * cell, { steps: 3 });
    await page.mouse.up();
  }
  await waitIdle(page);
}

const redraws = (page) => Promise.all([...Array(10).keys()].map(async (d) => (await readTiles(page, `#redraws li:nth-child(${d + 1}) canvas`, 1))[0]));

for (const webgpu of BACKENDS) {
  const backend = webgpu ? 'WebGPU' : 'CPU';
  test(`the page reads a traced 7, redraws it as every digit stroke by stroke, and samples a chosen 3, on ${backend}`, { timeout: 600_000 }, async (t) => {
    const p = await openPage({ webgpu });
    const { page } = p;
    try {
      await page.waitForSelector('body[data-conditional="true"]', { timeout: 120_000 });
      assert.equal(await page.getAttribute('#reading', 'aria-label'), 'Reading');
      const names = await page.$$eval('#redraws canvas', (cs) => cs.map((c) => c.getAttribute('aria-label')));
      assert.deepEqual(names, [...Array(10).keys()].map((d) => `as ${d}`));
      assert.equal(await page.$eval('#hand-title', (h) => h.closest('section').getAttribute('aria-labelledby')), 'hand-title');

      // A 7, stroke by stroke: the redraws follow each stroke.
      await page.click('#clear');
      await page.$eval('#brush', (el) => { el.value = '14'; el.dispatchEvent(new Event('input')); });
      await page.locator('#pad').scrollIntoViewIfNeeded();
      const strokes = strokesOf(aTestDigit(7));
      const half = Math.ceil(strokes.length / 2);
      let before = null;
      for (const part of [strokes.slice(0, half), strokes.slice(half, -1), strokes.slice(-1)]) {
        await draw(page, part);
        const now = await redraws(page);
        assert.ok(now.every((img) => Math.max(...img) > 0.2), 'ten redraws with ink');
        if (before) {
          const changed = now.filter((img, d) => maxDifference(img, before[d]) > 0.05).length;
          assert.equal(changed, 10, `every redraw changes with the strokes (${changed} of 10 did)`);
        }
        before = now;
      }
      const text = await page.textContent('#reading');
      assert.match(text, /^7 · \d+ %$/, `the traced 7 is read as 7: "${text}"`);
      const confidence = (await page.getAttribute('#reading', 'data-confidence')).split(',').map(Number);
      assert.equal(confidence.length, 10);
      assert.ok(Math.abs(confidence.reduce((a, b) => a + b) - 1) < 1e-6, 'the confidences sum to 1');
      assert.equal(Number(text.match(/(\d+) %/)[1]), Math.round(100 * confidence[7]));
      // The redraws are the conditional model's digits: the CLI reads the redraw "as d" as d.
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reading-'));
      t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
      const readByCli = (images) => {
        const file = path.join(tmp, `images-${Date.now()}`);
        writeFloatIdx(file, images);
        return JSON.parse(execFileSync(VAE, ['read', '--model', CONDITIONAL, '--images', file, '--json'], { encoding: 'utf8' })).readings.map((r) => r.digit);
      };
      const redrawsRead = readByCli(before);
      assert.ok(redrawsRead.filter((d, i) => d === i).length >= 9, `the redraws are read as 0 … 9: ${redrawsRead.join(' ')}`);

      // A redraw is a walk's end.
      await page.click('#redraws li:nth-child(4) button');
      await page.waitForFunction(() => document.getElementById('walk-to').value === 'redraw');
      await waitIdle(page);
      const [walkEnd] = (await readTiles(page, '#interpolation', 10)).slice(-1);
      assert.ok(Math.max(...walkEnd) > 0.2, 'the walk ends on a decode');

      // Draw me a 3: the grid is the conditional model's 3s.
      await page.selectOption('#sample-digit', '3');
      await page.waitForFunction(() => document.getElementById('samples').dataset.digit === '3');
      const grid = await readTiles(page, '#samples', 8, 8);
      const read = readByCli(grid);
      const threes = read.filter((d) => d === 3).length;
      t.diagnostic(`${threes} of 64 samples of "3" read as 3 by vae read`);
      assert.ok(threes >= 0.9 * 64, `${threes} of 64 samples read as 3`);
      await page.selectOption('#sample-digit', 'any');
      await page.waitForFunction(() => document.getElementById('samples').dataset.digit === undefined);
      assert.deepEqual(p.errors, []);
    } finally {
      await p.close();
    }
  });
}
