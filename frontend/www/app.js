// app.js - the ELSE web UI: session, routing (#/...), keyboard.
//
// Keyboard: "/" focuses the quick search, Enter searches, j/k move in a
// results table and Enter opens the selected e-mail, Esc leaves a field.

import { api, setCsrf, setUnauthenticatedHandler } from './api.js';
import { h, clear } from './util.js';
import { activeTable } from './results.js';
import { flowPage } from './flow.js';
import {
  searchPage, quickPage, rejectsPage, dashboardPage, serversPage, livePage, stopLive,
  historyPage, usersPage, groupsPage, passwordPage,
} from './pages.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
let me = null;

function loggedIn(reply) {
  me = reply.user;
  setCsrf(reply.csrf);
  top.hidden = false;
  document.getElementById('me').textContent = me ? me.name : '';
  for (const a of document.querySelectorAll('.admin-only')) a.hidden = !me || me.role !== 'ROLE_ADMIN';
}

function loginPage(msg) {
  me = null;
  setCsrf('');
  top.hidden = true;
  stopLive();
  const err = h('p', { class: 'error', id: 'login-error' }, msg || '');
  const form = h('form', { class: 'card login', id: 'login-form' },
    h('h1', null, 'ELSE - e-mail log search'),
    h('label', { for: 'user' }, 'User'), h('input', { id: 'user', name: 'user', autocomplete: 'username', required: true, maxlength: 64 }),
    h('label', { for: 'password' }, 'Password'),
    h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'login-btn' }, 'Log in')), err);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const r = await api('login', { user: form.elements.user.value, password: form.elements.password.value });
      loggedIn(r);
      if (!location.hash || location.hash === '#/login' || location.hash === '#/logout') location.hash = '#/search';
      else route();
    } catch (e) {
      err.textContent = e.http === 401 || e.http === 403 ? 'Wrong user or password.' : e.message;
    }
  });
  clear(main).append(form);
  form.elements.user.focus();
}

setUnauthenticatedHandler(() => loginPage('Your session has ended: log in again.'));

function welcome() {
  clear(main).append(h('div', { class: 'card' }, h('h1', null, 'Find an e-mail'),
    h('p', null, 'Type a Message-ID, a queue ID, an e-mail id or an address in the box above and press Enter (',
      h('span', { class: 'kbd' }, '/'), ' gets you there). The ', h('a', { href: '#/search-ext' }, 'search form'),
    ' narrows by time, status, server, client and more.')));
}

async function route() {
  if (!me) return;
  stopLive();
  const hash = location.hash || '#/search';
  const [path, qs] = hash.slice(1).split('?');
  const params = Object.fromEntries(new URLSearchParams(qs || ''));
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', hash.startsWith(a.getAttribute('href')));
  const parts = path.split('/').filter(Boolean);
  switch (parts[0]) {
    case 'q': quickPage(main, decodeURIComponent(parts.slice(1).join('/'))); break;
    case 'flow': flowPage(main, decodeURIComponent(parts[1] || '')); break;
    case 'search-ext': searchPage(main, Object.keys(params).length ? params : null); break;
    case 'rejects': rejectsPage(main); break;
    case 'dashboard': dashboardPage(main); break;
    case 'servers': serversPage(main); break;
    case 'live': livePage(main); break;
    case 'history': historyPage(main); break;
    case 'password': passwordPage(main); break;
    case 'admin': (parts[1] === 'groups' ? groupsPage : usersPage)(main); break;
    case 'logout':
      try { await api('logout', {}); } catch (e) { /* the cookie is cleared either way */ }
      loginPage('Logged out.');
      break;
    default: welcome();
  }
}

document.getElementById('quick').addEventListener('submit', ev => {
  ev.preventDefault();
  const box = document.getElementById('q');
  const q = box.value.trim();
  if (!q) return;
  box.blur(); // the keys now drive the results: j, k, Enter
  const h = '#/q/' + encodeURIComponent(q);
  if (location.hash === h) route(); else location.hash = h;
});

document.addEventListener('keydown', ev => {
  const t = ev.target;
  const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT');
  if (ev.key === 'Escape' && typing) { t.blur(); return; }
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey || top.hidden) return;
  const tbl = activeTable();
  if (ev.key === '/') { ev.preventDefault(); document.getElementById('q').focus(); document.getElementById('q').select(); }
  else if (ev.key === 'j' && tbl) { ev.preventDefault(); tbl.move(1); }
  else if (ev.key === 'k' && tbl) { ev.preventDefault(); tbl.move(-1); }
  else if (ev.key === 'Enter' && tbl) { ev.preventDefault(); tbl.open(); }
});

window.addEventListener('hashchange', route);

(async () => {
  try {
    loggedIn(await api('session_check', {}));
    route();
  } catch (e) {
    loginPage(e.http === 401 || !e.http ? '' : e.message);
  }
})();
