// Records what the page's wasm does with the WebGPU JS API, for diagnosing shader and pipeline
// failures (diagnose-webgpu.mjs beside it reads the report; it mounts this folder at /diagnosis/, so
// the capture never ships in the static site). Import it in the worker BEFORE the wasm
// initialises WebGPU; it patches the prototypes once.
//
// Recorded: the adapter (info, limits, features), each requestDevice descriptor (required limits and
// features) and the device's resulting limits/features; every createShaderModule (label, WGSL,
// getCompilationInfo() messages, and the validation error of the call itself); every
// createComputePipeline(Async) (label, validation error); every `uncapturederror` event; device loss.
//
// Error scopes change where an error goes: an error caught by our scope would no longer reach the
// device's `uncapturederror` handler (which wgpu/CubeCL use to poison the device). To keep the page's
// behaviour, a caught error is re-dispatched to the device as a GPUUncapturedErrorEvent (later, since
// popErrorScope is async); such events are marked `redispatched` in the report.

const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);
const state = {
  installedAtMs: 0,
  wgslLanguageFeatures: [],
  adapters: [],
  devices: [],
  shaderModules: [],
  pipelines: [],
  uncapturedErrors: [],
  deviceLost: [],
};
const pending = [];
const redispatching = new WeakSet();

const LIMIT_NAMES = [
  'maxTextureDimension1D', 'maxTextureDimension2D', 'maxTextureDimension3D', 'maxTextureArrayLayers',
  'maxBindGroups', 'maxBindGroupsPlusVertexBuffers', 'maxBindingsPerBindGroup',
  'maxDynamicUniformBuffersPerPipelineLayout', 'maxDynamicStorageBuffersPerPipelineLayout',
  'maxSampledTexturesPerShaderStage', 'maxSamplersPerShaderStage', 'maxStorageBuffersPerShaderStage',
  'maxStorageTexturesPerShaderStage', 'maxUniformBuffersPerShaderStage', 'maxUniformBufferBindingSize',
  'maxStorageBufferBindingSize', 'minUniformBufferOffsetAlignment', 'minStorageBufferOffsetAlignment',
  'maxVertexBuffers', 'maxBufferSize', 'maxVertexAttributes', 'maxVertexBufferArrayStride',
  'maxInterStageShaderVariables', 'maxColorAttachments', 'maxColorAttachmentBytesPerSample',
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
  'maxSubgroupSize', 'minSubgroupSize', 'maxStorageBuffersInFragmentStage', 'maxStorageBuffersInVertexStage',
];

function limitsToObject(limits) {
  const out = {};
  if (!limits) return out;
  const names = new Set(LIMIT_NAMES);
  // GPUSupportedLimits exposes its members as prototype getters: enumerate those too.
  for (let p = limits; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) names.add(k);
  }
  for (const k of names) {
    if (k === 'constructor') continue;
    try {
      const v = limits[k];
      if (typeof v === 'number' || typeof v === 'bigint') out[k] = Number(v);
    } catch { /* not a limit */ }
  }
  return out;
}

const setToArray = (s) => (s ? [...s].sort() : []);
const plain = (v) => {
  try { return JSON.parse(JSON.stringify(v ?? null)); } catch { return String(v); }
};
const errorToObject = (e) => (e ? { type: e.constructor?.name ?? 'Error', message: String(e.message ?? e) } : null);

function adapterInfo(adapter) {
  const info = adapter.info ?? {};
  const out = {};
  for (const k of ['vendor', 'architecture', 'device', 'description', 'subgroupMinSize', 'subgroupMaxSize', 'isFallbackAdapter']) {
    if (info[k] !== undefined) out[k] = info[k];
  }
  if (adapter.isFallbackAdapter !== undefined) out.isFallbackAdapter = adapter.isFallbackAdapter;
  return out;
}

/** Runs `call` inside a validation error scope on `device`; records the error (if any) into
 *  `record.validationError` and re-dispatches it as an uncaptured error so the page sees it as it
 *  would have without the scope. */
function scoped(device, record, call) {
  device.pushErrorScope('validation');
  let result;
  try {
    result = call();
  } finally {
    const p = device.popErrorScope().then((err) => {
      record.validationError = errorToObject(err);
      if (err) {
        try {
          const ev = new GPUUncapturedErrorEvent('uncapturederror', { error: err });
          redispatching.add(ev);
          device.dispatchEvent(ev);
        } catch (e) {
          record.redispatchFailed = String(e);
        }
      }
    }, (e) => { record.popErrorScopeFailed = String(e); });
    pending.push(p);
  }
  return result;
}

function watchDevice(device, index) {
  device.addEventListener('uncapturederror', (ev) => {
    state.uncapturedErrors.push({
      atMs: now(),
      device: index,
      redispatched: redispatching.has(ev),
      ...errorToObject(ev.error),
    });
  });
  device.lost.then((info) => state.deviceLost.push({ atMs: now(), device: index, reason: info.reason, message: info.message }));
}

