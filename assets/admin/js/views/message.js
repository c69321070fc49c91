// One stored message as the Conversation tab shows it: who wrote it and when, its state (being
// written, stopped, replaced), the reply's Markdown rendered safely, the reply's metadata and
// sources, and the user's rating of it.
import { badge, el, isSafeUrl } from '../dom.js';
import { fmtInt, fmtMs, fmtPct, timeEl } from '../format.js';
import { renderMarkdown } from '../markdown.js';
import { toast } from '../notice.js';

/** Scrolls to a message of the open conversation and highlights it. */
function showMessage(id) {
  const node = [...document.querySelectorAll('#conversation .message')].find((m) => m.getAttribute('data-message-id') === id);
  if (!node) {
    toast('That message is further on: load more messages to see it.');
    return;
  }
  const fold = node.closest('details');
  if (fold) fold.open = true;
  document.querySelectorAll('#conversation .message.is-target').forEach((m) => m.classList.remove('is-target'));
  node.classList.add('is-target');
  node.scrollIntoView({ block: 'center', behavior: 'smooth' });
}

function chip(label, value, attrs) {
  return el('span', Object.assign({ class: 'chip' }, attrs), el('b', null, label), value);
}

/** "up"/"down" as a badge, or null when the rating is neither. */
export function ratingBadge(rating) {
  if (rating === 'up') return el('span', { class: 'badge badge-ok rating', 'data-rating': 'up', title: 'Rated helpful' }, '▲ Up');
  if (rating === 'down') return el('span', { class: 'badge badge-off rating', 'data-rating': 'down', title: 'Rated unhelpful' }, '▼ Down');
  return null;
}

function statusBadge(status) {
  if (status === 'generating') return badge('generating', 'info');
  if (status === 'stopped') return badge('stopped', 'warn');
  return null;
}

function feedbackEl(f) {
  if (!f || typeof f !== 'object') return null;
  const comment = typeof f.comment === 'string' && f.comment ? f.comment : null;
  return el('div', { class: 'feedback', 'data-field': 'feedback', 'data-rating': String(f.rating) },
    el('span', { class: 'feedback-label muted' }, 'User feedback'),
    ratingBadge(f.rating),
    comment ? el('span', { class: 'feedback-comment', 'data-field': 'feedback-comment' }, comment)
      : el('span', { class: 'muted' }, 'no comment'),
    el('span', { class: 'spacer' }),
    timeEl(f.created_at));
}

function sourcesEls(m) {
  const sources = Array.isArray(m.sources) ? m.sources.filter((x) => x && typeof x === 'object') : [];
  if (!sources.length) return [];
  // A model's reply stores the guide passages it was given (only those it
  // cited, numbered as its [n] markers); an offline reply, the guides it quoted.
  const caption = m.fallback === true ? 'Guides quoted' : 'Guide passages given to the model';
  return [
    el('div', { class: 'sources-caption muted', 'data-field': 'sources-caption' }, caption),
    el('ol', { class: 'sources', 'aria-label': caption }, sources.map((src) => {
      const title = typeof src.title === 'string' && src.title ? src.title : (typeof src.url === 'string' ? src.url : 'Untitled source');
      const link = isSafeUrl(src.url)
        ? el('a', { href: src.url, target: '_blank', rel: 'noopener noreferrer' }, title)
        : el('span', { title: 'Link not shown: only http and https addresses are allowed' }, title);
      return el('li', null, link,
        typeof src.snippet === 'string' && src.snippet ? el('div', { class: 'snippet' }, src.snippet) : null);
    })),
  ];
}

/** The <article> for one message of GET /admin/sessions/{id}/messages. */
export function messageEl(m) {
  const role = m.role === 'assistant' ? 'assistant' : m.role === 'user' ? 'user' : 'unknown';
  const isAssistant = role === 'assistant';
  const content = typeof m.content === 'string' ? m.content : '';
  const replacedBy = typeof m.superseded_by === 'string' && m.superseded_by ? m.superseded_by : null;
  const status = typeof m.status === 'string' ? m.status : 'complete';
  const parts = [
    el('header', { class: 'message-head' },
      el('span', { class: 'role' }, isAssistant ? 'Assistant' : role === 'user' ? 'User' : 'Unknown'),
      replacedBy ? el('span', { class: 'badge badge-replaced', 'data-field': 'replaced' }, 'replaced') : null,
      replacedBy ? el('button', {
        type: 'button', class: 'btn-link replaced-by', 'data-action': 'show-replacement',
        title: 'Replaced by message ' + replacedBy, onclick: () => showMessage(replacedBy),
      }, 'see replacement') : null,
      isAssistant ? statusBadge(status) : null,
      m.fallback === true ? badge('fallback', 'warn') : null,
      el('span', { class: 'spacer' }),
      timeEl(m.created_at)),
    // A reply's Markdown becomes elements built one by one; a user's text stays exactly as typed.
    isAssistant
      ? el('div', { class: 'content content-md' }, renderMarkdown(content))
      : el('div', { class: 'content' }, content),
  ];
  if (isAssistant && status === 'generating' && !content) {
    parts.push(el('div', { class: 'muted' }, 'Nothing written yet.'));
  }
  if (isAssistant) {
    const usage = m.usage && typeof m.usage === 'object' ? m.usage : null;
    parts.push(el('div', { class: 'meta' },
      chip('Model', m.model ? String(m.model) : '—', { 'data-field': 'model' }),
      chip('Confidence', fmtPct(m.confidence, 0), { 'data-field': 'confidence' }),
      chip('Latency', fmtMs(m.latency_ms), { 'data-field': 'latency' }),
      chip('Tokens', usage ? fmtInt(usage.prompt_tokens) + ' prompt · ' + fmtInt(usage.completion_tokens) + ' completion' : '—', { 'data-field': 'tokens' })));
    parts.push(...sourcesEls(m));
    parts.push(feedbackEl(m.feedback));
  }
  return el('article', {
    class: 'message card' + (replacedBy ? ' is-superseded' : ''),
    'data-role': role,
    'data-message-id': m.id,
    'data-status': status,
    'data-superseded-by': replacedBy,
  }, parts);
}
