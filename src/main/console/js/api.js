// The one way to the server: fetch with the API key as a Bearer header (never in a URL, never a cookie).
// The key lives in sessionStorage: gone when the tab closes, and on sign-out.

const KEY = 'mcp-sandbox.apiKey';
const MAX_LINE = 8 * 1024 * 1024;

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function clearApiKey() {
  sessionStorage.removeItem(KEY);
}

let onUnauthorized = () => {};

/** What to do when the server says 401 (the key was revoked or the server restarted with other keys). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** The query string for params, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v != null && v !== '') {
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/** A path below /v1 or /metrics, each segment of an id encoded: path('/v1/executions', id). */
export function path(base, ...segments) {
  return base + segments.map((s) => '/' + encodeURIComponent(s)).join('');
}

/**
 * fetch() with the key. options: method, json (a body to send as JSON), body (raw), headers, key (another key,
 * for the sign-in check), signal. Answers the Response when it is 2xx, else throws ApiError with the server's
 * error text.
 */
export async function request(url, options) {
  const o = options || {};
  const key = o.key || apiKey();
  const headers = Object.assign({}, o.headers || {});
  if (key) {
    headers.Authorization = 'Bearer ' + key;
  }
  let body = o.body;
  if (o.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(o.json);
  }
  const response = await fetch(url, {
    method: o.method || 'GET', headers, body, signal: o.signal, credentials: 'omit', cache: 'no-store',
    redirect: 'error', referrerPolicy: 'no-referrer',
  });
  if (!response.ok) {
    let message = response.status + ' ' + response.statusText;
    let field;
    try {
      const data = await response.json();
      const error = data && data.error;
      if (typeof error === 'string') {
        message = error;
      } else if (error && typeof error === 'object') {
        message = error.message || JSON.stringify(error);
        field = error.field;
      }
      if (data && data.field) {
        field = data.field;
      }
      if (data && data.reason && typeof data.reason === 'string') {
        message += ' (' + data.reason + ')';
      }
    } catch (e) {
      // not JSON: the status line says enough
    }
    if (response.status === 401 && !o.key) {
      onUnauthorized();
    }
    throw new ApiError(response.status, message, field);
  }
  return response;
}

/** GET (or options.method) and parse JSON. */
export async function json(url, options) {
  const response = await request(url, options);
  if (response.status === 204) {
    return null;
  }
  return response.json();
}

/**
 * Reads an NDJSON body as it arrives, calling onEvent(object) per line. Lines over 8 MiB or not JSON are
 * skipped. Resolves when the body ends (or is aborted through the request's signal).
 */
export async function readNdjson(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) {
      break;
    }
    buffer += decoder.decode(value, {stream: true});
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      deliver(line, onEvent);
      nl = buffer.indexOf('\n');
    }
    if (buffer.length > MAX_LINE) {
      buffer = '';
    }
  }
  buffer += decoder.decode();
  deliver(buffer, onEvent);
}

function deliver(line, onEvent) {
  if (!line.trim()) {
    return;
  }
  let event;
  try {
    event = JSON.parse(line);
  } catch (e) {
    return;
  }
  if (event && typeof event === 'object') {
    onEvent(event);
  }
}

/** Fetches url (with the key) as a blob and saves it under name through a temporary object URL. */
export async function download(url, name) {
  const response = await request(url);
  const blob = await response.blob();
  const objectUrl = URL.createObjectURL(blob);
  try {
    const a = document.createElement('a');
    a.href = objectUrl;
    a.download = String(name).replace(/[\u0000-\u001f\u007f/\\]/g, '_') || 'download';
    document.body.appendChild(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(objectUrl), 10000);
  }
}
