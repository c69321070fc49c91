// The Stats tab: figure cards (feedback and replies being written included), messages per day as an SVG bar chart, replies by model.
import { api } from '../api.js';
import { $, el, svg } from '../dom.js';
import { fmtDay, fmtInt, fmtMs, fmtPct, isNum } from '../format.js';
import { onTabShown } from '../nav.js';
import { clearError, showError } from '../notice.js';

let loaded = false;

/** Makes the next visit to the tab fetch fresh figures (e.g. after a user changed). */
export function invalidateStats() {
  loaded = false;
}

export function resetStats() {
  loaded = false;
  $('#stats').replaceChildren(el('div', { class: 'card empty-state' }, 'Loading statistics…'));
  $('#stats').setAttribute('aria-busy', 'true');
  $('#stats-updated').textContent = '';
}

async function loadStats() {
  loaded = true;
  const box = $('#stats');
  box.setAttribute('aria-busy', 'true');
  const btn = $('#stats-refresh');
  btn.disabled = true;
  try {
    const s = await api('GET', '/admin/stats');
    renderStats(s || {});
    $('#stats-updated').textContent = 'Updated ' + new Date().toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  } catch (err) {
    loaded = false;
    if (!err.handled) {
      box.replaceChildren(el('div', { class: 'card empty-state' }, 'Statistics could not be loaded.'));
      showError(err);
    }
  } finally {
    box.setAttribute('aria-busy', 'false');
    btn.disabled = false;
  }
}

function statCard(key, label, display, raw, sub) {
  return el('div', { class: 'card stat' },
    el('div', { class: 'stat-label', id: 'stat-label-' + key }, label),
    el('div', { class: 'stat-value', 'data-stat': key, 'data-value': isNum(raw) ? String(raw) : '', 'aria-labelledby': 'stat-label-' + key }, display),
    sub ? el('div', { class: 'stat-sub' }, sub) : null);
}

function renderStats(s) {
  const tokens = s.tokens && typeof s.tokens === 'object' ? s.tokens : {};
  const feedback = s.feedback && typeof s.feedback === 'object' ? s.feedback : {};
  const rated = (isNum(feedback.up) ? feedback.up : 0) + (isNum(feedback.down) ? feedback.down : 0);
  const total = (isNum(tokens.prompt) ? tokens.prompt : 0) + (isNum(tokens.completion) ? tokens.completion : 0);
  const perSession = isNum(s.messages) && isNum(s.sessions) && s.sessions > 0 ? (s.messages / s.sessions).toFixed(1) + ' per session' : null;
  const grid = el('div', { class: 'stat-grid' },
    statCard('users', 'Users', fmtInt(s.users), s.users, 'registered accounts'),
    statCard('sessions', 'Sessions', fmtInt(s.sessions), s.sessions, 'chat sessions'),
    statCard('messages', 'Messages', fmtInt(s.messages), s.messages, perSession || 'both roles'),
    statCard('messages_last_24h', 'Last 24 hours', fmtInt(s.messages_last_24h), s.messages_last_24h, 'messages'),
    statCard('fallback_ratio', 'Fallback ratio', fmtPct(s.fallback_ratio, 1), s.fallback_ratio, 'of assistant replies'),
    statCard('grounded_ratio', 'Grounded ratio', fmtPct(s.grounded_ratio, 1), s.grounded_ratio, 'of model replies given guide passages'),
    statCard('avg_latency_ms', 'Avg. latency', fmtMs(s.avg_latency_ms), s.avg_latency_ms, 'per assistant reply'),
    statCard('tokens_prompt', 'Prompt tokens', fmtInt(tokens.prompt), tokens.prompt, null),
    statCard('tokens_completion', 'Completion tokens', fmtInt(tokens.completion), tokens.completion,
      total ? fmtInt(total) + ' tokens in total' : null),
    statCard('generating', 'Generating', fmtInt(s.generating), s.generating, 'replies being written now'),
    statCard('feedback_up', 'Rated up', fmtInt(feedback.up), feedback.up,
      rated ? fmtPct(feedback.up / rated, 0) + ' of ' + fmtInt(rated) + ' rated replies' : 'replies rated helpful'),
    statCard('feedback_down', 'Rated down', fmtInt(feedback.down), feedback.down, 'replies rated unhelpful'));

  const days = Array.isArray(s.messages_per_day) ? s.messages_per_day : [];
  const dayTotal = days.reduce((a, d) => a + (isNum(d && d.count) ? d.count : 0), 0);
  const chartCard = el('div', { class: 'card card-pad chart' },
    el('div', { class: 'card-title' },
      el('h3', null, 'Messages per day'),
      el('span', { class: 'muted' }, days.length ? 'last ' + days.length + ' days · ' + fmtInt(dayTotal) + ' total' : '')),
    renderChart(days));

  const models = s.by_model && typeof s.by_model === 'object' ? Object.entries(s.by_model).filter(([, n]) => isNum(n)) : [];
  models.sort((a, b) => b[1] - a[1]);
  const modelTotal = models.reduce((a, [, n]) => a + n, 0);
  const modelCard = el('div', { class: 'card card-pad' },
    el('div', { class: 'card-title' }, el('h3', null, 'Replies by model')),
    models.length
      ? el('table', { id: 'by-model' },
        el('thead', null, el('tr', null,
          el('th', { scope: 'col' }, 'Model'), el('th', { scope: 'col', class: 'num' }, 'Replies'), el('th', { scope: 'col' }, 'Share'))),
        el('tbody', null, models.map(([model, n]) => {
          const bar = el('span');
          // Set through the CSSOM, which the CSP allows (a style attribute would be refused).
          bar.style.width = (modelTotal ? (n / modelTotal) * 100 : 0).toFixed(1) + '%';
          return el('tr', { 'data-model': model },
            el('td', { class: 'mono' }, model),
            el('td', { class: 'num' }, fmtInt(n)),
            el('td', { title: fmtPct(modelTotal ? n / modelTotal : 0, 1) }, el('div', { class: 'share' }, bar)));
        })))
      : el('p', { class: 'muted' }, 'No assistant replies yet.'));

  $('#stats').replaceChildren(grid, el('div', { class: 'stats-row' }, chartCard, modelCard));
}

