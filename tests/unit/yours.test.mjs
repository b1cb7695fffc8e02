// The worker's part for the person's own digits (www/worker/yours.js) in node: what reaches this
// browser's store and the session, in which order, and what is left when either refuses — a
// digit is never shown as kept unless stored, a refused import leaves nothing stored, and a store
// that cannot be read back is said. The browser provides IndexedDB and the wasm Session; here they
// are stand-ins with the rules the worker relies on (worker/your-store.js's keys in the order kept,
// the core's refusal of a whole batch). tests/yours.test.mjs runs the same code in Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { YourDigits } from '../../www/worker/yours.js';

const PIXELS = 784;

/** worker/your-store.js's functions on a Map: keys grow with each digit, records are copies. */
function storeStandIn() {
  const records = new Map();
  return {
    records,
    failing: false,
    async readDigits() {
      const ids = [...records.keys()];
      const pixels = new Uint8Array(ids.length * PIXELS);
      ids.forEach((id, i) => pixels.set(records.get(id).pixels, i * PIXELS));
      return { ids, labels: Uint8Array.from(ids, (id) => records.get(id).label), pixels };
    },
    async addDigits(digits) {
      if (this.failing) throw new Error('QuotaExceededError');
      let next = Math.max(0, ...records.keys()) + 1;
      return digits.map(({ label, pixels }) => {
        records.set(next, structuredClone({ label, pixels }));
        return next++;
      });
    },
    async relabelDigit(id, label) { if (records.has(id)) records.get(id).label = label; },
    async removeDigits(ids) { for (const id of ids) records.delete(id); },
    async clearDigits() { records.clear(); },
  };
}

/** The session's part: digits by id, a whole batch refused for a clash, a label past 9 or more
 *  than `most` in all, as the core refuses them. */
function sessionStandIn(most = 5) {
  const digits = [];
  return {
    digits,
    async digitToKeep(grey, width, height, label) {
      if (!grey.some((v) => v > 0)) throw new Error('the pad is empty: draw a digit to keep');
      return JSON.stringify({ label: label ?? 7, read: label === undefined, pixels: Array(PIXELS).fill(9) });
    },
    async addYourDigits(ids, labels, pixels) {
      if (digits.length + ids.length > most) throw new Error(`a person keeps ${most} at most here`);
      if ([...ids].some((id) => digits.some((d) => d.id === id))) throw new Error('is kept already');
      if ([...labels].some((l) => l > 9)) throw new Error('not a digit 0–9');
      ids.forEach((id, i) => digits.push({ id, label: labels[i], pixels: pixels.slice(i * PIXELS, (i + 1) * PIXELS) }));
      return digits.length;
    },
    yourDigitList: () => JSON.stringify(digits.map(({ id, label }) => ({ id, label, heldOut: false }))),
    yourDigitPixels: () => new Uint8Array(digits.length * PIXELS),
    relabelYourDigit(id, label) {
      if (label > 9) throw new Error(`label ${label} is not a digit 0–9`);
      digits.find((d) => d.id === id).label = label;
    },
    async removeYourDigit(id) { digits.splice(digits.findIndex((d) => d.id === id), 1); },
    clearYourDigits() { digits.length = 0; },
  };
}

/** An IDX pair as the wasm module reads it (the first file's bytes here say what it holds): `n`
 *  digits labelled 0, 1, …, or a refusal. */
function readFiles(first) {
  if (first.bad) throw new Error('file 1 is not an IDX file');
  const n = first.n;
  return { labels: Uint8Array.from({ length: n }, (_, i) => i % 10), pixels: new Uint8Array(n * PIXELS), free() {} };
}

function worker({ most } = {}) {
  const store = storeStandIn();
  const session = sessionStandIn(most);
  const posted = [];
  const yours = new YourDigits({ state: { session }, post: (m) => posted.push(m), store, readFiles, training: null, giveData: async () => {} });
  return { store, session, posted, ops: yours.ops(), yours };
}

