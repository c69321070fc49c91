// Signing in and out. Only administrators get the console; anyone else is told why.
import { api, clearTokens, currentUser, setCurrentUser, signIn } from '../api.js';
import { $ } from '../dom.js';
import { selectTab } from '../nav.js';
import { clearError, showError } from '../notice.js';
import { resetConversation } from './conversation.js';
import { resetFeedback } from './feedback.js';
import { resetSessions } from './sessions.js';
import { resetStats } from './stats.js';
import { resetUsers } from './users.js';

async function onLogin(ev) {
  ev.preventDefault();
  clearError();
  $('#not-admin').hidden = true;
  const email = $('#login-email').value.trim();
  const password = $('#login-password').value;
  if (!email || !password) {
    showError('Enter your email and password.');
    return;
  }
  const submit = $('#login-submit');
  submit.disabled = true;
  submit.textContent = 'Signing in…';
  try {
    await signIn(email, password);
    const me = await api('GET', '/auth/me');
    if (!me || me.is_admin !== true) {
      clearTokens();
      $('#login-password').value = '';
      $('#not-admin').hidden = false;
      return;
    }
    setCurrentUser(me);
    $('#login-password').value = '';
    enterConsole();
  } catch (err) {
    if (!err.handled) clearTokens();
    showError(err);
  } finally {
    submit.disabled = false;
    submit.textContent = 'Sign in';
  }
}

function resetViews() {
  resetStats();
  resetUsers();
  resetSessions();
  resetFeedback();
  resetConversation();
}

function enterConsole() {
  resetViews();
  $('#account-email').textContent = currentUser().email || '';
  $('#account').hidden = false;
  $('#login').hidden = true;
  $('#console').hidden = false;
  selectTab('stats', true);
}

/** Back to the sign-in form, forgetting the tokens and every view's data; message says why. */
export function signOut(message) {
  clearTokens();
  resetViews();
  $('#console').hidden = true;
  $('#account').hidden = true;
  $('#account-email').textContent = '';
  $('#login').hidden = false;
  $('#login-password').value = '';
  $('#not-admin').hidden = true;
  clearError();
  if (message) showError(message);
  $('#login-email').focus();
}

export function wireLogin() {
  $('#login-form').addEventListener('submit', onLogin);
  $('#sign-out').addEventListener('click', () => signOut());
}
