// The one way tests and scripts start Chromium: Debian's build through playwright-core (never a
// downloaded browser), a fresh profile each time, WebGPU only when asked for; or, for a tool that
// drives it itself over the DevTools protocol (Lighthouse), the same build with the same flags and
// a debugging port.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// WebGPU exists in headless Chromium here only behind this flag (a SwiftShader CPU adapter);
// without it requestAdapter() resolves to null, which is how the CPU fallback is tested. Drawing
// WebGPU output into a canvas also needs the Vulkan/ANGLE SwiftShader flags.
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader'];
/** Debian's Chromium (a shell wrapper that execs the browser), unless CHROMIUM names another. */
export const CHROMIUM_PATH = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Launches Chromium with a fresh persistent profile; returns {context, page}. `device`: more of
 *  Playwright's context options (a phone's isMobile, hasTouch, deviceScaleFactor). */
export async function launch({ webgpu = false, viewport, args = [], device = {} } = {}) {
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'chrome-')), {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : []), ...args],
    ...(viewport ? { viewport } : {}),
    ...device,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

/** Starts Chromium with a fresh profile and a DevTools port on 127.0.0.1 and no Playwright (whose
 *  own flags and emulation would be measured too); returns {port, close}. */
export async function launchWithDevTools({ webgpu = false, args = [] } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chrome-'));
  const browser = spawn(CHROMIUM_PATH, [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : []), ...args,
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => browser.once('exit', resolve));
  const close = async () => {
    if (browser.exitCode === null && browser.signalCode === null) browser.kill();
    await exited;
    fs.rmSync(profile, { recursive: true, force: true });
  };
  // Chromium writes the port it chose on the first line of DevToolsActivePort in its profile.
  const portFile = path.join(profile, 'DevToolsActivePort');
  for (const started = Date.now(); Date.now() - started < 30_000;) {
    if (browser.exitCode !== null) break;
    const port = fs.existsSync(portFile) ? Number(fs.readFileSync(portFile, 'utf8').split('\n')[0]) : 0;
    if (port > 0) return { port, close };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await close();
  throw new Error(`${CHROMIUM_PATH} did not open a DevTools port within 30 s (exit code ${browser.exitCode})`);
}
