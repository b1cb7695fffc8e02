// The model kept in this browser (IndexedDB): one record {weights: Uint8Array (safetensors),
// history, savedAt}, written at every epoch's end, on Stop and on import, read at start-up.
const DB = 'latent-sketchpad';
const STORE = 'models';
const KEY = 'current';

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function transaction(mode, act) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('the transaction was aborted'));
    });
  } finally {
    db.close();
  }
}

/** The stored record as it was written (unchecked), or undefined. */
export const readStoredModel = () => transaction('readonly', (s) => s.get(KEY));

export const storeModel = (weights, history) =>
  transaction('readwrite', (s) => s.put({ weights, history, savedAt: Date.now() }, KEY));

export const forgetStoredModel = () => transaction('readwrite', (s) => s.delete(KEY));
