// "Save … as PNG": each image panel's button (class save-png, data-canvas naming its canvas and
// data-name the file) downloads its canvas as a PNG of the canvas's own size.
import { $, notice, download } from './dom.js';

export function initSave() {
  for (const button of document.querySelectorAll('button.save-png')) {
    button.addEventListener('click', () => save($(button.dataset.canvas), button.dataset.name).catch((e) => notice(e.message)));
  }
}

async function save(canvas, name) {
  const png = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!png) throw new Error(`the ${name} could not be made into a PNG`);
  download(png, `latent-sketchpad-${name}.png`);
}
