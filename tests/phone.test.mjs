// The page on a phone: a 390×844 touch screen (an iPhone 14's CSS viewport), without WebGPU and
// with it. Everything that comes late — the backend's label and timings, WebGPU's check and
// warm-up, the neighbour index, the offline copy, the alert line — must move nothing on screen
// (the pad least of all: a pen may be on it); nothing may be wider than the screen; every control
// must be big enough for a finger; and a real touch stroke on the pad must be answered.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, openPage, waitLoaded, waitIdle, readTiles, correlation, maxDifference } from './browser.mjs';

const PHONE = { width: 390, height: 844 };
const FINGER = 48; // CSS px: Lighthouse's (and Android's) touch-target size

/** Runs in the page before its scripts: keeps every layout shift (window.layoutShifts). */
function recordLayoutShifts() {
  window.layoutShifts = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      window.layoutShifts.push({
        at: Math.round(e.startTime), value: e.value, afterInput: e.hadRecentInput,
        moved: e.sources.map((s) => (s.node?.id ? `#${s.node.id}` : s.node?.nodeName ?? '?')),
      });
    }
  }).observe({ type: 'layout-shift', buffered: true });
}

/** The pad's box in document coordinates (unaffected by scrolling). */
const padBox = (page) => page.$eval('#pad', (pad) => {
  const r = pad.getBoundingClientRect();
  return { x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height };
});

/** The controls a finger cannot hit reliably, by Lighthouse's rule for touch targets: a target
 *  smaller than `finger` × `finger` CSS px passes only if the finger-sized square centred on it
 *  overlaps no other target. Targets: what can be pressed or focused, shown on the page (a closed
 *  <details>' content is not). Runs in the page. */
function smallTargets(finger) {
  const selector = 'button, input:not([type="hidden"]), select, textarea, summary, a[href], [tabindex]:not([tabindex="-1"])';
  const targets = [...document.querySelectorAll(selector)]
    .filter((el) => el.checkVisibility({ visibilityProperty: true }))
    .map((el) => ({ el, r: el.getBoundingClientRect() }))
    .filter(({ r }) => r.width > 0 && r.height > 0);
  const name = (el) => {
    const tag = el.tagName.toLowerCase();
    if (el.id) return `${tag}#${el.id}`;
    const said = (el.getAttribute('aria-label') ?? el.labels?.[0]?.textContent ?? el.textContent).trim().replace(/\s+/g, ' ');
    return said ? `${tag} "${said.slice(0, 40)}"` : tag;
  };
  const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const failures = [];
  for (const { el, r } of targets) {
    if (r.width >= finger && r.height >= finger) continue;
    const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
    const square = { left: cx - finger / 2, right: cx + finger / 2, top: cy - finger / 2, bottom: cy + finger / 2 };
    const near = targets.filter((t) => t.el !== el && !t.el.contains(el) && !el.contains(t.el) && overlaps(square, t.r));
    if (near.length > 0) {
      failures.push(`${name(el)} is ${r.width.toFixed(0)}×${r.height.toFixed(0)} px, ${near.map((t) => name(t.el)).join(', ')} within a finger of it`);
    }
  }
  return { count: targets.length, failures };
}

/** A vertical stroke up the middle of the pad as a finger draws it: DevTools protocol touch
 *  events (touchStart, touchMove…, touchEnd), which the browser turns into pointer events. Up:
 *  on a page that can scroll, that is the finger's move which would scroll it. */
async function touchStroke(page) {
  const box = await page.locator('#pad').boundingBox(); // viewport coordinates
  const cdp = await page.context().newCDPSession(page);
  const at = (f) => [{ x: box.x + box.width / 2, y: box.y + box.height * f, id: 1, radiusX: 6, radiusY: 6, force: 1 }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(0.8) });
  for (let i = 1; i <= 15; i++) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at(0.8 - (0.6 * i) / 15) });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await cdp.detach();
}

