// Building DOM nodes. Everything from the API goes in as text, never as markup: no innerHTML,
// no on* attributes from strings, no links other than http(s).

export const $ = (sel) => document.querySelector(sel);

export function isSafeUrl(value) {
  if (typeof value !== 'string' || value === '') return false;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch (_) {
    return false;
  }
}

function setAttrs(node, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) {
      if (typeof value === 'function') node.addEventListener(key.slice(2), value);
      continue; // never set on* attributes from strings
    }
    if ((key === 'href' || key === 'src' || key === 'xlink:href') && !isSafeUrl(value)) continue;
    node.setAttribute(key, value === true ? '' : String(value));
  }
}

function appendChildren(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An element with attributes (functions under on* become listeners) and text or node children. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  return appendChildren(node, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  return appendChildren(node, children);
}

export function badge(text, kind) {
  return el('span', { class: 'badge' + (kind ? ' badge-' + kind : '') }, text);
}

export function button(label, attrs) {
  return el('button', Object.assign({ type: 'button', class: 'btn btn-sm' }, attrs), label);
}

/** Replaces a table's rows with one full-width line of text (loading, empty, failed). */
export function placeholderRow(table, cols, text) {
  $(table + ' tbody').replaceChildren(el('tr', { class: 'placeholder' }, el('td', { class: 'empty', colspan: cols }, text)));
}
