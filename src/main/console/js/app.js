// The console: sign-in, hash routing, and the page modules. No framework; every page is built from text.js.

import {ApiError, apiKey, clearApiKey, json, setApiKey, whenUnauthorized} from './api.js';
import {append, clear, el, showError} from './text.js';
import * as executions from './pages/executions.js';
import * as live from './pages/live.js';
import * as sessions from './pages/sessions.js';
import * as security from './pages/security.js';
import * as performance from './pages/performance.js';
import * as runtimes from './pages/runtimes.js';

const ROUTES = [
  {pattern: /^\/executions\/([^/?]+)$/, page: executions.detail, nav: 'executions'},
  {pattern: /^\/executions$/, page: executions.list, nav: 'executions'},
  {pattern: /^\/live$/, page: live.render, nav: 'live'},
  {pattern: /^\/sessions\/([^/?]+)$/, page: sessions.detail, nav: 'sessions'},
  {pattern: /^\/sessions$/, page: sessions.list, nav: 'sessions'},
  {pattern: /^\/security$/, page: security.render, nav: 'security'},
  {pattern: /^\/performance$/, page: performance.render, nav: 'performance'},
  {pattern: /^\/runtimes$/, page: runtimes.render, nav: 'runtimes'},
];

const state = {me: null, cleanup: null, generation: 0};

function $(id) {
  return document.getElementById(id);
}

/** The route and its query from location.hash: '#/executions?status=failed'. */
function currentRoute() {
  const hash = location.hash.replace(/^#/, '') || '/executions';
  const q = hash.indexOf('?');
  return {path: q < 0 ? hash : hash.slice(0, q), params: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1))};
}

function stopPage() {
  if (typeof state.cleanup === 'function') {
    try {
      state.cleanup();
    } catch (e) {
      // a page that fails to stop must not keep the next one from starting
    }
  }
  state.cleanup = null;
}

async function renderRoute() {
  stopPage();
  const main = clear($('main'));
  if (!state.me) {
    return;
  }
  const {path, params} = currentRoute();
  const generation = ++state.generation;
  // For tests and people alike: which route is drawn, and whether its first load finished.
  main.dataset.route = location.hash || '#/executions';
  main.dataset.ready = 'false';
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (!m) {
      continue;
    }
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.nav === r.nav);
    }
    main.dataset.page = r.nav;
    let id = null;
    if (m[1]) {
      try {
        id = decodeURIComponent(m[1]);
      } catch (e) {
        id = m[1];
      }
    }
    const ctx = {me: state.me, params, id, alive: () => generation === state.generation};
    try {
      const cleanup = await r.page(main, ctx);
      if (generation === state.generation) {
        state.cleanup = cleanup;
      } else if (typeof cleanup === 'function') {
        cleanup();
      }
    } catch (e) {
      if (generation === state.generation) {
        showError(main, e);
      }
    } finally {
      if (generation === state.generation) {
        main.dataset.ready = 'true';
      }
    }
    return;
  }
  main.dataset.page = 'unknown';
  main.dataset.ready = 'true';
  append(main, [el('h1', null, 'Not found'), el('p', null, 'No page at ', path)]);
}

function showSignedIn(me) {
  state.me = me;
  $('signin').hidden = true;
  $('topbar').hidden = false;
  clear($('whoami'));
  append($('whoami'), [me.userId, me.admin ? el('span', {className: 'role', 'data-test': 'admin'}, 'admin') : null]);
  renderRoute();
}

function showSignIn(message) {
  stopPage();
  state.me = null;
  state.generation++;
  clear($('main'));
  $('topbar').hidden = true;
  $('signin').hidden = false;
  const error = clear($('signin-error'));
  if (message) {
    append(error, [message]);
  }
  $('signin-key').value = '';
  $('signin-key').focus();
}

async function checkKey(key) {
  const me = await json('/v1/me', {key});
  if (!me || typeof me.userId !== 'string') {
    throw new Error('unexpected answer from /v1/me');
  }
  return {userId: me.userId, admin: me.admin === true};
}

async function signIn(event) {
  event.preventDefault();
  const key = $('signin-key').value.trim();
  clear($('signin-error'));
  if (!key) {
    append($('signin-error'), ['Enter an API key.']);
    return;
  }
  $('signin-submit').disabled = true;
  try {
    const me = await checkKey(key);
    setApiKey(key);
    $('signin-key').value = '';
    showSignedIn(me);
  } catch (e) {
    append($('signin-error'), [e instanceof ApiError && e.status === 401 ? 'That key is not valid here.'
      : 'Sign-in failed: ' + (e.message || e)]);
  } finally {
    $('signin-submit').disabled = false;
  }
}

function signOut() {
  clearApiKey();
  location.hash = '#/executions';
  showSignIn('Signed out.');
}

async function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => renderRoute());
  whenUnauthorized(() => {
    clearApiKey();
    showSignIn('The server no longer accepts this key: sign in again.');
  });
  const key = apiKey();
  if (!key) {
    showSignIn();
    return;
  }
  try {
    showSignedIn(await checkKey(key));
  } catch (e) {
    clearApiKey();
    showSignIn(e instanceof ApiError && e.status === 401 ? 'Sign in again.' : 'Sign-in failed: ' + e.message);
  }
}

start();
