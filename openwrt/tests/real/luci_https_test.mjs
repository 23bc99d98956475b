// openwrt/tests/real/luci_https_test.mjs — the browser half of luci_https_test.sh (which builds
// the router and starts this in the LAN client's namespace): Debian's headless Chromium, driven
// by playwright-core (tests/browser's npm packages), against real LuCI served by uhttpd over TLS.
// Environment from luci_https_test.sh: RPID (a process in the router's namespaces), ROOTDIR
// (the router's root directory), CHROMIUM, ARTIFACTS (screenshots). Prints ok/FAIL lines and
// "luci_https: N passed, N failed".
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../../tests/browser/package.json'));
const { chromium } = require('playwright-core');

const HOST = '192.168.77.1';
const BASE = `https://${HOST}`;
const MARKERS = '/var/run/connmap/markers.json';
const ROOTDIR = process.env.ROOTDIR;
const ARTIFACTS = process.env.ARTIFACTS || '/tmp';
const TAG = `luci_https (${process.env.PM || 'opkg'})`;

let passed = 0, failed = 0;
function check(name, cond, detail) {
  if (cond) { passed++; console.log(`ok   ${TAG}: ` + name); }
  else { failed++; console.log(`FAIL ${TAG}: ` + name + (detail ? ': ' + String(detail).slice(0, 600) : '')); }
  return cond;
}
/** A shell command in the router's root (its mount and network namespaces). */
function router(cmd) {
  return execFileSync('nsenter', ['-t', process.env.RPID, '-m', '-n', '--', 'chroot', ROOTDIR, '/bin/sh', '-c',
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin; ' + cmd], { encoding: 'utf8', timeout: 30000 });
}
const serviceList = () => JSON.parse(router(`ubus call service list '{"name":"connmap"}'`) || '{}');
const instance = () => Object.values(serviceList().connmap?.instances || {})[0] || {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// LAN traffic through the router to a "remote" (198.18.5.5: the test database puts it in Lisbon)
const udp = dgram.createSocket('udp4');
const traffic = setInterval(() => udp.send(Buffer.from('connmap luci test'), 9999, '198.18.5.5'), 300);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--ignore-certificate-errors'],
});

async function login(ctx, user, pass) {
  const page = await ctx.newPage();
  await page.goto(`${BASE}/cgi-bin/luci/`, { waitUntil: 'domcontentloaded' });
  await page.fill('input[name=luci_username]', user);
  await page.fill('input[name=luci_password]', pass);
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.press('input[name=luci_password]', 'Enter')]);
  return page;
}

