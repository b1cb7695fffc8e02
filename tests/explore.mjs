// Exploring the latent space in the page, as subtests of the page's test
// (tests/page.test.mjs), which loads the page once per backend: the t-SNE map beside PCA, the walk
// between any two digits, the latent sliders and the traverse, and pictures saved as PNG. Real
// input throughout: selects, clicks, keys, pointer strokes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { traceDigitQuickly, readTiles, maxDifference } from './browser.mjs';

/** The worker's answer to `op` asked from the page (js/rpc.js), typed arrays as arrays. */
function ask(page, op, args) {
  return page.evaluate(async ([op, args]) => {
    const value = await (await import('/js/rpc.js')).call(op, args);
    return ArrayBuffer.isView(value) ? Array.from(value) : value;
  }, [op, args]);
}

/** A canvas holds 8-bit grey levels: a decode painted on it is the decode to half a level (plus
 *  the rounding of a decode in a batch of another size). */
const PAINTED = 0.5 / 255 + 1e-5;
/** Two canvases painted with the same decode (in batches of different sizes): a level apart at most. */
const SAME_PAINT = 1 / 255 + 1e-5;

const chooseMapMethod = (page, label) => page.getByLabel('Map method', { exact: true }).selectOption({ label });

/** The default model's t-SNE map is the first shown (shipped beside the model:
 *  tests/tsne-map.test.mjs); PCA is chosen for the subtests that decode a point of the map. */
export async function choosePcaAfterTsne(page) {
  await page.waitForFunction(() => window.shownMap?.method === 'tsne');
  await chooseMapMethod(page, 'PCA');
}

/** The `k` labels of the shown map's points nearest to its marker. */
function labelsNearMarker({ points, labels, marker }, k = 10) {
  const near = labels.map((label, i) => [(points[2 * i] - marker[0]) ** 2 + (points[2 * i + 1] - marker[1]) ** 2, label]);
  return near.sort((a, b) => a[0] - b[0]).slice(0, k).map(([, label]) => label);
}

/** The default model's t-SNE map (the shipped one) is shown again when chosen; its label agreement
 *  beats PCA's clearly; a traced digit's marker lands among digits of its kind; a click shows a
 *  digit. */
export async function checkTsne(t, { page, data, digits }) {
  await chooseMapMethod(page, 't-SNE');
  await page.waitForFunction(() => window.shownMap?.method === 'tsne' && window.shownMap.points);
  // Held by the session since it was first shown, or restored from the shipped file again (after a
  // change of model and back): either way the shipped map, not one made here.
  assert.match(await page.getAttribute('#map', 'data-tsne'), /^(held|shipped)$/, 'the shipped map, shown again');
  assert.equal(await page.getAttribute('#map', 'data-tsne-making'), null, 'no t-SNE map was made here');
  assert.equal(await page.$eval('#tsne-progress', (p) => p.hidden), true, 'no progress bar');
  const { pca, tsne } = await page.$eval('#map-agreement', (e) => ({ pca: Number(e.dataset.pca), tsne: Number(e.dataset.tsne) }));
  t.diagnostic(`10-NN label agreement on the default model: PCA ${(100 * pca).toFixed(1)}%, t-SNE ${(100 * tsne).toFixed(1)}%`);
  assert.ok(tsne > pca + 0.3 && tsne > 0.8, `t-SNE's agreement ${tsne} is not clearly above PCA's ${pca}`);
  assert.match(await page.textContent('#map-hint'), /no out-of-sample transform/);

  // The strokes sent at once (real mouse events all the same): on WebGPU here each analysis takes
  // a tenth of a second or more, and only the last pad matters.
  const cdp = await page.context().newCDPSession(page);
  for (const label of [1, 7]) {
    await traceDigitQuickly(page, cdp, data.image(digits[label]));
    const shown = await page.evaluate(() => window.shownMap);
    assert.equal(shown.method, 'tsne');
    assert.ok(shown.marker, `no marker for the traced ${label} on the t-SNE map`);
    const near = labelsNearMarker(shown);
    const same = near.filter((l) => l === label).length;
    t.diagnostic(`a traced ${label} on the t-SNE map: ${same} of its 10 nearest map points are ${label}s`);
    assert.ok(same >= 6, `the traced ${label} landed among ${near.join(', ')}`);
  }

  // A click on the marker shows the data digit nearest to it, as it is in the data set.
  const [x, y] = await page.$eval('#map', (c) => [Number(c.dataset.markerX), Number(c.dataset.markerY)]);
  await page.click('#map', { position: { x, y } });
  await page.waitForSelector('#map-decode[data-digit-index]');
  const index = Number(await page.getAttribute('#map-decode', 'data-digit-index'));
  const [shownDigit] = await readTiles(page, '#map-decode', 1);
  assert.ok(maxDifference(shownDigit, data.image(index)) <= PAINTED, `the map shows digit ${index} as it is`);
  assert.equal(Number(await page.getAttribute('#map-decode', 'data-digit-label')), data.label(index));
  assert.match(await page.textContent('#map-decode-caption'), new RegExp(`^Data digit ${index}: a ${data.label(index)}$`));
}

