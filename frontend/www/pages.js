// pages.js - extended search, rejects, dashboard, servers, live view,
// history, administration and password change.

import { api } from './api.js';
import { h, clear, fmtTime, status, toUs, toast } from './util.js';
import { ResultsTable } from './results.js';

function field(label, input) { return h('label', null, label, input); }
function inp(name, attrs = {}) { return h('input', { name, maxlength: 1000, ...attrs }); }
function sel(name, opts) { return h('select', { name }, opts.map(([v, t]) => h('option', { value: v }, t))); }

function formValues(form) {
  const o = {};
  for (const el of form.elements) if (el.name) o[el.name] = el.type === 'checkbox' ? el.checked : el.value.trim();
  return o;
}

// --- extended search ---------------------------------------------------------
export function searchPage(main, preset) {
  const form = h('form', { class: 'card', id: 'search-form' },
    h('div', { class: 'form' },
      field('Sender', inp('sender')), field('Recipient', inp('recipient')),
      field('Sender or recipient', inp('address')), field('Domain', inp('domain')),
      field('Client (IP or name)', inp('client')), field('Server', inp('server')),
      field('Status', sel('status', [['', 'any'], ['delivered', 'delivered'], ['bounced', 'bounced'],
        ['deferred', 'deferred'], ['expired', 'expired'], ['partial', 'partial'], ['rejected', 'rejected']])),
      field('Message-ID', inp('message_id')), field('Queue ID', inp('queue_id')),
      field('SASL user', inp('sasl_username')),
      field('Direction', sel('direction', [['DIR_ANY', 'any'], ['DIR_LOCAL', 'local'], ['DIR_RELAY', 'relay'], ['DIR_OUT', 'outbound']])),
      field('Match', sel('match', [['MATCH_EXACT', 'exact'], ['MATCH_PREFIX', 'prefix'], ['MATCH_SUBSTRING', 'substring']])),
      field('From', inp('from', { type: 'datetime-local' })), field('To', inp('to', { type: 'datetime-local' })),
      field('Min size (bytes)', inp('min_size', { type: 'number', min: 0 })),
      field('Max size (bytes)', inp('max_size', { type: 'number', min: 0 })),
      field('Per page', sel('limit', [['100', '100'], ['50', '50'], ['250', '250'], ['1000', '1000']]))),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search'),
      h('button', { type: 'reset', class: 'secondary' }, 'Clear')));
  const out = h('div', { id: 'out' });
  clear(main).append(h('h1', null, 'Search'), form, out);
  if (preset) for (const [k, v] of Object.entries(preset)) if (form.elements[k]) form.elements[k].value = v;
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const v = formValues(form);
    const q = {};
    for (const k of ['sender', 'recipient', 'address', 'domain', 'client', 'server', 'status', 'message_id', 'queue_id', 'sasl_username'])
      if (v[k]) q[k] = v[k];
    q.direction = v.direction; q.match = v.match;
    if (v.from) q.from_us = toUs(v.from);
    if (v.to) q.to_us = toUs(v.to);
    if (v.min_size) q.min_size = Number(v.min_size);
    if (v.max_size) q.max_size = Number(v.max_size);
    q.limit = Number(v.limit);
    const t = new ResultsTable(out, (cursor, sort, asc) => api('search', { ...q, cursor, sort, ascending: asc }));
    t.load(0);
  });
  if (preset) form.requestSubmit();
}

// --- quick search results --------------------------------------------------------
export function quickPage(main, q) {
  const out = h('div', { id: 'out' });
  clear(main).append(h('h1', null, 'Results for ', h('span', { class: 'mono' }, q)), out);
  new ResultsTable(out, () => api('quick', { q, limit: 200 }), { serverSort: false }).load(0);
}

