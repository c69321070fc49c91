// The Users tab: search by email, activate/deactivate, promote/demote, jump to a user's sessions.
import { api, currentUser, nextCursor, pageItems, qs } from '../api.js';
import { $, badge, button, el, placeholderRow } from '../dom.js';
import { fmtInt, isNum, shortId, timeEl } from '../format.js';
import { onTabShown } from '../nav.js';
import { clearError, showError, toast } from '../notice.js';
import { showSessionsOf } from './sessions.js';
import { invalidateStats } from './stats.js';

const PAGE = 50;
const COLUMNS = 9;
// seq numbers the loads so an answer to an outdated search is dropped.
let state = { q: '', cursor: null, loaded: false, seq: 0 };

export function resetUsers() {
  state = { q: '', cursor: null, loaded: false, seq: state.seq + 1 };
  $('#users-table tbody').replaceChildren();
  $('#user-search').value = '';
  $('#users-more').hidden = true;
}

async function loadUsers(reset) {
  const st = state;
  if (reset) {
    st.q = $('#user-search').value.trim();
    st.cursor = null;
  }
  st.loaded = true;
  const seq = ++st.seq;
  const more = $('#users-more');
  more.disabled = true;
  if (reset) placeholderRow('#users-table', COLUMNS, 'Loading users…');
  try {
    const page = await api('GET', '/admin/users' + qs({ q: st.q, limit: PAGE, cursor: reset ? null : st.cursor }));
    if (seq !== st.seq) return; // a newer search replaced this one
    const tbody = $('#users-table tbody');
    if (reset) tbody.replaceChildren();
    tbody.querySelectorAll('tr.placeholder').forEach((r) => r.remove());
    for (const u of pageItems(page)) tbody.appendChild(userRow(u));
    if (!tbody.children.length) {
      placeholderRow('#users-table', COLUMNS, st.q ? 'No users match “' + st.q + '”.' : 'No users yet.');
    }
    st.cursor = nextCursor(page);
    more.hidden = !st.cursor;
  } catch (err) {
    if (seq !== st.seq) return;
    if (reset) { st.loaded = false; placeholderRow('#users-table', COLUMNS, 'Users could not be loaded.'); }
    showError(err);
  } finally {
    if (seq === st.seq) more.disabled = false;
  }
}

function userRow(u) {
  const me = currentUser();
  const isSelf = !!(me && u.id === me.id);
  const selfNote = isSelf ? 'You cannot change your own account here' : null;
  const active = u.is_active !== false;
  const tr = el('tr', {
    'data-user-id': u.id,
    'data-active': String(active),
    'data-admin': String(!!u.is_admin),
    class: active ? null : 'is-inactive',
  },
  el('td', null,
    el('div', { class: 'cell-main', 'data-field': 'email' }, u.email),
    el('div', { class: 'cell-sub' }, el('span', { 'data-field': 'name' }, u.name || '—'), ' · ', shortId(u.id))),
  el('td', { 'data-field': 'role' }, u.is_admin ? badge('Admin', 'admin') : badge('User')),
  el('td', { 'data-field': 'status' }, active ? badge('Active', 'ok') : badge('Inactive', 'off')),
  el('td', { class: 'num' }, fmtInt(u.session_count)),
  el('td', { class: 'num' }, fmtInt(u.message_count)),
  el('td', { class: 'num', 'data-field': 'tokens-today', 'data-value': isNum(u.tokens_today) ? String(u.tokens_today) : '' }, fmtInt(u.tokens_today)),
  el('td', { class: 'nowrap' }, timeEl(u.last_active_at, 'Never', true)),
  el('td', { class: 'nowrap' }, timeEl(u.created_at, '—', false, true)),
  el('td', { class: 'actions' },
    button('Sessions', { 'data-action': 'sessions', title: 'Show this user’s sessions', onclick: () => { clearError(); showSessionsOf(u.id, u.email); } }),
    active
      ? button('Deactivate', { 'data-action': 'deactivate', class: 'btn btn-sm btn-danger', disabled: isSelf, title: selfNote, onclick: () => patchUser(tr, u, { is_active: false }) })
      : button('Activate', { 'data-action': 'activate', disabled: isSelf, title: selfNote, onclick: () => patchUser(tr, u, { is_active: true }) }),
    u.is_admin
      ? button('Demote', { 'data-action': 'demote', disabled: isSelf, title: selfNote || 'Remove administrator rights', onclick: () => patchUser(tr, u, { is_admin: false }) })
      : button('Promote', { 'data-action': 'promote', title: 'Make administrator', onclick: () => patchUser(tr, u, { is_admin: true }) })));
  return tr;
}

async function patchUser(tr, user, patch) {
  clearError();
  const buttons = tr.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  tr.setAttribute('aria-busy', 'true');
  try {
    const res = await api('PATCH', '/admin/users/' + encodeURIComponent(user.id), patch);
    // The answer is the updated row; keep any figure it leaves out.
    const updated = Object.assign({}, user, patch, res && typeof res === 'object' ? res : {});
    const row = userRow(updated);
    if (tr.isConnected) tr.replaceWith(row);
    const what = 'is_active' in patch
      ? (patch.is_active ? 'activated' : 'deactivated')
      : (patch.is_admin ? 'promoted to administrator' : 'is no longer an administrator');
    toast(updated.email + ' ' + what + '.');
    const focusAction = 'is_active' in patch ? (updated.is_active === false ? 'activate' : 'deactivate') : (updated.is_admin ? 'demote' : 'promote');
    const target = row.querySelector('[data-action="' + focusAction + '"]');
    if (target && !target.disabled) target.focus();
    invalidateStats();
  } catch (err) {
    if (tr.isConnected) {
      tr.removeAttribute('aria-busy');
      tr.replaceWith(userRow(user));
    }
    showError(err);
  }
}

export function wireUsers() {
  let searchTimer = null;
  $('#user-search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearTimeout(searchTimer);
    clearError();
    loadUsers(true);
  });
  $('#user-search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadUsers(true), 350);
  });
  $('#users-refresh').addEventListener('click', () => { clearError(); loadUsers(true); });
  $('#users-more').addEventListener('click', () => loadUsers(false));
  onTabShown('users', () => { if (!state.loaded) loadUsers(true); });
}
