// Burn's WebGPU backend in Chromium against the CPU backend, on the same weights and inputs:
// forward pass, loss, gradients, three Adam steps, sampling and neighbour distances must agree
// to a relative error of 1e-4 (crates/vae/src/device/check.rs; natively the same check runs on Vulkan),
// with the matmul routine the page runs on this adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS } from './browser.mjs';
import { launch } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';

test('WebGPU computes what the CPU computes', { skip: !BACKENDS.includes(true) && 'BROWSER_BACKENDS excludes webgpu', timeout: 900_000 }, async (t) => {
  const server = await serve(0);
  const { context, page } = await launch({ webgpu: true });
  try {
    const errors = [];
    const panics = []; // console_error_panic_hook's messages say why a run died
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && /panicked at/.test(m.text())) panics.push(m.text()); });
    await page.goto(`http://127.0.0.1:${server.address().port}/bench/?mode=check`);
    await page.waitForSelector('body[data-result]', { timeout: 900_000 });
    const result = JSON.parse(await page.getAttribute('body', 'data-result'));
    assert.equal(result.error, undefined, `the check failed to run: ${result.error}\n${panics[0] ?? ''}`);
    t.diagnostic(`largest relative errors: ${JSON.stringify(result.comparison)} (${(result.ms / 1000).toFixed(1)} s)`);
    for (const [part, error] of Object.entries(result.comparison)) {
      assert.ok(error <= 1e-4, `${part}: WebGPU differs from the CPU by ${error}`);
    }
    assert.deepEqual(Object.keys(result.comparison).sort(), ['adam', 'distances', 'forward', 'gradients', 'loss', 'samples']);
    // SwiftShader is a fallback (software) adapter: the products ran on CubeCL's CPU-tuned routine,
    // our patch of burn-cubecl (vendor/README.md), which this check is what vouches for.
    assert.equal(result.matmul, "CubeCL's CPU-tuned matmul (CpuGemm)");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    server.close();
  }
});
