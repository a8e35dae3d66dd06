// Performance, from GET /v1/stats (the meters /metrics shows): executions per minute, latency percentiles per
// runtime, statuses, pools and their hit rates.

import {json} from '../api.js';
import {append, clear, el, facts, millis, plain, table, when} from '../text.js';
import {timeChart} from '../chart.js';

const POLL_MS = 5000;

function percent(x) {
  if (x === null || x === undefined) {
    return 'none yet'; // no request of the pool's kind since the start
  }
  const v = Number(x);
  return Number.isFinite(v) ? (v * 100).toFixed(1) + ' %' : '';
}

export async function render(main, ctx) {
  const head = el('div', {id: 'perf-head'});
  const chartBox = el('div', {id: 'perf-chart'});
  const tables = el('div', {id: 'perf-tables'});
  append(main, [el('h1', null, 'Performance'), head, chartBox, tables]);
  let chart = null;
  let timer = null;
  let stopped = false;

  async function load() {
    const s = await json('/v1/stats');
    if (stopped || !ctx.alive()) {
      return;
    }
    const minutes = Array.isArray(s.perMinute) ? s.perMinute : [];
    const xs = minutes.map((m) => Math.floor(Date.parse(m.at) / 1000)).map((x, i) => Number.isFinite(x) ? x : i);
    const series = [{label: 'executions', values: minutes.map((m) => Number(m.executions) || 0)},
      {label: 'errors', values: minutes.map((m) => Number(m.errors) || 0)}];
    if (chart) {
      chart.update(xs, series);
    } else {
      chart = timeChart(chartBox, 'perf-chart', 'executions per minute', xs, series, {yLabel: 'per minute'});
    }
    clear(head);
    const statuses = s.statuses && typeof s.statuses === 'object' ? Object.entries(s.statuses) : [];
    append(head, [facts('perf-facts', [
      ['running now', el('span', {'data-test': 'perf-active'}, String(s.activeExecutions == null ? ''
        : s.activeExecutions))],
      ['as of', when(s.generatedAt)],
      ['by status', statuses.map(([k, v]) => plain(k) + ' ' + v).join(' · ') || 'none yet'],
    ])]);
    clear(tables);
    const runtimes = Array.isArray(s.runtimes) ? s.runtimes : [];
    const pools = Array.isArray(s.pools) ? s.pools : [];
    const events = s.securityEvents && typeof s.securityEvents === 'object' ? Object.entries(s.securityEvents) : [];
    append(tables, [
      el('h2', null, 'Latency by runtime (request to result)'),
      table('perf-runtimes', ['runtime', 'executions', 'p50', 'p95', 'p99'], runtimes.map((r) => [r.runtime,
        el('td', {className: 'num'}, String(r.executions)), el('td', {className: 'num'}, millis(r.p50Ms)),
        el('td', {className: 'num'}, millis(r.p95Ms)), el('td', {className: 'num'}, millis(r.p99Ms))]),
      'No executions yet.'),
      el('h2', null, 'Warm pools'),
      table('perf-pools', ['pool', 'size', 'ready', 'hits', 'misses', 'hit rate'], pools.map((p) => [
        el('td', {className: 'mono'}, p.key), String(p.size), String(p.ready), String(p.hits), String(p.misses),
        el('td', {className: 'num', 'data-test': 'hit-rate'}, percent(p.hitRate))]),
      'No warm pools are configured (docs/pools.md).'),
      el('h2', null, 'Security events by type/severity'),
      table('perf-events', ['type/severity', 'events'], events.map(([k, v]) => [k, String(v)]), 'None.'),
    ]);
  }

  async function poll() {
    try {
      await load();
    } catch (e) {
      clear(head);
      append(head, [el('p', {className: 'error'}, 'could not load /v1/stats: ', e.message)]);
    }
    if (!stopped) {
      timer = setTimeout(poll, POLL_MS);
    }
  }
  await poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (chart) {
      chart.destroy();
    }
  };
}
