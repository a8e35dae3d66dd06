// Executions: the stored records newest first with filters, and one execution's detail.

import {json, path, query, readNdjson, request} from '../api.js';
import {append, badge, bytes, clear, el, facts, link, millis, route, showError, table, when} from '../text.js';
import {outputBox} from './output.js';

// The ExecutionStatus wire names (GET /v1/executions?status= takes exactly these).
const STATUSES = ['', 'running', 'completed', 'timeout', 'oom_killed', 'output_limit', 'terminated', 'rejected',
  'error', 'cancelled', 'queued'];

function eventsCount(record) {
  const events = Array.isArray(record.securityEvents) ? record.securityEvents : [];
  return events.length;
}

function select(id, values, current) {
  return el('select', {id, name: id}, values.map((v) => el('option', {value: v, selected: v === current},
    v === '' ? 'any' : v)));
}

/** #/executions?status=&runtime=&image=&user= */
export async function list(main, ctx) {
  const p = ctx.params;
  const filters = {status: p.get('status') || '', runtime: p.get('runtime') || '', image: p.get('image') || '',
    user: p.get('user') || '', limit: p.get('limit') || '100'};
  let runtimeNames = [];
  try {
    const r = await json('/v1/runtimes');
    runtimeNames = (r.runtimes || []).map((x) => String(x.name));
  } catch (e) {
    // the filter still takes any text below
  }
  if (filters.runtime && !runtimeNames.includes(filters.runtime)) {
    runtimeNames.push(filters.runtime);
  }
  const form = el('form', {id: 'exec-filters', className: 'filters', autocomplete: 'off'},
    el('label', {for: 'f-status'}, 'status'), select('f-status', STATUSES, filters.status),
    el('label', {for: 'f-runtime'}, 'runtime'), select('f-runtime', [''].concat(runtimeNames), filters.runtime),
    el('label', {for: 'f-image'}, 'image'), el('input', {id: 'f-image', value: filters.image, placeholder: 'any'}),
    ctx.me.admin ? [el('label', {for: 'f-user'}, 'user'),
      el('input', {id: 'f-user', value: filters.user, placeholder: 'everyone'})] : null,
    el('button', {type: 'submit', id: 'f-apply'}, 'Apply'),
    el('button', {type: 'button', id: 'exec-refresh', onclick: () => load().catch((e) => showError(results, e))},
      'Refresh'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = {status: form.querySelector('#f-status').value, runtime: form.querySelector('#f-runtime').value,
      image: form.querySelector('#f-image').value.trim(),
      user: ctx.me.admin ? form.querySelector('#f-user').value.trim() : ''};
    location.hash = '#/executions' + query(q);
  });
  const results = el('div', {id: 'exec-results'});
  append(main, [el('h1', null, 'Executions'), form, results]);

  async function load() {
    const data = await json('/v1/executions' + query(filters));
    if (!ctx.alive()) {
      return;
    }
    clear(results);
    const records = Array.isArray(data.executions) ? data.executions : [];
    const rows = records.map((r) => [
      el('td', {className: 'nowrap'}, when(r.startedAt)),
      el('td', {className: 'mono'}, link(route('#/executions', r.executionId), r.executionId,
        {'data-test': 'exec-link', 'data-id': r.executionId})),
      r.userId,
      badge(r.status),
      r.exitCode == null ? '' : String(r.exitCode),
      r.runtime,
      el('td', {className: 'mono'}, r.image),
      r.securityLevel,
      el('td', {className: 'num'}, millis(r.durationMs)),
      el('td', {className: 'num'}, String(eventsCount(r))),
      r.sessionId ? link(route('#/sessions', r.sessionId), r.sessionId.slice(0, 8), {title: r.sessionId}) : '',
    ]);
    append(results, [el('p', {className: 'count', 'data-test': 'exec-count'}, records.length + ' executions'),
      table('exec-table', ['started', 'id', 'user', 'status', 'exit', 'runtime', 'image', 'level', 'duration',
        'events', 'session'], rows, 'No executions match.')]);
  }
  await load();
  return null;
}

function command(detail) {
  if (Array.isArray(detail.command) && detail.command.length > 0) {
    return el('code', {'data-test': 'request-command'}, JSON.stringify(detail.command));
  }
  return null;
}

