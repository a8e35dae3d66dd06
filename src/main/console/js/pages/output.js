// Program output on a page: text nodes only (through text()), control characters as visible markers,
// bounded so a chatty program cannot exhaust the tab.

import {append, clear, el, text} from '../text.js';

const MAX_CHARS = 2 * 1024 * 1024;

/**
 * Two panes, stdout and stderr (ids <prefix>-stdout, <prefix>-stderr). Answers {add(stream, data), reset()}.
 */
export function outputBox(container, prefix) {
  const panes = {};
  const sizes = {stdout: 0, stderr: 0};
  const box = el('div', {className: 'output', id: prefix + '-output'});
  for (const stream of ['stdout', 'stderr']) {
    panes[stream] = el('pre', {className: 'out ' + stream, id: prefix + '-' + stream, 'data-test': stream});
    append(box, [el('h3', null, stream), panes[stream]]);
  }
  container.appendChild(box);
  return {
    add(stream, data) {
      const pane = panes[stream];
      if (!pane || data == null || data === '') {
        return;
      }
      const s = String(data);
      if (sizes[stream] >= MAX_CHARS) {
        return;
      }
      const room = MAX_CHARS - sizes[stream];
      sizes[stream] += s.length;
      pane.appendChild(text(s.length > room ? s.slice(0, room) : s));
      if (sizes[stream] >= MAX_CHARS) {
        append(pane, [el('span', {className: 'cut'}, '\n[the console shows the first 2 MiB]')]);
      }
      pane.scrollTop = pane.scrollHeight;
    },
    reset() {
      clear(panes.stdout);
      clear(panes.stderr);
      sizes.stdout = 0;
      sizes.stderr = 0;
    },
  };
}
