// flow.js - one e-mail: a timeline of its hops across hosts, each
// recipient's fate, the rejects, and the raw log lines.

import { api } from './api.js';
import { h, clear, fmtTime, fmtTimeMs, fmtSize, status } from './util.js';

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(p => p[1] !== undefined && p[1] !== '' && p[1] !== null)
    .map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

function timeline(hops) {
  const t0 = Math.min(...hops.map(t => t.msg.first_seen_us).filter(Boolean));
  const t1 = Math.max(...hops.map(t => t.msg.last_seen_us || t.msg.first_seen_us));
  const span = Math.max(1, t1 - t0);
  return h('div', { class: 'timeline card', id: 'timeline' },
    h('div', { class: 'muted' }, `${fmtTime(t0)} to ${fmtTime(t1)}  (${((t1 - t0) / 1e6).toFixed(1)} s)`),
    hops.map((t, i) => {
      const m = t.msg;
      const left = ((m.first_seen_us - t0) / span) * 100;
      const width = Math.max(0.8, (((m.last_seen_us || m.first_seen_us) - m.first_seen_us) / span) * 100);
      return h('div', { class: 'tl-row' },
        h('div', null, h('a', { href: '#hop-' + i }, `${i + 1}. ${m.host}`), ' ', h('span', { class: 'mono muted' }, m.queue_id)),
        h('div', { class: 'tl-track' }, h('div', {
          class: 'tl-bar st-' + String(m.status).toLowerCase(), title: `${m.status} ${fmtTime(m.first_seen_us)}`,
          style: { left: left.toFixed(2) + '%', width: width.toFixed(2) + '%' },
        })));
    }));
}

function hopCard(t, i) {
  const m = t.msg;
  const rc = h('table', null,
    h('thead', null, h('tr', null, ['Recipient', 'Status', 'DSN', 'Relay', 'Delay', 'Attempts', 'Next hop', 'Response'].map(x => h('th', null, x)))),
    h('tbody', null, (t.recipients || []).map(r => h('tr', { class: 'rcpt' },
      h('td', null, r.rcpt, r.orig_rcpt && r.orig_rcpt !== r.rcpt ? h('div', { class: 'muted' }, 'was ' + r.orig_rcpt) : null),
      h('td', null, status(r.status)),
      h('td', { class: 'mono' }, r.dsn),
      h('td', null, r.relay_host ? `${r.relay_host}${r.relay_ip ? ' [' + r.relay_ip + ']' : ''}` : ''),
      h('td', null, r.delay ? r.delay.toFixed(2) + ' s' : ''),
      h('td', null, r.attempts || ''),
      h('td', null, r.next_host ? h('a', { href: '#hop-next-' + r.next_host + '-' + r.next_queue_id }, `${r.next_host} ${r.next_queue_id}`) : (r.direction || '')),
      h('td', null, r.response)))));
  const actions = (() => { try { return JSON.parse(t.actions_json || '[]'); } catch (e) { return []; } })();
  return h('section', { class: 'card hop st-border-' + String(m.status).toLowerCase(), id: 'hop-' + i, 'data-host': m.host },
    h('a', { id: 'hop-next-' + m.host + '-' + m.queue_id }),
    h('div', { class: 'hop-head' },
      h('span', { class: 'host' }, `${i + 1}. ${m.host}`), h('span', { class: 'mono' }, m.queue_id), status(m.status),
      h('span', { class: 'muted' }, fmtTime(m.first_seen_us), ' - ', fmtTime(m.last_seen_us))),
    kv([['From', m.sender || '<>'], ['Size', fmtSize(m.size)], ['Message-ID', m.message_id],
      ['Client', m.client_host || m.client_ip ? `${m.client_host} [${m.client_ip}]` : ''], ['HELO', t.helo],
      ['SASL user', m.sasl_username], ['Came from', t.prev_host ? `${t.prev_host} ${t.prev_queue_id}` : ''],
      ['Bounce of', t.dsn_of_host ? `${t.dsn_of_host} ${t.dsn_of_queue_id}` : ''],
      ['Checks', actions.length ? actions.map(a => `${a.action} (${a.stage}): ${a.text}`).join('; ') : ''],
      ['Incomplete', t.incomplete ? 'some lines of this message are missing (flags ' + t.incomplete + ')' : '']]),
    rc,
    h('details', { class: 'raw-lines', open: true }, h('summary', null, `${(t.lines || []).length} log line(s)`),
      h('pre', { class: 'raw' }, (t.lines || []).map(l => `${fmtTimeMs(l.time_us)} ${l.host} ${l.program}: ${l.text}\n`).join(''))));
}

export async function flowPage(main, emailId) {
  clear(main).append(h('p', { class: 'muted' }, 'Loading...'));
  let f;
  try {
    f = await api('flow', { email_id: emailId });
  } catch (e) {
    clear(main).append(h('h1', null, 'E-mail ' + emailId), h('p', { class: 'error' }, e.message));
    return;
  }
  const hops = (f.hops || []).filter(t => t.msg);
  // Element.append does not flatten arrays: h() does.
  clear(main).append(h('div', { id: 'flow' },
    h('h1', null, 'E-mail ', h('span', { class: 'mono', id: 'email-id' }, f.email_id), ` - ${hops.length} hop(s)`),
    hops.length ? timeline(hops) : h('p', { class: 'muted' }, 'No transaction.'),
    hops.map((t, i) => [i ? h('div', { class: 'arrow' }, '\u2193') : null, hopCard(t, i)]),
    (f.rejects || []).length ? [h('h2', null, 'Rejects'), h('table', null,
      h('thead', null, h('tr', null, ['Time', 'Host', 'Event', 'Client', 'Recipient', 'Reason'].map(x => h('th', null, x)))),
      h('tbody', null, f.rejects.map(r => h('tr', null, h('td', { class: 'mono' }, fmtTime(r.time_us)), h('td', null, r.host),
        h('td', null, status(r.event)), h('td', null, `${r.client_host} [${r.client_ip}]`), h('td', null, r.rcpt), h('td', null, r.reason)))))] : null));
}
