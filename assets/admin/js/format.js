// Numbers and dates as people read them; a dash where the API sent nothing usable.
import { el } from './dom.js';

export const isNum = (n) => typeof n === 'number' && Number.isFinite(n);
export const fmtInt = (n) => (isNum(n) ? Math.round(n).toLocaleString() : '—');
export const fmtPct = (r, digits) => (isNum(r) ? (r * 100).toFixed(digits) + '%' : '—');
export const fmtMs = (ms) => (isNum(ms) ? (ms >= 10000 ? (ms / 1000).toFixed(1) + ' s' : Math.round(ms).toLocaleString() + ' ms') : '—');

function parseDate(iso) {
  if (typeof iso !== 'string' || iso === '') return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

function fmtDateTime(iso) {
  const d = parseDate(iso);
  if (!d) return null;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

function fmtRelative(iso) {
  const d = parseDate(iso);
  if (!d) return null;
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  if (secs < 0) return null;
  if (secs < 60) return 'just now';
  const mins = Math.round(secs / 60);
  if (mins < 60) return mins + ' min ago';
  const hours = Math.round(mins / 60);
  if (hours < 24) return hours + ' h ago';
  const days = Math.round(hours / 24);
  if (days < 30) return days + (days === 1 ? ' day ago' : ' days ago');
  return null;
}

function fmtDate(iso) {
  const d = parseDate(iso);
  return d ? d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : null;
}

/** A <time> element in local time; the exact local and UTC values are in the tooltip. */
export function timeEl(iso, emptyText, relative, dateOnly) {
  const text = fmtDateTime(iso);
  if (!text) return el('span', { class: 'muted' }, emptyText || '—');
  const shown = (relative && fmtRelative(iso)) || (dateOnly && fmtDate(iso)) || text;
  return el('time', { datetime: iso, title: text + ' (' + iso + ')' }, shown);
}

/** First block of a UUID, the whole id in the tooltip. */
export function shortId(id) {
  const full = String(id == null ? '' : id);
  return el('span', { class: 'mono id-short', title: full }, full.split('-')[0] || full);
}

/** "2026-11-24" -> "Nov 24" without shifting the day through the local time zone. */
export function fmtDay(date, withYear) {
  if (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(date)) return String(date || '');
  const d = new Date(date.slice(0, 10) + 'T00:00:00Z');
  if (Number.isNaN(d.getTime())) return date;
  const opts = { month: 'short', day: 'numeric', timeZone: 'UTC' };
  if (withYear) opts.year = 'numeric';
  return d.toLocaleDateString(undefined, opts);
}
