// Shared by the browser tests: the page served on 127.0.0.1 in Chromium (started by
// scripts/chromium.mjs, as every script that drives it), and helpers that read canvases and draw
// with real pointer strokes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The native CLI, built by the test command's `cargo test --workspace --release`. */
export const VAE = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'vae');

/** Which backends the browser tests run on: both, unless BROWSER_BACKENDS=cpu or =webgpu (for a
 *  quick local run; CI runs both). Values are `webgpu` flags for openPage. */
export const BACKENDS = (process.env.BROWSER_BACKENDS ?? 'cpu,webgpu').split(',').map((b) => b.trim() === 'webgpu');

/** Reports each content security policy violation where it happens (the page, a worker) as a
 *  console error, which openPage records: the browser's own console reports miss some (an eval in
 *  a worker) and Playwright passes on none of a worker's. */
function reportPolicyViolations() {
  self.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation in ${self.constructor.name}: `
    + `${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));
}

/** Opens the page (the site in `root`, www/ unless given); records every request of the page and
 *  its worker, the requests to other origins, uncaught errors, console errors, and content
 *  security policy violations in the page and its worker (kept here in node, so that a reload
 *  loses none). Waits as waitLoaded does, or only until the page answers when `whole` is false.
 *  `viewport` and `device` (a phone's: isMobile, hasTouch, …) are scripts/chromium.mjs's launch
 *  options; `init`, a function, runs in the page before its own scripts. */
export async function openPage({ webgpu, query = '', root, whole = true, viewport = { width: 1400, height: 1200 }, device, init }) {
  const server = await serve(0, root);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const { context, page } = await launch({ webgpu, viewport, device });
  const requests = []; // Playwright's requests, in order
  const foreignRequests = []; // a blob: URL's origin is its creator's: the page's own export passes
  const errors = [];
  const violations = [];
  page.on('request', (r) => {
    requests.push(r);
    if (new URL(r.url()).origin !== origin) foreignRequests.push(r.url());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') (/Content Security Policy/.test(m.text()) ? violations : errors).push(`console: ${m.text()}`);
  });
  context.on('weberror', (e) => errors.push(`weberror: ${e.error().message}`));
  await page.addInitScript(reportPolicyViolations);
  if (init) await page.addInitScript(init);
  // A worker's listener arrives once Playwright reports the worker, after the worker's first
  // synchronous run; the fetches it starts there are checked by the page loading at all.
  page.on('worker', (worker) => worker.evaluate(reportPolicyViolations).catch(() => {}));
  await page.goto(`${origin}/${query}`);
  const { readyMs, indexedMs, settledMs } = whole ? await waitLoaded(page) : await waitReady(page);
  return {
    page, context, server, origin, requests, foreignRequests, errors, violations, readyMs, indexedMs, settledMs,
    /** Reloads the page (same browser profile: its IndexedDB stays) and waits as openPage does. */
    async reload() { await page.reload(); return waitLoaded(page); },
    async close() { await context.close(); server.close(); },
  };
}

async function waitReady(page) {
  const t0 = Date.now();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 600_000 });
  return { readyMs: Date.now() - t0 };
}

/** Waits until the page is usable, then until its neighbour index is whole (the tests want all
 *  of it); returns both times from now. */
export async function waitLoaded(page) {
  const t0 = Date.now();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 600_000 });
  const readyMs = Date.now() - t0;
  await page.waitForSelector('body[data-indexed="true"]', { timeout: 600_000 });
  const indexedMs = Date.now() - t0;
  // "auto" answers on the CPU first and moves to WebGPU once it is checked and warmed up.
  await page.waitForSelector('body[data-backend-settled="true"]', { timeout: 600_000 });
  return { readyMs, indexedMs, settledMs: Date.now() - t0 };
}

/** The wasm module's limits() (the form's ranges, the import bound, the backend labels), asked
 *  of the module itself in the page, not of the page's code. */
