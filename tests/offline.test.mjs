// Offline (www/sw.js, registered by www/js/offline.js; its manifest written by
// scripts/offline-manifest.mjs): after one visit the page works with no network at all, every
// panel and training included (the data set's training digits, which only a page that trains
// fetches, are kept once it has: a visit that trained); a new build replaces the copy kept in the browser, whole (never new
// scripts with an old wasm module); a build whose files do not match its manifest is not kept.
// The CPU backend only: what is kept offline is the same for both, and the page's backends are the
// other tests' subject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BACKENDS, ROOT, openPage, traceDigit, readTiles, correlation, waitLoaded, aTestDigit, trainStatus, stepAtLeast, trainStateIs, setForm } from './browser.mjs';
import { MANIFEST, offlineManifest, writeOfflineManifest } from '../scripts/offline-manifest.mjs';

const WWW = path.join(ROOT, 'www');
/** The data set's training digits: in the manifest's `later`, kept once a page has fetched them. */
const TRAINING_DIGITS = 'data/mnist-train.bin';
const skip = !BACKENDS.includes(false) && 'BROWSER_BACKENDS leaves out the CPU';

/** Waits until the service worker is active (its cache whole) and controls the page. */
async function waitAvailableOffline(page) {
  await page.waitForSelector('body[data-offline="ready"]', { timeout: 120_000 });
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
}

/** The origin's caches as {name: [paths of the files in it, sorted]}. */
function cachedFiles(page, files) {
  // Never caches.open(): it creates the cache it names, so opening one that the service worker
  // deletes meanwhile brings it back, empty, for good (seen on a slow machine). match() with a
  // cache's name creates nothing.
  return page.evaluate(async (files) => Object.fromEntries(await Promise.all((await caches.keys()).map(async (name) => {
    const held = await Promise.all(files.map(async (f) => ((await caches.match(`/${f}`, { cacheName: name })) ? f : null)));
    return [name, held.filter(Boolean).sort()];
  }))), files);
}

const cacheName = (p, version) => `latent-sketchpad ${p.origin}/ ${version}`;

/** Waits until `check()` holds (polled), at most `ms`. */
async function until(check, ms = 300_000) {
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Waits until the origin's caches are exactly this build's, whole. */
async function waitCached(p, manifest) {
  const expected = { [cacheName(p, manifest.version)]: Object.keys(manifest.files).sort() };
  const files = Object.keys(manifest.files);
  await until(async () => JSON.stringify(await cachedFiles(p.page, files)) === JSON.stringify(expected));
  assert.deepEqual(await cachedFiles(p.page, files), expected);
}

/** The site's files that the requests asked for, sorted (the page itself is index.html). */
const requestedFiles = (requests) => [...new Set(requests.map((r) => new URL(r.url()).pathname.slice(1) || 'index.html'))].sort();

/** No network: the browser is offline and the server is gone, open connections too. */
async function goOffline(p) {
  await p.context.setOffline(true);
  p.server.close();
  p.server.closeAllConnections();
}

/** Reloads with no network and checks that the page and its worker got each of the build's files
 *  from the service worker, and nothing else, and that nothing failed. */
async function reloadOffline(p, manifest) {
  const from = p.requests.length;
  await p.reload();
  const requests = p.requests.slice(from);
  assert.deepEqual(requestedFiles(requests), Object.keys(manifest.files).sort());
  for (const r of requests) {
    assert.equal(r.failure(), null, `${r.url()} failed: ${r.failure()?.errorText}`);
    assert.ok((await r.response())?.fromServiceWorker(), `${r.url()} came from the service worker`);
  }
  assert.equal(await p.page.evaluate(() => navigator.onLine), false);
  assert.equal(await p.page.textContent('#offline'), 'Working offline');
}

/** Copies the site's files that the page loads (and the service worker) into a temporary folder
 *  with their manifest, a site to rebuild; opens the page there and waits until it is kept for
 *  offline use. Returns the page (openPage's), the folder and the first build's manifest. */
async function openSiteCopy(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'offline-site-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { files, later } = offlineManifest(WWW);
  for (const file of ['sw.js', ...Object.keys(files), ...Object.keys(later)]) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.copyFileSync(path.join(WWW, file), path.join(dir, file));
  }
  const manifest = writeOfflineManifest(dir);
  const p = await openPage({ webgpu: false, root: dir });
  t.after(() => p.close());
  await waitAvailableOffline(p.page);
  await waitCached(p, manifest);
  return { p, page: p.page, dir, manifest };
}

