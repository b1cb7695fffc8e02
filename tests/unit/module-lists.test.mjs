// The worker's entry (www/worker-start.js) asks for every module of worker.js's import graph at
// once, from a list written in it: this holds the list equal to the graph, read from the files'
// static imports, so that a module added to the worker is not left to load a level later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'www');
const ENTRY = path.join(WWW, 'worker-start.js');

/** The wasm-bindgen glue the build writes (www/pkg-cpu/, www/pkg/): not there before the build, which
 *  the test command runs after these tests; it imports nothing. */
const GENERATED = /^www\/pkg(-cpu)?\//;

/** The files `file` imports statically, as paths relative to www/. */
function importsOf(file) {
  if (GENERATED.test(path.relative(path.dirname(WWW), file))) return [];
  const source = fs.readFileSync(file, 'utf8');
  const specifiers = [...source.matchAll(/^\s*import\s+(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  return specifiers.map((s) => path.relative(WWW, path.resolve(path.dirname(file), s)));
}

/** Every file of `root`'s static import graph (root included), relative to www/. */
function graphOf(root) {
  const seen = new Set();
  const visit = (rel) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    for (const next of importsOf(path.join(WWW, rel))) visit(next);
  };
  visit(root);
  return seen;
}

/** WORKER_MODULES, read from the entry's source: importing it would start a worker's fetches. */
function listed() {
  const source = fs.readFileSync(ENTRY, 'utf8');
  const list = source.match(/export const WORKER_MODULES = \[([^\]]*)\]/);
  assert.ok(list, 'worker-start.js exports WORKER_MODULES as an array literal');
  return [...list[1].matchAll(/'([^']+)'/g)].map((m) => path.relative(WWW, path.resolve(WWW, m[1])));
}

test("worker-start.js's module list is worker.js's whole import graph, the entry itself left out", () => {
  const graph = graphOf('worker.js');
  graph.delete('worker-start.js'); // imported back by worker/modules.js: already running
  const modules = listed();
  assert.equal(new Set(modules).size, modules.length, 'no module listed twice');
  assert.deepEqual([...modules].sort(), [...graph].sort());
  assert.equal(modules[0], 'worker.js', 'worker.js first: it is the one whose import is awaited');
});

test('the graph reader sees the imports of a real module', () => {
  assert.ok(importsOf(path.join(WWW, 'worker.js')).includes('worker/scheduler.js'));
  assert.ok(graphOf('worker.js').has('worker/idb.js'), 'a module two levels down');
});
