// The model kept in this browser (IndexedDB): one record {record: Uint8Array (the core's record of
// the page's model: its weights, training history and the training run to resume, if any;
// vae::Session::record), writeId, savedAt}, read at start-up. Records stored before the record was
// the core's hold {weights, history, run} instead: their model loads alone.
//
// Several tabs share the record. Each write carries a fresh `writeId`, and a tab writes only over
// the record it last read or wrote (compared in the write's own transaction): a tab never
// overwrites, nor deletes, a model another tab stored after it. Every write is announced on a
// BroadcastChannel, so the other tabs hear of it at once.
import { transaction as inDatabase } from './idb.js';

const DB = 'latent-sketchpad';
const STORE = 'models';
const KEY = 'current';
const channel = new BroadcastChannel('latent-sketchpad-storage');

/** Runs `act(store, settle)` in one transaction on the models' store (see worker/idb.js). */
const transaction = (mode, act) => inDatabase(DB, STORE, mode, act);

const idOf = (record) => record?.writeId ?? null;

/** The stored record as it was written (unchecked), or undefined. */
export const readStoredModel = () => transaction('readonly', (s) => s.get(KEY));

/** Writes `record` (or deletes the record, for null) if the stored one is still the one with
 *  `expectedId` (null: none, or one from before write ids), under `writeId` (fresh unless given:
 *  a caller that must recognise its write later). Resolves with {stored: true, writeId} or, when
 *  another tab wrote since, {stored: false}. */
export async function storeModel(record, expectedId, writeId = record ? crypto.randomUUID() : null) {
  const outcome = await transaction('readwrite', (s, settle) => {
    const get = s.get(KEY);
    get.onsuccess = () => {
      if (idOf(get.result) !== expectedId) { settle({ stored: false }); return; }
      if (record) s.put({ ...record, writeId, savedAt: Date.now() }, KEY);
      else s.delete(KEY);
      settle({ stored: true, writeId });
    };
  });
  if (outcome.stored) channel.postMessage({ writeId });
  return outcome;
}

/** Deletes the record whatever it is (one this tab could not use at start-up). */
export const forgetStoredModel = () => transaction('readwrite', (s) => s.delete(KEY));

/** Calls `handler(writeId)` when another tab stores or deletes the record. */
export function onStoredElsewhere(handler) {
  channel.onmessage = ({ data }) => handler(data?.writeId ?? null);
}
