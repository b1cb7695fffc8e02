// Offline: registers the service worker (../sw.js), which keeps this build of the page — its
// scripts, the wasm module, the default model and the data set — in the browser, so a later visit
// works without a network; and says so, modestly, in the status line. Only the page registers it;
// where it cannot (no service workers, e.g. a plain-http host; the install refused), the page
// works online as before and the console says why.
import { $ } from './dom.js';
import * as hooks from './hooks.js';

const warn = (why) => console.warn(`This page could not be made available offline: ${why}`);

/** Warns if `worker` (an installing service worker) is refused: redundant before it was installed
 *  (once installed, it becomes redundant when a newer build replaces it). */
function watchInstall(worker) {
  let installed = false;
  worker?.addEventListener('statechange', () => {
    if (worker.state === 'installed' || worker.state === 'activated') installed = true;
    else if (worker.state === 'redundant' && !installed) warn('its service worker failed to install (its console says why)');
  });
}

function showConnection() {
  $('offline').textContent = navigator.onLine ? 'Available offline' : 'Working offline';
}

export async function makeAvailableOffline() {
  if (!('serviceWorker' in navigator)) return;
  try {
    // 'none': the browser's update checks ask the server for sw.js and the manifest it imports,
    // whatever a host's caching headers say, so a new build is seen at the next visit.
    const registration = await navigator.serviceWorker.register(new URL('../sw.js', import.meta.url), { updateViaCache: 'none' });
    watchInstall(registration.installing);
    registration.addEventListener('updatefound', () => watchInstall(registration.installing));
    // Active means installed: every file of a build is in its cache.
    await navigator.serviceWorker.ready;
  } catch (e) {
    warn(e.message);
    return;
  }
  showConnection();
  addEventListener('online', showConnection);
  addEventListener('offline', showConnection);
  hooks.availableOffline();
}
