// Live: the running executions (polled), each one's output streaming in, and a terminate button.

import {json, path, readNdjson, request} from '../api.js';
import {append, badge, clear, el, link, route, when} from '../text.js';
import {outputBox} from './output.js';

const POLL_MS = 2000;
const MAX_CARDS = 30;

export async function render(main, ctx) {
  const status = el('p', {className: 'count', id: 'live-count', 'data-test': 'live-count'});
  const cards = el('div', {id: 'live-cards', className: 'cards'});
  append(main, [el('h1', null, 'Live'), status, cards]);
  const followed = new Map();
  let cardCount = 0;
  let timer = null;
  let stopped = false;

  function follow(a) {
    const aborter = new AbortController();
    const state = el('span', {className: 'state'}, badge('running'));
    const terminate = el('button', {type: 'button', className: 'danger', 'data-test': 'terminate',
      'data-id': a.executionId}, 'Terminate');
    const card = el('section', {className: 'card', 'data-test': 'live-card', 'data-id': a.executionId,
      'data-status': 'running'},
    el('header', null,
      link(route('#/executions', a.executionId), a.executionId, {className: 'mono'}), ' ', state, ' ',
      terminate),
    el('p', {className: 'meta'}, [a.userId ? 'user ' + a.userId + ' · ' : '', a.runtime, ' · ',
      a.securityLevel, ' · ', a.image, ' · started ', when(a.startedAt),
      a.sessionId ? [' · session ', link(route('#/sessions', a.sessionId), a.sessionId.slice(0, 8))] : null]));
    const out = outputBox(card, 'live-' + (cardCount++));
    cards.insertBefore(card, cards.firstChild);
    const url = path('/v1/executions', a.executionId);
    terminate.addEventListener('click', async () => {
      terminate.disabled = true;
      try {
        await request(url, {method: 'DELETE'});
        terminate.textContent = 'Terminating';
      } catch (e) {
        terminate.textContent = 'Terminate failed: ' + e.message;
      }
    });
    const entry = {card, aborter, ended: false};
    followed.set(a.executionId, entry);
    function ended(result) {
      entry.ended = true;
      terminate.disabled = true;
      terminate.hidden = true;
      const s = result && typeof result.status === 'string' ? result.status : 'ended';
      card.dataset.status = /^[a-z_]{1,32}$/.test(s) ? s : 'other';
      clear(state);
      append(state, [badge(s), result && result.exitCode != null ? ' exit ' + result.exitCode : null]);
    }
    (async () => {
      try {
        const response = await request(url + '?stream=true', {signal: aborter.signal});
        let result = null;
        await readNdjson(response, (event) => {
          if (event.type === 'stdout' || event.type === 'stderr') {
            out.add(event.type, event.data);
          } else if (event.type === 'result') {
            result = event.result;
          }
        });
        if (!stopped) {
          ended(result || await json(url).catch(() => null));
        }
      } catch (e) {
        if (!stopped) {
          ended(await json(url).catch(() => null));
        }
      }
    })();
  }

  async function poll() {
    try {
      const data = await json('/v1/executions?active=true');
      if (stopped) {
        return;
      }
      const active = Array.isArray(data.executions) ? data.executions : [];
      clear(status);
      append(status, [active.length + ' running now']);
      for (const a of active) {
        if (a && typeof a.executionId === 'string' && !followed.has(a.executionId)) {
          follow(a);
        }
      }
      // Ended cards stay for a while; the oldest go beyond MAX_CARDS.
      const done = [...followed.entries()].filter(([, e]) => e.ended);
      while (followed.size > MAX_CARDS && done.length > 0) {
        const [id, e] = done.shift();
        e.card.remove();
        followed.delete(id);
      }
    } catch (e) {
      clear(status);
      append(status, ['could not list running executions: ', e.message]);
    }
    if (!stopped) {
      timer = setTimeout(poll, POLL_MS);
    }
  }
  await poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const e of followed.values()) {
      e.aborter.abort();
    }
  };
}
