// Lighthouse (npm `lighthouse`, its default mobile preset: a phone's screen, simulated slow 4G and
// a 4× slower CPU) on the page served from www/ on 127.0.0.1, in Debian's Chromium started by
// scripts/chromium.mjs: once with WebGPU (SwiftShader) and once without. Prints a table of the
// category scores, CLS, TBT and LCP and the failing audits' ids, then one `LIGHTHOUSE
// <backend>_<name>=<value>` line per figure. The browser benchmark imports lighthouseScores.
//   node scripts/bench/lighthouse.mjs [runs per backend (1)] [site folder (www)]
// (another folder: e.g. another commit's www/ with its build, to compare before and after a change).
// With several runs, the run with the median performance score is reported (its figures belong
// together); the performance score moves by a few points between runs on a shared machine.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchWithDevTools } from '../chromium.mjs';
import { serveApart } from './server.mjs';

const CATEGORIES = ['performance', 'accessibility', 'best-practices'];

/** The ids of the audits of `lhr`'s categories that Lighthouse's report counts as failed (a score
 *  below 0.9), the performance metrics themselves left out (the table has them). */
function failingAudits(lhr) {
  const ids = new Set();
  for (const category of Object.values(lhr.categories)) {
    for (const ref of category.auditRefs) {
      const audit = lhr.audits[ref.id];
      if (ref.group !== 'metrics' && audit.score !== null && audit.score < 0.9) ids.add(ref.id);
    }
  }
  return [...ids].sort();
}

/** npm's lighthouse, imported when first used: a script that imports this file (the browser
 *  benchmark) loads without it, and says what is missing when it is asked for scores. */
async function lighthouseModule() {
  try {
    return (await import('lighthouse')).default;
  } catch (e) {
    throw new Error(`npm's lighthouse is not installed (package.json's devDependencies: run npm ci): ${e.message}`);
  }
}

/** One Lighthouse run on `url` in a fresh Chromium: its report (lhr). */
async function lighthouseReport(url, webgpu) {
  const lighthouse = await lighthouseModule();
  const browser = await launchWithDevTools({ webgpu });
  try {
    return (await lighthouse(url, { port: browser.port, output: 'json', logLevel: 'error', onlyCategories: CATEGORIES })).lhr;
  } finally {
    await browser.close();
  }
}

/** Lighthouse on `origin` + `page` in a fresh Chromium, with WebGPU or without. Returns
 *  {performance, accessibility, bestPractices (0-100), cls, tbtMs, lcpMs, fcpMs, failing (audit
 *  ids), shifts (the layout shifts Lighthouse counted), warnings, lighthouseVersion, userAgent}.
 *  A run whose trace Lighthouse could not use (a runtime error such as NO_NAVSTART, which it says
 *  to run again for; seen once in 12 runs on a loaded machine here) is run again, twice at most. */
export async function lighthouseScores({ origin, webgpu, page = '/' }) {
  const url = new URL(page, origin).href;
  let lhr;
  for (let attempt = 1; attempt <= 3; attempt++) {
    lhr = await lighthouseReport(url, webgpu);
    if (!lhr.runtimeError) break;
    process.stderr.write(`Lighthouse: ${lhr.runtimeError.code}: ${lhr.runtimeError.message}${attempt < 3 ? ' (running it again)' : ''}\n`);
  }
  if (lhr.runtimeError) throw new Error(`Lighthouse: ${lhr.runtimeError.code}: ${lhr.runtimeError.message}`);
  const score = (id) => Math.round(lhr.categories[id].score * 100);
  const value = (id) => lhr.audits[id].numericValue;
  return {
    performance: score('performance'),
    accessibility: score('accessibility'),
    bestPractices: score('best-practices'),
    cls: value('cumulative-layout-shift'),
    tbtMs: value('total-blocking-time'),
    lcpMs: value('largest-contentful-paint'),
    fcpMs: value('first-contentful-paint'),
    failing: failingAudits(lhr),
    shifts: lhr.audits['layout-shifts']?.details?.items?.map((item) => ({ score: item.score, node: item.node?.selector })) ?? [],
    warnings: lhr.runWarnings,
    lighthouseVersion: lhr.lighthouseVersion,
    userAgent: lhr.environment.hostUserAgent,
  };
}

async function main() {
  const runs = Number(process.argv[2] ?? 1);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a whole number ≥ 1, not ${process.argv[2]}`);
  const root = path.resolve(process.argv[3] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'www'));
  const server = await serveApart(root);
  const { origin } = server;
  const started = Date.now();
  const results = {};
  try {
    for (const webgpu of [true, false]) {
      const name = webgpu ? 'webgpu' : 'cpu';
      const all = [];
      for (let run = 1; run <= runs; run++) {
        process.stderr.write(`== Lighthouse, ${webgpu ? 'with' : 'without'} WebGPU, run ${run} of ${runs}\n`);
        all.push(await lighthouseScores({ origin, webgpu }));
      }
      all.sort((a, b) => a.performance - b.performance);
      results[name] = { ...all[Math.floor((all.length - 1) / 2)], performanceRuns: all.map((r) => r.performance) };
    }
  } finally {
    server.close();
  }

  const any = Object.values(results)[0];
  console.log(`\n# ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; `
    + `Lighthouse ${any.lighthouseVersion}, mobile preset (simulated throttling), ${any.userAgent.match(/Chrome\/[\d.]+/)?.[0]}, ${origin}; `
    + `${runs} run(s) per backend (the median by performance); site ${root}; took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  const head = ['backend', 'performance', 'accessibility', 'best practices', 'CLS', 'TBT ms', 'LCP ms', 'failing audits'];
  const rows = Object.entries(results).map(([name, r]) => [name, r.performance, r.accessibility, r.bestPractices, r.cls.toFixed(3),
    r.tbtMs.toFixed(0), r.lcpMs.toFixed(0), r.failing.join(' ') || '—']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  rows.forEach((r) => console.log(line(r)));
  for (const [name, r] of Object.entries(results)) {
    if (runs > 1) console.log(`# ${name}: performance over the runs ${r.performanceRuns.join(', ')}`);
    if (r.shifts.length) console.log(`# ${name}: layout shifts ${r.shifts.map((s) => `${s.score.toFixed(3)} (${s.node ?? '?'})`).join(', ')}`);
    for (const warning of r.warnings) console.log(`# ${name}: Lighthouse warns: ${warning}`);
  }
  console.log('');
  for (const [name, r] of Object.entries(results)) {
    const figures = { performance: r.performance, accessibility: r.accessibility, best_practices: r.bestPractices, cls: r.cls.toFixed(3),
      tbt_ms: r.tbtMs.toFixed(0), lcp_ms: r.lcpMs.toFixed(0), fcp_ms: r.fcpMs.toFixed(0) };
    for (const [key, v] of Object.entries(figures)) console.log(`LIGHTHOUSE ${name}_${key}=${v}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