export function wasmLimits(page) {
  return page.evaluate(async () => {
    const wasm = await import('/pkg-cpu/vae_web.js');
    await wasm.default();
    return JSON.parse(wasm.limits());
  });
}

/** The committed data set (parsed as crates/vae/src/data.rs documents it) in the page's order, by
 *  the page's index: its test digits first, then its training digits, each in the file's order
 *  (the page gets them as two files: scripts/split-data.mjs, www/worker/modules.js). */
export function dataset() {
  const bytes = fs.readFileSync(path.join(ROOT, 'www/data/mnist.bin'));
  const n = bytes.readUInt32LE(8);
  const isTest = (f) => bytes[16 + n + f] === 1;
  const all = Array.from({ length: n }, (_, f) => f);
  const file = [...all.filter(isTest), ...all.filter((f) => !isTest(f))];
  return {
    n,
    /** How many test digits: the page's neighbours and map until the training digits arrive. */
    tests: file.filter(isTest).length,
    label: (i) => bytes[16 + file[i]],
    isTest: (i) => isTest(file[i]),
    image: (i) => Array.from(bytes.subarray(16 + 2 * n + file[i] * 784, 16 + 2 * n + (file[i] + 1) * 784), (v) => v / 255),
  };
}

/** The runs of ink along each row of a 28×28 digit (grey levels ≥ 0.4), as [row, first, last]
 *  cells: one stroke each. */
function inkRuns(image) {
  const runs = [];
  for (let y = 0; y < 28; y++) {
    let x = 0;
    while (x < 28) {
      if (image[y * 28 + x] < 0.4) { x++; continue; }
      const start = x;
      while (x < 28 && image[y * 28 + x] >= 0.4) x++;
      runs.push([y, start, x - 1]);
    }
  }
  return runs;
}

/** Clears the pad, sets the brush for tracing and brings the pad into view; returns its box. */
async function clearedPad(page) {
  await page.click('#clear');
  await page.$eval('#brush', (el) => { el.value = '14'; el.dispatchEvent(new Event('input')); });
  await page.locator('#pad').scrollIntoViewIfNeeded();
  return page.locator('#pad').boundingBox();
}

/** Traces a 28×28 digit onto the drawing pad with real pointer strokes: one stroke per run of ink
 *  along each row. */
export async function traceDigit(page, image) {
  const box = await clearedPad(page);
  const cell = box.width / 28;
  for (const [y, first, last] of inkRuns(image)) {
    const py = box.y + (y + 0.5) * cell;
    await page.mouse.move(box.x + (first + 0.5) * cell, py);
    await page.mouse.down();
    await page.mouse.move(box.x + (last + 0.5) * cell, py, { steps: 3 });
    await page.mouse.up();
  }
  await waitIdle(page);
}

/** traceDigit's strokes as DevTools protocol mouse events (viewport coordinates). */
function strokeEvents(image, box) {
  const cell = box.width / 28;
  const events = [];
  const move = (x, y, pressed) => events.push({ type: 'mouseMoved', x, y, button: pressed ? 'left' : 'none', buttons: pressed ? 1 : 0 });
  for (const [y, first, last] of inkRuns(image)) {
    const py = box.y + (y + 0.5) * cell, x0 = box.x + (first + 0.5) * cell, x1 = box.x + (last + 0.5) * cell;
    move(x0, py, false);
    events.push({ type: 'mousePressed', x: x0, y: py, button: 'left', buttons: 1, clickCount: 1 });
    for (let s = 1; s <= 3; s++) move(x0 + ((x1 - x0) * s) / 3, py, true);
    events.push({ type: 'mouseReleased', x: x1, y: py, button: 'left', buttons: 0, clickCount: 1 });
  }
  return events;
}

/** Traces a digit with the same real mouse strokes as traceDigit, but sends all their events at
 *  once through the DevTools protocol (`cdp`: page.context().newCDPSession(page)), which keeps them
 *  in order, instead of awaiting a Playwright call for each: about 0.2 s a digit instead of 3 s.
 *  Waits for the page to be idle unless `wait` is false (then it resolves once the events are in). */
