// The Conversation tab: one session's messages with each reply's model, confidence, latency,
// tokens, fallback flag and sources.
import { api, nextCursor, pageItems, qs } from '../api.js';
import { $, badge, el, isSafeUrl } from '../dom.js';
import { fmtInt, fmtMs, fmtPct, timeEl } from '../format.js';
import { selectTab } from '../nav.js';
import { clearError, showError } from '../notice.js';

const MESSAGE_PAGE = 200;
let state = { session: null, cursor: null, seq: 0 };

/** The session's title, or null when it has none yet. */
export function sessionTitle(s) {
  return typeof s.title === 'string' && s.title.trim() ? s.title : null;
}

export function resetConversation() {
  state = { session: null, cursor: null, seq: state.seq + 1 };
  $('#conversation-title').textContent = 'Conversation';
  $('#conversation-meta').hidden = true;
  $('#conversation-meta').replaceChildren();
  $('#conversation').replaceChildren(el('div', { class: 'card empty-state' }, 'Select a session to view its conversation.'));
  $('#conversation').removeAttribute('data-session-id');
  $('#conversation-more').hidden = true;
}

/** Shows the session (an item of GET /admin/sessions) on the Conversation tab. */
export function openConversation(s) {
  clearError();
  state.session = s;
  state.cursor = null;
  const title = sessionTitle(s);
  $('#conversation-title').textContent = title || 'Untitled session';
  const meta = $('#conversation-meta');
  const item = (label, value) => el('div', null, el('dt', null, label), el('dd', null, value));
  meta.replaceChildren(
    item('User', s.user_email || s.user_id || '—'),
    item('Session id', el('span', { class: 'mono' }, s.id)),
    item('Messages', fmtInt(s.message_count)),
    item('Created', timeEl(s.created_at)),
    item('Last updated', timeEl(s.updated_at)));
  meta.hidden = false;
  $('#conversation').setAttribute('data-session-id', s.id);
  selectTab('conversation');
  $('#conversation-title').focus();
  loadMessages(true);
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
      qs({ limit: MESSAGE_PAGE, cursor: reset ? null : st.cursor }));
    if (seq !== st.seq) return;
    if (reset) box.replaceChildren();
    for (const m of pageItems(page)) box.appendChild(messageEl(m));
    if (!box.querySelector('.message')) {
      box.replaceChildren(el('div', { class: 'card empty-state' }, 'No messages in this session yet.'));
    }
    st.cursor = nextCursor(page);
    more.hidden = !st.cursor;
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

function chip(label, value, attrs) {
  return el('span', Object.assign({ class: 'chip' }, attrs), el('b', null, label), value);
}

function messageEl(m) {
  const role = m.role === 'assistant' ? 'assistant' : m.role === 'user' ? 'user' : 'unknown';
  const isAssistant = role === 'assistant';
  const content = typeof m.content === 'string' ? m.content : '';
  const parts = [
    el('header', { class: 'message-head' },
      el('span', { class: 'role' }, isAssistant ? 'Assistant' : role === 'user' ? 'User' : 'Unknown'),
      m.fallback === true ? badge('fallback', 'warn') : null,
      el('span', { class: 'spacer' }),
      timeEl(m.created_at)),
    el('div', { class: 'content' }, content),
  ];
  if (isAssistant) {
    const usage = m.usage && typeof m.usage === 'object' ? m.usage : null;
    parts.push(el('div', { class: 'meta' },
      chip('Model', m.model ? String(m.model) : '—', { 'data-field': 'model' }),
      chip('Confidence', fmtPct(m.confidence, 0), { 'data-field': 'confidence' }),
      chip('Latency', fmtMs(m.latency_ms), { 'data-field': 'latency' }),
      chip('Tokens', usage ? fmtInt(usage.prompt_tokens) + ' prompt · ' + fmtInt(usage.completion_tokens) + ' completion' : '—', { 'data-field': 'tokens' })));
    const sources = Array.isArray(m.sources) ? m.sources.filter((x) => x && typeof x === 'object') : [];
    if (sources.length) {
      // A model's reply stores the guide passages it was given (only those it
      // cited, numbered as its [n] markers); an offline reply, the guides it quoted.
      const caption = m.fallback === true ? 'Guides quoted' : 'Guide passages given to the model';
      parts.push(el('div', { class: 'sources-caption muted', 'data-field': 'sources-caption' }, caption));
      parts.push(el('ol', { class: 'sources', 'aria-label': caption }, sources.map((src) => {
        const title = typeof src.title === 'string' && src.title ? src.title : (typeof src.url === 'string' ? src.url : 'Untitled source');
        const link = isSafeUrl(src.url)
          ? el('a', { href: src.url, target: '_blank', rel: 'noopener noreferrer' }, title)
          : el('span', { title: 'Link not shown: only http and https addresses are allowed' }, title);
        return el('li', null, link,
          typeof src.snippet === 'string' && src.snippet ? el('div', { class: 'snippet' }, src.snippet) : null);
      })));
    }
  }
  return el('article', { class: 'message card', 'data-role': role, 'data-message-id': m.id }, parts);
}

export function wireConversation() {
  $('#conversation-more').addEventListener('click', () => loadMessages(false));
  $('#conversation-back').addEventListener('click', () => selectTab('sessions', true));
}