// --- rejects ---------------------------------------------------------------------
export function rejectsPage(main) {
  const form = h('form', { class: 'card' }, h('div', { class: 'form' },
    field('Sender', inp('sender')), field('Recipient', inp('recipient')), field('Client', inp('client')),
    field('Server', inp('server')), field('Reason contains', inp('reason')),
    field('Event', sel('event', [['', 'any'], ['reject', 'reject'], ['defer', 'defer'], ['drop', 'drop'], ['postscreen', 'postscreen'], ['lost', 'lost']])),
    field('From', inp('from', { type: 'datetime-local' })), field('To', inp('to', { type: 'datetime-local' }))),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show rejects')));
  const out = h('div', { id: 'out' });
  clear(main).append(h('h1', null, 'Rejects'), form, out);
  const cursors = [''];
  async function load(page, q) {
    clear(out).append(h('p', { class: 'muted' }, 'Loading...'));
    let r;
    try { r = await api('rejects', { ...q, cursor: cursors[page], limit: 200 }); } catch (e) {
      clear(out).append(h('p', { class: 'error' }, e.message)); return;
    }
    if (r.next_cursor) cursors[page + 1] = r.next_cursor;
    clear(out).append(h('div', { class: 'actions' }, h('span', { class: 'muted' }, `${r.rows.length} reject(s)`),
      h('button', { class: 'secondary', disabled: page === 0, onclick: () => load(page - 1, q) }, 'Previous'),
      h('button', { class: 'secondary', disabled: !r.next_cursor, onclick: () => load(page + 1, q) }, 'Next')),
    h('table', { id: 'rejects' }, h('thead', null, h('tr', null, ['Time', 'Host', 'Event', 'Stage', 'Client', 'HELO', 'Sender', 'Recipient', 'Code', 'Reason'].map(x => h('th', null, x)))),
      h('tbody', null, r.rows.map(x => h('tr', null, h('td', { class: 'mono' }, fmtTime(x.time_us)), h('td', null, x.host), h('td', null, status(x.event)), h('td', null, x.stage),
        h('td', null, `${x.client_host} [${x.client_ip}]`), h('td', null, x.helo), h('td', null, x.sender), h('td', null, x.rcpt),
        h('td', { class: 'mono' }, `${x.reject_code} ${x.reject_dsn}`),
        h('td', null, x.email_id ? h('a', { href: '#/flow/' + x.email_id }, x.reason) : x.reason))))));
  }
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const v = formValues(form), q = {};
    for (const k of ['sender', 'recipient', 'client', 'server', 'reason', 'event']) if (v[k]) q[k] = v[k];
    if (v.from) q.from_us = toUs(v.from);
    if (v.to) q.to_us = toUs(v.to);
    cursors.length = 1;
    load(0, q);
  });
  form.requestSubmit();
}

// --- dashboard --------------------------------------------------------------------
const COLORS = { delivered: '#1a7f37', bounced: '#c62828', deferred: '#b26a00', expired: '#8b1a1a',
  partial: '#d9480f', rejected: '#6f42c1', reject: '#6f42c1', defer: '#b26a00' };
const PALETTE = ['#1f4e79', '#0f766e', '#a16207', '#7c3aed', '#be185d', '#4d7c0f', '#0369a1'];

function seriesChart(el, points, title) {
  const times = [...new Set(points.map(p => p.time_us))].sort((a, b) => a - b);
  const keys = [...new Set(points.map(p => p.status + (p.direction ? ' ' + p.direction : '')))].sort();
  const idx = new Map(times.map((t, i) => [t, i]));
  const data = [times.map(t => t / 1e6)];
  for (const k of keys) {
    const arr = new Array(times.length).fill(0);
    for (const p of points) if (p.status + (p.direction ? ' ' + p.direction : '') === k) arr[idx.get(p.time_us)] += p.count;
    data.push(arr);
  }
  clear(el).append(h('h2', null, title));
  if (!times.length) { el.append(h('p', { class: 'muted' }, 'No data in this period.')); return; }
  const w = Math.max(300, el.clientWidth - 24);
  /* global uPlot */
  new uPlot({
    width: w, height: 220,
    series: [{}].concat(keys.map((k, i) => ({ label: k, stroke: COLORS[k.split(' ')[0]] || PALETTE[i % PALETTE.length], width: 2,
      fill: (COLORS[k.split(' ')[0]] || PALETTE[i % PALETTE.length]) + '22' }))),
    axes: [{}, { size: 50 }],
  }, data, el);
}

