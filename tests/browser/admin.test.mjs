// Browser test of the admin console (GET /admin/), driving Debian's Chromium with playwright-core.
//
//   BASE_URL=http://127.0.0.1:18080 ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=... \
//     node --test tests/browser/admin.test.mjs
//
// tests/browser/run.sh builds that setup (fresh database, admin account, server) and runs this. The
// server's provider is tests/browser/mock-llm.mjs, so a test chooses a reply's text with a word in
// its question ("#markdown", "#hold").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
const ADMIN_EMAIL = process.env.ADMIN_EMAIL || 'admin@example.com';
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || '';
const OUT = fileURLToPath(new URL('./out/', import.meta.url));
// The one policy the page must be served with (src/routes/console.rs): nothing inline may run.
const STRICT_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const XSS = 'Hello <script>window.__xss = 1</script><img src=x onerror="window.__xss=2">';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser;

before(async () => {
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: LAUNCH_ARGS });
});

after(async () => {
  await browser?.close();
});

// --- HTTP API helpers ----------------------------------------------------------------------------

async function call(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(BASE_URL + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(90_000),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: res.status, body: json, text };
}

function expectStatus(res, status, what) {
  assert.equal(res.status, status, `${what}: expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  return res.body;
}

function unique(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

async function registerUser(prefix) {
  const email = unique(prefix);
  const password = 'correct horse battery staple';
  const user = expectStatus(await call('POST', '/auth/register', { email, password, name: 'Browser Test' }), 201, 'register');
  assert.equal(user.email, email);
  assert.equal(user.is_admin, false);
  return { ...user, password };
}

async function login(email, password) {
  return call('POST', '/auth/token', { email, password });
}

async function adminToken() {
  return expectStatus(await login(ADMIN_EMAIL, ADMIN_PASSWORD), 200, 'admin login').access_token;
}

/** A new user signed in, with one session. */
async function userWithSession(prefix) {
  const user = await registerUser(prefix);
  const token = expectStatus(await login(user.email, user.password), 200, 'user login').access_token;
  const session = expectStatus(await call('POST', '/sessions', {}, token), 201, 'create session');
  return { user, token, session };
}

async function send(token, sessionId, content) {
  return expectStatus(await call('POST', `/sessions/${sessionId}/messages`, { content }, token), 201, 'send message');
}

/**
 * Starts a streamed send and resolves, once the server has announced the reply, with that reply's
 * id and `rest`, a promise of the rest of the stream's text.
 */
async function startStreamedSend(token, sessionId, content) {
  const res = await fetch(`${BASE_URL}/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ content }),
    signal: AbortSignal.timeout(90_000),
  });
  assert.equal(res.status, 200, 'streamed send');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    assert.ok(!done, `stream ended before reply_started: ${text}`);
    text += decoder.decode(value, { stream: true });
    const m = text.match(/event: reply_started\ndata: (.*)\n\n/);
    if (m) {
      const reply = JSON.parse(m[1]);
      const rest = (async () => {
        let tail = '';
        for (;;) {
          const r = await reader.read();
          if (r.done) return tail;
          tail += decoder.decode(r.value, { stream: true });
        }
      })();
      return { replyId: reply.id, rest };
    }
  }
}

// --- Browser helpers -----------------------------------------------------------------------------

/**
 * A fresh page that records script errors, console errors and CSP violations (both the
 * `securitypolicyviolation` events and Chromium's console reports of them), and answers every
 * dialog with "no". Chromium logs each 4xx answer to fetch() as a console error; a test that
 * provokes one on purpose lists its status in `allowHttpErrors`.
 */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems = [];
  const allowHttpErrors = new Set();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy/i.test(text)) { problems.push(`CSP: ${text}`); return; }
    if (m.type() !== 'error') return;
    const status = text.match(/^Failed to load resource: the server responded with a status of (\d{3})/);
    if (status && allowHttpErrors.has(Number(status[1]))) return;
    problems.push(`console error: ${text}`);
  });
  page.on('dialog', (d) => { problems.push(`unexpected dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  // A CDP binding and an init script: neither is page script, so the policy under test does not apply to them.
  await page.exposeFunction('__reportCspViolation', (v) => problems.push(`CSP violation: ${v}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || ''}:${e.lineNumber || ''})`);
    });
  });
  return { context, page, problems, allowHttpErrors };
}

async function signIn(page, email, password) {
  await page.goto(`${BASE_URL}/admin/`);
  await page.locator('#login-email').fill(email);
  await page.locator('#login-password').fill(password);
  await page.locator('#login-submit').click();
}

async function statValue(page, key) {
  const loc = page.locator(`#stats [data-stat="${key}"]`);
  await loc.waitFor();
  const raw = await loc.getAttribute('data-value');
  const text = (await loc.textContent()) || '';
  const n = raw !== null && raw !== '' ? Number(raw) : Number(text.replace(/[^\d.]/g, ''));
  assert.ok(Number.isFinite(n), `stat ${key} is not a number: ${JSON.stringify({ raw, text })}`);
  return n;
}

