// Small things every panel uses: finding an element, the page's alert line, a download, a count.

export const $ = (id) => document.getElementById(id);

/** A whole number with commas between its thousands ("652,824"). Not `toLocaleString`: Intl's
 *  first use cost the first answer 16-30 ms here (the model's line is written before it;
 *  docs/speed.md, 2026-12-07). */
export const thousands = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** Shows `text` in the alert line (#notice, below the drawing pad: its height changes nothing
 *  above it), or hides it for null: problems that belong to no panel (the worker failed, WebGPU
 *  fell back, a call went wrong). */
export function notice(text) {
  $('notice').hidden = !text;
  $('notice').textContent = text ?? '';
}

/** Hands `blob` to the browser as a download named `filename`. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later: the download starts after this task.
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
