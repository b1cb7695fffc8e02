// Small things every panel uses: finding an element, and the page's alert line.

export const $ = (id) => document.getElementById(id);

/** Shows `text` in the alert line under the header (#notice), or hides it for null: problems
 *  that belong to no panel (the worker failed, WebGPU fell back, a call went wrong). */
export function notice(text) {
  $('notice').hidden = !text;
  $('notice').textContent = text ?? '';
}
