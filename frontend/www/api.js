// api.js - the ELSE JSON API (docs/api.md) as the web UI uses it.
//
// Every call is POST /api/<call> with the call's message as JSON.  The
// session travels in the HttpOnly cookie; the CSRF token from login or
// session_check goes in X-CSRF-Token on every call (the frontend requires
// it on the state-changing ones).

let csrf = '';
let onUnauthenticated = () => {};

export class ApiError extends Error {
  constructor(http, status, message) {
    super(message || status || ('HTTP ' + http));
    this.http = http;
    this.status = status;
  }
}

export function setCsrf(t) { csrf = t || ''; }
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

export async function api(call, body) {
  const headers = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
  if (csrf) headers['X-CSRF-Token'] = csrf;
  let r;
  try {
    r = await fetch('/api/' + call, {
      method: 'POST', headers, body: JSON.stringify(body || {}),
      credentials: 'same-origin', cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'Q_BUSY', 'the frontend does not answer: ' + e.message);
  }
  let j = null;
  try { j = await r.json(); } catch (e) { j = { status: 'Q_INTERNAL', error: 'unreadable answer' }; }
  if (!r.ok) {
    if (r.status === 401 && call !== 'login') onUnauthenticated();
    throw new ApiError(r.status, j && j.status, j && j.error);
  }
  return j;
}
