// Everything shown on a page is built here: elements with createElement, text with text nodes. Data never
// reaches innerHTML. Control characters that could disguise text (terminal escapes, bidi overrides) are
// replaced by a visible marker: <span class="ctl">ESC</span>, <span class="ctl">U+202E</span>.

const NAMES = {
  0x00: 'NUL', 0x07: 'BEL', 0x08: 'BS', 0x0b: 'VT', 0x0c: 'FF', 0x0d: 'CR', 0x1b: 'ESC', 0x7f: 'DEL',
};

// C0 controls but \t and \n, DEL, C1 controls, and the bidi controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The marker text for one control character: ESC, NUL, U+202E. */
export function controlName(ch) {
  const code = ch.codePointAt(0);
  if (NAMES[code]) {
    return NAMES[code];
  }
  return 'U+' + code.toString(16).toUpperCase().padStart(4, '0');
}

/** The same text as a string with every control character written as \u{..} (for titles and attributes). */
export function plain(value) {
  const s = value == null ? '' : String(value);
  return s.replace(CONTROL, (ch) => '\\u{' + ch.codePointAt(0).toString(16) + '}');
}

/** A fragment of text nodes and control markers for {@code value} (any type; null and undefined: empty). */
export function text(value) {
  const s = value == null ? '' : String(value);
  const fragment = document.createDocumentFragment();
  let last = 0;
  CONTROL.lastIndex = 0;
  for (let m = CONTROL.exec(s); m !== null; m = CONTROL.exec(s)) {
    if (m.index > last) {
      fragment.appendChild(document.createTextNode(s.slice(last, m.index)));
    }
    const marker = document.createElement('span');
    marker.className = 'ctl';
    marker.textContent = controlName(m[0]);
    fragment.appendChild(marker);
    last = m.index + m[0].length;
  }
  if (last < s.length) {
    fragment.appendChild(document.createTextNode(s.slice(last)));
  }
  return fragment;
}

const PROPERTIES = new Set(['className', 'id', 'type', 'value', 'name', 'placeholder', 'disabled', 'hidden',
  'checked', 'selected', 'rows', 'cols', 'title', 'htmlFor', 'autocomplete', 'multiple', 'open', 'required',
  'spellcheck', 'min', 'max']);

/**
 * An element: el('td', {className: 'num'}, 'text', otherNode). Attributes: the listed properties, data-* and
 * aria-* (as attributes), 'href' (only '#...' links), and on* functions as listeners. Children: nodes, or
 * any other value as text (through text()); arrays are flattened; null and false are skipped.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role' || key === 'for'
        || key === 'accept' || key === 'colspan' || key === 'scope') {
      node.setAttribute(key, plain(value));
    } else if (key === 'href') {
      const href = String(value);
      if (!href.startsWith('#')) {
        throw new Error('only in-page links: ' + href);
      }
      node.setAttribute('href', href);
    } else if (PROPERTIES.has(key)) {
      node[key] = key === 'title' ? plain(value) : value;
    } else {
      throw new Error('attribute not allowed: ' + key);
    }
  }
  append(node, children);
  return node;
}

/** Appends children as el() does. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) {
      continue;
    }
    node.appendChild(child instanceof Node ? child : text(child));
  }
  return node;
}

/** Removes every child of node. */
export function clear(node) {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
  return node;
}

/** An in-page link to a route: link('#/executions/' + id, id). The id is encoded, the text shown inertly. */
export function link(route, label, attrs) {
  return el('a', Object.assign({href: route}, attrs || {}), label);
}

/** A route for an execution or session id: '#/executions/<encoded id>'. */
export function route(base, id) {
  return base + '/' + encodeURIComponent(id);
}

/** A byte count for people: 1.5 MiB. */
export function bytes(n) {
  if (n == null || !Number.isFinite(Number(n))) {
    return '';
  }
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
}

/** An ISO instant as local date and time, or the input when it does not parse. */
export function when(iso) {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** Milliseconds for people: 850 ms, 12.3 s. */
export function millis(ms) {
  if (ms == null || !Number.isFinite(Number(ms))) {
    return '';
  }
  const v = Number(ms);
  return v < 1000 ? Math.round(v) + ' ms' : (v / 1000).toFixed(1) + ' s';
}

/** A status badge: <span class="status status-failed" data-test="status">failed</span>. */
export function badge(status) {
  const safe = /^[a-z_]{1,32}$/.test(String(status)) ? String(status) : 'other';
  return el('span', {className: 'status status-' + safe, 'data-test': 'status'}, status);
}

/** A table: headers and rows of cells (each cell a node or text). */
export function table(testId, headers, rows, emptyText) {
  const body = el('tbody', null, rows.map((cells) => el('tr', null,
    cells.map((c) => (c instanceof Node && c.nodeName === 'TD') ? c : el('td', null, c)))));
  const t = el('table', {className: 'grid', 'data-test': testId},
    el('thead', null, el('tr', null, headers.map((h) => el('th', {scope: 'col'}, h)))), body);
  if (rows.length === 0 && emptyText) {
    return el('div', null, t, el('p', {className: 'empty', 'data-test': testId + '-empty'}, emptyText));
  }
  return t;
}

/** A definition list from [label, value] pairs (values: nodes or text; null values are left out). */
export function facts(testId, pairs, extraClass) {
  return el('dl', {className: extraClass ? 'facts ' + extraClass : 'facts', 'data-test': testId}, pairs.filter((p) => p[1] != null && p[1] !== '')
    .map(([k, v]) => [el('dt', null, k), el('dd', {'data-field': k}, v)]));
}

/** Shows an error (an ApiError names its HTTP status) in container, as text. */
export function showError(container, error) {
  const message = error && error.message ? error.message : String(error);
  const status = error && Number.isInteger(error.status) ? error.status + ': ' : '';
  append(container, [el('p', {className: 'error', 'data-test': 'error', role: 'alert'}, status + message)]);
}
