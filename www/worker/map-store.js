// t-SNE maps kept in this browser (IndexedDB), one per model: making one takes the worker tens of
// seconds of background steps, reading one back a few milliseconds. A record is {positions:
// Float32Array (x and y of every data-set digit, by data-set index), savedAt}, keyed by the
// model's digest (the SHA-256 of its values, vae::VaeWeights::digest) and the map's version, so a
// model that comes back (an import of the same file, a record restored) finds its map; the newest
// KEPT stay. Not the SHA-256 of its exported file: that file's metadata comes in an order that
// changes from one export to the next. The default model's map is not kept here: it is shipped
// beside the model (worker/tsne.js).
// A database of its own beside the stored model's (worker/storage.js), so that neither's schema
// waits for the other's.
import { transaction as inDatabase } from './idb.js';

const DB = 'latent-sketchpad-maps';
const STORE = 'tsne';
const KEPT = 4;
/** Changes when the core's page t-SNE (vae::session::PAGE_TSNE) or its input changes, so that no
 *  map made otherwise is shown as this version's. "test-first": the data set's order since
 *  2026-12-07, its test digits first (worker/modules.js); a map kept before places the digits
 *  of the order before. */
const VERSION = 'tsne-perplexity-30-iterations-500-theta-1-pca-start-test-first';

/** Runs `act(store)` in one transaction on the maps' store (see worker/idb.js). */
const transaction = (mode, act) => inDatabase(DB, STORE, mode, act);

/** The key of the map of the session's model: the model's digest (hex), the map's version, and
 *  the digits it places (the test digits alone until the training digits arrive). */
export const mapKey = (session) => `${session.modelDigest()}:${VERSION}:${session.hasTrainingData() ? 'all' : 'test'}`;

/** The positions stored under `key`, or undefined. */
export async function readMap(key) {
  const record = await transaction('readonly', (s) => s.get(key));
  return record?.positions instanceof Float32Array ? record.positions : undefined;
}

/** Stores `positions` under `key` and drops all but the newest KEPT maps, in one transaction. */
export function storeMap(key, positions) {
  return transaction('readwrite', (s) => {
    s.put({ positions, savedAt: Date.now() }, key);
    const kept = []; // [key, savedAt] of every map, the new one included (requests run in order)
    const cursor = s.openCursor();
    cursor.onsuccess = () => {
      const at = cursor.result;
      if (at) {
        kept.push([at.key, at.value?.savedAt ?? 0]);
        at.continue();
        return;
      }
      kept.sort((a, b) => b[1] - a[1]).slice(KEPT).forEach(([old]) => s.delete(old));
    };
  });
}

/** Deletes the map under `key` (one the core refused). */
export const forgetMap = (key) => transaction('readwrite', (s) => s.delete(key));