try {
  // --- root, over HTTPS ------------------------------------------------------------------------
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const requests = [];
  const errors = [];
  ctx.on('request', (r) => requests.push(r.url()));
  ctx.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.location()?.url || ''}: ${m.text()}`); });

  const probe = await ctx.newPage();
  await probe.goto(`http://${HOST}/cgi-bin/luci/`, { waitUntil: 'domcontentloaded' });
  check('plain HTTP is redirected to HTTPS (uhttpd -q, as with luci-ssl)', probe.url().startsWith('https://'), probe.url());
  await probe.close();

  const page = await login(ctx, 'root', 'rootpw');
  check('root logs in to LuCI over HTTPS', /\/cgi-bin\/luci/.test(page.url()) && !(await page.$('input[name=luci_password]')), page.url());
  const menuLink = await page.waitForSelector('a[href$="/admin/status/connmap"]', { state: 'attached', timeout: 15000 }).catch(() => null);
  check('the menu has Status > Connection Map', !!menuLink);

  await page.goto(`${BASE}/cgi-bin/luci/admin/status/connmap`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#connmap-state', { timeout: 30000 });
  check('Status > Connection Map opens the map view', /admin\/status\/connmap\/map$/.test(page.url()) || !!(await page.$('#connmap-view')), page.url());
  check('the view says the service is running (procd service list)', (await page.getAttribute('#connmap-state', 'data-state')) === 'running',
    await page.textContent('#connmap-state'));
  const order = await page.evaluate(() => {
    const h = [...document.querySelectorAll('h2')].find((e) => /Connection Map/.test(e.textContent));
    const f = document.querySelector('#connmap-frame');
    return h && f ? !!(h.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING) : null;
  });
  check('the map sits below the page heading and description', order === true, order);

  const frameEl = await page.waitForSelector('#connmap-frame', { timeout: 15000 });
  const frame = await frameEl.contentFrame();
  let markers = false;
  try {
    await frame.waitForSelector('.leaflet-marker-pane .cm-marker, .leaflet-marker-pane .cm-cluster', { timeout: 45000 });
    markers = true;
  } catch (e) {
    markers = String(e).split('\n')[0];
  }
  check('the map is rendered inside LuCI over HTTPS with a marker from the daemon\'s json-out', markers === true &&
    frame.url().startsWith(`${BASE}/luci-static/resources/connmap/index.html`), `${markers} ${frame.url()}`);
  const panel = await frame.evaluate(() => document.querySelector('.panel')?.textContent || '');
  check('the LAN client is in the device list, its remote on the map', /192\.168\.77\.10/.test(panel) && /1 on the map/.test(panel),
    panel.replace(/\s+/g, ' ').slice(0, 300));
  check('the page\'s state is live', (await frame.getAttribute('#status', 'data-state')) === 'live', await frame.textContent('#status'));
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `luci-https-map-${process.env.PM || 'opkg'}.png`), fullPage: true });
  const foreign = requests.filter((u) => { try { return new URL(u).hostname !== HOST; } catch { return !/^(data|blob|about):/.test(u); } });
  check('no request to any other host', foreign.length === 0, foreign.join(' '));
  const own = errors.filter((e) => /connmap/.test(e));
  check('no console error from the app or the page', own.length === 0, own.join(' | '));
  const viaCgi = requests.some((u) => u === `${BASE}/cgi-bin/cgi-download`);
  check('markers.json came through LuCI\'s cgi-io (the session\'s ACL), not from the daemon\'s port', viaCgi &&
    !requests.some((u) => /:8090\//.test(u)));

  // --- the settings form saves through rpcd/uci; procd restarts the daemon ---------------------
  const pidBefore = instance().pid;
  await page.goto(`${BASE}/cgi-bin/luci/admin/status/connmap/config`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('[id="widget.cbid.connmap.main.home_lat"]', { timeout: 30000 });
  check('Settings tab: the interface is chosen from LuCI\'s networks (NetworkSelect lists lan)',
    !!(await page.$('#cbi-connmap-main-interface .cbi-dropdown [data-value="lan"]')),
    await page.evaluate(() => document.querySelector('#cbi-connmap-main-interface')?.outerHTML.slice(0, 400)));
  await page.fill('[id="widget.cbid.connmap.main.home_lat"]', '38.72');
  await page.fill('[id="widget.cbid.connmap.main.home_lng"]', '-9.14');
  await page.click('.cbi-page-actions .cbi-button-apply');
  let saved = '';
  for (let i = 0; i < 60 && !/home_lng '-9.14'/.test(saved); i++) {
    await sleep(500);
    saved = fs.readFileSync(path.join(ROOTDIR, 'etc/config/connmap'), 'utf8');
  }
  check('Save & Apply wrote /etc/config/connmap through rpcd/uci (interface lan kept)', /home_lat '38.72'/.test(saved) &&
    /home_lng '-9.14'/.test(saved) && /option interface 'lan'/.test(saved), saved);
  let inst = {};
  for (let i = 0; i < 60; i++) {
    inst = instance();
    // (procd shows the new command line before the old process has gone)
    if (inst.running && (inst.command || []).includes('--home') && inst.pid !== pidBefore) break;
    await sleep(500);
  }
  check('procd restarted the daemon with the new setting (reload trigger)', inst.running && (inst.command || []).join(' ').includes('--home 38.72,-9.14') &&
    inst.pid !== pidBefore, `pid ${pidBefore} -> ${inst.pid}: ${JSON.stringify(inst.command)}`);
  // LuCI's apply ends with its confirmation; let procd's triggers settle
  await page.waitForSelector('text=Configuration changes applied', { timeout: 30000 }).catch(() => {});
  await sleep(3000);

  // --- the service down: the view says so, no frame --------------------------------------------
  router('/etc/init.d/connmap stop');
  for (let i = 0; i < 40 && instance().running; i++) await sleep(250);
  await page.goto(`${BASE}/cgi-bin/luci/admin/status/connmap/map`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#connmap-state', { timeout: 30000 });
  const down = await page.textContent('#connmap-state');
  check('service stopped: the view says it is not running, and shows no map',
    (await page.getAttribute('#connmap-state', 'data-state')) === 'stopped' && /not running/.test(down) && !(await page.$('#connmap-frame')), down);
  router('/etc/init.d/connmap start');
  await page.waitForSelector('#connmap-frame', { timeout: 30000 }).catch(() => {});
  check('service started again: the map comes back without a reload (poll)', !!(await page.$('#connmap-frame')));

  // --- LuCI only: "Own web page" off, the daemon opens no port, the map is still in LuCI ------
  await sleep(2000);
  const pidHttp = instance().pid;
  await page.goto(`${BASE}/cgi-bin/luci/admin/status/connmap/config`, { waitUntil: 'domcontentloaded' });
  const httpBox = 'input[data-widget-id="widget.cbid.connmap.main.http"]';
  await page.waitForSelector(httpBox, { state: 'attached', timeout: 30000 });
  await page.$eval(httpBox, (el) => { if (el.checked) el.click(); });
  await page.click('.cbi-page-actions .cbi-button-apply');
  for (let i = 0; i < 60; i++) {
    inst = instance();
    if (inst.running && (inst.command || []).includes('--no-http') && inst.pid !== pidHttp) break;
    await sleep(500);
  }
  check('Own web page off: saved as http 0, procd restarts the daemon with --no-http', inst.running &&
    (inst.command || []).includes('--no-http') && !(inst.command || []).includes('--listen') &&
    /option http '0'/.test(fs.readFileSync(path.join(ROOTDIR, 'etc/config/connmap'), 'utf8')), JSON.stringify(inst.command));
  await page.waitForSelector('text=Configuration changes applied', { timeout: 30000 }).catch(() => {});
  const refused = await new Promise((resolve) => {
    const c = net.connect({ host: HOST, port: 8090, timeout: 3000 });
    c.on('connect', () => { c.destroy(); resolve('connected'); });
    c.on('error', (e) => resolve(e.code));
    c.on('timeout', () => { c.destroy(); resolve('timeout'); });
  });
  check('the daemon\'s port 8090 is closed', refused === 'ECONNREFUSED', refused);
  await page.goto(`${BASE}/cgi-bin/luci/admin/status/connmap/map`, { waitUntil: 'domcontentloaded' });
  const frame2 = await (await page.waitForSelector('#connmap-frame', { timeout: 30000 })).contentFrame();
  const shown = await frame2.waitForSelector('.leaflet-marker-pane .cm-marker, .leaflet-marker-pane .cm-cluster', { timeout: 45000 })
    .then(() => true, (e) => String(e).split('\n')[0]);
  check('LuCI only: the map with its marker still in LuCI, no link to a port', shown === true &&
    !(await page.$('#connmap-view a[target="_blank"]')), shown);
  await ctx.close();

  // --- a user without the app's ACL ------------------------------------------------------------
  const gctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const gpage = await login(gctx, 'guest', 'guestpw');
  check('guest logs in', !(await gpage.$('input[name=luci_password]')), gpage.url());
  // the menu is drawn by the theme's script: wait for an entry the guest has
  const menuDrawn = await gpage.waitForSelector('a[href$="/admin/status/overview"]', { state: 'attached', timeout: 15000 }).catch(() => null);
  check('guest: no Connection Map in the menu (which it has)', !!menuDrawn && !(await gpage.$('a[href*="/admin/status/connmap"]')));
  let status;
  try {
    status = (await gpage.goto(`${BASE}/cgi-bin/luci/admin/status/connmap/map`, { waitUntil: 'domcontentloaded' }))?.status();
    await sleep(2000);
  } catch (e) {
    status = String(e).split('\n')[0]; // an error status without a page
  }
  const body = await gpage.textContent('body').catch(() => '');
  check('guest: the view is not served', status !== 200 && !(await gpage.$('#connmap-view').catch(() => null)), `${status} ${body.slice(0, 200)}`);
  await gpage.goto(`${BASE}/cgi-bin/luci/`, { waitUntil: 'domcontentloaded' });
  const sid = (await gctx.cookies()).find((c) => /^sysauth/.test(c.name))?.value;
  const denied = await gpage.evaluate(async ([sid, p]) => {
    const r = await fetch('/cgi-bin/cgi-download', { method: 'POST', body: new URLSearchParams({ sessionid: sid, path: p }) });
    const u = await fetch('/ubus', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'call', params: [sid, 'file', 'read', { path: p }] }) });
    return [r.status, await u.json()];
  }, [sid, MARKERS]);
  check('guest: cgi-io refuses markers.json (403) and so does rpcd\'s file read', !!sid && denied[0] === 403 &&
    (denied[1].error || (denied[1].result && denied[1].result[0] !== 0)), JSON.stringify(denied));
  await gctx.close();
} catch (e) {
  check('browser session', false, e.stack || e);
  for (const [i, p] of browser.contexts().flatMap((c) => c.pages()).entries()) {
    await p.screenshot({ path: path.join(ARTIFACTS, `luci-https-failure-${i}.png`), fullPage: true }).catch(() => {});
  }
} finally {
  clearInterval(traffic);
  udp.close();
  await browser.close();
}

console.log(`luci_https: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