function renderChart(days) {
  if (!days.length) return el('p', { class: 'muted' }, 'No daily figures available.');
  const W = 640, H = 190, left = 34, right = 8, top = 10, bottom = 24;
  const plotW = W - left - right, plotH = H - top - bottom;
  const counts = days.map((d) => (d && isNum(d.count) ? d.count : 0));
  const max = Math.max(1, ...counts);
  const step = plotW / days.length;
  const barW = Math.max(2, step * 0.72);
  let peak = 0;
  counts.forEach((c, i) => { if (c > counts[peak]) peak = i; });
  const label = 'Messages per day for the last ' + days.length + ' days; peak ' + fmtInt(counts[peak]) +
    ' on ' + fmtDay(days[peak] && days[peak].date, true) + '.';
  const chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': label, id: 'messages-chart' });
  for (const frac of [0, 0.5, 1]) {
    const y = top + plotH - frac * plotH;
    chart.appendChild(svg('line', { class: 'grid', x1: left, x2: W - right, y1: y, y2: y }));
    if (frac !== 0.5) {
      chart.appendChild(svg('text', { class: 'axis-label', x: left - 6, y: y + 4, 'text-anchor': 'end' }, fmtInt(max * frac)));
    }
  }
  days.forEach((d, i) => {
    const c = counts[i];
    const h = c > 0 ? Math.max(2, (c / max) * plotH) : 0;
    const x = left + i * step + (step - barW) / 2;
    chart.appendChild(svg('rect', { class: 'bar', x: x.toFixed(1), y: (top + plotH - h).toFixed(1), width: barW.toFixed(1), height: h.toFixed(1), rx: 2, 'data-date': d && d.date, 'data-count': c },
      svg('title', null, fmtDay(d && d.date, true) + ': ' + fmtInt(c) + (c === 1 ? ' message' : ' messages'))));
  });
  const ticks = days.length <= 1 ? [0] : [0, Math.floor((days.length - 1) / 2), days.length - 1];
  for (const i of ticks) {
    const x = left + i * step + step / 2;
    const anchor = i === 0 ? 'start' : i === days.length - 1 ? 'end' : 'middle';
    chart.appendChild(svg('text', { class: 'axis-label', x: anchor === 'start' ? left : anchor === 'end' ? W - right : x, y: H - 6, 'text-anchor': anchor },
      fmtDay(days[i] && days[i].date)));
  }
  return chart;
}

export function wireStats() {
  $('#stats-refresh').addEventListener('click', () => { clearError(); loadStats(); });
  onTabShown('stats', () => { if (!loaded) loadStats(); });
}
