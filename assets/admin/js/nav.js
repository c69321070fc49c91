// The tabs: one panel visible at a time, arrow keys move between tabs (WAI-ARIA tabs pattern).
import { $ } from './dom.js';
import { clearError } from './notice.js';

const TABS = ['stats', 'users', 'sessions', 'feedback', 'conversation'];
const shownHandlers = new Map();
let current = 'stats';

/** Runs handler each time the tab is selected (views load their data lazily). */
export function onTabShown(name, handler) {
  shownHandlers.set(name, handler);
}

export function selectTab(name, focusTab) {
  current = name;
  for (const t of TABS) {
    const tab = $('#tab-' + t);
    const selected = t === name;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $('#panel-' + t).hidden = !selected;
  }
  if (focusTab) $('#tab-' + name).focus();
  const handler = shownHandlers.get(name);
  if (handler) handler();
}

function onTabKey(ev) {
  const i = TABS.indexOf(current);
  let next = null;
  if (ev.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
  else if (ev.key === 'ArrowLeft') next = TABS[(i - 1 + TABS.length) % TABS.length];
  else if (ev.key === 'Home') next = TABS[0];
  else if (ev.key === 'End') next = TABS[TABS.length - 1];
  if (next) {
    ev.preventDefault();
    selectTab(next, true);
  }
}

export function wireTabs() {
  $('.tabs').addEventListener('keydown', onTabKey);
  for (const t of TABS) $('#tab-' + t).addEventListener('click', () => { clearError(); selectTab(t); });
}
