// wui.cjs - drive the ELSE web UI in Debian's Chromium (playwright-core,
// installed by tests/frontend/e2e.sh from the committed package-lock.json):
// log in, quick-search a Message-ID, move in the results with the keyboard,
// open the flow, see its hops, and take screenshots.
//
// usage: node wui.cjs BASE_URL USER OUTDIR MESSAGE_ID HOPS HOST...
//   (password in ELSE_PASSWORD; HOSTS: the hosts the flow must show)
// Prints one JSON line of what it saw; exits non-zero on any failure.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.PW_DIR, 'node_modules', 'playwright-core'));

async function main() {
  const [base, user, out, mid, hopsArg, ...hosts] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const seen = { console: [], cspViolations: 0 };
  let page;
  try {
    page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    page.on('console', m => { if (m.type() === 'error') seen.console.push(m.text()); });
    page.on('pageerror', e => seen.console.push('pageerror: ' + e.message));
    await page.goto(base + '/', { waitUntil: 'networkidle' });
    await page.waitForSelector('#login-form', { timeout: 10000 });
    await page.screenshot({ path: path.join(out, '1-login.png') });
    if (await page.isVisible('#top')) throw new Error('the navigation shows before login');
    await page.fill('#user', user);
    await page.fill('#password', process.env.ELSE_PASSWORD);
    await page.press('#password', 'Enter');
    await page.waitForSelector('#top:not([hidden])', { timeout: 10000 });
    const cookies = await page.context().cookies();
    const sess = cookies.find(c => c.name === 'else_session');
    if (!sess || !sess.httpOnly || sess.sameSite !== 'Strict') throw new Error('session cookie flags: ' + JSON.stringify(sess));
    seen.httpOnlyHidden = await page.evaluate(() => !document.cookie.includes('else_session'));
    if (!seen.httpOnlyHidden) throw new Error('the page can read the session cookie');

    // "/" focuses the quick search, Enter searches.
    await page.keyboard.press('/');
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    if (focused !== 'q') throw new Error('"/" did not focus the quick search: ' + focused);
    await page.keyboard.type(mid);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#results tbody tr', { timeout: 15000 });
    seen.rows = await page.$$eval('#results tbody tr', trs => trs.length);
    await page.screenshot({ path: path.join(out, '2-results.png'), fullPage: true });
    // j moves the selection, k back; Enter opens the flow.
    if (seen.rows > 1) {
      await page.keyboard.press('j');
      const idx = await page.$$eval('#results tbody tr', trs => trs.findIndex(t => t.classList.contains('sel')));
      if (idx !== 1) throw new Error('j did not move the selection: ' + idx);
      await page.keyboard.press('k');
    }
    await page.keyboard.press('Enter');
    await page.waitForSelector('section.hop', { timeout: 15000 });
    await page.waitForSelector('#timeline .tl-bar');
    seen.hops = await page.$$eval('section.hop', s => s.map(x => x.getAttribute('data-host')));
    seen.rawLines = await page.$$eval('pre.raw', p => p.reduce((n, x) => n + x.textContent.split('\n').filter(Boolean).length, 0));
    seen.recipients = await page.$$eval('tr.rcpt', r => r.length);
    seen.emailId = await page.textContent('#email-id');
    await page.screenshot({ path: path.join(out, '3-flow.png'), fullPage: true });
    if (seen.hops.length !== Number(hopsArg)) throw new Error(`${seen.hops.length} hops shown, want ${hopsArg}`);
    for (const h of hosts) if (!seen.hops.includes(h)) throw new Error('host ' + h + ' missing from the flow');
    if (seen.rawLines < seen.hops.length) throw new Error('raw lines missing');

    // CSV export of the results: a download with a header line.
    await page.goBack();
    await page.waitForSelector('#results tbody tr', { timeout: 15000 });
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('text=CSV')]);
    const csvText = require('fs').readFileSync(await dl.path(), 'utf8');
    seen.csvLines = csvText.trim().split(/\r?\n/).length;
    if (!csvText.startsWith('Time,Host,Queue ID,Status') || seen.csvLines !== seen.rows + 1)
      throw new Error('CSV export: ' + csvText.slice(0, 200));

    // The extended search form.
    await page.goto(base + '/#/search-ext');
    await page.fill('input[name=sender]', 'sender@sender.test');
    await page.selectOption('select[name=status]', 'delivered');
    await page.click('#search-form button[type=submit]');
    await page.waitForSelector('#results tbody tr', { timeout: 15000 });
    seen.searchRows = await page.$$eval('#results tbody tr', trs => trs.length);
    const notDelivered = await page.$$eval('#results tbody tr .st', s => s.filter(x => x.textContent !== 'delivered').length);
    if (notDelivered) throw new Error(notDelivered + ' rows not delivered in a status=delivered search');

    // Rejects, servers, history, users, live: each shows its table.
    for (const [hash, sel, min] of [['#/rejects', '#rejects tbody tr', 1], ['#/servers', '#servers tbody tr', 3],
      ['#/history', '#history tbody tr', 1], ['#/admin/users', '#users tbody tr', 1], ['#/live', '#results tbody tr', 1]]) {
      await page.goto(base + '/' + hash);
      await page.waitForSelector(sel, { timeout: 15000 });
      const n = await page.$$eval(sel, r => r.length);
      if (n < min) throw new Error(`${hash}: ${n} rows`);
      seen[hash.replace(/\W/g, '')] = n;
      if (hash === '#/rejects') {
        // Where in the SMTP dialogue each was refused: RCPT for an unknown recipient.
        const col = await page.$$eval('#rejects thead th', t => t.map(x => x.textContent).indexOf('Stage'));
        const stages = await page.$$eval(`#rejects tbody td:nth-child(${col + 1})`, t => t.map(x => x.textContent));
        if (col < 0 || !stages.includes('RCPT')) throw new Error('rejects: no RCPT stage in ' + JSON.stringify(stages));
      }
    }
    await page.screenshot({ path: path.join(out, '5-live.png'), fullPage: true });

    // Dashboard: uPlot draws into canvases.
    await page.goto(base + '/#/dashboard');
    await page.waitForSelector('#chart-messages canvas, #chart-messages p', { timeout: 15000 });
    seen.charts = await page.$$eval('.chart canvas', c => c.length);
    await page.screenshot({ path: path.join(out, '4-dashboard.png'), fullPage: true });

    // Log out: the session is gone, the login form is back.
    await page.goto(base + '/#/logout');
    await page.waitForSelector('#login-form', { timeout: 10000 });
    seen.loggedOut = true;
    const bad = seen.console.filter(t => /Content Security Policy|Refused to/.test(t));
    seen.cspViolations = bad.length;
    if (bad.length) throw new Error('CSP violations: ' + bad.join(' | '));
  } catch (e) {
    // What the page showed, for the test log.
    if (page) {
      await page.screenshot({ path: path.join(out, 'failed.png'), fullPage: true }).catch(() => {});
      const text = await page.textContent('main').catch(() => '');
      e.message += ' | page: ' + String(text).slice(0, 300) + ' | console: ' + seen.console.join(' | ');
    }
    throw e;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
}

main().catch(e => { console.error('wui: ' + e.message); process.exit(1); });