/** A switch back to PCA and to t-SNE again shows each map at once. */
export async function checkSwitchBack(page) {
  for (const [label, method] of [['PCA', 'pca'], ['t-SNE', 'tsne']]) {
    const t0 = Date.now();
    await chooseMapMethod(page, label);
    await page.waitForFunction((m) => window.shownMap?.method === m && window.shownMap.points, method);
    assert.ok(Date.now() - t0 < 2000, `${label} took ${Date.now() - t0} ms to come back`);
  }
}

/** A spherical walk between neighbours 2 and 5 starts and ends at their decodes, differs from the
 *  straight one between its ends, and plays as an animation. */
export async function checkSlerpWalk(t, page) {
  await page.getByLabel('Walk from', { exact: true }).selectOption({ value: 'neighbour:1' });
  await page.getByLabel('Walk to', { exact: true }).selectOption({ value: 'neighbour:4' });
  await page.getByLabel('Path', { exact: true }).selectOption({ label: 'Spherical (slerp)' });
  await page.waitForSelector('#interpolation[data-from="neighbour:1"][data-to="neighbour:4"][data-walk="spherical"]');
  const slerp = await readTiles(page, '#interpolation', 10);
  const mus = await page.$$eval('#neighbours li', (lis) => lis.map((li) => li.dataset.mu.split(',').map(Number)));
  const latent = mus[0].length;
  const ends = await ask(page, 'decode', { z: [...mus[1], ...mus[4]] });
  assert.ok(maxDifference(slerp[0], ends.slice(0, 784)) <= PAINTED, 'the walk starts at neighbour 2\'s decode');
  assert.ok(maxDifference(slerp[9], ends.slice(784)) <= PAINTED, 'the walk ends at neighbour 5\'s decode');
  assert.match(await page.textContent('#interp-hint'), /^From neighbour 2 \(a \d\) to neighbour 5 \(a \d\), along the sphere \(slerp\), in 10 steps\.$/);

  await page.getByLabel('Path', { exact: true }).selectOption({ label: 'Linear' });
  await page.waitForSelector('#interpolation[data-walk="linear"]');
  const line = await readTiles(page, '#interpolation', 10);
  const apart = Math.max(...[3, 4, 5, 6].map((i) => maxDifference(line[i], slerp[i])));
  t.diagnostic(`slerp against the straight walk between neighbours 2 and 5 (latent ${latent}): largest difference ${apart.toFixed(2)} in the middle steps`);
  assert.ok(apart > 2 / 255, 'the spherical walk is another walk than the straight one');
  assert.ok(maxDifference(line[0], slerp[0]) <= PAINTED && maxDifference(line[9], slerp[9]) <= PAINTED, 'with the same ends');

  await page.getByRole('button', { name: 'Play' }).click();
  await page.waitForSelector('#walk-frame[data-playing="false"]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#walk-frame', 'data-frames'), '19', 'there and back: 19 frames');
  const [frame] = await readTiles(page, '#walk-frame', 1);
  assert.ok(maxDifference(frame, line[0]) <= PAINTED, 'the animation ends where the walk starts');
  // Back to the page's first walk, so later checks see it.
  await page.getByLabel('Walk from', { exact: true }).selectOption({ value: 'sketch' });
  await page.getByLabel('Walk to', { exact: true }).selectOption({ value: 'neighbour:0' });
  await page.waitForSelector('#interpolation[data-from="sketch"][data-to="neighbour:0"]');
}

