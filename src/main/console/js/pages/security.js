// Security events over time: a chart by type and severity, and the table (GET /v1/security-events).

import {json, query} from '../api.js';
import {append, clear, el, plain} from '../text.js';
import {timeChart} from '../chart.js';
import {eventsTable} from './executions.js';

const RANGES = {'1h': 3600, '6h': 6 * 3600, '24h': 24 * 3600, '7d': 7 * 24 * 3600};
const BUCKETS = 60;
const MAX_SERIES = 8;
const POLL_MS = 5000;

/** Counts per bucket for each type/severity key: the x axis and the series. */
export function bucketed(events, fromSeconds, toSeconds) {
  const step = Math.max(1, Math.ceil((toSeconds - fromSeconds) / BUCKETS));
  const xs = [];
  for (let t = fromSeconds; t <= toSeconds; t += step) {
    xs.push(t);
  }
  const totals = new Map();
  for (const e of events) {
    const key = plain(e.type) + '/' + plain(e.severity);
    totals.set(key, (totals.get(key) || 0) + 1);
  }
  const keys = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const kept = keys.slice(0, MAX_SERIES);
  const other = keys.length > MAX_SERIES;
  const series = kept.concat(other ? ['other'] : []).map((label) => ({label, values: xs.map(() => 0)}));
  for (const e of events) {
    const at = Date.parse(e.at || e.timestamp) / 1000;
    if (!Number.isFinite(at) || at < fromSeconds) {
      continue;
    }
    const i = Math.min(xs.length - 1, Math.floor((at - fromSeconds) / step));
    const key = plain(e.type) + '/' + plain(e.severity);
    const index = kept.indexOf(key);
    const s = series[index >= 0 ? index : series.length - 1];
    const n = Number(e.count);
    s.values[i] += Number.isFinite(n) && n > 0 ? n : 1;
  }
  return {xs, series};
}

export async function render(main, ctx) {
  const range = RANGES[ctx.params.get('range')] ? ctx.params.get('range') : '24h';
  const picker = el('select', {id: 'sec-range', 'data-test': 'sec-range'},
    Object.keys(RANGES).map((r) => el('option', {value: r, selected: r === range}, 'last ' + r)));
  picker.addEventListener('change', () => {
    location.hash = '#/security' + query({range: picker.value});
  });
  const summary = el('p', {className: 'count', id: 'sec-count', 'data-test': 'sec-count'});
  const chartBox = el('div', {id: 'sec-chart'});
  const tableBox = el('div', {id: 'sec-events'});
  append(main, [el('h1', null, 'Security events'), el('div', {className: 'filters'}, picker), summary, chartBox,
    tableBox]);
  let chart = null;
  let timer = null;
  let stopped = false;

  async function load() {
    const to = Math.floor(Date.now() / 1000);
    const from = to - RANGES[range];
    const data = await json('/v1/security-events' + query({since: new Date(from * 1000).toISOString(),
      limit: 5000}));
    if (stopped || !ctx.alive()) {
      return;
    }
    const events = Array.isArray(data.events) ? data.events : [];
    clear(summary);
    append(summary, [events.length + ' events in the last ' + range]);
    const {xs, series} = bucketed(events, from, to);
    if (chart) {
      chart.update(xs, series);
    } else {
      chart = timeChart(chartBox, 'sec-chart', 'events by type/severity', xs, series.length ? series
        : [{label: 'none', values: xs.map(() => 0)}], {bars: true, yLabel: 'events'});
    }
    clear(tableBox);
    append(tableBox, [eventsTable('sec-table', events.slice(0, 500), true)]);
  }

  async function poll() {
    try {
      await load();
    } catch (e) {
      clear(summary);
      append(summary, ['could not load security events: ', e.message]);
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
