// scripts/serve.mjs in a process of its own, for the benchmarks. A server in the process that
// drives the browser answers late whenever that process is busy with the browser's protocol (every
// response read back, a trace, Lighthouse), and each late answer was counted as the page's own
// time; a deployed page's server never shares a process with its visitors' browsers.
//   const { origin, close } = await serveApart(root, { '/prefix/': folder, … });
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve } from '../serve.mjs';

const SELF = fileURLToPath(import.meta.url);

/** Serves `root` (and `mounts`, as scripts/serve.mjs's `serve` does) on a free port from a child
 *  process: {origin, close()}. */
export function serveApart(root, mounts = {}) {
  const child = spawn(process.execPath, [SELF, JSON.stringify({ root, mounts })], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the bench's server stopped (exit code ${code}) before it listened`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (!out.includes('\n')) return;
      child.removeAllListeners('exit');
      resolve({ origin: line.trim(), close: () => child.kill() });
    });
  });
}

if (process.argv[1] === SELF) {
  const { root, mounts } = JSON.parse(process.argv[2]);
  const server = await serve(0, root, mounts);
  console.log(`http://127.0.0.1:${server.address().port}`);
}