/** The sliders are the sketch's μ, one labelled slider per latent dimension; moving one with the
 *  keyboard decodes its code at once (under `boundMs` a change, if given); the traverse follows. */
export async function checkSliders(t, page, { boundMs }) {
  const sliders = await page.$$eval('#sliders input[type=range]', (all) => all.map((s) => Number(s.value)));
  const mu = await page.evaluate(() => window.sketchMu);
  assert.equal(sliders.length, mu.length, 'one slider per latent dimension');
  for (const i of [1, mu.length]) assert.equal(await page.getByLabel(`Latent dimension ${i}`, { exact: true }).count(), 1);
  sliders.forEach((v, i) => assert.ok(Math.abs(v - mu[i]) <= 0.025 + 1e-6 || Math.abs(mu[i]) > 4, `slider ${i + 1} is ${v}, μ ${mu[i]}`));
  const [recon] = await readTiles(page, '#reconstruction', 1);
  const [before] = await readTiles(page, '#slider-decode', 1);
  assert.ok(maxDifference(before, recon) <= SAME_PAINT, 'at the sketch\'s μ the sliders decode its reconstruction');

  // The dimension that changes the decode most (some of a VAE's dimensions do almost nothing).
  const moved = mu.flatMap((_, i) => [-3, 3].flatMap((step) => mu.map((v, j) => (j === i ? v + step : v))));
  const decodes = await ask(page, 'decode', { z: moved });
  const effect = mu.map((_, i) => maxDifference(decodes.slice(2 * i * 784, (2 * i + 1) * 784), decodes.slice((2 * i + 1) * 784, (2 * i + 2) * 784)));
  const dim = effect.indexOf(Math.max(...effect));
  await page.getByLabel(`Latent dimension ${dim + 1}`, { exact: true }).focus();
  await page.evaluate(() => { window.sliderDecodeMs = []; });
  // Big steps there and back, each a change, ending a step away from μ (towards 0).
  const keys = mu[dim] > 0 ? ['PageDown', 'PageUp'] : ['PageUp', 'PageDown'];
  for (let press = 1; press <= 11; press++) {
    await page.keyboard.press(keys[(press - 1) % 2]);
    await page.waitForFunction((n) => window.sliderDecodeMs.length >= n, press);
  }
  const times = (await page.evaluate(() => window.sliderDecodeMs)).sort((a, b) => a - b);
  const [median, worst] = [times[Math.floor(times.length / 2)], times.at(-1)];
  t.diagnostic(`a slider's move → its decode on screen: median ${median.toFixed(1)} ms, slowest ${worst.toFixed(1)} ms over ${times.length} moves`);
  if (boundMs) assert.ok(worst < boundMs, `a slider's decode took ${worst.toFixed(1)} ms (bound ${boundMs} ms)`);
  const [after] = await readTiles(page, '#slider-decode', 1);
  assert.ok(maxDifference(after, before) > 0.1, 'moving the slider changed the decode');

  // The traverse shows the dimension moved; its middle step (t = 0) is the sliders' code itself
  // once the traverse asked for by the last move is shown.
  assert.equal(await page.getByLabel('Traverse dimension', { exact: true }).inputValue(), String(dim));
  await page.waitForFunction((d) => document.getElementById('traverse').dataset.dim === String(d), dim);
  let traverse;
  for (let attempt = 0; ; attempt++) {
    traverse = await readTiles(page, '#traverse', 7);
    if (maxDifference(traverse[3], after) <= SAME_PAINT) break;
    assert.ok(attempt < 50, 't = 0 of the traverse is not the sliders\' decode');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(maxDifference(traverse[0], traverse[6]) > 0.1, 'the traverse changes along its dimension');
}

/** Checks a PNG file whole: signature, every chunk's CRC, IHDR's size, and the image data
 *  inflating to exactly the rows its header says. Returns {width, height}. */
export function checkPng(bytes) {
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  let at = 8;
  const chunks = [];
  while (at < bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const body = bytes.subarray(at + 8, at + 8 + length);
    assert.equal(bytes.readUInt32BE(at + 8 + length), zlib.crc32(bytes.subarray(at + 4, at + 8 + length)), `${type} CRC`);
    chunks.push({ type, body });
    at += 12 + length;
  }
  assert.equal(at, bytes.length, 'the chunks fill the file');
  assert.equal(chunks[0].type, 'IHDR');
  assert.equal(chunks.at(-1).type, 'IEND');
  const ihdr = chunks[0].body;
  const [width, height, depth, colour] = [ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]];
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colour];
  assert.ok(depth === 8 && channels, `8-bit grey or RGB(A), not depth ${depth} colour type ${colour}`);
  assert.equal(ihdr[12], 0, 'not interlaced');
  const pixels = zlib.inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.body)));
  assert.equal(pixels.length, height * (1 + width * channels), 'the image data holds every row');
  return { width, height };
}