for (const webgpu of BACKENDS) {
  const name = webgpu ? 'with WebGPU available' : 'without WebGPU';
  test(`the page on a phone, ${name}`, { timeout: 900_000 }, async (t) => {
    const s = await openPage({
      webgpu, whole: false, viewport: PHONE, device: { isMobile: true, hasTouch: true, deviceScaleFactor: 3 }, init: recordLayoutShifts,
    });
    after(() => s.close());
    const { page } = s;
    const padWhenReady = await padBox(page);
    const { settledMs } = await waitLoaded(page);
    if (webgpu) {
      // The warm-up's end: each job timed on both backends and placed (the longest late lines).
      await page.waitForFunction(() => document.querySelectorAll('#backend-jobs li[data-webgpu-ms]').length === 3, null, { timeout: 600_000 });
    }
    // The offline copy's line comes last of all (after the service worker's install).
    await page.waitForSelector('body[data-offline="ready"]', { timeout: 300_000 });
    t.diagnostic(`answered ${s.readyMs} ms, backend settled ${settledMs} ms after that`);

    await t.test('a touch screen: the page sees a coarse pointer', async () => {
      // The stylesheet sizes controls for a finger on `(any-pointer: coarse)`.
      assert.equal(await page.evaluate(() => matchMedia('(any-pointer: coarse)').matches), true);
    });

    await t.test('nothing late moves the pad, nor anything else on screen', async () => {
      assert.deepEqual(await padBox(page), padWhenReady, 'the pad moved after the page answered');
      const shifts = await page.evaluate(() => window.layoutShifts);
      const unasked = shifts.filter((e) => !e.afterInput);
      const total = unasked.reduce((sum, e) => sum + e.value, 0);
      // Lighthouse's "good" is ≤ 0.1; this is the whole load's sum, warm-up included.
      assert.ok(total <= 0.05, `layout shifts summing to ${total.toFixed(3)}: ${JSON.stringify(unasked)}`);
    });

    await t.test('a touch stroke on the pad is answered, and moves neither the pad nor the page', async () => {
      // The pad 200 px from the top: the page can scroll both ways.
      await page.evaluate(() => window.scrollTo(0, document.getElementById('pad').getBoundingClientRect().top + scrollY - 200));
      const [before] = await readTiles(page, '#reconstruction', 1);
      const scrolled = await page.evaluate(() => scrollY);
      const padBefore = await padBox(page);
      await touchStroke(page);
      await page.waitForSelector('#score[data-loss]', { timeout: 120_000 });
      await waitIdle(page);
      const [input] = await readTiles(page, '#input', 1);
      const [recon] = await readTiles(page, '#reconstruction', 1);
      assert.ok(maxDifference(before, recon) > 0.5, 'the reconstruction did not change');
      assert.ok(correlation(input, recon) > 0.6, `the stroke's reconstruction correlates ${correlation(input, recon).toFixed(2)} with its input`);
      // touch-action: none on the pad: a finger draws there, it does not scroll the page.
      assert.equal(await page.evaluate(() => scrollY), scrolled, 'the stroke scrolled the page');
      assert.deepEqual(await padBox(page), padBefore);
    });

    await t.test('no horizontal scrolling', async () => {
      const widths = await page.evaluate(() => ({ scroll: document.scrollingElement.scrollWidth, viewport: innerWidth }));
      assert.equal(widths.viewport, PHONE.width);
      assert.ok(widths.scroll <= PHONE.width, `the page is ${widths.scroll} px wide on a ${PHONE.width} px screen`);
    });

    await t.test('every control is big enough for a finger, or far enough from the others', async () => {
      // With the neighbours shown (the stroke above): every control of every panel is on the page.
      const { count, failures } = await page.evaluate(smallTargets, FINGER);
      assert.ok(count > 40, `only ${count} targets found`);
      assert.deepEqual(failures, []);
    });

    await t.test('no errors', () => {
      assert.deepEqual(s.errors, []);
      assert.deepEqual(s.violations, []);
    });
  });
}
