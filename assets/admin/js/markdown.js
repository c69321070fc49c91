// A small Markdown renderer for the assistant's replies: paragraphs, headings, bullet and numbered
// lists (nested by indentation), fenced code, bold, italics, inline code and links. It builds DOM
// nodes only (createElement and text nodes through dom.js): no string ever becomes markup, so
// `<script>` or `<img onerror>` in a reply stays text. Links are made for http(s) addresses only;
// any other `[text](target)` is shown as the text it was written as.
import { el, isSafeUrl } from './dom.js';

// Inline patterns, tried in this order at each position ("y": anchored at lastIndex).
const CODE = /`([^`\n]+)`/y;
// The address may hold one level of balanced parentheses (…/Foo_(bar)).
const LINK = /\[([^\]\n]+)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))+)>?(?:\s+"[^"\n]*")?\s*\)/y;
const AUTOLINK = /https?:\/\/[^\s<>()[\]]+/y;
// Emphasis spans at most 1,000 characters: a long line full of unmatched "*" stays quick to render.
const BOLD = /(\*\*|__)(?=\S)([^\n]{0,1000}?\S)\1/y;
const ITALIC_STAR = /\*(?=[^\s*])([^\n]{0,1000}?[^\s*])\*(?!\*)/y;
const ITALIC_UNDERSCORE = /_(?=[^\s_])([^\n]{0,1000}?[^\s_])_(?![A-Za-z0-9_])/y;
const WORD_CHAR = /[A-Za-z0-9]/;

function match(re, text, at) {
  re.lastIndex = at;
  return re.exec(text);
}

function link(href, children) {
  return el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, children);
}

/** Nodes for one run of inline text; `inLink` keeps links out of link text. */
function inline(text, inLink) {
  const out = [];
  let plain = '';
  const flush = () => { if (plain) { out.push(document.createTextNode(plain)); plain = ''; } };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    let m = null;
    let node = null;
    if (c === '`' && (m = match(CODE, text, i))) {
      node = el('code', null, m[1]);
    } else if (c === '[' && !inLink && (m = match(LINK, text, i))) {
      // Not an http(s) address (javascript:, data:, relative...): the source text, as text.
      node = isSafeUrl(m[2]) ? link(m[2], inline(m[1], true)) : document.createTextNode(m[0]);
    } else if (c === 'h' && !inLink && (i === 0 || !WORD_CHAR.test(text[i - 1])) && (m = match(AUTOLINK, text, i))) {
      // Trailing punctuation ends the sentence, not the address.
      const url = m[0].replace(/[.,;:!?'"]+$/, '');
      m = [url];
      node = isSafeUrl(url) ? link(url, url) : document.createTextNode(url);
    } else if ((c === '*' || (c === '_' && (i === 0 || !WORD_CHAR.test(text[i - 1])))) && (m = match(BOLD, text, i))) {
      node = el('strong', null, inline(m[2], inLink));
    } else if (c === '*' && (m = match(ITALIC_STAR, text, i))) {
      node = el('em', null, inline(m[1], inLink));
    } else if (c === '_' && (i === 0 || !WORD_CHAR.test(text[i - 1])) && (m = match(ITALIC_UNDERSCORE, text, i))) {
      node = el('em', null, inline(m[1], inLink));
    }
    if (node) {
      flush();
      out.push(node);
      i += m[0].length;
    } else {
      plain += c;
      i += 1;
    }
  }
  flush();
  return out;
}

/** Inline nodes for several lines, with a line break between them. */
function lines(texts) {
  const out = [];
  texts.forEach((t, n) => {
    if (n) out.push(el('br'));
    out.push(...inline(t, false));
  });
  return out;
}

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^(\s*)[-*+]\s+(.*)$/;
const NUMBERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;

function listItem(line) {
  let m = BULLET.exec(line);
  if (m) return { indent: m[1].length, type: 'ul', text: m[2] };
  m = NUMBERED.exec(line);
  if (m) return { indent: m[1].length, type: 'ol', start: Number(m[2]), text: m[3] };
  return null;
}

/**
 * The reply as a `div.markdown` of block elements. Unknown syntax (tables, quotes, HTML) is kept
 * as text in paragraphs.
 */
export function renderMarkdown(source) {
  const root = el('div', { class: 'markdown' });
  const src = typeof source === 'string' ? source.replace(/\r\n?/g, '\n') : '';
  const all = src.split('\n');
  let para = [];
  // Open lists, outermost first: {indent, type, list, item (its last <li>), text (that item's lines)}.
  let lists = [];

  const closeItem = (l) => {
    if (l.text.length) l.item.prepend(...lines(l.text));
    l.text = [];
  };
  const closeLists = (toDepth) => {
    while (lists.length > toDepth) closeItem(lists.pop());
  };
  const closePara = () => {
    if (para.length) root.appendChild(el('p', null, lines(para)));
    para = [];
  };
  const closeAll = () => { closePara(); closeLists(0); };

  for (let n = 0; n < all.length; n += 1) {
    const line = all[n];
    if (FENCE.test(line)) {
      closeAll();
      const fence = FENCE.exec(line)[1];
      const code = [];
      for (n += 1; n < all.length && !all[n].trim().startsWith(fence); n += 1) code.push(all[n]);
      root.appendChild(el('pre', null, el('code', null, code.join('\n'))));
      continue;
    }
    if (!line.trim()) { closeAll(); continue; }
    const item = listItem(line);
    if (item) {
      closePara();
      // Deeper than the open item: a list inside it; else back out to a list at this depth.
      while (lists.length && item.indent < lists[lists.length - 1].indent) closeItem(lists.pop());
      let top = lists[lists.length - 1];
      if (top && item.indent === top.indent && item.type !== top.type) {
        closeItem(lists.pop());
        top = lists[lists.length - 1];
      }
      if (!top || item.indent > top.indent) {
        const attrs = item.type === 'ol' && item.start !== 1 ? { start: item.start } : null;
        const list = el(item.type, attrs);
        if (top) { closeItem(top); top.item.appendChild(list); } else root.appendChild(list);
        top = { indent: item.indent, type: item.type, list, item: null, text: [] };
        lists.push(top);
      } else {
        closeItem(top);
      }
      top.item = el('li');
      top.list.appendChild(top.item);
      top.text = [item.text];
      continue;
    }
    if (lists.length && /^\s+\S/.test(line) && !para.length) {
      // An indented line under a list item continues that item.
      lists[lists.length - 1].text.push(line.trim());
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      closeAll();
      root.appendChild(el('h' + Math.min(6, heading[1].length + 3), null, inline(heading[2], false)));
      continue;
    }
    if (RULE.test(line)) { closeAll(); root.appendChild(el('hr')); continue; }
    closeLists(0);
    para.push(line.trim());
  }
  closeAll();
  return root;
}
