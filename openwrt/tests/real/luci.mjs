// openwrt/tests/real/luci.mjs — real LuCI (uhttpd + rpcd + ucode + luci-base) in Debian's
// headless Chromium, driven by playwright-core (tests/browser/node_modules). Run by run.sh in a
// LAN client's network namespace:
//   RPID=<router's PID 1, host pid> node luci.mjs BASE_URL ROOT_PASSWORD GUEST_USER GUEST_PASSWORD
// Checks, each printed as "ok"/"FAIL": root logs in through LuCI's login form; Status →
// Connection Map is in the menu; the view shows the map with markers, either framed from the
// daemon or drawn inside LuCI (markers are looked for in every frame); the settings view saves a
// change with Save & Apply (rpcd/uci) and procd restarts the daemon with the new argument (its
// reload trigger; read from `ubus call service list` inside the router); a user without the
// app's ACL has no menu entry and no map. Ends with "luci: N passed, N failed".
import { createRequire } from 'node:module';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const require = createRequire(path.resolve(new URL('.', import.meta.url).pathname, '../../../tests/browser/package.json'));
const { chromium } = require('playwright-core');

const [base, rootPw, guest, guestPw] = process.argv.slice(2);
let passed = 0, failed = 0;
const ok = (name) => { console.log(`ok   luci: ${name}`); passed++; };
const bad = (name, why) => { console.log(`FAIL luci: ${name}`); if (why) console.log(`     ${String(why).split('\n').slice(0, 8).join('\n     ')}`); failed++; };

/** A shell command inside the router (all of its PID 1's namespaces). */
function router(cmd) {
  return execFileSync('nsenter', ['-t', process.env.RPID, '-a', 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '/bin/sh', '-c', cmd],
    { encoding: 'utf8', timeout: 20000 });
}
const instance = () => {
  try {
    return Object.values(JSON.parse(router(`ubus call service list '{"name":"connmap"}'`) || '{}').connmap?.instances || {})[0] || {};
  } catch { return {}; }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function login(page, user, pw) {
  await page.goto(`${base}/cgi-bin/luci/`, { waitUntil: 'domcontentloaded' });
  await page.fill('input[name=luci_username]', user);
  await page.fill('input[name=luci_password]', pw);
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.press('input[name=luci_password]', 'Enter')]);
  return !(await page.locator('input[name=luci_password]').count());
}

async function markersInAnyFrame(page, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const f of page.frames()) {
      try {
        const n = await f.evaluate(() => document.querySelectorAll('.leaflet-marker-pane .cm-marker, .leaflet-marker-pane .cm-cluster').length);
        if (n > 0) return { n, where: f === page.mainFrame() ? 'inside LuCI' : `in a frame (${f.url()})` };
      } catch { /* frame navigating */ }
    }
    await page.waitForTimeout(500);
  }
  return null;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('requestfailed', (r) => errors.push(`${r.url()}: ${r.failure()?.errorText}`));
  if (await login(page, 'root', rootPw)) ok('root logs in to LuCI'); else bad('root logs in to LuCI', await page.content());
  // the menu is drawn by the theme's script after the page loads: wait for the entry
  const menu = await page.waitForSelector('a[href$="/admin/status/connmap"]', { state: 'attached', timeout: 20000 })
    .then(() => 1, () => 0);
  if (menu > 0) ok('Status → Connection Map in the menu'); else bad('Status → Connection Map in the menu');
  await page.goto(`${base}/cgi-bin/luci/admin/status/connmap`, { waitUntil: 'domcontentloaded' });
  const found = await markersInAnyFrame(page, 30000);
  if (found) ok(`the view shows the map with ${found.n} marker(s) ${found.where}`);
  else bad('the view shows the map with markers', (await page.locator('body').innerText()).slice(0, 600));
  await page.screenshot({ path: process.env.SHOT || '/tmp/connmap-luci.png' }).catch(() => {});

  // the settings view: Save & Apply goes through rpcd's uci (LuCI's apply with rollback), and
  // procd's reload trigger restarts the daemon with the new command line
  const before = instance();
  await page.goto(`${base}/cgi-bin/luci/admin/status/connmap/config`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('[id="widget.cbid.connmap.main.home_lat"]', { state: 'attached', timeout: 30000 }).catch(async (e) => {
    await page.screenshot({ path: (process.env.SHOT || '/tmp/connmap-luci.png').replace(/\.png$/, '-settings.png') }).catch(() => {});
    throw new Error(`${String(e).split('\n')[0]}\npage: ${(await page.locator('body').innerText()).slice(0, 500)}\nerrors: ${errors.slice(-6).join(' | ')}`);
  });
  await page.fill('[id="widget.cbid.connmap.main.home_lat"]', '38.72');
  await page.fill('[id="widget.cbid.connmap.main.home_lng"]', '-9.14');
  await page.click('.cbi-page-actions .cbi-button-apply');
  let inst = {};
  for (let i = 0; i < 60; i++) {
    inst = instance();
    if (inst.running && (inst.command || []).join(' ').includes('--home 38.72,-9.14') && inst.pid !== before.pid) break;
    await sleep(500);
  }
  let saved = '';
  try { saved = router('uci -q get connmap.main.home_lat; uci -q get connmap.main.home_lng').trim().replace(/\n/, ','); } catch {}
  if (saved === '38.72,-9.14' && inst.running && (inst.command || []).join(' ').includes('--home 38.72,-9.14') && inst.pid !== before.pid) {
    ok(`settings view: Save & Apply committed home ${saved} (rpcd/uci), procd restarted the daemon with --home (pid ${before.pid} -> ${inst.pid})`);
  } else {
    bad('settings view: Save & Apply -> uci -> procd restarts the daemon with --home', `uci ${saved}; pid ${before.pid} -> ${inst.pid}; ${JSON.stringify(inst.command)}`);
  }
  // LuCI's apply ends with its confirmation (the rollback check through /ubus)
  const confirmed = await page.waitForSelector('text=Configuration changes applied', { timeout: 30000 }).then(() => true, () => false);
  if (confirmed) ok('LuCI confirmed the apply ("Configuration changes applied": the rollback check answered through /ubus)');
  else bad('LuCI confirmed the apply', (await page.locator('body').innerText()).slice(0, 400));
  await ctx.close();

  // a user without the luci-app-connmap ACL
  const g = await browser.newContext();
  const gp = await g.newPage();
  if (await login(gp, guest, guestPw)) ok(`${guest} (without the connmap ACL) logs in`);
  else bad(`${guest} logs in`, (await gp.locator('body').innerText()).slice(0, 400));
  const gmenu = await gp.locator('a[href$="/admin/status/connmap"]').count();
  let gstatus;
  try {
    gstatus = (await gp.goto(`${base}/cgi-bin/luci/admin/status/connmap`, { waitUntil: 'domcontentloaded' }))?.status();
  } catch (e) {
    gstatus = String(e).split('\n')[0]; // LuCI answers an error status (Chromium shows no page)
  }
  const gfound = await markersInAnyFrame(gp, 6000);
  if (gmenu === 0 && !gfound && gstatus !== 200) ok(`${guest}: no menu entry, no map (the view's URL: ${gstatus})`);
  else bad(`${guest}: no menu entry, no map`, `menu links ${gmenu}, status ${gstatus}, markers ${JSON.stringify(gfound)}`);
  await g.close();
} catch (e) {
  bad('LuCI session', e.stack || e);
} finally {
  await browser.close();
}
console.log(`luci: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
