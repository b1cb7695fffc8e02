// www/js/paint.js's grid painting in node, on a stand-in canvas (the page's own ImageData layout:
// R, G, B, A bytes per pixel, row by row): each canvas pixel shows the nearest image pixel as an
// opaque grey, clamped to [0, 1], NaN black. The browser tests read the painted canvases too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paintGrid, PIXELS } from '../../www/js/paint.js';

/** A canvas stand-in whose context keeps the ImageData it is given. */
function canvas(width, height) {
  const c = { width, height, painted: null };
  c.getContext = () => ({
    createImageData: (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
    putImageData: (image) => { c.painted = image; },
  });
  return c;
}
const rgba = (c, x, y) => [...c.painted.data.subarray((y * c.width + x) * 4, (y * c.width + x) * 4 + 4)];

test('two images side by side at their own size: each pixel its grey, opaque, clamped, NaN black', () => {
  const images = new Float32Array(2 * PIXELS);
  images[0] = 1; // image 0, (0, 0)
  images[28 * 3 + 5] = 0.5; // image 0, (5, 3)
  images[PIXELS + 27] = 2; // image 1, (27, 0): clamped to white
  images[PIXELS + 28] = -1; // image 1, (0, 1): clamped to black
  images[PIXELS + 29] = NaN; // image 1, (1, 1)
  const c = canvas(56, 28);
  paintGrid(c, images, 2);
  assert.deepEqual(rgba(c, 0, 0), [255, 255, 255, 255]);
  assert.deepEqual(rgba(c, 5, 3), [128, 128, 128, 255]);
  assert.deepEqual(rgba(c, 28 + 27, 0), [255, 255, 255, 255]);
  assert.deepEqual(rgba(c, 28, 1), [0, 0, 0, 255]);
  assert.deepEqual(rgba(c, 29, 1), [0, 0, 0, 255]);
  assert.deepEqual(rgba(c, 1, 0), [0, 0, 0, 255]);
});

test('scaled up, each image pixel covers a block; rows past the images stay untouched', () => {
  const images = new Float32Array(3 * PIXELS);
  images[PIXELS + 28 * 27 + 27] = 1; // image 1's bottom-right pixel
  const c = canvas(112, 112); // 2 columns of 56: images 0 and 1 above, image 2 below left
  paintGrid(c, images, 2);
  for (const [x, y] of [[110, 54], [111, 55], [110, 55]]) assert.deepEqual(rgba(c, x, y), [255, 255, 255, 255], `(${x}, ${y})`);
  assert.deepEqual(rgba(c, 109, 55), [0, 0, 0, 255]);
  assert.deepEqual(rgba(c, 0, 111), [0, 0, 0, 255], 'image 2 painted');
  assert.deepEqual(rgba(c, 111, 111), [0, 0, 0, 0], 'no fourth image: left as it was');
});
