// Painting 28×28 digits (grey levels, white ink on black) onto canvases.

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;

/** Paints 28×28 grey images as a grid filling the canvas, `cols` per row. */
export function paintGrid(canvas, pixels, cols) {
  const ctx = canvas.getContext('2d');
  const n = Math.floor(pixels.length / PIXELS);
  const tile = canvas.width / cols;
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < n; i++) {
    const ox = (i % cols) * tile;
    const oy = Math.floor(i / cols) * tile;
    for (let y = 0; y < tile; y++) {
      const row = Math.floor((y * SIDE) / tile);
      for (let x = 0; x < tile; x++) {
        const v = Math.round(255 * Math.min(1, Math.max(0, pixels[i * PIXELS + row * SIDE + Math.floor((x * SIDE) / tile)])));
        const at = ((oy + y) * canvas.width + ox + x) * 4;
        if (at >= image.data.length) continue;
        image.data[at] = image.data[at + 1] = image.data[at + 2] = v;
        image.data[at + 3] = 255;
      }
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
