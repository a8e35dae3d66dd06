// Sessions: the list (and opening one), and a session's page: files, a run box with streamed output, close.

import {download, json, path, query, readNdjson, request} from '../api.js';
import {append, badge, bytes, clear, el, facts, link, millis, route, showError, table, when} from '../text.js';
import {outputBox} from './output.js';

/** #/sessions */
export async function list(main, ctx) {
  const results = el('div', {id: 'session-results'});
  const create = el('button', {type: 'button', id: 'session-new', 'data-test': 'session-new'}, 'New session');
  const problems = el('div');
  create.addEventListener('click', async () => {
    create.disabled = true;
    clear(problems);
    try {
      const s = await json('/v1/sessions', {method: 'POST', json: {}});
      location.hash = route('#/sessions', s.sessionId);
    } catch (e) {
      showError(problems, e);
    } finally {
      create.disabled = false;
    }
  });
  append(main, [el('h1', null, 'Sessions'), el('div', {className: 'toolbar'}, create), problems, results]);
  const data = await json('/v1/sessions' + query({user: ctx.params.get('user')}));
  if (!ctx.alive()) {
    return null;
  }
  const sessions = Array.isArray(data.sessions) ? data.sessions : [];
  append(results, [table('session-table', ['id', 'user', 'status', 'image', 'runtime', 'level', 'created',
    'expires', 'last active', 'executions'], sessions.map((s) => [
    el('td', {className: 'mono'}, link(route('#/sessions', s.sessionId), s.sessionId,
      {'data-test': 'session-link', 'data-id': s.sessionId})),
    s.userId, badge(s.status), el('td', {className: 'mono'}, s.image), s.runtime, s.securityLevel,
    when(s.createdAt), when(s.expiresAt), when(s.lastActiveAt), String(s.executions == null ? '' : s.executions),
  ]), 'No open sessions.')]);
  return null;
}

/** The URL of a file in a session: /v1/sessions/{id}/files/workspace/a%20b.txt (each segment encoded). */
function fileUrl(sessionId, absolutePath) {
  const segments = absolutePath.split('/').filter((s) => s !== '');
  return path('/v1/sessions', sessionId) + '/files/' + segments.map(encodeURIComponent).join('/');
}

function joinPath(dir, name) {
  return (dir.endsWith('/') ? dir : dir + '/') + name;
}