function usage(u) {
  if (!u) {
    return null;
  }
  const net = u.networkIO || {};
  return facts('usage', [
    ['CPU', millis(u.cpuMillis) + (u.cpuPercent != null ? ' (' + u.cpuPercent + ' % of a core)' : '')],
    ['peak memory', bytes(u.peakMemoryBytes)],
    ['network', net.bytesSent != null || net.bytesReceived != null
      ? bytes(net.bytesSent || 0) + ' out, ' + bytes(net.bytesReceived || 0) + ' in' : null],
  ]);
}

/** A table of security events (an execution's, or the security page's). */
export function eventsTable(testId, events, withExecution) {
  const rows = events.map((e) => [
    el('td', {className: 'nowrap'}, when(e.at || e.timestamp)),
    e.type,
    el('td', null, el('span', {className: 'sev sev-' + (/^[a-z]{1,10}$/.test(String(e.severity))
      ? e.severity : 'other')}, e.severity)),
    e.count == null ? '' : String(e.count),
    el('td', {className: 'desc'}, e.description),
    withExecution ? el('td', {className: 'mono'}, e.executionId
      ? link(route('#/executions', e.executionId), e.executionId) : '') : null,
    withExecution ? e.userId : null,
    withExecution ? e.runtime : null,
    withExecution ? el('td', {className: 'mono'}, e.image) : null,
  ].filter((c) => c !== null));
  const headers = ['at', 'type', 'severity', 'count', 'description'];
  return table(testId, withExecution ? headers.concat(['execution', 'user', 'runtime', 'image']) : headers,
    rows, 'No security events.');
}

function names(list, count) {
  const shown = Array.isArray(list) ? list.map(String) : [];
  if (shown.length === 0) {
    return null;
  }
  const more = Number(count) > shown.length ? ' and ' + (Number(count) - shown.length) + ' more' : '';
  return shown.join(', ') + more;
}

function limitsAsked(l) {
  if (!l) {
    return null;
  }
  const parts = [
    l.timeoutMs != null ? 'timeout ' + millis(l.timeoutMs) : null,
    l.memoryBytes != null ? 'memory ' + bytes(l.memoryBytes) : null,
    l.cpus != null ? 'cpus ' + l.cpus : null,
    l.pids != null ? 'pids ' + l.pids : null,
    l.outputBytes != null ? 'output ' + bytes(l.outputBytes) : null,
  ].filter((x) => x !== null);
  return parts.length === 0 ? 'defaults' : parts.join(', ');
}

/**
 * What the request asked, as its record keeps it: the code (at most 64 KiB of it), names and sizes of env
 * variables, files and stdin (never their values or contents: the server does not keep them), limits, flags.
 * Every value is shown as text.
 */
function requestSection(req) {
  if (req === undefined) {
    return null; // no record to read (still queued, or the store cannot answer)
  }
  if (!req || typeof req !== 'object') {
    return [el('h2', null, 'Request'), el('p', {className: 'hint', 'data-test': 'request-none'},
      'This record keeps no request: it was written before requests were kept.')];
  }
  const files = Array.isArray(req.files) ? req.files.map((f) => String(f && f.name) + ' (' + bytes(f && f.bytes)
    + ')') : [];
  const flags = ['persistent', 'background', 'keepStdinOpen'].filter((f) => req[f] === true);
  const out = [el('h2', null, 'Request'), facts('exec-request', [
    ['code', typeof req.code === 'string' ? bytes(req.codeBytes) : null],
    ['stdin', Number(req.stdinBytes) > 0 ? bytes(req.stdinBytes) : null],
    ['env', names(req.envNames, req.envCount)],
    ['files', names(files, req.fileCount)],
    ['limits', limitsAsked(req.limits)],
    ['network', req.network ? 'asked' + (Array.isArray(req.networkAllow) && req.networkAllow.length > 0
      ? ': ' + req.networkAllow.map(String).join(', ') : '') : null],
    ['workdir', req.workDir],
    ['flags', flags.length > 0 ? flags.join(', ') : null],
    ['priority', req.priority ? String(req.priority) : null],
    ['dlp', req.dlpMode],
    ['callback', req.callback ? 'asked' : null],
  ])];
  if (typeof req.code === 'string') {
    out.push(el('pre', {className: 'out code', 'data-test': 'request-code'}, req.code));
    if (req.codeTruncated) {
      out.push(el('p', {className: 'hint', 'data-test': 'request-code-truncated'}, 'code truncated: the record '
        + 'keeps its first ' + bytes(64 * 1024) + ' of ' + bytes(req.codeBytes)));
    }
  }
  return out;
}