function topList(title, entries) {
  return h('div', { class: 'card' }, h('h2', null, title), (entries || []).length
    ? h('table', null, h('tbody', null, entries.map(e => h('tr', null, h('td', null, e.key), h('td', { class: 'mono' }, String(e.count))))))
    : h('p', { class: 'muted' }, 'none'));
}

export async function dashboardPage(main) {
  const period = sel('period', [['86400', 'last 24 hours'], ['604800', 'last 7 days'], ['2592000', 'last 30 days']]);
  const msgs = h('div', { class: 'card chart', id: 'chart-messages' });
  const rcpts = h('div', { class: 'card chart', id: 'chart-recipients' });
  const rej = h('div', { class: 'card chart', id: 'chart-rejects' });
  const tops = h('div', { class: 'grid2' });
  clear(main).append(h('h1', null, 'Dashboard'), h('div', { class: 'actions' }, period), msgs, h('div', { class: 'grid2' }, rcpts, rej), tops);
  async function load() {
    const secs = Number(period.value);
    const now = Date.now() * 1000;
    let s;
    try { s = await api('stats', { from_us: now - secs * 1e6, to_us: now, daily: secs > 7 * 86400, top: 10 }); } catch (e) {
      clear(msgs).append(h('p', { class: 'error' }, e.message)); return;
    }
    seriesChart(msgs, s.messages || [], 'Messages by status');
    seriesChart(rcpts, s.recipients || [], 'Recipients by status and direction');
    seriesChart(rej, s.rejects || [], 'Rejects by event');
    clear(tops).append(topList('Top senders', s.top_senders), topList('Top recipients', s.top_recipients),
      topList('Top sender domains', s.top_sender_domains), topList('Top recipient domains', s.top_recipient_domains),
      topList('Top client IPs', s.top_client_ips), topList('Top reject reasons', s.top_reject_reasons),
      topList('Top defer reasons', s.top_defer_reasons), topList('Per server', s.per_server));
  }
  period.addEventListener('change', load);
  load();
}

// --- servers ------------------------------------------------------------------------
export async function serversPage(main) {
  clear(main).append(h('h1', null, 'Servers'));
  let r;
  try { r = await api('servers', {}); } catch (e) { main.append(h('p', { class: 'error' }, e.message)); return; }
  main.append(h('table', { id: 'servers' }, h('thead', null, h('tr', null, ['Server', 'First seen', 'Last seen', 'Newest line', 'Lines today'].map(x => h('th', null, x)))),
    h('tbody', null, (r.rows || []).map(s => h('tr', null, h('td', null, h('a', { href: '#/search-ext?server=' + encodeURIComponent(s.name) }, s.name)),
      h('td', { class: 'mono' }, fmtTime(s.first_seen_us)), h('td', { class: 'mono' }, fmtTime(s.last_seen_us)),
      h('td', { class: 'mono' }, fmtTime(s.last_line_us)), h('td', null, String(s.lines_today)))))));
}

// --- live view ---------------------------------------------------------------------
let liveTimer = 0;
export function stopLive() { clearTimeout(liveTimer); liveTimer = 0; }

export function livePage(main) {
  const out = h('div', { id: 'out' });
  const state = h('span', { class: 'muted' }, 'polling every 3 s');
  const pause = h('button', { class: 'secondary' }, 'Pause');
  clear(main).append(h('h1', null, 'Live'), h('div', { class: 'actions' }, pause, state), out);
  let rows = [], cursor = '', paused = false;
  const table = new ResultsTable(out, async () => ({ rows }), { serverSort: false });
  async function poll() {
    if (!main.contains(out)) return;
    if (!paused) {
      try {
        const r = await api('tail', { cursor, limit: 50 });
        cursor = r.cursor || cursor;
        if ((r.rows || []).length) {
          rows = r.rows.slice().reverse().concat(rows).slice(0, 500);
          table.rows = rows;
          table.render();
        }
        state.textContent = `polling every 3 s, ${rows.length} shown, last ${new Date().toLocaleTimeString()}`;
      } catch (e) { state.textContent = e.message; }
    }
    liveTimer = setTimeout(poll, 3000);
  }
  pause.addEventListener('click', () => { paused = !paused; pause.textContent = paused ? 'Resume' : 'Pause'; });
  table.render();
  poll();
}

