// The error banner and the short-lived confirmation toast.
import { $ } from './dom.js';

/** Shows an error (an ApiError, an Error or a string) unless it was already dealt with. */
export function showError(err) {
  if (!err || err.handled) return;
  let text = typeof err === 'string' ? err : (err.message || 'Something went wrong.');
  if (err.details && err.details.length) {
    const parts = err.details
      .filter((d) => d && typeof d === 'object')
      .map((d) => (d.field ? String(d.field) + ': ' : '') + String(d.message || ''));
    if (parts.length) text += '\n' + parts.join('\n');
  }
  $('#error-text').textContent = text;
  $('#error').hidden = false;
}

export function clearError() {
  $('#error').hidden = true;
  $('#error-text').textContent = '';
}

let toastTimer = null;
export function toast(text) {
  const t = $('#toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
}

export function wireNotices() {
  $('#error-close').addEventListener('click', clearError);
}
