// The one way tests and scripts start Chromium: Debian's build through playwright-core (never a
// downloaded browser), a fresh profile each time, WebGPU only when asked for.
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

/** Launches Chromium with a fresh persistent profile; returns {context, page}. */
export async function launch({ webgpu = false, viewport, args = [] } = {}) {
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'chrome-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : []), ...args],
    ...(viewport ? { viewport } : {}),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}
