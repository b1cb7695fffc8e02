// IndexedDB as promises, for the worker's stores (worker/storage.js: the model; worker/map-store.js:
// the t-SNE maps). Each database holds one object store, created with it.

function database(name, store) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(store);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

/** Runs `act(objectStore, settle)` in one transaction on the store `store` of database `name`;
 *  resolves once the transaction is complete with the value given to `settle`, if any, else the
 *  result of the request `act` returned. */
export async function transaction(name, store, mode, act) {
  const db = await database(name, store);
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      let outcome;
      const request = act(tx.objectStore(store), (value) => { outcome = value; });
      tx.oncomplete = () => resolve(outcome !== undefined ? outcome : request?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('the transaction was aborted'));
    });
  } finally {
    db.close();
  }
}