export function install() {
  if (self.__webgpuCapture) return self.__webgpuCapture;
  state.installedAtMs = Math.round(performance.now());
  if (typeof GPU === 'undefined' || !self.navigator?.gpu) {
    state.note = 'navigator.gpu is absent in this context';
  } else {
    state.wgslLanguageFeatures = setToArray(navigator.gpu.wgslLanguageFeatures);

    const requestAdapter = GPU.prototype.requestAdapter;
    GPU.prototype.requestAdapter = async function (options) {
      const adapter = await requestAdapter.call(this, options);
      state.adapters.push(adapter ? {
        atMs: now(),
        options: plain(options),
        info: adapterInfo(adapter),
        features: setToArray(adapter.features),
        limits: limitsToObject(adapter.limits),
      } : { atMs: now(), options: plain(options), result: null });
      return adapter;
    };

    const requestDevice = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (descriptor) {
      const entry = {
        atMs: now(),
        label: descriptor?.label ?? '',
        requiredFeatures: descriptor?.requiredFeatures ? [...descriptor.requiredFeatures] : [],
        requiredLimits: plain(descriptor?.requiredLimits ?? {}),
      };
      state.devices.push(entry);
      try {
        const device = await requestDevice.call(this, descriptor);
        entry.features = setToArray(device.features);
        entry.limits = limitsToObject(device.limits);
        watchDevice(device, state.devices.length - 1);
        return device;
      } catch (e) {
        entry.error = errorToObject(e);
        throw e;
      }
    };

    const createShaderModule = GPUDevice.prototype.createShaderModule;
    GPUDevice.prototype.createShaderModule = function (descriptor) {
      const record = { index: state.shaderModules.length, atMs: now(), label: descriptor?.label ?? '', code: String(descriptor?.code ?? '') };
      state.shaderModules.push(record);
      const module = scoped(this, record, () => createShaderModule.call(this, descriptor));
      pending.push(module.getCompilationInfo().then((info) => {
        record.messages = [...info.messages].map((m) => ({
          type: m.type, message: m.message, lineNum: m.lineNum, linePos: m.linePos, offset: m.offset, length: m.length,
        }));
      }, (e) => { record.compilationInfoFailed = String(e); }));
      return module;
    };

    const describeStage = (descriptor) => ({
      label: descriptor?.label ?? '',
      entryPoint: descriptor?.compute?.entryPoint ?? null,
      moduleLabel: descriptor?.compute?.module?.label ?? null,
      constants: plain(descriptor?.compute?.constants ?? null),
      layout: descriptor?.layout === 'auto' ? 'auto' : descriptor?.layout ? (descriptor.layout.label || 'explicit') : null,
    });

    const createComputePipeline = GPUDevice.prototype.createComputePipeline;
    GPUDevice.prototype.createComputePipeline = function (descriptor) {
      const record = { index: state.pipelines.length, atMs: now(), kind: 'sync', ...describeStage(descriptor) };
      state.pipelines.push(record);
      return scoped(this, record, () => createComputePipeline.call(this, descriptor));
    };

    const createComputePipelineAsync = GPUDevice.prototype.createComputePipelineAsync;
    GPUDevice.prototype.createComputePipelineAsync = function (descriptor) {
      const record = { index: state.pipelines.length, atMs: now(), kind: 'async', ...describeStage(descriptor) };
      state.pipelines.push(record);
      return createComputePipelineAsync.call(this, descriptor).then((p) => p, (e) => {
        record.validationError = { type: e?.constructor?.name ?? 'Error', reason: e?.reason, message: String(e?.message ?? e) };
        throw e;
      });
    };
  }
  self.__webgpuCapture = { report, counts };
  return self.__webgpuCapture;
}

/** Cheap progress figures (for polling while the page runs). */
export function counts() {
  return {
    atMs: now(),
    shaderModules: state.shaderModules.length,
    shaderModulesWithErrors: state.shaderModules.filter((m) => m.validationError || m.messages?.some((x) => x.type === 'error')).length,
    pipelines: state.pipelines.length,
    pipelineErrors: state.pipelines.filter((p) => p.validationError).length,
    uncapturedErrors: state.uncapturedErrors.length,
    deviceLost: state.deviceLost.length,
  };
}

/** The report: plain JSON. Waits (at most `timeoutMs`) for pending compilation infos and error scopes. */
export async function report({ timeoutMs = 30_000 } = {}) {
  const settled = Promise.allSettled(pending.slice());
  let timedOut = false;
  await Promise.race([settled, new Promise((r) => setTimeout(() => { timedOut = true; r(); }, timeoutMs))]);
  return plain({ ...state, reportAtMs: now(), pendingTimedOut: timedOut });
}

install();
