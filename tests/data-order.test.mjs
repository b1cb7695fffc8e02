// The data set in the order the panels need it (www/worker/modules.js, scripts/split-data.mjs):
// after the first answer the page fetches the 997 test digits alone, which give the neighbours,
// the score's percentile and the map (the shipped t-SNE map's first 997 positions); the 9 003
// training digits only when something trains. A page where nobody trains never fetches them; a
// training run fetches them (the panel says so, and sketches are answered meanwhile), goes on, and
// the neighbour index grows over all 10 000 digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, openPage, dataset, aTestDigit, traceDigit, readTiles, correlation, waitIdle, setForm, stepAtLeast, trainStatus, trainStateIs } from './browser.mjs';

const data = dataset();
const TEST_PART = '/data/mnist-test.bin';
const TRAINING_PART = '/data/mnist-train.bin';
const asked = (p, file) => p.requests.filter((r) => new URL(r.url()).pathname === file).length;
const mapMethod = (page) => page.getByLabel('Map method', { exact: true });
const shownIs = (page, method) => page.waitForFunction((m) => window.shownMap?.method === m && window.shownMap.points, method, { timeout: 300_000 });

for (const webgpu of BACKENDS) {
  test(`${webgpu ? 'WebGPU' : 'CPU'}: the test digits first; the training digits only when a run starts`, { timeout: 900_000 }, async (t) => {
    const p = await openPage({ webgpu });
    t.after(() => p.close());
    const { page } = p;

    await t.test('nobody trains: neighbours, percentile and map from the test digits alone', async () => {
      assert.equal(asked(p, TEST_PART), 1);
      assert.equal(asked(p, '/data/mnist.bin'), 0, 'not the whole data set');
      await traceDigit(page, aTestDigit(7));
      await waitIdle(page);
      const neighbours = await page.$$eval('#neighbours li', (lis) => lis.map((li) => Number(li.dataset.index)));
      assert.equal(neighbours.length, 8);
      assert.ok(neighbours.every((i) => i < data.tests && data.isTest(i)), `neighbours among the test digits: ${neighbours}`);
      assert.ok(neighbours.filter((i) => data.label(i) === 7).length > 4, `neighbours of a 7: ${neighbours.map(data.label)}`);
      assert.match(await page.textContent('#score'), /more digit-like than \d+% of test digits/);
      // The shipped t-SNE map's first positions: the test digits'.
      await shownIs(page, 'tsne');
      const map = await page.evaluate(() => window.shownMap);
      assert.equal(map.points.length, 2 * data.tests);
      assert.deepEqual(map.labels, Array.from({ length: data.tests }, (_, i) => data.label(i)));
      await page.waitForTimeout(2000); // time for anything late
      assert.equal(asked(p, TRAINING_PART), 0, 'a page where nobody trains never fetches the training digits');
    });

    await t.test('a training run fetches the training digits, sketches answered meanwhile, and goes on', async () => {
      let release;
      const released = new Promise((resolve) => { release = resolve; });
      await p.context.route(`**${TRAINING_PART}`, async (route) => {
        await released;
        await route.continue();
      });
      await setForm(page, { latent: 2, hidden: 32, batchSize: 256, epochs: 1 });
      await page.getByRole('button', { name: 'Start from random weights' }).click();
      await page.waitForFunction(() => document.getElementById('train-status').dataset.trainingDigits === 'fetching', null, { timeout: 60_000 });
      assert.match((await trainStatus(page)).text, /Fetching the training digits/);
      // The queue is not held by the download: a sketch is answered.
      const image = aTestDigit(3);
      await traceDigit(page, image);
      await waitIdle(page);
      const [recon] = await readTiles(page, '#reconstruction', 1);
      assert.ok(correlation(recon, image) > 0.6, 'a sketch answered while the training digits download');
      release();
      await stepAtLeast(page, 3, 300_000);
      assert.equal(asked(p, TRAINING_PART), 1);
      assert.equal((await trainStatus(page)).trainingDigits, 'here');
      // Its one epoch ends (36 steps): the trained model's index holds every digit, the training
      // digits after the test digits.
      await trainStateIs(page, 'idle', 600_000);
      assert.match(await page.textContent('#train-status'), /^Epoch \d+ · step 36 /, '9 003 training digits, 256 a step');
      await page.waitForSelector('body[data-indexed="true"]', { timeout: 600_000 });
      await mapMethod(page).selectOption({ label: 'PCA' });
      await shownIs(page, 'pca');
      const map = await page.evaluate(() => window.shownMap);
      assert.equal(map.points.length, 2 * data.n);
      assert.equal(map.labels[data.tests], data.label(data.tests), 'the first training digit after the test digits');
      assert.equal(asked(p, TRAINING_PART), 1, 'fetched once');
      assert.deepEqual(p.errors, []);
    });
  });
}