/** Opens a session's conversation from the Sessions tab. */
async function openSession(page, sessionId) {
  await page.locator('#tab-sessions').click();
  await page.locator(`#sessions-table tr[data-session-id="${sessionId}"] [data-action="open"]`).click();
  await page.locator(`#conversation[data-session-id="${sessionId}"][aria-busy="false"] .message`).first().waitFor();
}

/** The ids of the messages shown, in order, at the top level (not in a fold) or in folds. */
async function shownMessageIds(page) {
  return page.evaluate(() => [...document.querySelectorAll('#conversation > *')].map((node) => (
    node.matches('details.superseded')
      ? { replaced: [...node.querySelectorAll('.message')].map((m) => m.getAttribute('data-message-id')) }
      : node.getAttribute('data-message-id'))));
}

/** Runs fn; on failure leaves a screenshot in out/ for whoever reads the CI log. */
async function withFailureShot(page, name, fn) {
  try {
    await fn();
  } catch (err) {
    await page.screenshot({ path: `${OUT}failure-${name}.png`, fullPage: true }).catch(() => {});
    throw err;
  }
}

// --- Tests ---------------------------------------------------------------------------------------

test('GET /admin/ serves the console page without authentication, under one strict CSP', async () => {
  const res = await fetch(`${BASE_URL}/admin/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') || '', /text\/html/);
  // fetch() joins repeated headers with ", ": equality also proves there is exactly one policy.
  assert.equal(res.headers.get('content-security-policy'), STRICT_CSP);
  const html = await res.text();
  assert.match(html, /RichesReach Chat — Admin/);
  assert.doesNotMatch(html, /http-equiv/i, 'no second policy in a meta tag');
});

test('admin console: stats, sessions, safe conversation view, deactivation, token refresh', async () => {
  assert.ok(ADMIN_PASSWORD, 'ADMIN_PASSWORD must be set (run.sh creates the admin and sets it)');

  // A normal user with one session holding a hostile message, set up through the API.
  const user = await registerUser('browser-user');
  const pair = expectStatus(await login(user.email, user.password), 200, 'user login');
  assert.ok(pair.access_token && pair.refresh_token);
  const session = expectStatus(await call('POST', '/sessions', {}, pair.access_token), 201, 'create session');
  const sent = expectStatus(
    await call('POST', `/sessions/${session.id}/messages`, { content: XSS }, pair.access_token), 201, 'send message');
  assert.equal(sent.user_message.content, XSS);
  assert.equal(sent.assistant_message.role, 'assistant');

  const { context, page, problems, allowHttpErrors } = await newPage();
  try {
    await withFailureShot(page, 'admin', async () => {
      await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);

      // Stats.
      await page.locator('#stats [data-stat="users"][data-value]').waitFor();
      assert.ok(await page.locator('#console').isVisible(), 'console visible after signing in');
      assert.ok(await page.locator('#login').isHidden(), 'sign-in form hidden after signing in');
      assert.ok((await statValue(page, 'users')) >= 2, 'users >= 2');
      assert.ok((await statValue(page, 'messages')) >= 2, 'messages >= 2');
      for (const key of ['sessions', 'messages_last_24h', 'fallback_ratio', 'grounded_ratio', 'avg_latency_ms']) {
        assert.ok(await page.locator(`#stats [data-stat="${key}"]`).isVisible(), `stat ${key} shown`);
      }
      await page.screenshot({ path: `${OUT}admin.png`, fullPage: true });

      // Tokens are kept in memory only.
      const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
      assert.deepEqual(stored, { local: 0, session: 0, cookie: '' }, 'nothing stored in the browser');
      assert.deepEqual(await context.cookies(), [], 'no cookies');

      // Users: search by email, then that user's sessions.
      await page.locator('#tab-users').click();
      await page.locator('#user-search').fill(user.email);
      await page.locator('#user-search').press('Enter');
      const row = page.locator(`#users-table tr[data-user-id="${user.id}"]`);
      await row.waitFor();
      await page.waitForFunction(() => document.querySelectorAll('#users-table tbody tr[data-user-id]').length === 1);
      assert.match(await row.textContent(), new RegExp(user.email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(await row.getAttribute('data-active'), 'true');
      await row.locator('[data-action="sessions"]').click();

      // Sessions, filtered by that user.
      const sessionRow = page.locator(`#sessions-table tr[data-session-id="${session.id}"]`);
      await sessionRow.waitFor();
      assert.ok(await page.locator('#sessions-filter').isVisible(), 'filter indicator shown');
      assert.match(await page.locator('#sessions-filter').textContent(), new RegExp(user.email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(await page.locator('#sessions-table tbody tr[data-session-id]').count(), 1);
      await sessionRow.locator('[data-action="open"]').click();

      // Conversation: hostile content shows as literal text and does not run.
      const userMsg = page.locator('#conversation .message[data-role="user"]');
      await userMsg.waitFor();
      await page.locator('#conversation .message[data-role="assistant"]').waitFor();
      assert.ok((await userMsg.innerText()).includes('<script>window.__xss = 1</script>'), 'script tag shown as text');
      assert.ok((await userMsg.innerText()).includes('<img src=x onerror="window.__xss=2">'), 'img tag shown as text');
      await userMsg.getByText('<script>window.__xss = 1</script>', { exact: false }).first().waitFor();
      assert.equal(await page.locator('#conversation script, #conversation img').count(), 0, 'no markup injected');
      // The session's automatic title comes from that message: also text only.
      assert.equal(await page.locator('#sessions-table script, #sessions-table img').count(), 0, 'no markup in titles');
      await page.waitForTimeout(300); // give a broken <img> time to fire onerror, were there one
      assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined', 'injected script did not run');
      await page.screenshot({ path: `${OUT}conversation.png`, fullPage: true });

      // Back to the sessions; clearing the filter shows every session again.
      await page.locator('#conversation-back').click();
      await page.locator('#tab-sessions[aria-selected="true"]').waitFor();
      assert.ok(await page.locator('#panel-sessions').isVisible(), 'sessions panel shown');
      await page.locator('#sessions-clear-filter').click();
      await page.locator('#sessions-filter').waitFor({ state: 'hidden' });
      await sessionRow.waitFor();

      // Deactivate the user from the users table (the search is still in place).
      await page.locator('#tab-users').click();
      await row.waitFor();
      await row.locator('[data-action="deactivate"]').click();
      const inactiveRow = page.locator(`#users-table tr[data-user-id="${user.id}"][data-active="false"]`);
      await inactiveRow.waitFor();
      assert.match(await inactiveRow.locator('[data-field="status"]').textContent(), /inactive/i);
      await inactiveRow.locator('[data-action="activate"]').waitFor();
      await page.screenshot({ path: `${OUT}users.png` });

      // The server now refuses that user's login.
      const denied = await login(user.email, user.password);
      expectStatus(denied, 403, 'login of a deactivated user');
      assert.equal(denied.body?.error?.code, 'forbidden');

      // An access token that is refused once is renewed with the refresh token, invisibly.
      // The 401 answers below are provoked on purpose; Chromium logs each as a console error.
      allowHttpErrors.add(401);
      await page.locator('#tab-stats').click();
      await page.locator('#stats[aria-busy="false"] [data-stat="users"][data-value]').waitFor();
      const refreshCalls = [];
      page.on('request', (r) => { if (new URL(r.url()).pathname === '/auth/refresh') refreshCalls.push(r); });
      await page.route((url) => url.pathname === '/admin/stats', (route) => route.fulfill({
        status: 401,
        contentType: 'application/json',
        headers: { 'WWW-Authenticate': 'Bearer' },
        body: JSON.stringify({ error: { code: 'unauthorized', message: 'token expired' } }),
      }), { times: 1 });
      const statsAgain = page.waitForResponse((r) => new URL(r.url()).pathname === '/admin/stats' && r.status() === 200);
      await page.locator('#stats-refresh').click();
      await statsAgain;
      await page.locator('#stats[aria-busy="false"] [data-stat="users"][data-value]').waitFor();
      assert.equal(refreshCalls.length, 1, 'one POST /auth/refresh');
      assert.ok(await page.locator('#console').isVisible(), 'still signed in after the refresh');
      assert.ok(await page.locator('#error').isHidden(), 'no error shown for a transparent refresh');

      // When the refresh fails too, the page goes back to the sign-in form and says why.
      await page.route((url) => url.pathname === '/admin/stats' || url.pathname === '/auth/refresh', (route) => route.fulfill({
        status: 401,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'unauthorized', message: 'token expired' } }),
      }));
      await page.locator('#stats-refresh').click();
      await page.locator('#login-form').waitFor();
      assert.ok(await page.locator('#console').isHidden(), 'console hidden after the session ended');
      assert.ok(await page.locator('#error').isVisible(), 'error banner explains the sign-out');
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    });
    assert.deepEqual(problems, [], 'no script errors, console errors or CSP violations');
  } finally {
    await context.close();
  }
});