export async function traceDigitQuickly(page, cdp, image, { wait = true } = {}) {
  const box = await clearedPad(page);
  await Promise.all(strokeEvents(image, box).map((e) => cdp.send('Input.dispatchMouseEvent', e)));
  if (wait) await waitIdle(page);
}

export async function waitIdle(page) {
  await page.waitForFunction(() => document.body.dataset.idle === 'true', null, { timeout: 300_000 });
}

/** A canvas's pixels as grey levels in [0, 1] (red channel), split into `cols × rows` tiles of
 *  28×28 (nearest-neighbour downsampling). */
export async function readTiles(page, selector, cols, rows = 1) {
  return page.$eval(selector, (canvas, [cols, rows]) => {
    const { data, width, height } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    const tw = width / cols, th = height / rows;
    const tiles = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const t = [];
        for (let y = 0; y < 28; y++) {
          for (let x = 0; x < 28; x++) {
            const px = Math.floor(c * tw + ((x + 0.5) * tw) / 28), py = Math.floor(r * th + ((y + 0.5) * th) / 28);
            t.push(data[(py * width + px) * 4] / 255);
          }
        }
        tiles.push(t);
      }
    }
    return tiles;
  }, [cols, rows]);
}

/** An IDX images file of 32-bit floats (type 0x0D, big-endian): any grey level exactly, as the
 *  CLI reads it (`vae score|read --images FILE`). */
export function writeFloatIdx(file, images) {
  const bytes = Buffer.alloc(16 + images.length * 784 * 4);
  bytes.set([0, 0, 0x0d, 3]);
  [images.length, 28, 28].forEach((d, i) => bytes.writeUInt32BE(d, 4 + 4 * i));
  images.flat().forEach((v, i) => bytes.writeFloatBE(v, 16 + 4 * i));
  fs.writeFileSync(file, bytes);
}

/** The largest difference between two images' grey levels. */
export const maxDifference = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

export function correlation(a, b) {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n, mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2; }
  return sab / Math.sqrt(saa * sbb);
}

/** Imports a model file with the training panel's Import button; returns the page's message once
 *  it says the file was imported or refused. */
export async function importFile(page, file) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Import model' }).click();
  await (await chooser).setFiles(file);
  const name = path.basename(file);
  await page.waitForFunction((n) => {
    const text = document.getElementById('model-message').textContent;
    return text.startsWith(`Imported ${n}`) || text.startsWith(`Could not import ${n}`);
  }, name, { timeout: 300_000 });
  return page.textContent('#model-message');
}

/** `project(record)` of the model record stored in the page's IndexedDB (undefined without one),
 *  computed in the page: a record holds megabytes of weights and a run's snapshot, which only
 *  their projection need cross to the test. `project` runs in the page (its source is sent). The
 *  record (the core's, crates/vae/src/session/record.rs: a safetensors file) is read as {writeId,
 *  weights, history: {steps, tests} (the model's), run: {steps, tail} (the model's steps when it
 *  began, and its step records since the model's last epoch end) or undefined}. */
export function storedRecord(page, project) {
  return page.evaluate((source) => new Promise((resolve, reject) => {
    const projectStored = (0, eval)(`(${source})`);
    const decode = (stored) => {
      const bytes = stored.record;
      const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
      const tensor = (name) => header[name] && bytes.subarray(8 + length + header[name].data_offsets[0], 8 + length + header[name].data_offsets[1]);
      const rows = (name) => {
        const values = new Float64Array(tensor(name).slice().buffer);
        const records = [];
        for (let i = 0; i < values.length; i += 5) {
          records.push({ step: values[i], epoch: values[i + 1], loss: values[i + 2], recon: values[i + 3], kl: values[i + 4] });
        }
        return records;
      };
      const meta = header.__metadata__;
      const steps = rows('history.steps');
      const modelSteps = Number(meta.model_steps);
      return {
        writeId: stored.writeId,
        weights: tensor('model'),
        history: { steps: steps.slice(0, modelSteps), tests: rows('history.tests') },
        run: header.run ? { steps: Number(meta.run_steps), tail: steps.slice(modelSteps) } : undefined,
      };
    };
    const project = (stored) => projectStored(stored && decode(stored));
    const open = indexedDB.open('latent-sketchpad', 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction('models').objectStore('models').get('current');
      get.onsuccess = () => {
        open.result.close();
        resolve(project(get.result));
      };
    };
  }), project.toString());
}