// --- history ---------------------------------------------------------------------------
export async function historyPage(main) {
  clear(main).append(h('h1', null, 'Search history'));
  let r;
  try { r = await api('history', { limit: 200 }); } catch (e) { main.append(h('p', { class: 'error' }, e.message)); return; }
  main.append(h('table', { id: 'history' }, h('thead', null, h('tr', null, ['Time', 'Kind', 'Query', 'Results', ''].map(x => h('th', null, x)))),
    h('tbody', null, (r.entries || []).map(e => {
      let q = {};
      try { q = JSON.parse(e.query_json || '{}'); } catch (x) { /* shown raw */ }
      let again = null;
      if (e.kind === 'quick' && q.q) again = '#/q/' + encodeURIComponent(q.q);
      else if (e.kind === 'flow' && q.email_id) again = '#/flow/' + encodeURIComponent(q.email_id);
      else if (e.kind === 'search') again = '#/search-ext?' + new URLSearchParams(Object.entries(q).filter(([, v]) => typeof v === 'string' && v)).toString();
      return h('tr', null, h('td', { class: 'mono' }, fmtTime(e.time_us)), h('td', null, e.kind), h('td', { class: 'mono' }, e.query_json),
        h('td', null, String(e.results)), h('td', null, again ? h('a', { href: again }, 'again') : null));
    }))));
}

// --- administration ---------------------------------------------------------------------
const ROLES = [['ROLE_OPERATOR', 'operator'], ['ROLE_MAILBOX', 'mailbox'], ['ROLE_ADMIN', 'admin']];

export async function usersPage(main) {
  clear(main).append(h('h1', null, 'Users'));
  let users, groups;
  try { users = (await api('user_list', {})).users || []; groups = (await api('group_list', {})).groups || []; } catch (e) {
    main.append(h('p', { class: 'error' }, e.message)); return;
  }
  const form = h('form', { class: 'card', id: 'user-form' }, h('div', { class: 'form' },
    h('input', { type: 'hidden', name: 'id', value: '0' }),
    field('Login name', inp('name', { required: true, maxlength: 64 })), field('Full name', inp('full_name')),
    field('Role', sel('role', ROLES)), field('Addresses (mailbox role, comma-separated)', inp('addresses')),
    field('Groups', h('select', { name: 'group_ids', multiple: true, size: 3 }, groups.map(g => h('option', { value: g.id }, g.name)))),
    field('Password (empty: unchanged)', inp('password', { type: 'password', autocomplete: 'new-password' })),
    field('Disabled', h('input', { type: 'checkbox', name: 'disabled' }))),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save user'), h('button', { type: 'reset', class: 'secondary' }, 'New')));
  form.addEventListener('reset', () => { setTimeout(() => { form.elements.id.value = '0'; }, 0); });
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = formValues(form);
    const user = { id: Number(v.id), name: v.name, full_name: v.full_name, role: v.role, disabled: v.disabled,
      addresses: v.addresses ? v.addresses.split(',').map(x => x.trim()).filter(Boolean) : [],
      group_ids: [...form.elements.group_ids.selectedOptions].map(o => Number(o.value)) };
    try { await api('user_put', { user, password: v.password }); toast('saved'); usersPage(main); } catch (e) { toast(e.message); }
  });
  main.append(form, h('table', { id: 'users' }, h('thead', null, h('tr', null, ['Id', 'Name', 'Full name', 'Role', 'Addresses', 'Last login', ''].map(x => h('th', null, x)))),
    h('tbody', null, users.map(u => h('tr', null, h('td', null, String(u.id)), h('td', null, u.name, u.disabled ? ' (disabled)' : ''), h('td', null, u.full_name),
      h('td', null, u.role.replace('ROLE_', '').toLowerCase()), h('td', null, (u.addresses || []).join(', ')), h('td', { class: 'mono' }, fmtTime(u.last_login_us)),
      h('td', null, h('button', { class: 'secondary', onclick: () => {
        form.elements.id.value = u.id; form.elements.name.value = u.name; form.elements.full_name.value = u.full_name;
        form.elements.role.value = u.role; form.elements.addresses.value = (u.addresses || []).join(', ');
        form.elements.disabled.checked = u.disabled;
        for (const o of form.elements.group_ids.options) o.selected = (u.group_ids || []).map(String).includes(o.value);
        form.elements.name.focus();
      } }, 'Edit'), ' ', h('button', { class: 'danger', onclick: async () => {
        if (!confirm(`Delete user ${u.name}?`)) return;
        try { await api('user_delete', { id: u.id }); usersPage(main); } catch (e) { toast(e.message); }
      } }, 'Delete')))))));
}

