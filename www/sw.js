// The service worker that lets the page work offline. It keeps one build of the page in a cache:
// the files that pkg/offline-manifest.js lists (written by the build: every file the page loads —
// its scripts, the wasm module, the default model, the data set's test digits — with its SHA-256), in a cache
// named after the manifest's version. Registered by js/offline.js once the page has answered.
//
// - The WebGPU module and the data set's training digits (the manifest's `later`) are not fetched
//   for the copy: a browser without WebGPU never downloads the module, a page where nobody trains
//   never downloads the training digits. A page that loads them keeps them, checked the same way.
// - Install: fetches every listed file (revalidated, so mostly from the HTTP cache) and keeps it
//   only if its bytes are the manifest's; one that is not (a site caught mid-update, a stale
//   manifest) fails the install, and the cache already there stays. A cache is one build, whole.
// - Activate: deletes this site's other caches (older builds), then controls the open pages.
// - Fetch: the network first, as without this worker (the server's revalidation keeps bytes from
//   moving twice); this cache when the network fails. A page never mixes two builds: the page's
//   own request decides where it loads from, and its later requests and its worker's go to the
//   same place — a page from the network keeps to the network, one from the cache to the cache.
// - A new build changes the manifest, which the browser compares byte for byte at its update
//   checks (sw.js is registered with updateViaCache 'none'): the new worker installs the new
//   build beside the old one and takes over at once; the old cache goes.
//
// Only files inside the worker's scope (the page's folder), addressed relative to it, so the site
// works from any folder of any static host. Classic script (importScripts) for every browser.
importScripts('pkg/offline-manifest.js');

const { version, files, later } = self.OFFLINE_MANIFEST;
const scope = self.registration.scope;
/** The caches of this site (this scope: other sites of the origin have theirs) and this build's. */
const PREFIX = `latent-sketchpad ${scope} `;
const CACHE = PREFIX + version;
/** The page, as a navigation may ask for it. */
const PAGE = new URL('index.html', scope).href;
/** Each file's address → its path in the manifest. */
const FILES = new Map(Object.keys(files).map((file) => [new URL(file, scope).href, file]));
/** The same for the files kept once the page loads them. */
const LATER = new Map(Object.keys(later).map((file) => [new URL(file, scope).href, file]));
/** Headers that describe the bytes on the wire, not the stored (decoded) body. */
const WIRE_HEADERS = ['content-encoding', 'content-length', 'vary'];

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

/** The file at `url`, fetched past the HTTP cache's freshness (a conditional request: the server
 *  says whether the cached bytes still hold), as a response to store if its bytes are `sha256`. */
async function fetchChecked(url, sha256) {
  const response = await fetch(url, { cache: 'no-cache' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const actual = hex(await crypto.subtle.digest('SHA-256', bytes));
  if (actual !== sha256) {
    throw new Error(`${url} is not the file of build ${version} (SHA-256 ${actual}, expected ${sha256}): `
      + 'the site is being updated, or its offline manifest is stale (scripts/offline-manifest.mjs)');
  }
  const headers = new Headers(response.headers);
  for (const name of WIRE_HEADERS) headers.delete(name);
  return new Response(bytes, { status: response.status, statusText: response.statusText, headers });
}

/** A file of `later` the page loaded from the network: kept in this build's cache if its bytes are
 *  the manifest's (and the cache is there: the build was kept). */
async function keepLater(url, response) {
  if (!response.ok || !(await caches.has(CACHE))) return;
  const cache = await caches.open(CACHE);
  if (await cache.match(url)) return; // kept already (or it came from the copy)
  const bytes = await response.arrayBuffer();
  if (hex(await crypto.subtle.digest('SHA-256', bytes)) !== later[LATER.get(url)]) return;
  const headers = new Headers(response.headers);
  for (const name of WIRE_HEADERS) headers.delete(name);
  await cache.put(url, new Response(bytes, { status: response.status, statusText: response.statusText, headers }));
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const existed = await caches.has(CACHE); // this build, kept already (this worker reinstalled)
    const cache = await caches.open(CACHE);
    try {
      await Promise.all([...FILES].map(async ([url, file]) => cache.put(url, await fetchChecked(url, files[file]))));
    } catch (e) {
      if (!existed) await caches.delete(CACHE); // no half build is left behind
      console.warn(`Build ${version} was not kept for offline use: ${e.message}`);
      throw e;
    }
    // The cache is whole: replace the worker of an older build now, not once every page of the
    // site is closed (a reload keeps the old one), so the copy kept is the build just seen. A page
    // already loaded fetches nothing more. (The one window left: a page loading from the old copy
    // at the very moment the new build, downloaded meanwhile, takes over — its next requests are
    // unknown to this worker and go to the network first.)
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    // The page's own request starts while this worker starts, not after (navigation preload).
    await self.registration.navigationPreload?.enable();
    await self.clients.claim();
  })());
});

/** Where each client (a page, its worker) loads from: 'network' or 'cache'. A client unknown here
 *  (this worker started after it loaded) tries the network, then the cache. */
const sources = new Map();
const MAX_SOURCES = 64;

function remember(clientId, source) {
  if (!clientId) return;
  sources.delete(clientId);
  sources.set(clientId, source);
  if (sources.size > MAX_SOURCES) sources.delete(sources.keys().next().value); // the oldest
}

/** `url` from this build's cache (without creating the cache if it is gone). */
async function fromCache(url) {
  const response = await caches.match(url, { cacheName: CACHE });
  if (!response) throw new Error(`${url} is not in the offline copy of build ${version}`);
  return response;
}

/** The page (a navigation to the scope or to index.html, whatever its query): the network decides. */
async function page(event) {
  try {
    const response = (await event.preloadResponse) ?? (await fetch(event.request));
    remember(event.resultingClientId, 'network');
    return response;
  } catch (networkError) {
    const response = await fromCache(PAGE).catch(() => { throw networkError; });
    remember(event.resultingClientId, 'cache');
    return response;
  }
}

/** One of the build's files, from where its client loads; a worker's script passes its page's
 *  source on to the worker. */
async function file(event) {
  const { request } = event;
  const source = sources.get(event.clientId);
  if (request.destination === 'worker' && source) remember(event.resultingClientId, source);
  if (source === 'network') return fetch(request);
  if (source === 'cache') return fromCache(request.url);
  try {
    return await fetch(request);
  } catch (networkError) {
    return fromCache(request.url).catch(() => { throw networkError; });
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  if (request.mode === 'navigate') {
    const url = new URL(request.url);
    url.search = '';
    if (url.href === scope || url.href === PAGE) event.respondWith(page(event));
    // Another page in the scope (the benchmark): the browser's own request, or the preload's.
    else if (event.preloadResponse) event.respondWith(event.preloadResponse.then((r) => r ?? fetch(request)));
  } else if (FILES.has(request.url)) {
    event.respondWith(file(event));
  } else if (LATER.has(request.url)) {
    event.respondWith(file(event).then((response) => {
      event.waitUntil(keepLater(request.url, response.clone()).catch(() => {}));
      return response;
    }));
  }
});
