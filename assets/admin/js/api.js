// Talking to the JSON API. The token pair lives only in this module: never in storage or cookies.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
    // True once the page has already told the user (e.g. by signing out), so callers stay quiet.
    this.handled = false;
  }
}

const auth = { access: null, refresh: null, refreshing: null, me: null, generation: 0 };
let onSessionExpired = () => {};

/** Called with a message when the tokens are refused and cannot be renewed. */
export function whenSessionExpires(handler) {
  onSessionExpired = handler;
}

/** One unauthenticated-or-given-token call; throws ApiError with the contract's error fields. */
async function request(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (_) {
    throw new ApiError(0, 'network', 'Could not reach the server. Check the connection and try again.');
  }
  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (!res.ok) {
    const e = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {};
    const message = typeof e.message === 'string' && e.message ? e.message : 'Request failed (HTTP ' + res.status + ').';
    throw new ApiError(res.status, typeof e.code === 'string' ? e.code : 'http_' + res.status, message,
      Array.isArray(e.details) ? e.details : []);
  }
  return data;
}

function setTokens(pair) {
  if (!pair || typeof pair.access_token !== 'string' || !pair.access_token) {
    throw new ApiError(0, 'bad_response', 'The server sent an unexpected answer when signing in.');
  }
  auth.access = pair.access_token;
  auth.refresh = typeof pair.refresh_token === 'string' ? pair.refresh_token : null;
}

/** Exchanges credentials for a token pair and keeps it. */
export async function signIn(email, password) {
  setTokens(await request('POST', '/auth/token', { email, password }));
}

/** Forgets the tokens and the user; calls still in flight then ignore their answers. */
export function clearTokens() {
  auth.access = null;
  auth.refresh = null;
  auth.refreshing = null;
  auth.me = null;
  auth.generation += 1;
}

/** The signed-in administrator (from GET /auth/me), or null. */
export const currentUser = () => auth.me;

export function setCurrentUser(me) {
  auth.me = me;
}

/** One refresh at a time; resolves true when a new pair was stored. */
function refreshTokens() {
  if (!auth.refresh) return Promise.resolve(false);
  if (!auth.refreshing) {
    const generation = auth.generation;
    const p = request('POST', '/auth/refresh', { refresh_token: auth.refresh })
      .then((pair) => {
        if (generation !== auth.generation) return false; // signed out meanwhile
        setTokens(pair);
        return true;
      })
      .catch(() => false)
      .finally(() => { if (auth.refreshing === p) auth.refreshing = null; });
    auth.refreshing = p;
  }
  return auth.refreshing;
}

function expired() {
  onSessionExpired('Your session has expired. Please sign in again.');
  const e = new ApiError(401, 'unauthorized', 'Your session has expired. Please sign in again.');
  e.handled = true;
  return e;
}

/** Authenticated call; on 401 it refreshes the token pair once and retries. */
export async function api(method, path, body) {
  if (!auth.access) throw expired();
  const generation = auth.generation;
  const used = auth.access;
  try {
    return await request(method, path, body, used);
  } catch (err) {
    if (err.status !== 401) throw err;
    if (generation !== auth.generation) { err.handled = true; throw err; }
    // Another call may already have refreshed the pair while this one was in flight.
    const ok = auth.access !== used || (await refreshTokens());
    if (!ok || !auth.access) throw expired();
    try {
      return await request(method, path, body, auth.access);
    } catch (err2) {
      if (err2.status === 401) throw expired();
      throw err2;
    }
  }
}

/** "?k=v&..." of the parameters that have a value, or "". */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

/** The cursor of the next page, or null on the last one. */
export function nextCursor(page) {
  return page && typeof page.next_cursor === 'string' && page.next_cursor ? page.next_cursor : null;
}

/** The items of a page, or [] when the answer has none. */
export function pageItems(page) {
  return page && Array.isArray(page.items) ? page.items : [];
}