test('conversation viewer: replies\' Markdown as elements, raw markup as text, reply status', async () => {
  const { token, session } = await userWithSession('browser-markdown');
  const md = (await send(token, session.id, 'Show me a plan #markdown')).assistant_message;
  assert.equal(md.fallback, false, 'the stand-in provider answered');
  assert.match(md.content, /<img src=x onerror="alert\(1\)">/);
  // A reply that stays "generating" while the console looks at it.
  const held = await startStreamedSend(token, session.id, 'Take your time #hold');

  const { context, page, problems } = await newPage();
  try {
    await withFailureShot(page, 'markdown', async () => {
      await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
      await page.locator('#stats [data-stat="users"][data-value]').waitFor();
      await openSession(page, session.id);

      const reply = page.locator(`#conversation .message[data-message-id="${md.id}"] .markdown`);
      await reply.waitFor();
      assert.equal(await reply.locator('strong').first().textContent(), 'a bold plan');
      assert.equal(await reply.locator('em').first().textContent(), 'some italics');
      assert.equal(await reply.locator('code').first().textContent(), 'inline code');
      assert.deepEqual(await reply.locator('ul > li').allTextContents(), ['first bullet', 'second bullet with a safe link']);
      assert.deepEqual(await reply.locator('ol > li').allTextContents(), ['step one', 'step two']);
      assert.ok((await reply.locator('p').count()) >= 2, 'paragraphs');
      const link = reply.locator('a');
      assert.equal(await link.count(), 1, 'only the http(s) link is a link');
      assert.equal(await link.getAttribute('href'), 'https://example.com/guide');
      assert.equal(await link.getAttribute('target'), '_blank');
      assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
      assert.equal(await link.textContent(), 'a safe link');
      // The hostile parts are text, character for character; none became an element.
      const text = await reply.innerText();
      assert.ok(text.includes('<img src=x onerror="alert(1)">'), text);
      assert.ok(text.includes('<script>alert(2)</script>'), text);
      assert.ok(text.includes('[bad link](javascript:alert(3))'), text);
      assert.equal(await page.locator('#conversation img, #conversation script, #conversation [onerror]').count(), 0, 'no markup injected');
      assert.equal(await page.locator('#conversation a[href^="javascript"]').count(), 0, 'no javascript: link');
      await page.waitForTimeout(300); // give a broken <img> time to fire onerror, were there one
      await page.screenshot({ path: `${OUT}markdown.png`, fullPage: true });

      // The reply being written: marked so, and counted in the statistics.
      const writing = page.locator(`#conversation .message[data-message-id="${held.replyId}"]`);
      assert.equal(await writing.getAttribute('data-status'), 'generating');
      assert.match(await writing.locator('.message-head').innerText(), /generating/);
      await page.locator('#tab-stats').click();
      await page.locator('#stats-refresh').click();
      await page.locator('#stats[aria-busy="false"] [data-stat="generating"]').waitFor();
      assert.ok((await statValue(page, 'generating')) >= 1, 'a reply being written is counted');

      // Stopped: marked so once the conversation is reloaded.
      const stopped = expectStatus(
        await call('POST', `/sessions/${session.id}/messages/${held.replyId}/stop`, undefined, token), 200, 'stop');
      assert.equal(stopped.status, 'stopped');
      await held.rest;
      await page.locator('#tab-conversation').click();
      await page.locator('#conversation-refresh').click();
      const done = page.locator(`#conversation[aria-busy="false"] .message[data-message-id="${held.replyId}"][data-status="stopped"]`);
      await done.waitFor();
      assert.match(await done.locator('.message-head').innerText(), /stopped/);
    });
    assert.deepEqual(problems, [], 'no script errors, dialogs, console errors or CSP violations');
  } finally {
    await context.close();
  }
});