const sketch = { grey: [0, 1, 0], width: 3, height: 1 };

test('a kept digit is stored, then kept by the session, in the order kept; a reload gives the same', async () => {
  const { store, session, ops } = worker();
  const first = await ops.keepDigit({ ...sketch, label: 3 });
  assert.deepEqual(first.kept, { id: 1, label: 3, read: false });
  const second = await ops.keepDigit({ ...sketch, label: null });
  assert.deepEqual(second.kept, { id: 2, label: 7, read: true }, 'no label chosen: the core reads one');
  assert.deepEqual([...store.records.keys()], [1, 2]);
  assert.deepEqual(session.digits.map((d) => [d.id, d.label]), [[1, 3], [2, 7]]);
  await ops.relabelDigit({ id: 2, label: 4 });
  assert.equal(store.records.get(2).label, 4);
  await assert.rejects(ops.relabelDigit({ id: 2, label: 12 }), /not a digit/);
  assert.equal(store.records.get(2).label, 4, 'a refused label is not stored');

  // Another session (a reload, the WebGPU module, a worker after a lost GPU) gets them back.
  const again = sessionStandIn();
  const reloaded = new YourDigits({ state: { session: again }, post: () => {}, store, readFiles, training: null, giveData: async () => {} });
  await reloaded.restore();
  assert.deepEqual(again.digits.map((d) => [d.id, d.label]), [[1, 3], [2, 4]]);

  await ops.removeDigit({ id: 1 });
  assert.deepEqual([...store.records.keys()], [2]);
  assert.deepEqual(session.digits.map((d) => d.id), [2]);
  await ops.clearDigits();
  assert.equal(store.records.size + session.digits.length, 0);
});

test('a digit the browser cannot store is not kept, and an empty pad keeps nothing', async () => {
  const { store, session, ops } = worker();
  store.failing = true;
  await assert.rejects(ops.keepDigit({ ...sketch, label: 1 }), /QuotaExceededError/);
  assert.equal(session.digits.length, 0);
  store.failing = false;
  await assert.rejects(ops.keepDigit({ grey: [0, 0], width: 2, height: 1, label: 1 }), /the pad is empty/);
  assert.equal(store.records.size, 0);
});

test('an import is read whole first: a bad pair, or one the session refuses, leaves nothing stored', async () => {
  const { store, session, ops } = worker({ most: 5 });
  await ops.keepDigit({ ...sketch, label: 1 });
  await assert.rejects(ops.importDigits({ files: [{ name: 'notes.txt', bytes: { bad: true } }, { name: 'b' }] }), /not an IDX file/);
  await assert.rejects(ops.importDigits({ files: [{ name: 'a', bytes: { n: 3 } }] }), /pick both files/);
  await assert.rejects(ops.importDigits({ files: [{ name: 'a', bytes: { n: 6 } }, { name: 'b' }] }), /5 at most/);
  assert.deepEqual([...store.records.keys()], [1], 'the refused digits left the store again');
  assert.equal(session.digits.length, 1);
  const imported = await ops.importDigits({ files: [{ name: 'a', bytes: { n: 4 } }, { name: 'b' }] });
  assert.equal(imported.imported, 4);
  assert.deepEqual([...store.records.keys()], [1, 2, 3, 4, 5]);
  assert.deepEqual(session.digits.map((d) => d.label), [1, 0, 1, 2, 3]);
  // Each stored digit holds its own 784 grey levels, not the whole file's buffer.
  assert.ok([...store.records.values()].every((r) => r.pixels.buffer.byteLength === PIXELS));
});

test('stored digits the session refuses at start-up are said, and stay stored', async () => {
  const { store, posted, yours } = worker();
  store.records.set(1, { label: 200, pixels: new Uint8Array(PIXELS) });
  await yours.restore();
  assert.equal(posted.length, 1);
  assert.match(posted[0].error, /^Your kept digits could not be read back from this browser: not a digit 0–9/);
  assert.equal(store.records.size, 1);
});