export async function groupsPage(main) {
  clear(main).append(h('h1', null, 'Groups'));
  let groups;
  try { groups = (await api('group_list', {})).groups || []; } catch (e) { main.append(h('p', { class: 'error' }, e.message)); return; }
  const split = s => s ? s.split(',').map(x => x.trim()).filter(Boolean) : [];
  const form = h('form', { class: 'card', id: 'group-form' }, h('div', { class: 'form' },
    h('input', { type: 'hidden', name: 'id', value: '0' }), field('Name', inp('name', { required: true, maxlength: 64 })),
    field('Servers (comma-separated)', inp('servers')), field('Domains (comma-separated)', inp('domains'))),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save group'), h('button', { type: 'reset', class: 'secondary' }, 'New')));
  form.addEventListener('reset', () => { setTimeout(() => { form.elements.id.value = '0'; }, 0); });
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = formValues(form);
    const old = groups.find(g => String(g.id) === v.id);
    try {
      await api('group_put', { group: { id: Number(v.id), name: v.name, servers: split(v.servers), domains: split(v.domains), member_ids: old ? old.member_ids : [] } });
      toast('saved'); groupsPage(main);
    } catch (e) { toast(e.message); }
  });
  main.append(form, h('table', { id: 'groups' }, h('thead', null, h('tr', null, ['Id', 'Name', 'Servers', 'Domains', 'Members', ''].map(x => h('th', null, x)))),
    h('tbody', null, groups.map(g => h('tr', null, h('td', null, String(g.id)), h('td', null, g.name), h('td', null, (g.servers || []).join(', ')),
      h('td', null, (g.domains || []).join(', ')), h('td', null, String((g.member_ids || []).length)),
      h('td', null, h('button', { class: 'secondary', onclick: () => {
        form.elements.id.value = g.id; form.elements.name.value = g.name;
        form.elements.servers.value = (g.servers || []).join(', '); form.elements.domains.value = (g.domains || []).join(', ');
      } }, 'Edit'), ' ', h('button', { class: 'danger', onclick: async () => {
        if (!confirm(`Delete group ${g.name}?`)) return;
        try { await api('group_delete', { id: g.id }); groupsPage(main); } catch (e) { toast(e.message); }
      } }, 'Delete')))))));
}

export function passwordPage(main) {
  const form = h('form', { class: 'card login' },
    field('Current password', inp('old_password', { type: 'password', autocomplete: 'current-password', required: true })),
    field('New password', inp('new_password', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 })),
    field('New password again', inp('again', { type: 'password', autocomplete: 'new-password', required: true })),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Change password')), h('p', { class: 'error', id: 'pw-err' }));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = formValues(form);
    if (v.new_password !== v.again) { form.querySelector('#pw-err').textContent = 'the new passwords differ'; return; }
    try { await api('password_change', { old_password: v.old_password, new_password: v.new_password }); toast('password changed'); form.reset(); } catch (e) {
      form.querySelector('#pw-err').textContent = e.message;
    }
  });
  clear(main).append(h('h1', null, 'Change password'), form);
}
