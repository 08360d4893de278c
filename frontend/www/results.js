// results.js - the results table: sortable, paginated by cursor, status
// colours, CSV export, keyboard j/k/Enter.

import { h, clear, fmtTime, fmtSize, status, csv, download } from './util.js';

const COLS = [
  { key: 'first_seen_us', label: 'Time', sort: 'SORT_TIME', fmt: r => fmtTime(r.first_seen_us), cls: 'mono' },
  { key: 'host', label: 'Host' },
  { key: 'queue_id', label: 'Queue ID', cls: 'mono' },
  { key: 'status', label: 'Status', sort: 'SORT_STATUS', fmt: r => status(r.status) },
  { key: 'sender', label: 'Sender', sort: 'SORT_SENDER', fmt: r => r.sender || '<>' },
  { key: 'recipients', label: 'Recipients', cls: 'rcpts',
    fmt: r => (r.recipients || []).join(', ') + (r.nrcpt > (r.recipients || []).length ? ` (+${r.nrcpt - r.recipients.length})` : '') },
  { key: 'size', label: 'Size', sort: 'SORT_SIZE', fmt: r => fmtSize(r.size) },
  { key: 'message_id', label: 'Message-ID', cls: 'mono' },
  { key: 'client_ip', label: 'Client', fmt: r => r.client_host ? `${r.client_host} [${r.client_ip}]` : r.client_ip },
];

let active = null; // the table the keyboard drives

// ResultsTable: fetchPage(cursor, sort, ascending) -> {rows, next_cursor, truncated}
export class ResultsTable {
  constructor(container, fetchPage, opts = {}) {
    this.c = container;
    this.fetchPage = fetchPage;
    this.serverSort = opts.serverSort !== false;
    this.sort = opts.sort || 'SORT_TIME';
    this.asc = false;
    this.localKey = null;
    this.cursors = [''];
    this.page = 0;
    this.rows = [];
    this.sel = -1;
    active = this;
  }

  async load(page = 0) {
    this.page = page;
    clear(this.c).append(h('p', { class: 'muted' }, 'Searching...'));
    let r;
    try {
      r = await this.fetchPage(this.cursors[page], this.sort, this.asc);
    } catch (e) {
      clear(this.c).append(h('p', { class: 'error' }, e.message));
      return;
    }
    this.rows = r.rows || [];
    this.truncated = r.truncated;
    if (r.next_cursor) this.cursors[page + 1] = r.next_cursor;
    else this.cursors.length = page + 1;
    this.sel = this.rows.length ? 0 : -1;
    this.render();
  }

  sortBy(col) {
    if (this.serverSort && col.sort) {
      if (this.sort === col.sort) this.asc = !this.asc;
      else { this.sort = col.sort; this.asc = false; }
      this.localKey = null;
      this.cursors = [''];
      this.load(0);
      return;
    }
    // Columns the backend cannot sort: this page only.
    if (this.localKey === col.key) this.asc = !this.asc;
    else { this.localKey = col.key; this.asc = true; }
    const k = col.key, dir = this.asc ? 1 : -1;
    this.rows.sort((a, b) => {
      const x = Array.isArray(a[k]) ? a[k].join() : a[k], y = Array.isArray(b[k]) ? b[k].join() : b[k];
      return (x > y ? 1 : x < y ? -1 : 0) * dir;
    });
    this.render();
  }

  exportCsv() {
    const out = [COLS.map(c => c.label).concat(['E-mail id'])];
    for (const r of this.rows)
      out.push([fmtTime(r.first_seen_us), r.host, r.queue_id, r.status, r.sender,
        (r.recipients || []).join(' '), r.size, r.message_id, r.client_ip, r.email_id]);
    download('else-results.csv', csv(out), 'text/csv');
  }

  render() {
    const head = h('tr', null, COLS.map(c => {
      let cls = c.sort || !this.serverSort ? 'sortable' : 'sortable';
      if ((this.serverSort && c.sort && c.sort === this.sort && !this.localKey) || this.localKey === c.key)
        cls += this.asc ? ' sorted-asc' : ' sorted-desc';
      return h('th', { class: cls, onclick: () => this.sortBy(c), title: c.sort ? 'sort (all results)' : 'sort this page' }, c.label);
    }));
    const body = h('tbody', null, this.rows.map((r, i) => h('tr', {
      class: i === this.sel ? 'sel' : '', 'data-email': r.email_id,
      onclick: () => { this.sel = i; this.open(); },
    }, COLS.map(c => h('td', { class: c.cls }, c.fmt ? c.fmt(r) : r[c.key])))));
    const bar = h('div', { class: 'actions' },
      h('span', { class: 'muted', id: 'count' }, `${this.rows.length} result(s), page ${this.page + 1}`),
      this.truncated ? h('span', { class: 'error' }, 'stopped at the search budget: narrow the search') : null,
      h('button', { class: 'secondary', disabled: this.page === 0, onclick: () => this.load(this.page - 1) }, 'Previous'),
      h('button', { class: 'secondary', id: 'next', disabled: !this.cursors[this.page + 1], onclick: () => this.load(this.page + 1) }, 'Next'),
      h('button', { class: 'secondary', onclick: () => this.exportCsv(), disabled: !this.rows.length }, 'CSV'),
      h('span', { class: 'muted' }, h('span', { class: 'kbd' }, 'j'), '/', h('span', { class: 'kbd' }, 'k'), ' move, ',
        h('span', { class: 'kbd' }, 'Enter'), ' opens'));
    clear(this.c).append(bar, this.rows.length
      ? h('table', { id: 'results' }, h('thead', null, head), body)
      : h('p', { class: 'muted', id: 'noresults' }, 'No e-mail matches.'));
  }

  move(d) {
    if (!this.rows.length) return;
    this.sel = Math.max(0, Math.min(this.rows.length - 1, this.sel + d));
    const trs = this.c.querySelectorAll('tbody tr');
    trs.forEach((tr, i) => tr.classList.toggle('sel', i === this.sel));
    if (trs[this.sel]) trs[this.sel].scrollIntoView({ block: 'nearest' });
  }

  open() {
    const r = this.rows[this.sel];
    if (r) location.hash = '#/flow/' + encodeURIComponent(r.email_id);
  }
}

export function activeTable() { return active && active.c.isConnected ? active : null; }
