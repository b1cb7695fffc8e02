// The first answer needs only the CPU module and the model (www/worker/modules.js): the data set's
// test digits are fetched after it (its training digits only when something trains:
// tests/data-order.test.mjs), and the WebGPU module only where the browser gives an adapter, after
// it too. Held back by the test, no data file can be what the page waited for: a traced digit is
// answered while they are held, and the neighbours come once they are let through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';
import { BACKENDS, aTestDigit, traceDigit, readTiles, correlation, waitIdle } from './browser.mjs';

const WEBGPU_MODULE = /\/pkg\/vae_web(_bg\.wasm|\.js)$/;
const CPU_MODULE = /\/pkg-cpu\/vae_web_bg\.wasm$/;
/** Every data file: the test digits, the training digits, the whole set. */
const DATA_FILES = /\/data\/mnist(-test|-train)?\.bin$/;

for (const webgpu of BACKENDS) {
  test(`the first answer comes before the data set is fetched; ${webgpu ? 'the WebGPU module after it' : 'no WebGPU module without an adapter'}`, { timeout: 600_000 }, async () => {
    const server = await serve(0);
    const origin = `http://127.0.0.1:${server.address().port}`;
    const { context, page } = await launch({ webgpu, viewport: { width: 1400, height: 1200 } });
    try {
      const requests = []; // the paths asked for, the worker's included
      const answered = () => page.evaluate(() => document.body.dataset.ready === 'true').catch(() => false);
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      let release;
      const released = new Promise((resolve) => { release = resolve; });
      const dataAsked = {}; // each data file asked for → whether the page had answered then
      await context.route(DATA_FILES, async (route) => {
        dataAsked[new URL(route.request().url()).pathname] ??= await answered();
        await released;
        await route.continue();
      });
      const webgpuModuleAsked = [];
      await context.route(WEBGPU_MODULE, async (route) => {
        webgpuModuleAsked.push(await answered());
        await route.continue();
      });
      await page.addInitScript(() => {
        self.policyViolations = [];
        addEventListener('securitypolicyviolation', (e) => self.policyViolations.push(`${e.violatedDirective}: ${e.blockedURI || e.sample}`));
      });
      await page.goto(`${origin}/`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
      assert.ok(requests.some((p) => CPU_MODULE.test(p)), 'the page starts on the CPU module');
      // The worker that answered is the one index.html's inline script started (the content
      // security policy allows that script by its hash; refused, js/rpc.js would start one later).
      assert.deepEqual(await page.evaluate(() => self.policyViolations), [], 'nothing refused by the content security policy');
      assert.equal(await page.evaluate(() => self.modelWorker instanceof Worker), true, 'the document started the model\'s worker');

      // Answered with the data set held back: the reconstruction of a traced 7.
      const image = aTestDigit(7);
      await traceDigit(page, image);
      await waitIdle(page);
      const [recon] = await readTiles(page, '#reconstruction', 1);
      const r = correlation(recon, image);
      assert.ok(r > 0.6, `the traced 7 is reconstructed (r ${r.toFixed(2)}) before the data set has arrived`);
      assert.equal(await page.$$eval('#neighbours li', (l) => l.length), 0, 'no neighbours without the data set');
      assert.match(await page.textContent('#nb-hint'), /data set is on its way/);
      assert.deepEqual(dataAsked, { '/data/mnist-test.bin': true }, 'the test digits alone were asked for, after the first answer, not before');

      release();
      await page.waitForSelector('body[data-indexed="true"]', { timeout: 300_000 });
      await page.waitForFunction(() => document.querySelectorAll('#neighbours li').length > 0, null, { timeout: 60_000 });
      assert.deepEqual(dataAsked, { '/data/mnist-test.bin': true }, 'nobody trains: no training digits');

      if (webgpu) {
        await page.waitForSelector('body[data-backend-settled="true"]', { timeout: 600_000 });
        assert.ok(webgpuModuleAsked.length > 0, 'a browser with an adapter loads the WebGPU module');
        assert.ok(webgpuModuleAsked.every(Boolean), 'only after the first answer');
        const kind = await page.$eval('#backend', (e) => e.dataset.kind);
        assert.ok(kind === 'webgpu' || kind === 'mixed' || kind === 'cpu', kind);
        assert.equal(await page.$eval('#backend', (e) => e.dataset.reason ?? ''), '', 'WebGPU was checked and timed in its module');
      } else {
        // Time for anything late: still no WebGPU module.
        await page.waitForTimeout(2000);
        assert.deepEqual(requests.filter((p) => WEBGPU_MODULE.test(p)), [], 'a browser without WebGPU never fetches its module');
        assert.match(await page.$eval('#backend', (e) => e.dataset.reason ?? ''), /no WebGPU adapter/);
      }
    } finally {
      await context.close();
      server.close();
    }
  });
}

test('a model worker whose script does not load is said so, and the page says it failed to load', { timeout: 120_000 }, async () => {
  const server = await serve(0);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const { context, page } = await launch({ webgpu: false });
  try {
    await context.route('**/worker-start.js', (route) => route.fulfill({ status: 404, body: 'not here' }));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.getElementById('backend').textContent === 'Failed to load', null, { timeout: 60_000 });
    assert.match(await page.textContent('#notice'), /could not be loaded: the model's worker did not start \(its script did not load\)/);
  } finally {
    await context.close();
    server.close();
  }
});