/** Each image panel's "Save … as PNG" downloads a valid PNG of its canvas's size. */
export async function checkSavedPngs(t, page) {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'pngs-'));
  try {
    for (const [name, canvas] of [['samples', '#samples'], ['interpolation', '#interpolation'], ['traverse', '#traverse'], ['map', '#map']]) {
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: `Save ${name} as PNG` }).click();
      const file = path.join(folder, (await download).suggestedFilename());
      await (await download).saveAs(file);
      assert.equal(path.basename(file), `latent-sketchpad-${name}.png`);
      const size = await page.$eval(canvas, (c) => ({ width: c.width, height: c.height }));
      assert.deepEqual(checkPng(fs.readFileSync(file)), size, `${name}: the PNG has the panel's size`);
    }
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** The samples grid shows its seed; a seed typed in draws its grid again; a picked sample is the
 *  walk's end, and a point picked on the map its start. */
export async function checkSeedsAndEnds(page) {
  const seed = await page.inputValue('#sample-seed');
  assert.equal(await page.getAttribute('#samples', 'data-seed'), seed);
  const first = await readTiles(page, '#samples', 8, 8);
  await page.click('#sample');
  await page.waitForFunction((s) => document.getElementById('samples').dataset.seed !== s, seed);
  assert.notDeepEqual(await readTiles(page, '#samples', 8, 8), first, 'a new seed draws another grid');
  await page.getByLabel('Seed', { exact: true }).fill(seed);
  await page.getByRole('button', { name: 'Draw from seed' }).click();
  await page.waitForFunction((s) => document.getElementById('samples').dataset.seed === s, seed);
  assert.deepEqual(await readTiles(page, '#samples', 8, 8), first, `seed ${seed} draws its grid again`);

  // Sample 10 (row 2, column 2) becomes the walk's end; the map's digit (picked earlier) its start.
  const box = await page.locator('#samples').boundingBox();
  await page.mouse.click(box.x + (1.5 * box.width) / 8, box.y + (1.5 * box.height) / 8);
  await page.waitForSelector('#interpolation[data-to="sample"]');
  await page.getByLabel('Walk from', { exact: true }).selectOption({ value: 'map' });
  await page.waitForSelector('#interpolation[data-from="map"][data-to="sample"]');
  const strip = await readTiles(page, '#interpolation', 10);
  assert.ok(maxDifference(strip[9], first[9]) <= SAME_PAINT, 'the walk ends at the picked sample');
  const index = Number(await page.getAttribute('#map-decode', 'data-digit-index'));
  const digit = await ask(page, 'dataDigit', { index });
  const start = await ask(page, 'decode', { z: digit.mu });
  assert.ok(maxDifference(strip[0], start) <= PAINTED, 'the walk starts at the map digit\'s decode');
}
