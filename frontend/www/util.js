// util.js - DOM building without innerHTML (all data goes in as text), time
// and size formatting, CSV.

export function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      // CSSOM, not the style attribute: CSP (style-src 'self') blocks the latter.
      else if (k === 'style') Object.assign(e.style, v);
      else e.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

export function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

export function fmtTime(us) {
  if (!us) return '-';
  const d = new Date(us / 1000);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtTimeMs(us) {
  if (!us) return '-';
  const d = new Date(us / 1000);
  return fmtTime(us) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function fmtSize(n) {
  if (!n) return '';
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

export function status(s) {
  const k = String(s || 'unknown').toLowerCase().replace(/[^a-z]/g, '');
  return h('span', { class: 'st st-' + k, title: s }, s || '?');
}

export function toUs(localValue) {
  if (!localValue) return 0;
  const t = new Date(localValue).getTime();
  return Number.isFinite(t) ? t * 1000 : 0;
}

export function csv(rows) {
  const q = v => {
    const s = v === undefined || v === null ? '' : String(v);
    // A leading =+-@ would be a formula in a spreadsheet: neutralise it.
    const t = /^[=+\-@\t\r]/.test(s) ? "'" + s : s;
    return /[",\n\r]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
  };
  return rows.map(r => r.map(q).join(',')).join('\r\n') + '\r\n';
}

export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

let toastTimer = 0;
export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 5000);
}
