// The informative map first: the default model's t-SNE map is made with the CLI when the model is
// trained (`vae map --page-file`, scripts/train-default.sh) and shipped beside it
// (www/model/default-tsne.bin). On a first visit the page shows it as soon as the neighbour index is
// whole, without making it; PCA stays a choice; another model's map is made in the page and kept in
// this browser, as before, and a model with no map at hand is shown on PCA first. CPU only: which
// map is shown, and from where, does not depend on the backend (page.test.mjs runs the t-SNE map's
// subtests on both). Nobody trains here, so the page holds the 997 test digits alone (the training
// digits come with a run: tests/data-order.test.mjs): the shipped map, of all 10 000 digits in the
// page's order (test digits first), shows its first 997.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, openPage, dataset, importFile, storedRecord } from './browser.mjs';

const FIXTURE = path.join(ROOT, 'tests/fixtures/pytorch-vae-h16-z2.safetensors');
const data = dataset();

const mapMethod = (page) => page.getByLabel('Map method', { exact: true });
const choose = (page, label) => mapMethod(page).selectOption({ label });
/** Waits until the canvas shows the `method` map with its points. */
const shownIs = (page, method, timeout) => page.waitForFunction((m) => window.shownMap?.method === m && window.shownMap.points, method, { timeout });
const mark = (page, name) => page.$eval('#map', (c, n) => c.dataset[n], name);
/** How many times the worker said it was making a t-SNE map here (js/hooks.js tsneMaking). */
const makingNews = async (page) => Number((await mark(page, 'tsneMaking')) ?? 0);
const agreement = (page) => page.$eval('#map-agreement', (e) => ({ pca: Number(e.dataset.pca), tsne: Number(e.dataset.tsne) }));

/** The shipped file's positions, read as crates/vae/src/session/map_file.rs documents its layout. */
function shippedPositions() {
  const bytes = fs.readFileSync(path.join(ROOT, 'www/model/default-tsne.bin'));
  assert.equal(bytes.subarray(0, 8).toString('latin1'), 'LSK-TSNE');
  const n = bytes.readUInt32LE(12);
  const positions = new Float64Array(2 * n);
  for (let axis = 0; axis < 2; axis++) {
    const lo = bytes.readFloatLE(80 + 8 * axis), hi = bytes.readFloatLE(84 + 8 * axis);
    for (let i = 0; i < n; i++) positions[2 * i + axis] = lo + (bytes.readUInt16LE(100 + 2 * (axis * n + i)) / 65535) * (hi - lo);
  }
  return { bytes: bytes.length, positions };
}

