// Writes www/pkg/offline-manifest.js: the files the page needs to work offline, each with its
// SHA-256, and a version made from them all. The service worker (www/sw.js) imports it, names its
// cache after the version and keeps only files whose bytes match, so a cache holds exactly one
// build; a new build gives a new version, which the browser sees as a new service worker (it
// compares imported scripts byte for byte) that replaces the cache. Run by scripts/build-web.sh,
// after the wasm module is built: run it again after changing a file the page loads.
//   node scripts/offline-manifest.mjs [folder (www)]
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'www');
/** Where the manifest goes, inside the site: with the build's output (www/pkg, not committed). */
export const MANIFEST = 'pkg/offline-manifest.js';
/** What the page loads (tests/offline.test.mjs checks this list against a real load's requests):
 *  files, and folders standing for every .js file in them. Not the f32 default model (the page
 *  fetches the 8-bit one), not the benchmark page, not the compressed copies (a server's matter). */
const FILES = ['index.html', 'style.css', 'favicon.svg', 'main.js', 'js/', 'worker-start.js', 'worker.js', 'worker/',
  'pkg-cpu/vae_web.js', 'pkg-cpu/vae_web_bg.wasm', 'model/default-q8.safetensors', 'model/conditional-q8.safetensors',
  'model/default-tsne.bin', 'data/mnist-test.bin'];
/** What only a browser with a WebGPU adapter loads (worker/modules.js), and the data set's training
 *  digits, which only a page that trains loads: kept offline once the page has loaded them, never
 *  fetched for the offline copy (a browser without WebGPU never downloads the module, a page where
 *  nobody trains never downloads the training digits). */
const LATER = ['pkg/vae_web.js', 'pkg/vae_web_bg.wasm', 'data/mnist-train.bin'];

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

/** The manifest of the site in `root`: {version, files: {path: sha256}, later: {path: sha256}}
 *  (paths relative to the site, in a fixed order). The version covers the service worker's own
 *  code too, so a change to it is a new build with its own cache. */
export function offlineManifest(root = WWW) {
  const paths = FILES.flatMap((entry) => (entry.endsWith('/')
    ? fs.readdirSync(path.join(root, entry)).filter((name) => name.endsWith('.js')).sort().map((name) => entry + name)
    : [entry]));
  const hashOf = (p) => sha256(fs.readFileSync(path.join(root, p)));
  const files = Object.fromEntries(paths.map((p) => [p, hashOf(p)]));
  const later = Object.fromEntries(LATER.map((p) => [p, hashOf(p)]));
  return { version: sha256(JSON.stringify({ files, later, worker: hashOf('sw.js') })).slice(0, 16), files, later };
}

/** Writes the manifest of the site in `root` as a classic script for the service worker's
 *  importScripts; returns it. */
export function writeOfflineManifest(root = WWW) {
  const manifest = offlineManifest(root);
  fs.writeFileSync(path.join(root, MANIFEST), '// Written by scripts/offline-manifest.mjs (the build); read by sw.js. Do not edit.\n'
    + `self.OFFLINE_MANIFEST = ${JSON.stringify(manifest, null, 1)};\n`);
  return manifest;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] ?? WWW);
  const { version, files } = writeOfflineManifest(root);
  console.log(`${path.relative(process.cwd(), path.join(root, MANIFEST))}: version ${version}, ${Object.keys(files).length} files`);
}
