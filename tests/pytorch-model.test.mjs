// A model trained elsewhere: the safetensors file PyTorch saved from the seed's module
// (tests/fixtures/pytorch-vae-h16-z2.safetensors, no metadata; made by scripts/make-pytorch-fixture.py)
// imports in the page with the Import button, and the page scores a traced digit as the CLI scores
// it with the same file.
//
// The same image: the page scores what its preprocessing made of the pad (crop, scale to 20×20,
// centre of mass to the centre: crates/vae/src/explore/sketch.rs), not the digit that was traced, so the
// test takes those 784 grey levels from the page (window.scoredInput, www/js/hooks.js) and hands
// them to `vae score` as an IDX file of 32-bit floats: both sides score exactly the same input.
// The CLI's numbers are PyTorch's on the fixture's digits (crates/vae-cli/tests/cli.rs), so the page
// agrees with PyTorch through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BACKENDS, ROOT, VAE, openPage, dataset, traceDigit, waitLoaded, importFile, firstTestIndex, writeFloatIdx } from './browser.mjs';

const FIXTURE = path.join(ROOT, 'tests/fixtures/pytorch-vae-h16-z2.safetensors');
const data = dataset();

/** `vae score` of these images with the fixture: its losses. */
function cliScores(file, images) {
  writeFloatIdx(file, images);
  const out = execFileSync(VAE, ['score', '--model', FIXTURE, '--images', file, '--json'], { encoding: 'utf8' });
  return JSON.parse(out).loss;
}

for (const webgpu of BACKENDS) {
  const backend = webgpu ? 'WebGPU' : 'CPU';
  // The page's f32 sums may run in another order than the native CLI's (other SIMD kernels), to
  // about 1e-7 of the loss; measured: 0 and 8.8e-9 (2026-11-23).
  const tolerance = 1e-5;
  // CPU only: what is tested is the file's import and the core's arithmetic on it, which are the
  // same on both backends (tests/webgpu.test.mjs checks the backends against each other on the same
  // weights); on SwiftShader's WebGPU this test took 160–213 s for that (a run on 2026-11-23:
  // 1.4e-7 from the CLI).
  const skip = webgpu && 'CPU only: tests/webgpu.test.mjs checks WebGPU against the CPU';

  test(`a model saved by PyTorch imports and scores as the CLI scores it, on ${backend}`, { skip, timeout: 900_000 }, async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pytorch-model-'));
    const p = await openPage({ webgpu });
    const { page } = p;
    try {
      assert.match(await importFile(page, FIXTURE), /Imported pytorch-vae-h16-z2\.safetensors/);
      await waitLoaded(page); // the neighbour index and the test digits' scores, under the new model
      // No metadata: the sizes come from the shapes, β is 1.
      assert.match(await page.textContent('#model-info'), /784 → 16 → 2 → 16 → 784, β = 1\b/);

      // The test digits' scores, for the percentile the page shows.
      const tests = [];
      for (let i = 0; i < data.n; i++) if (data.isTest(i)) tests.push(data.image(i));
      const testLosses = cliScores(path.join(tmp, 'test-digits'), tests);

      for (const label of [3, 7]) {
        await traceDigit(page, data.image(firstTestIndex(label)));
        const shown = await page.evaluate(() => ({
          loss: Number(document.getElementById('score').dataset.loss),
          percentile: Number(document.getElementById('score').dataset.percentile),
          input: window.scoredInput,
        }));
        assert.equal(shown.input.length, 784);
        const [cli] = cliScores(path.join(tmp, `traced-${label}`), [shown.input]);
        const error = Math.abs(shown.loss - cli) / Math.abs(cli);
        t.diagnostic(`${backend}: traced ${label}: page ${shown.loss.toFixed(5)} nats, CLI ${cli.toFixed(5)} (relative difference ${error.toExponential(1)})`);
        assert.ok(error <= tolerance, `traced ${label}: the page scores ${shown.loss}, the CLI ${cli}`);
        // The percentile: the share of test digits the CLI scores worse, to one digit's rank.
        const worse = (100 * testLosses.filter((l) => l > cli).length) / testLosses.length;
        assert.ok(Math.abs(shown.percentile - worse) <= 100 / testLosses.length + 1e-9,
          `traced ${label}: the page's percentile ${shown.percentile}, the CLI's scores give ${worse}`);
      }
      assert.deepEqual(p.errors, []);
      assert.deepEqual(p.foreignRequests, []);
      assert.deepEqual(p.violations, []);
    } finally {
      await p.close();
    }
  });
}