test('the default model\'s t-SNE map is shown first, shipped, not made; PCA stays a choice; another model\'s is made here', { timeout: 900_000 }, async (t) => {
  const s = await openPage({ webgpu: false });
  t.after(() => s.close());
  const { page } = s;

  await t.test('a first visit shows the shipped t-SNE map as soon as the neighbour index is whole, making none', async () => {
    await page.waitForSelector('#map[data-tsne]', { timeout: 30_000 });
    const indexed = Number(await page.getAttribute('body', 'data-indexed-ms'));
    const shown = Number(await mark(page, 'tsneMs'));
    const { pca, tsne } = await agreement(page);
    const file = shippedPositions();
    t.diagnostic(`first visit: neighbour index whole at ${indexed} ms, the shipped t-SNE map shown ${shown - indexed} ms later; `
      + `10-NN label agreement PCA ${(100 * pca).toFixed(1)}%, t-SNE ${(100 * tsne).toFixed(1)}% (the shipped map); `
      + `www/model/default-tsne.bin ${file.bytes} bytes`);
    assert.equal(await mark(page, 'tsne'), 'shipped');
    assert.ok(shown - indexed < 3000, `shown ${shown - indexed} ms after the index was whole`);
    assert.equal(await mapMethod(page).inputValue(), 'tsne', 'the method shown is t-SNE');
    await shownIs(page, 'tsne');
    const map = await page.evaluate(() => window.shownMap);
    assert.deepEqual(map.labels, Array.from({ length: data.tests }, (_, i) => data.label(i)));
    // The positions are the file's, by data-set index: its first ones, the test digits'.
    assert.equal(map.points.length, 2 * data.tests);
    const extent = Math.max(...file.positions) - Math.min(...file.positions);
    const worst = map.points.reduce((m, v, i) => Math.max(m, Math.abs(v - file.positions[i])), 0);
    assert.ok(worst <= 1e-5 * extent, `the map differs from the shipped file by ${worst}`);
    // The 10-NN label agreement among the 997 test digits (89.5 % for the shipped map's; 93.0 %
    // among all 10 000 once the training digits are here).
    assert.ok(tsne > 0.85 && tsne > pca + 0.3, `t-SNE ${tsne} against PCA ${pca}`);
    assert.equal(await makingNews(page), 0, 'the worker made no t-SNE map');
    assert.equal(await page.$eval('#tsne-progress', (p) => p.hidden), true);
    assert.match(await page.textContent('#map-hint'), /no out-of-sample transform/);
    assert.deepEqual(s.errors, []);
  });

  await t.test('another model: made here when shown, after its PCA map first', async () => {
    // Imported while t-SNE is the first map, not a choice: the page keeps showing t-SNE and the
    // worker begins the new model's map. The page is reloaded before it is made: the stored model
    // has no map at hand, so PCA is its first map.
    assert.match(await importFile(page, FIXTURE), /Imported pytorch-vae-h16-z2\.safetensors/);
    // The default model is not stored; the imported one is, once its change is through the queue.
    for (let tries = 0; !(await storedRecord(page, (r) => r !== undefined)); tries++) {
      assert.ok(tries < 100, 'the imported model was not stored');
      await page.waitForTimeout(100);
    }
    await s.reload();
    await shownIs(page, 'pca', 30_000);
    assert.equal(await mapMethod(page).inputValue(), 'pca');
    assert.equal(await mark(page, 'tsne'), undefined, 'no t-SNE map');

    // Chosen: made in the page, in background steps, with news of its progress.
    const chosenAt = Date.now();
    await choose(page, 't-SNE');
    await page.waitForSelector('#map[data-tsne="made"]', { timeout: 300_000 });
    const { pca, tsne } = await agreement(page);
    t.diagnostic(`the imported model's t-SNE map made in the page in ${((Date.now() - chosenAt) / 1000).toFixed(1)} s; `
      + `10-NN label agreement PCA ${(100 * pca).toFixed(1)}%, t-SNE ${(100 * tsne).toFixed(1)}%`);
    assert.ok(await makingNews(page) > 0, 'the worker said it was making the map');
    await shownIs(page, 'tsne');

    // Kept in this browser: after a reload it is read back, not made again.
    await s.reload();
    await page.waitForSelector('#map[data-tsne]', { timeout: 30_000 });
    assert.equal(await mark(page, 'tsne'), 'stored');
    assert.equal(await makingNews(page), 0);
    assert.deepEqual(s.errors, []);
  });

  await t.test('PCA can be chosen; the default model back, its t-SNE map is the shipped one again', async () => {
    await choose(page, 'PCA');
    await shownIs(page, 'pca');
    await page.getByRole('button', { name: 'Reset to default model' }).click();
    await page.waitForFunction(() => document.getElementById('model-message').textContent === 'The default model is back.');
    await page.waitForSelector('body[data-indexed="true"]', { timeout: 120_000 });
    await shownIs(page, 'pca');
    assert.equal(await mapMethod(page).inputValue(), 'pca', 'the choice holds');
    const shownBefore = await mark(page, 'tsneMs');
    const t0 = Date.now();
    await choose(page, 't-SNE');
    await page.waitForFunction((before) => document.getElementById('map').dataset.tsneMs !== before, shownBefore, { timeout: 10_000 });
    await shownIs(page, 'tsne');
    t.diagnostic(`the default model back: its t-SNE map shown ${Date.now() - t0} ms after it was chosen`);
    assert.equal(await mark(page, 'tsne'), 'shipped');
    assert.equal(await makingNews(page), 0);
    assert.ok((await agreement(page)).tsne > 0.85);
    assert.deepEqual(s.errors, []);
  });
});
