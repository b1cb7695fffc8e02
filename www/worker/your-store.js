// The digits a person keeps, in this browser (IndexedDB): one record per digit, {label, pixels:
// Uint8Array (the 28×28 input as grey levels × 255), keptAt}, keyed by a whole number that grows
// with each digit kept (found and used in the write's own transaction), so their order is the order
// kept and two tabs never write over each other's digits. A database of its own beside the model's
// and the maps' (worker/storage.js, worker/map-store.js). What a digit is and how it is checked is
// the core's (vae::session, yours.rs): this file only keeps bytes.
import { transaction as inDatabase } from './idb.js';

const DB = 'latent-sketchpad-yours';
const STORE = 'digits';
const PIXELS = 784;

/** Runs `act(store, settle)` in one transaction on the digits' store (see worker/idb.js). */
const transaction = (mode, act) => inDatabase(DB, STORE, mode, act);

/** Every stored digit, in the order kept: {ids, labels: Uint8Array, pixels: Uint8Array (784 a
 *  digit)}. */
export function readDigits() {
  return transaction('readonly', (s, settle) => {
    const ids = [];
    const labels = [];
    const images = [];
    const cursor = s.openCursor();
    cursor.onsuccess = () => {
      const at = cursor.result;
      if (at) {
        ids.push(at.key);
        labels.push(at.value?.label);
        images.push(at.value?.pixels);
        at.continue();
        return;
      }
      const pixels = new Uint8Array(images.length * PIXELS);
      images.forEach((image, i) => { if (image?.length === PIXELS) pixels.set(image, i * PIXELS); });
      // A damaged record's label is no digit (255), so the core refuses it, saying which.
      const label = (l, i) => (Number.isInteger(l) && images[i]?.length === PIXELS ? l : 255);
      settle({ ids, labels: Uint8Array.from(labels, label), pixels });
    };
  });
}

/** Stores digits ({label, pixels}) after the last one, all in one transaction (all or none);
 *  resolves with their ids, in order. */
export function addDigits(digits) {
  return transaction('readwrite', (s, settle) => {
    const last = s.openCursor(null, 'prev');
    last.onsuccess = () => {
      let next = (last.result?.key ?? 0) + 1;
      const keptAt = Date.now();
      settle(digits.map(({ label, pixels }) => {
        const id = next++;
        s.add({ label, pixels, keptAt }, id);
        return id;
      }));
    };
  });
}

/** Gives the stored digit `id` another label. */
export function relabelDigit(id, label) {
  return transaction('readwrite', (s) => {
    const get = s.get(id);
    get.onsuccess = () => { if (get.result) s.put({ ...get.result, label }, id); };
  });
}

/** Deletes the stored digits `ids`. */
export const removeDigits = (ids) => transaction('readwrite', (s) => { for (const id of ids) s.delete(id); });

/** Deletes every stored digit. */
export const clearDigits = () => transaction('readwrite', (s) => s.clear());