/** A wasm custom section (ignored by the engine) named `name` holding `text`. */
function customSection(name, text) {
  const leb = (n) => {
    const bytes = [];
    do { bytes.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0)); n >>>= 7; } while (n);
    return Buffer.from(bytes);
  };
  const body = Buffer.concat([leb(name.length), Buffer.from(name), Buffer.from(text)]);
  return Buffer.concat([Buffer.from([0]), leb(body.length), body]);
}

/** "A new build": new page code (main.js marks the body) and a new wasm module (the same code
 *  with a custom section naming the build), and its manifest. */
function rebuild(dir, build) {
  fs.appendFileSync(path.join(dir, 'main.js'), `\ndocument.body.dataset.build = '${build}';\n`);
  fs.appendFileSync(path.join(dir, 'pkg-cpu/vae_web_bg.wasm'), customSection('build', build));
  return writeOfflineManifest(dir);
}

/** The SHA-256 of a file as the page gets it (through its service worker, when it has one). */
const pageSha256 = (page, file) => page.evaluate(async (file) => {
  const bytes = await (await fetch(file)).arrayBuffer();
  return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}, file);

test('after one visit the page works offline: every panel, training included', { skip, timeout: 900_000 }, async (t) => {
  const manifest = offlineManifest(WWW);
  const written = fs.readFileSync(path.join(WWW, MANIFEST), 'utf8');
  assert.ok(written.includes(`"version": "${manifest.version}"`),
    `${MANIFEST} is not this tree's (a file changed since it was written): run node scripts/offline-manifest.mjs`);
  const p = await openPage({ webgpu: false });
  t.after(() => p.close());
  const { page } = p;

  await t.test('what the service worker keeps is what the page loads', async () => {
    assert.deepEqual(requestedFiles(p.requests), Object.keys(manifest.files).sort());
    const t0 = Date.now();
    await waitAvailableOffline(page);
    await waitCached(p, manifest);
    t.diagnostic(`available offline ${Date.now() - t0} ms after the page was whole`);
    assert.equal(await page.textContent('#offline'), 'Available offline');
  });

  await t.test('the training digits are kept once a run has fetched them', async () => {
    assert.deepEqual(await cachedFiles(page, [TRAINING_DIGITS]), { [cacheName(p, manifest.version)]: [] }, 'not fetched for the copy');
    await setForm(page, { latent: 2, hidden: 32, batchSize: 256, epochs: 1 });
    await page.getByRole('button', { name: 'Start from random weights' }).click();
    await stepAtLeast(page, 2, 300_000);
    await page.getByRole('button', { name: 'Stop' }).click();
    await trainStateIs(page, 'idle', 300_000);
    await page.getByRole('button', { name: 'Reset to default model' }).click();
    await page.waitForFunction(() => document.getElementById('model-message').textContent === 'The default model is back.');
    await page.waitForSelector('body[data-indexed="true"]', { timeout: 300_000 });
    assert.ok(await until(async () => (await cachedFiles(page, [TRAINING_DIGITS]))[cacheName(p, manifest.version)].length === 1), 'kept');
  });

  await t.test('with no network, the page reloads from the kept copy', async () => {
    await goOffline(p);
    const t0 = Date.now();
    await reloadOffline(p, manifest);
    t.diagnostic(`reloaded offline in ${Date.now() - t0} ms`);
  });

  await t.test('a sketch: reconstruction, neighbours, score, map marker, interpolation', async () => {
    await traceDigit(page, aTestDigit(7));
    const [input] = await readTiles(page, '#input', 1);
    const [recon] = await readTiles(page, '#reconstruction', 1);
    assert.ok(correlation(input, recon) > 0.6, 'the reconstruction looks like the sketch');
    const labels = await page.$$eval('#neighbours li', (lis) => lis.map((li) => Number(li.dataset.label)));
    assert.equal(labels.length, 8);
    assert.ok(labels.filter((l) => l === 7).length > 4, `neighbours of a 7: ${labels}`);
    assert.match(await page.textContent('#score'), /ELBO -?\d+\.\d nats · more digit-like than \d+% of test digits/);
    assert.ok(await page.$eval('#map', (c) => c.dataset.markerX !== undefined), 'the sketch is on the map');
    const strip = await readTiles(page, '#interpolation', 10);
    assert.ok(correlation(strip[0], recon) > 0.95, 'the interpolation starts at the sketch');
    const variations = await readTiles(page, '#variations', 8);
    assert.ok(variations.every((v) => correlation(v, recon) > 0.5), 'the variations look like the sketch');
  });

  await t.test('samples and the map decode', async () => {
    const before = JSON.stringify(await readTiles(page, '#samples', 8, 8));
    await page.click('#sample');
    assert.ok(await until(async () => JSON.stringify(await readTiles(page, '#samples', 8, 8)) !== before, 60_000), 'new samples');
    // The default model's t-SNE map, shipped beside it, is the first map, from the kept copy too;
    // PCA's points decode.
    await page.waitForSelector('#map[data-tsne="shipped"]', { timeout: 30_000 });
    await page.getByLabel('Map method', { exact: true }).selectOption({ label: 'PCA' });
    await page.click('#map', { position: { x: 180, y: 180 } });
    await page.waitForFunction(() => document.querySelector('#map-decode').dataset.point !== undefined);
    const [decoded] = await readTiles(page, '#map-decode', 1);
    assert.ok(decoded.some((v) => v > 0.5), 'the decoded point has ink');
  });

  await t.test('training: a few steps, then Stop', async () => {
    const run = { latent: 2, hidden: 32, batchSize: 256, epochs: 1 };
    for (const [name, value] of Object.entries(run)) await page.fill(`#train-form input[name=${name}]`, String(value));
    await page.getByRole('button', { name: 'Start from random weights' }).click();
    await stepAtLeast(page, 5, 300_000);
    assert.equal((await trainStatus(page)).state, 'running');
    await page.getByRole('button', { name: 'Stop' }).click();
    await trainStateIs(page, 'idle', 300_000);
    assert.match(await page.textContent('#model-info'), /784 → 32 → 2 → 32 → 784/);
    // The stopped model is the page's: the index is rebuilt for it, offline too.
    await page.waitForSelector('body[data-indexed="true"]', { timeout: 300_000 });
  });

  await t.test('nothing went wrong', () => {
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.violations, []);
    assert.deepEqual(p.foreignRequests, []);
    assert.equal(p.requests.filter((r) => r.failure()).length, 0);
  });
});

