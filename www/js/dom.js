// Small things every panel uses: finding an element, the page's alert line, a download.

export const $ = (id) => document.getElementById(id);

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
