// Watches the WebGPU device(s) the wasm module asks for, so the worker knows when the GPU is gone:
// lost (a driver reset, the browser reclaiming it, `destroy()`) or poisoned (an uncaptured error,
// after which CubeCL panics and the module traps). wgpu requests its device through
// `GPUAdapter.requestDevice`; wrapped before the module starts, every device it gets is kept here
// and listened to. Burn's device can be started only once per wasm instance, so the worker does
// not try again: it hands the page's model over to a fresh CPU worker (worker.js, js/rpc.js).

/** The devices handed to the wasm module. Tests reach them here (`self.webgpuDevices`, in the
 *  worker) to destroy one: a real loss, not a mock. */
const devices = (self.webgpuDevices = []);

/** Calls `onLost(reason)` (once) when a device the module asked for is lost or reports an error
 *  nobody captured. Call before the module requests a device. */
export function watchWebgpu(onLost) {
  const Adapter = self.GPUAdapter;
  if (!Adapter?.prototype.requestDevice) return;
  let said = false;
  const lost = (reason) => {
    if (said) return;
    said = true;
    onLost(reason);
  };
  const requestDevice = Adapter.prototype.requestDevice;
  Adapter.prototype.requestDevice = async function watchedRequestDevice(...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    // Added before wgpu gets the device (CubeCL sets `onuncapturederror`, which panics): these
    // run first, while the worker can still say what happened. The error goes no further: the
    // worker hands over and stops using the module, so CubeCL's panic (a console error with a
    // wasm stack) would say nothing more, and the page says what the error was.
    device.lost.then((info) => lost(`the WebGPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''})`));
    device.addEventListener('uncapturederror', (e) => {
      e.stopImmediatePropagation();
      e.preventDefault();
      lost(`WebGPU reported an error: ${String(e.error?.message ?? e.error).split('\n')[0]}`);
    });
    return device;
  };
}

/** Whether the module has asked for a WebGPU device (a worker without one has no GPU to lose). */
export const usesWebgpu = () => devices.length > 0;

/** Resolves once a device the module uses is lost (after `watchWebgpu`'s handler has run), or
 *  after `ms`: a read that fails on a lost device can be heard of before the device says so.
 *  Chrome settles `lost` through its GPU process: with both cores busy, a training step's failure
 *  came more than 300 ms before it (the run was then ended as failed instead of moved to the CPU;
 *  tests/gpu-loss.test.mjs, twice in a dozen runs). Waiting longer costs only the rare failure on a
 *  healthy device, reported that much later. */
export function lossOrTimeout(ms = 3000) {
  return Promise.race([...devices.map((d) => d.lost), new Promise((resolve) => { setTimeout(resolve, ms); })]);
}