test('feedback list and filter, feedback counts, tokens today, replaced versions and feedback in the viewer', async () => {
  const admin = await adminToken();
  const before = expectStatus(await call('GET', '/admin/stats', undefined, admin), 200, 'stats').feedback;
  const { user, token, session } = await userWithSession('browser-feedback');
  const path = (id, what) => `/sessions/${session.id}/messages/${id}/${what}`;

  // Q1 -> A1, regenerated as A2 (A1 replaced by A2), rated down with a comment.
  const first = await send(token, session.id, 'What is an index fund?');
  const q1 = first.user_message;
  const a1 = first.assistant_message;
  const a2 = expectStatus(await call('POST', path(a1.id, 'regenerate'), {}, token), 201, 'regenerate');
  assert.notEqual(a2.content, a1.content);
  const comment = 'Too vague <u>really</u> <img src=x onerror="alert(4)">';
  const rated = expectStatus(await call('PUT', path(a2.id, 'feedback'), { rating: 'down', comment }, token), 200, 'feedback down');
  assert.equal(rated.feedback.rating, 'down');
  // Q2 -> A3, then Q2 edited: Q2 and A3 replaced by Q2e, answered by A4, rated up.
  const second = await send(token, session.id, 'And bonds?');
  const q2 = second.user_message;
  const a3 = second.assistant_message;
  const edited = expectStatus(await call('POST', path(q2.id, 'edit'), { content: 'And government bonds?' }, token), 201, 'edit');
  const q2e = edited.user_message;
  const a4 = edited.assistant_message;
  expectStatus(await call('PUT', path(a4.id, 'feedback'), { rating: 'up' }, token), 200, 'feedback up');
  const listed = expectStatus(await call('GET', `/admin/users?q=${encodeURIComponent(user.email)}`, undefined, admin), 200, 'users');
  const tokensToday = listed.items.find((u) => u.id === user.id).tokens_today;
  assert.ok(tokensToday >= 4 * 120, `four replies of 120 tokens each, at least: ${tokensToday}`);

  const { context, page, problems } = await newPage();
  try {
    await withFailureShot(page, 'feedback', async () => {
      await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);

      // Statistics: one more of each rating.
      await page.locator('#stats [data-stat="users"][data-value]').waitFor();
      assert.equal(await statValue(page, 'feedback_up'), before.up + 1);
      assert.equal(await statValue(page, 'feedback_down'), before.down + 1);
      assert.ok(await page.locator('#stats [data-stat="generating"]').isVisible(), 'generating shown');

      // Users: tokens used today.
      await page.locator('#tab-users').click();
      await page.locator('#user-search').fill(user.email);
      await page.locator('#user-search').press('Enter');
      const tokensCell = page.locator(`#users-table tr[data-user-id="${user.id}"] [data-field="tokens-today"]`);
      await tokensCell.waitFor();
      assert.equal(await tokensCell.getAttribute('data-value'), String(tokensToday));
      assert.equal((await tokensCell.textContent()).replace(/\D/g, ''), String(tokensToday), 'shown as a number');

      // Feedback: newest first, with rating, comment, user and the reply's text.
      await page.locator('#tab-feedback').click();
      const downRow = page.locator(`#feedback-table tr[data-message-id="${a2.id}"]`);
      const upRow = page.locator(`#feedback-table tr[data-message-id="${a4.id}"]`);
      await downRow.waitFor();
      await upRow.waitFor();
      const order = await page.locator('#feedback-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-message-id')));
      assert.ok(order.indexOf(a4.id) < order.indexOf(a2.id), 'newest feedback first');
      assert.equal(await downRow.getAttribute('data-rating'), 'down');
      assert.match(await downRow.locator('[data-field="rating"]').innerText(), /down/i);
      assert.equal(await downRow.locator('[data-field="comment"]').innerText(), comment);
      assert.equal(await page.locator('#feedback-table u, #feedback-table img').count(), 0, 'the comment is text');
      assert.equal(await downRow.locator('[data-field="email"]').innerText(), user.email);
      assert.ok(a2.content.startsWith((await downRow.locator('[data-field="reply"]').innerText()).replace(/…$/, '')), 'reply excerpt');
      assert.match(await upRow.locator('[data-field="rating"]').innerText(), /up/i);
      await page.screenshot({ path: `${OUT}feedback.png`, fullPage: true });

      // "Down-rated only".
      await page.locator('#feedback-down-only').check();
      await upRow.waitFor({ state: 'detached' });
      await downRow.waitFor();
      const ratings = await page.locator('#feedback-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-rating')));
      assert.ok(ratings.length >= 1 && ratings.every((r) => r === 'down'), JSON.stringify(ratings));

      // Opening it shows the conversation at the rated reply.
      await downRow.locator('[data-action="open"]').click();
      await page.locator(`#conversation[data-session-id="${session.id}"][aria-busy="false"] .message`).first().waitFor();
      await page.locator(`#conversation .message.is-target[data-message-id="${a2.id}"]`).waitFor();

      // Replaced versions folded away just before the message that replaced them.
      assert.deepEqual(await shownMessageIds(page), [q1.id, { replaced: [a1.id] }, a2.id, { replaced: [q2.id, a3.id] }, q2e.id, a4.id]);
      const old = page.locator(`#conversation .message[data-message-id="${a1.id}"]`);
      assert.ok(await old.isHidden(), 'replaced versions start folded');
      await page.locator('#conversation details.superseded summary').first().click();
      await old.waitFor();
      assert.equal(await old.getAttribute('data-superseded-by'), a2.id);
      assert.match(await old.locator('[data-field="replaced"]').innerText(), /replaced/);
      assert.ok((await old.innerText()).includes(a1.content), 'the replaced reply\'s text');
      await page.locator('#conversation details.superseded summary').nth(1).click();
      const oldQuestion = page.locator(`#conversation .message[data-message-id="${q2.id}"]`);
      await oldQuestion.waitFor();
      assert.equal(await oldQuestion.getAttribute('data-superseded-by'), q2e.id);
      await oldQuestion.locator('[data-action="show-replacement"]').click();
      await page.locator(`#conversation .message.is-target[data-message-id="${q2e.id}"]`).waitFor();
      assert.equal(await page.locator(`#conversation .message[data-message-id="${a3.id}"]`).getAttribute('data-superseded-by'), q2e.id);
      for (const id of [q1.id, a2.id, q2e.id, a4.id]) {
        assert.equal(await page.locator(`#conversation .message[data-message-id="${id}"]`).getAttribute('data-superseded-by'), null);
      }

      // Each reply's feedback, the comment as text.
      const down = page.locator(`#conversation .message[data-message-id="${a2.id}"] [data-field="feedback"]`);
      assert.equal(await down.getAttribute('data-rating'), 'down');
      assert.equal(await down.locator('[data-field="feedback-comment"]').innerText(), comment);
      assert.equal(await page.locator('#conversation u, #conversation img').count(), 0, 'no markup from the comment');
      assert.equal(await page.locator(`#conversation .message[data-message-id="${a4.id}"] [data-field="feedback"]`).getAttribute('data-rating'), 'up');
      assert.equal(await page.locator(`#conversation .message[data-message-id="${a1.id}"] [data-field="feedback"]`).count(), 0);
      await page.screenshot({ path: `${OUT}replaced.png`, fullPage: true });

      // Back to the feedback list.
      assert.match(await page.locator('#conversation-back').innerText(), /feedback/i);
      await page.locator('#conversation-back').click();
      await page.locator('#tab-feedback[aria-selected="true"]').waitFor();
      await downRow.waitFor();
    });
    assert.deepEqual(problems, [], 'no script errors, console errors or CSP violations');
  } finally {
    await context.close();
  }
});

