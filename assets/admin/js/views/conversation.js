// The Conversation tab: one session's messages, replaced versions included (folded away beside
// the message that replaced them), each rendered by message.js.
import { api, nextCursor, pageItems, qs } from '../api.js';
import { $, el } from '../dom.js';
import { fmtInt, timeEl } from '../format.js';
import { selectTab } from '../nav.js';
import { clearError, showError } from '../notice.js';
import { messageEl } from './message.js';

const MESSAGE_PAGE = 200;
// back: the tab the "Back" button returns to; target: a message to bring into view once loaded.
let state = { session: null, cursor: null, seq: 0, back: 'sessions', target: null };
const BACK_LABELS = { sessions: '← Back to sessions', feedback: '← Back to feedback' };

/** The session's title, or null when it has none yet. */
export function sessionTitle(s) {
  return typeof s.title === 'string' && s.title.trim() ? s.title : null;
}

export function resetConversation() {
  state = { session: null, cursor: null, seq: state.seq + 1, back: 'sessions', target: null };
  $('#conversation-title').textContent = 'Conversation';
  $('#conversation-meta').hidden = true;
  $('#conversation-meta').replaceChildren();
  $('#conversation').replaceChildren(el('div', { class: 'card empty-state' }, 'Select a session to view its conversation.'));
  $('#conversation').removeAttribute('data-session-id');
  $('#conversation-more').hidden = true;
  $('#conversation-refresh').hidden = true;
  $('#conversation-back').textContent = BACK_LABELS.sessions;
}

/**
 * Shows a session on the Conversation tab: an item of GET /admin/sessions, or only
 * `{id, user_id, user_email}` when opened from elsewhere (the feedback list). `options.back`
 * names the tab "Back" returns to; `options.messageId` is scrolled to and highlighted.
 */
export function openConversation(s, options) {
  const opts = options || {};
  clearError();
  state.session = s;
  state.cursor = null;
  state.back = BACK_LABELS[opts.back] ? opts.back : 'sessions';
  state.target = opts.messageId || null;
  $('#conversation-back').textContent = BACK_LABELS[state.back];
  const title = sessionTitle(s);
  $('#conversation-title').textContent = title || (s.title === undefined ? 'Conversation' : 'Untitled session');
  const meta = $('#conversation-meta');
  const item = (label, value) => el('div', null, el('dt', null, label), el('dd', null, value));
  meta.replaceChildren(
    item('User', s.user_email || s.user_id || '—'),
    item('Session id', el('span', { class: 'mono' }, s.id)),
    s.message_count === undefined ? null : item('Messages', fmtInt(s.message_count)),
    s.created_at === undefined ? null : item('Created', timeEl(s.created_at)),
    s.updated_at === undefined ? null : item('Last updated', timeEl(s.updated_at)));
  meta.hidden = false;
  $('#conversation').setAttribute('data-session-id', s.id);
  $('#conversation-refresh').hidden = false;
  selectTab('conversation');
  $('#conversation-title').focus();
  loadMessages(true);
}

/** The fold holding replaced messages at the end of the list, if the list ends with one. */
function openFold(box) {
  const last = box.lastElementChild;
  return last && last.classList.contains('superseded') ? last : null;
}

/** Appends a message; replaced ones gather in a fold right before the message that replaced them. */
function appendMessage(box, m) {
  const node = messageEl(m);
  if (!node.hasAttribute('data-superseded-by')) {
    box.appendChild(node);
    return;
  }
  // Regenerating or editing replaces the end of a conversation and stores the new messages after
  // it, so in stored order replaced messages come as runs, each just before its replacement.
  let fold = openFold(box);
  if (!fold) {
    fold = el('details', { class: 'superseded' }, el('summary', null, ''));
    box.appendChild(fold);
  }
  fold.appendChild(node);
  const n = fold.querySelectorAll(':scope > .message').length;
  fold.querySelector('summary').textContent = n === 1 ? '1 replaced message' : n + ' replaced messages';
}

function showTarget(box) {
  if (!state.target) return;
  const node = [...box.querySelectorAll('.message')].find((x) => x.getAttribute('data-message-id') === state.target);
  if (!node) return;
  state.target = null;
  const fold = node.closest('details');
  if (fold) fold.open = true;
  node.classList.add('is-target');
  node.scrollIntoView({ block: 'center' });
}

async function loadMessages(reset) {
  const st = state;
  if (!st.session) return;
  const seq = ++st.seq;
  const box = $('#conversation');
  const more = $('#conversation-more');
  more.disabled = true;
  if (reset) {
    more.hidden = true;
    box.replaceChildren(el('div', { class: 'card empty-state' }, 'Loading messages…'));
  }
  box.setAttribute('aria-busy', 'true');
  try {
    const page = await api('GET', '/admin/sessions/' + encodeURIComponent(st.session.id) + '/messages' +
      qs({ include_superseded: true, limit: MESSAGE_PAGE, cursor: reset ? null : st.cursor }));
    if (seq !== st.seq) return;
    if (reset) box.replaceChildren();
    for (const m of pageItems(page)) {
      if (m && typeof m === 'object') appendMessage(box, m);
    }
    if (!box.querySelector('.message')) {
      box.replaceChildren(el('div', { class: 'card empty-state' }, 'No messages in this session yet.'));
    }
    st.cursor = nextCursor(page);
    more.hidden = !st.cursor;
    showTarget(box);
  } catch (err) {
    if (seq !== st.seq) return;
    if (reset) box.replaceChildren(el('div', { class: 'card empty-state' }, 'Messages could not be loaded.'));
    showError(err);
  } finally {
    if (seq === st.seq) {
      more.disabled = false;
      box.setAttribute('aria-busy', 'false');
    }
  }
}

export function wireConversation() {
  $('#conversation-more').addEventListener('click', () => loadMessages(false));
  // Reloads from the start: a reply being written may have grown, finished or been stopped.
  $('#conversation-refresh').addEventListener('click', () => { clearError(); loadMessages(true); });
  $('#conversation-back').addEventListener('click', () => selectTab(state.back, true));
}