/**
 * The request's side of an execution (user, session, command, language, start, what was asked), which the
 * result object does not carry: from its stored record (GET /v1/executions/{id}/record).
 */
async function withRequest(d) {
  try {
    const record = await json(path('/v1/executions', d.executionId, 'record'));
    return Object.assign({}, d, {userId: record.userId, sessionId: record.sessionId, command: record.command,
      language: record.language, startedAt: record.startedAt, request: record.request == null ? null
        : record.request});
  } catch (e) {
    // no record yet (still queued), or the store cannot answer: the result alone is still worth showing
    return d;
  }
}

/** #/executions/<id> */
export async function detail(main, ctx) {
  const id = ctx.id;
  const url = path('/v1/executions', id);
  const head = el('div', {className: 'head'});
  const body = el('div', {id: 'exec-detail', 'data-id': id});
  append(main, [el('h1', null, 'Execution ', el('span', {className: 'mono', 'data-test': 'exec-id'}, id)), head,
    body]);
  const aborter = new AbortController();
  let d = await json(url);
  if (!ctx.alive()) {
    return null;
  }
  d = await withRequest(d);

  function show(data) {
    clear(head);
    clear(body);
    const running = data.status === 'running' || data.status === 'queued';
    if (running) {
      append(head, [el('button', {type: 'button', id: 'exec-terminate', 'data-test': 'terminate',
        onclick: async (event) => {
          event.target.disabled = true;
          await request(url, {method: 'DELETE'}).catch(() => {});
        }}, data.status === 'queued' ? 'Cancel' : 'Terminate')]);
    }
    const events = Array.isArray(data.securityEvents) ? data.securityEvents : [];
    append(body, [
      facts('exec-facts', [
        ['status', badge(data.status)],
        ['exit code', data.exitCode == null ? null : String(data.exitCode)],
        ['reason', data.reason],
        ['notice', data.notice],
        ['user', data.userId],
        ['session', data.sessionId ? link(route('#/sessions', data.sessionId), data.sessionId) : null],
        ['command', command(data)],
        ['language', data.language],
        ['image', data.image],
        ['runtime', data.runtime],
        ['level', data.securityLevel],
        ['started', when(data.startedAt)],
        ['duration', millis(data.durationMs)],
        ['pooled', data.pooled == null ? null : String(data.pooled)],
        ['result', data.result],
      ]),
      requestSection(data.request),
      el('h2', null, 'Usage'), usage(data.resourceUsage),
      el('h2', null, 'Security events'), eventsTable('exec-events', events, false),
    ]);
    const out = outputBox(body, 'exec');
    out.add('stdout', data.stdout || '');
    out.add('stderr', data.stderr || '');
    if (data.stdoutTruncated || data.stderrTruncated) {
      append(body, [el('p', {className: 'hint'}, 'output truncated at the output limit')]);
    }
    return out;
  }

  const out = show(d);
  if (d.status === 'running') {
    // Follow it: the stream repeats the output from the start, so clear what the snapshot showed.
    (async () => {
      try {
        const response = await request(url + '?stream=true', {signal: aborter.signal});
        out.reset();
        await readNdjson(response, (event) => {
          if (event.type === 'stdout' || event.type === 'stderr') {
            out.add(event.type, event.data);
          } else if (event.type === 'result' && event.result) {
            d = Object.assign({}, d, event.result);
          }
        });
        if (ctx.alive()) {
          const latest = await json(url).catch(() => d);
          show(Object.assign({}, d, latest, {userId: d.userId, sessionId: d.sessionId, command: d.command,
            language: d.language, startedAt: d.startedAt, request: d.request}));
        }
      } catch (e) {
        // aborted when the page is left, or the stream broke: the snapshot stays
      }
    })();
  }
  return () => aborter.abort();
}