test('the Markdown renderer: what becomes an element, what stays text', async () => {
  // [source, the rendered div's innerHTML]. Reading innerHTML only serialises what the renderer built.
  const cases = [
    ['plain', '<p>plain</p>'],
    ['**bold** and __bold__, *em* and _em_', '<p><strong>bold</strong> and <strong>bold</strong>, <em>em</em> and <em>em</em></p>'],
    ['snake_case_name and 2 * 3 * 4', '<p>snake_case_name and 2 * 3 * 4</p>'],
    ['`<b>code</b>` **`x`**', '<p><code>&lt;b&gt;code&lt;/b&gt;</code> <strong><code>x</code></strong></p>'],
    ['one\ntwo\n\nthree', '<p>one<br>two</p><p>three</p>'],
    ['- a\n- b\n  - c\n- d', '<ul><li>a</li><li>b<ul><li>c</li></ul></li><li>d</li></ul>'],
    ['3. c\n4. d', '<ol start="3"><li>c</li><li>d</li></ol>'],
    ['- a\n1. b', '<ul><li>a</li></ul><ol><li>b</li></ol>'],
    ['## Title', '<h5>Title</h5>'],
    ['```\n<i>x</i>\n```', '<pre><code>&lt;i&gt;x&lt;/i&gt;</code></pre>'],
    ['[a](https://x.example/p?q=1)', '<p><a href="https://x.example/p?q=1" target="_blank" rel="noopener noreferrer">a</a></p>'],
    ['see https://x.example/a.', '<p>see <a href="https://x.example/a" target="_blank" rel="noopener noreferrer">https://x.example/a</a>.</p>'],
    ['[w](https://x.example/Foo_(bar))', '<p><a href="https://x.example/Foo_(bar)" target="_blank" rel="noopener noreferrer">w</a></p>'],
    ['[x](javascript:alert(1))', '<p>[x](javascript:alert(1))</p>'],
    ['[x](JaVaScRiPt:alert(1)) [y](data:text/html,hi) [z](/relative)', '<p>[x](JaVaScRiPt:alert(1)) [y](data:text/html,hi) [z](/relative)</p>'],
    ['<img src=x onerror="alert(1)"><script>alert(2)</script>', '<p>&lt;img src=x onerror="alert(1)"&gt;&lt;script&gt;alert(2)&lt;/script&gt;</p>'],
    ['&lt;b&gt; &amp;', '<p>&amp;lt;b&amp;gt; &amp;amp;</p>'],
  ];
  const { context, page, problems } = await newPage();
  try {
    await page.goto(`${BASE_URL}/admin/`);
    await page.locator('#login-form').waitFor();
    const rendered = await page.evaluate(async (sources) => {
      const { renderMarkdown } = await import('./js/markdown.js');
      return sources.map((src) => renderMarkdown(src).innerHTML);
    }, cases.map(([src]) => src));
    cases.forEach(([src, html], i) => assert.equal(rendered[i], html, `rendering ${JSON.stringify(src)}`));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('a non-admin account sees "not an administrator" and no console', async () => {
  const user = await registerUser('browser-nonadmin');
  const { context, page, problems } = await newPage();
  try {
    await withFailureShot(page, 'nonadmin', async () => {
      await signIn(page, user.email, user.password);
      const msg = page.locator('#not-admin');
      await msg.waitFor();
      assert.match(await msg.textContent(), /This account is not an administrator/);
      assert.ok(await page.locator('#console').isHidden(), 'console stays hidden');
      assert.ok(await page.locator('#login-form').isVisible(), 'sign-in form stays available');
    });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('a wrong password shows the server error in the error banner', async () => {
  const { context, page, problems, allowHttpErrors } = await newPage();
  allowHttpErrors.add(401); // the refused sign-in
  try {
    await withFailureShot(page, 'wrong-password', async () => {
      await signIn(page, ADMIN_EMAIL, 'definitely-not-the-password');
      const banner = page.locator('#error');
      await banner.waitFor();
      assert.ok(((await banner.textContent()) || '').trim().length > 1, 'error message shown');
      assert.ok(await page.locator('#console').isHidden());
    });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the browser enforces the policy, and the checks above would notice a violation', async () => {
  const { context, page, problems } = await newPage();
  try {
    await page.goto(`${BASE_URL}/admin/`);
    await page.locator('#login-form').waitFor();
    // What an injection would try: an inline script and an inline style (page.evaluate itself
    // runs through DevTools, outside the policy).
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inline = 1';
      document.body.appendChild(script);
      document.body.setAttribute('style', 'background: red');
    });
    await page.waitForTimeout(300); // violation reports are delivered asynchronously
    assert.equal(await page.evaluate(() => typeof window.__inline), 'undefined', 'inline script refused');
    assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(255, 0, 0)', 'inline style refused');
    const reported = problems.join('\n');
    assert.match(reported, /CSP violation: script-src/, reported);
    assert.match(reported, /CSP violation: style-src/, reported);
  } finally {
    await context.close();
  }
});