/** #/sessions/<id> */
export async function detail(main, ctx) {
  const id = ctx.id;
  const base = path('/v1/sessions', id);
  const aborter = new AbortController();
  const view = await json(base);
  if (!ctx.alive()) {
    return null;
  }
  const owner = !view.userId || view.userId === ctx.me.userId;
  const info = el('div', {id: 'session-info'});
  const closeButton = el('button', {type: 'button', id: 'session-close', className: 'danger',
    'data-test': 'session-close'}, 'Close session');
  append(main, [el('h1', null, 'Session ', el('span', {className: 'mono', 'data-test': 'session-id'}, id)),
    el('div', {className: 'toolbar'}, view.status === 'open' && owner ? closeButton : null), info]);

  function showInfo(v) {
    clear(info);
    append(info, [facts('session-facts', [
      ['status', badge(v.status)], ['user', v.userId], ['image', v.image], ['runtime', v.runtime],
      ['level', v.securityLevel], ['root filesystem', v.rootfs], ['created', when(v.createdAt)],
      ['expires', when(v.expiresAt)], ['idle until', when(v.idleExpiresAt)], ['last active', when(v.lastActiveAt)],
      ['executions', v.executions == null ? null : String(v.executions)], ['closed because', v.closeReason],
      ['detail', v.closeDetail], ['closed', when(v.closedAt)],
    ], 'compact')]);
  }
  showInfo(view);
  closeButton.addEventListener('click', async () => {
    closeButton.disabled = true;
    try {
      showInfo(await json(base, {method: 'DELETE'}));
      closeButton.hidden = true;
    } catch (e) {
      showError(info, e);
    }
  });
  if (view.status !== 'open' || !owner) {
    append(main, [el('p', {className: 'hint'}, view.status !== 'open' ? 'This session is closed.'
      : 'Files and runs in a session are its owner\'s.')]);
    return null;
  }

  // The run box.
  const language = el('select', {id: 'run-language', 'data-test': 'run-language'},
    ['python', 'node', 'bash', 'command'].map((l) => el('option', {value: l},
      l === 'command' ? 'shell command (sh -c)' : l)));
  const code = el('textarea', {id: 'run-code', 'data-test': 'run-code', rows: 6, spellcheck: false,
    placeholder: 'print("hello")'});
  const runButton = el('button', {type: 'submit', id: 'run-submit', 'data-test': 'run-submit'}, 'Run');
  const runState = el('p', {className: 'count', id: 'run-state', 'data-test': 'run-state'});
  const runForm = el('form', {id: 'run-form', className: 'run', autocomplete: 'off'},
    el('label', {for: 'run-language'}, 'run'), language, code, el('div', null, runButton), runState);
  const runOutput = el('div', {id: 'run-output'});
  const left = el('section', {className: 'pane'}, el('h2', null, 'Run in this session'), runForm, runOutput);
  const right = el('section', {className: 'pane'});
  append(main, [el('div', {className: 'split'}, left, right)]);
  let out = null;
  runForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const source = code.value;
    if (!source.trim()) {
      return;
    }
    const body = language.value === 'command' ? {command: ['sh', '-c', source]}
      : {language: language.value, code: source};
    runButton.disabled = true;
    clear(runOutput);
    clear(runState);
    append(runState, [badge('running')]);
    runForm.dataset.status = 'running';
    out = outputBox(runOutput, 'run');
    try {
      const response = await request(base + '/executions?stream=true', {method: 'POST', json: body,
        signal: aborter.signal});
      let result = null;
      let executionId = null;
      await readNdjson(response, (e) => {
        if (e.type === 'started' && typeof e.executionId === 'string') {
          executionId = e.executionId;
          append(runState, [' ', link(route('#/executions', executionId), executionId, {className: 'mono'})]);
        } else if (e.type === 'stdout' || e.type === 'stderr') {
          out.add(e.type, e.data);
        } else if (e.type === 'notice') {
          append(runOutput, [el('p', {className: 'hint'}, e.message || e.notice || 'notice')]);
        } else if (e.type === 'result') {
          result = e.result;
        }
      });
      clear(runState);
      if (result) {
        const s = String(result.status);
        runForm.dataset.status = /^[a-z_]{1,32}$/.test(s) ? s : 'other';
        append(runState, [badge(result.status), result.exitCode != null ? ' exit ' + result.exitCode : null,
          ' · ', millis(result.durationMs), result.reason ? ' · ' + result.reason : null, ' · ',
          link(route('#/executions', result.executionId || executionId || ''), 'details')]);
        if (Array.isArray(result.securityEvents) && result.securityEvents.length > 0) {
          append(runState, [el('span', {className: 'sev sev-high', 'data-test': 'run-events'},
            ' ' + result.securityEvents.length + ' security events')]);
        }
      } else {
        runForm.dataset.status = 'ended';
        append(runState, ['the stream ended without a result']);
      }
    } catch (e) {
      runForm.dataset.status = 'error';
      clear(runState);
      showError(runState, e);
    } finally {
      runButton.disabled = false;
      loadFiles().catch(() => {});
      json(base).then((v) => ctx.alive() && showInfo(v)).catch(() => {});
    }
  });

  // The files browser.
  const dirInput = el('input', {id: 'files-dir', value: '/workspace', 'data-test': 'files-dir'});
  const upload = el('input', {type: 'file', id: 'files-upload', 'data-test': 'files-upload', multiple: true});
  const uploadButton = el('button', {type: 'button', id: 'files-upload-submit'}, 'Upload');
  const filesState = el('div', {id: 'files-state'});
  const files = el('div', {id: 'files'});
  const dirForm = el('form', {id: 'files-form', className: 'filters', autocomplete: 'off'},
    el('label', {for: 'files-dir'}, 'directory'), dirInput, el('button', {type: 'submit'}, 'List'),
    el('label', {for: 'files-upload'}, 'upload to it'), upload, uploadButton);
  append(right, [el('h2', null, 'Files'), dirForm, filesState, files]);

  async function loadFiles() {
    const dir = dirInput.value.trim() || '/workspace';
    const data = await json(base + '/files' + query({dir}));
    if (!ctx.alive()) {
      return;
    }
    clear(files);
    clear(filesState);
    const entries = Array.isArray(data.entries) ? data.entries.slice() : [];
    entries.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const shown = String(data.dir || dir);
    const parent = shown.replace(/\/[^/]*\/?$/, '') || '/';
    const rows = entries.map((f) => {
      const full = joinPath(shown, String(f.name));
      const actions = el('td', {className: 'actions'});
      if (f.type === 'file') {
        append(actions, [el('button', {type: 'button', 'data-test': 'file-download', onclick: () =>
          download(fileUrl(id, full), f.name).catch((e) => showError(filesState, e))}, 'Download')]);
      }
      if (f.type === 'file' || f.type === 'link' || f.type === 'dir') {
        append(actions, [el('button', {type: 'button', className: 'danger', 'data-test': 'file-delete',
          onclick: async () => {
            try {
              await request(fileUrl(id, full), {method: 'DELETE'});
              await loadFiles();
            } catch (e) {
              showError(filesState, e);
            }
          }}, 'Delete')]);
      }
      const name = f.type === 'dir' ? el('button', {type: 'button', className: 'linkish', 'data-test': 'file-dir',
        onclick: () => {
          dirInput.value = full;
          loadFiles().catch((e) => showError(filesState, e));
        }}, f.name, '/') : el('span', {'data-test': 'file-name'}, f.name);
      return [el('td', {className: 'mono'}, name), f.type, el('td', {className: 'num'}, bytes(f.size)),
        when(f.modifiedAt), actions];
    });
    append(files, [
      shown !== '/workspace' && shown !== '/tmp' ? el('button', {type: 'button', className: 'linkish',
        id: 'files-up', onclick: () => {
          dirInput.value = parent;
          loadFiles().catch((e) => showError(filesState, e));
        }}, '↑ ', parent) : null,
      table('files-table', ['name', 'type', 'size', 'modified', ''], rows, 'Empty directory.'),
      data.truncated ? el('p', {className: 'hint'}, 'Only the first entries are listed.') : null]);
  }
  dirForm.addEventListener('submit', (event) => {
    event.preventDefault();
    loadFiles().catch((e) => showError(filesState, e));
  });
  uploadButton.addEventListener('click', async () => {
    const dir = dirInput.value.trim() || '/workspace';
    uploadButton.disabled = true;
    try {
      for (const file of upload.files) {
        await request(fileUrl(id, joinPath(dir, file.name)), {method: 'PUT', body: file,
          headers: {'Content-Type': 'application/octet-stream'}});
      }
      upload.value = '';
      await loadFiles();
    } catch (e) {
      showError(filesState, e);
    } finally {
      uploadButton.disabled = false;
    }
  });
  await loadFiles().catch((e) => showError(filesState, e));
  return () => aborter.abort();
}