test('a new build replaces the kept copy, whole', { skip, timeout: 900_000 }, async (t) => {
  const { p, page, dir, manifest: first } = await openSiteCopy(t);

  const second = rebuild(dir, 'second');
  assert.notEqual(second.version, first.version);
  await p.reload();
  // Online, the page is the server's: the new build at once.
  assert.equal(await page.getAttribute('body', 'data-build'), 'second');
  // The browser saw the new manifest: the new build is kept, the old one is gone.
  await waitCached(p, second);

  await goOffline(p);
  await reloadOffline(p, second);
  assert.equal(await page.getAttribute('body', 'data-build'), 'second', 'the new page code, offline');
  assert.equal(await pageSha256(page, 'pkg-cpu/vae_web_bg.wasm'), second.files['pkg-cpu/vae_web_bg.wasm'], 'the new wasm module, offline');
  await traceDigit(page, aTestDigit(7));
  assert.equal(await page.$$eval('#neighbours li', (l) => l.length), 8);
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.violations, []);
});

test('a build whose files do not match its manifest is not kept; the last whole one stays', { skip, timeout: 900_000 }, async (t) => {
  const { p, page, dir, manifest: first } = await openSiteCopy(t);

  // A site caught mid-update: the new manifest is there, one of its files is not yet.
  const refused = new Promise((resolve) => {
    p.context.on('serviceworker', (worker) => worker.on('console', (m) => {
      if (/was not kept for offline use/.test(m.text())) resolve(m.text());
    }));
  });
  const third = rebuild(dir, 'third');
  fs.appendFileSync(path.join(dir, 'js/dom.js'), '\n// changed after the manifest was written\n');
  await p.reload();
  const why = await refused;
  t.diagnostic(why);
  assert.match(why, new RegExp(`^Build ${third.version} was not kept for offline use: .*js/dom\\.js is not the file of build`));
  // The first build stays, whole, and is still the one offline.
  await waitCached(p, first);
  await goOffline(p);
  await reloadOffline(p, first);
  assert.equal(await page.getAttribute('body', 'data-build'), null, 'the first build\'s page code');
  assert.equal(await pageSha256(page, 'pkg-cpu/vae_web_bg.wasm'), first.files['pkg-cpu/vae_web_bg.wasm'], 'the first build\'s wasm module');
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.violations, []);
});
