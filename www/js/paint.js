// Painting 28×28 digits (grey levels, white ink on black) onto canvases.

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;
/** The alpha byte of a 32-bit word of ImageData (bytes R, G, B, A in memory order), at whichever
 *  end the platform's byte order puts it. */
const ALPHA = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0xff000000 : 0xff;
/** Opaque grey `v` (0–255) as one word: `v` in every byte, then the alpha byte full. */
const greyWord = (v) => ((v * 0x01010101) | ALPHA) >>> 0;

/** Paints 28×28 grey images as a grid filling the canvas, `cols` per row (each canvas pixel shows
 *  the nearest image pixel). Each image's grey levels are worked out once and its rows copied out,
 *  not each canvas pixel's: the first call (the page's first samples, 448 × 448) took 17 ms before,
 *  in code the browser had not optimised yet (docs/speed.md, 2026-12-07). */
export function paintGrid(canvas, pixels, cols) {
  const ctx = canvas.getContext('2d');
  const width = canvas.width;
  const n = Math.floor(pixels.length / PIXELS);
  const tile = width / cols;
  const image = ctx.createImageData(width, canvas.height);
  const words = new Uint32Array(image.data.buffer);
  const column = new Int32Array(Math.ceil(tile)).map((_, x) => Math.floor((x * SIDE) / tile));
  const grey = new Uint32Array(PIXELS);
  for (let i = 0; i < n; i++) {
    // `|| 0`: a NaN pixel is black, as ImageData stores it.
    for (let p = 0; p < PIXELS; p++) grey[p] = greyWord(Math.round(255 * Math.min(1, Math.max(0, pixels[i * PIXELS + p]))) || 0);
    // Whole pixels where the canvas's width is not a multiple of `cols`.
    const ox = Math.round((i % cols) * tile);
    const oy = Math.round(Math.floor(i / cols) * tile);
    for (let y = 0; y < tile; y++) {
      let at = (oy + y) * width + ox;
      if (at >= words.length) break; // a row below the canvas: so are the rest
      const row = Math.floor((y * SIDE) / tile) * SIDE;
      for (let x = 0; x < tile; x++) words[at++] = grey[row + column[x]];
    }
  }
  ctx.putImageData(image, 0, 0);
}

/** Fills the canvas with black: no digit. */
export function blank(canvas) {
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'black';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}
