// Writes the README's picture of the page: the page on the CPU backend, a test digit 3 traced on
// its pad with real pointer strokes (its reconstruction, reading, score, the ten redraws "in your
// hand" and the nearest digits), the latent map and the samples. Needs the wasm build in www/pkg (scripts/build-web.sh).
//   node scripts/screenshot.mjs [OUT (docs/page.png)]
import path from 'node:path';
import { ROOT, openPage, aTestDigit, traceDigit } from '../tests/browser.mjs';

const out = path.resolve(process.argv[2] ?? path.join(ROOT, 'docs/page.png'));
const p = await openPage({ webgpu: false, query: '?backend=cpu' });
try {
  await p.page.waitForSelector('body[data-conditional="true"]');
  await traceDigit(p.page, aTestDigit(3));
  await p.page.evaluate(() => window.scrollTo(0, 0));
  await p.page.screenshot({ path: out });
  if (p.errors.length) throw new Error(`the page reported errors:\n${p.errors.join('\n')}`);
  console.log(`wrote ${out}`);
} finally {
  await p.close();
}
