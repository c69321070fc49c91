// The Feedback tab: users' ratings of replies, newest first, optionally down-rated only; each row
// opens its conversation at the rated reply.
import { api, nextCursor, pageItems, qs } from '../api.js';
import { $, button, el, placeholderRow } from '../dom.js';
import { shortId, timeEl } from '../format.js';
import { onTabShown } from '../nav.js';
import { clearError, showError } from '../notice.js';
import { openConversation } from './conversation.js';
import { ratingBadge } from './message.js';

const PAGE = 50;
const COLUMNS = 6;
const EXCERPT_CHARS = 160;
let state = { downOnly: false, cursor: null, loaded: false, seq: 0 };

export function resetFeedback() {
  state = { downOnly: false, cursor: null, loaded: false, seq: state.seq + 1 };
  $('#feedback-table tbody').replaceChildren();
  $('#feedback-down-only').checked = false;
  $('#feedback-more').hidden = true;
}

/** The first characters of a reply on one line. */
function excerpt(text) {
  const flat = (typeof text === 'string' ? text : '').replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_CHARS ? flat.slice(0, EXCERPT_CHARS - 1).trimEnd() + '…' : flat;
}

async function loadFeedback(reset) {
  const st = state;
  if (reset) {
    st.downOnly = $('#feedback-down-only').checked;
    st.cursor = null;
  }
  st.loaded = true;
  const seq = ++st.seq;
  const more = $('#feedback-more');
  more.disabled = true;
  if (reset) placeholderRow('#feedback-table', COLUMNS, 'Loading feedback…');
  try {
    const page = await api('GET', '/admin/feedback' + qs({ rating: st.downOnly ? 'down' : null, limit: PAGE, cursor: reset ? null : st.cursor }));
    if (seq !== st.seq) return; // the filter changed meanwhile
    const tbody = $('#feedback-table tbody');
    if (reset) tbody.replaceChildren();
    tbody.querySelectorAll('tr.placeholder').forEach((r) => r.remove());
    for (const item of pageItems(page)) {
      if (item && item.message && typeof item.message === 'object') tbody.appendChild(feedbackRow(item));
    }
    if (!tbody.children.length) {
      placeholderRow('#feedback-table', COLUMNS, st.downOnly ? 'No down-rated replies.' : 'No feedback yet.');
    }
    st.cursor = nextCursor(page);
    more.hidden = !st.cursor;
  } catch (err) {
    if (seq !== st.seq) return;
    if (reset) { st.loaded = false; placeholderRow('#feedback-table', COLUMNS, 'Feedback could not be loaded.'); }
    showError(err);
  } finally {
    if (seq === st.seq) more.disabled = false;
  }
}

function feedbackRow(item) {
  const m = item.message;
  const f = m.feedback && typeof m.feedback === 'object' ? m.feedback : {};
  const comment = typeof f.comment === 'string' && f.comment ? f.comment : null;
  const open = () => openConversation({ id: item.session_id, user_id: item.user_id, user_email: item.user_email },
    { back: 'feedback', messageId: m.id });
  return el('tr', { 'data-message-id': m.id, 'data-session-id': item.session_id, 'data-rating': String(f.rating) },
    el('td', { 'data-field': 'rating' }, ratingBadge(f.rating) || '—'),
    el('td', { class: 'feedback-comment-cell', 'data-field': 'comment' }, comment || el('span', { class: 'muted' }, 'No comment')),
    el('td', { class: 'excerpt', 'data-field': 'reply' }, excerpt(m.content) || el('span', { class: 'muted' }, 'Empty reply')),
    el('td', null,
      el('div', { class: 'cell-main', 'data-field': 'email' }, item.user_email || '—'),
      el('div', { class: 'cell-sub' }, shortId(item.user_id))),
    el('td', { class: 'nowrap' }, timeEl(f.created_at, '—', true)),
    el('td', { class: 'actions' }, button('Open', { 'data-action': 'open', title: 'Open this conversation at the rated reply', onclick: open })));
}

export function wireFeedback() {
  $('#feedback-down-only').addEventListener('change', () => { clearError(); loadFeedback(true); });
  $('#feedback-refresh').addEventListener('click', () => { clearError(); loadFeedback(true); });
  $('#feedback-more').addEventListener('click', () => loadFeedback(false));
  onTabShown('feedback', () => { if (!state.loaded) loadFeedback(true); });
}