let committedData = null;
/** The index of the committed data set's first test digit with `label`. */
export function firstTestIndex(label) {
  committedData ??= dataset();
  const data = committedData;
  for (let i = 0; i < data.n; i++) if (data.isTest(i) && data.label(i) === label) return i;
  throw new Error(`no test ${label}`);
}

/** The committed data set's first test digit with `label`, as grey levels. */
export function aTestDigit(label) {
  const index = firstTestIndex(label);
  return committedData.image(index);
}

/** The training panel's status line: its data attributes (state, step, loss, …) and its text. */
export const trainStatus = (page) => page.$eval('#train-status', (e) => ({ ...e.dataset, text: e.textContent }));

/** Waits until the training panel shows step `n` or a later one (Playwright's default timeout
 *  unless `timeout` is given). */
export const stepAtLeast = (page, n, timeout) => page.waitForFunction(
  (k) => Number(document.getElementById('train-status').dataset.step) >= k, n, { timeout },
);

/** Waits until the training panel's state is `state` (idle, running, paused, diverged). */
export const trainStateIs = (page, state, timeout) => page.waitForFunction(
  (s) => document.getElementById('train-status').dataset.state === s, state, { timeout },
);

/** Fills the training form: {name: value} for its inputs. */
export async function setForm(page, values) {
  for (const [name, value] of Object.entries(values)) await page.fill(`#train-form input[name=${name}]`, String(value));
}

/** The page's model worker (its entry www/worker-start.js); after a lost GPU, the one that took over. */
export const modelWorker = (page) => page.workers().findLast((w) => new URL(w.url()).pathname === '/worker-start.js');

// ---- the person's own digits (tests/yours.test.mjs, tests/reading-training.test.mjs) ----------------

/** A digit in a slanted hand: the test digit sheared (the top leans right by half a pixel a row),
 *  linearly interpolated, as a person who slants might write it. */
export function slanted(image) {
  const out = new Array(784).fill(0);
  for (let y = 0; y < 28; y++) {
    const shift = 0.5 * (14 - y - 0.5);
    for (let x = 0; x < 28; x++) {
      const from = x - shift;
      const left = Math.floor(from);
      const t = from - left;
      const at = (c) => (c >= 0 && c < 28 ? image[y * 28 + c] : 0);
      out[y * 28 + x] = at(left) * (1 - t) + at(left + 1) * t;
    }
  }
  return out;
}

/** The test split's digits in turn by label (a 0, a 1, …, a 9, the next 0, …): `n` of them, as
 *  {label, image} in a slanted hand. The last fifth of any 10k of them holds most digits. */
export function slantedDigits(n) {
  const data = dataset();
  const byLabel = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < data.n; i++) if (data.isTest(i)) byLabel[data.label(i)].push(i);
  return Array.from({ length: n }, (_, k) => {
    const index = byLabel[k % 10][Math.floor(k / 10)];
    return { label: k % 10, image: slanted(data.image(index)) };
  });
}

/** Keeps the sketch on the pad with `label` chosen; waits until the strip shows `n` digits. */
export async function keep(page, label, n) {
  await page.selectOption('#keep-label', String(label));
  await page.getByRole('button', { name: 'Keep this digit' }).click();
  await page.waitForFunction((k) => Number(document.getElementById('your-digits').dataset.count) === k, n);
}
