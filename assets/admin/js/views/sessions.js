// The Sessions tab: every session, or one user's; a row opens its conversation.
import { api, nextCursor, pageItems, qs } from '../api.js';
import { $, button, el, placeholderRow } from '../dom.js';
import { fmtInt, shortId, timeEl } from '../format.js';
import { onTabShown, selectTab } from '../nav.js';
import { clearError, showError } from '../notice.js';
import { openConversation, sessionTitle } from './conversation.js';

const PAGE = 50;
const COLUMNS = 6;
let state = { userId: null, userEmail: null, cursor: null, loaded: false, seq: 0 };

export function resetSessions() {
  state = { userId: null, userEmail: null, cursor: null, loaded: false, seq: state.seq + 1 };
  $('#sessions-table tbody').replaceChildren();
  $('#sessions-more').hidden = true;
  $('#sessions-filter').hidden = true;
}

/** Switches to the Sessions tab showing only this user's sessions. */
export function showSessionsOf(userId, userEmail) {
  state.userId = userId;
  state.userEmail = userEmail;
  state.loaded = false;
  selectTab('sessions');
}

async function loadSessions(reset) {
  const st = state;
  if (reset) st.cursor = null;
  st.loaded = true;
  const seq = ++st.seq;
  const more = $('#sessions-more');
  more.disabled = true;
  $('#sessions-filter').hidden = !st.userId;
  $('#sessions-filter-label').textContent = st.userEmail || st.userId || '';
  if (reset) placeholderRow('#sessions-table', COLUMNS, 'Loading sessions…');
  try {
    const page = await api('GET', '/admin/sessions' + qs({ user_id: st.userId, limit: PAGE, cursor: reset ? null : st.cursor }));
    if (seq !== st.seq) return;
    const tbody = $('#sessions-table tbody');
    if (reset) tbody.replaceChildren();
    tbody.querySelectorAll('tr.placeholder').forEach((r) => r.remove());
    for (const s of pageItems(page)) tbody.appendChild(sessionRow(s));
    if (!tbody.children.length) {
      placeholderRow('#sessions-table', COLUMNS, st.userId ? 'This user has no sessions yet.' : 'No sessions yet.');
    }
    st.cursor = nextCursor(page);
    more.hidden = !st.cursor;
  } catch (err) {
    if (seq !== st.seq) return;
    if (reset) { st.loaded = false; placeholderRow('#sessions-table', COLUMNS, 'Sessions could not be loaded.'); }
    showError(err);
  } finally {
    if (seq === st.seq) more.disabled = false;
  }
}

function sessionRow(s) {
  const title = sessionTitle(s);
  const open = () => openConversation(s);
  return el('tr', {
    'data-session-id': s.id,
    'data-user-id': s.user_id,
    class: 'clickable',
    tabindex: 0,
    'aria-label': 'Open conversation ' + (title || 'Untitled') + ' of ' + (s.user_email || 'unknown user'),
    onclick: (ev) => { if (!ev.target.closest('button, a')) open(); },
    onkeydown: (ev) => {
      if ((ev.key === 'Enter' || ev.key === ' ') && ev.target === ev.currentTarget) { ev.preventDefault(); open(); }
    },
  },
  el('td', null,
    el('div', { class: 'cell-main' }, title || el('span', { class: 'muted' }, 'Untitled')),
    el('div', { class: 'cell-sub' }, shortId(s.id))),
  el('td', null,
    el('button', {
      type: 'button', class: 'btn-link', 'data-action': 'filter-user', title: 'Show only this user’s sessions',
      onclick: () => { state.userId = s.user_id; state.userEmail = s.user_email; loadSessions(true); },
    }, s.user_email || s.user_id || '—')),
  el('td', { class: 'num' }, fmtInt(s.message_count)),
  el('td', { class: 'nowrap' }, timeEl(s.created_at)),
  el('td', { class: 'nowrap' }, timeEl(s.updated_at, '—', true)),
  el('td', { class: 'actions' }, button('Open', { 'data-action': 'open', onclick: open })));
}

function clearSessionFilter() {
  state.userId = null;
  state.userEmail = null;
  loadSessions(true);
}

export function wireSessions() {
  $('#sessions-refresh').addEventListener('click', () => { clearError(); loadSessions(true); });
  $('#sessions-more').addEventListener('click', () => loadSessions(false));
  $('#sessions-clear-filter').addEventListener('click', () => { clearError(); clearSessionFilter(); });
  onTabShown('sessions', () => { if (!state.loaded) loadSessions(true); });
}
