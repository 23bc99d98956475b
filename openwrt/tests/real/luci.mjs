// openwrt/tests/real/luci.mjs — real LuCI (uhttpd + rpcd + ucode + luci-base) in Debian's
// headless Chromium, driven by playwright-core (tests/browser/node_modules). Run by run.sh in a
// LAN client's network namespace:
//   node luci.mjs BASE_URL ROOT_PASSWORD GUEST_USER GUEST_PASSWORD
// Checks, each printed as "ok"/"FAIL": root logs in; Status → Connection Map is in the menu;
// the view shows the map with markers, either framed from the daemon or drawn inside LuCI
// (markers are looked for in every frame); a user without the app's ACL has no menu entry and
// no map. Ends with "luci: N passed, N failed".
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.resolve(new URL('.', import.meta.url).pathname, '../../../tests/browser/package.json'));
const { chromium } = require('playwright-core');

const [base, rootPw, guest, guestPw] = process.argv.slice(2);
let passed = 0, failed = 0;
const ok = (name) => { console.log(`ok   luci: ${name}`); passed++; };
const bad = (name, why) => { console.log(`FAIL luci: ${name}`); if (why) console.log(`     ${String(why).split('\n').slice(0, 8).join('\n     ')}`); failed++; };

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
  if (await login(page, 'root', rootPw)) ok('root logs in to LuCI'); else bad('root logs in to LuCI', await page.content());
  const menu = await page.locator('a[href$="/admin/status/connmap"]').count();
  if (menu > 0) ok('Status → Connection Map in the menu'); else bad('Status → Connection Map in the menu');
  await page.goto(`${base}/cgi-bin/luci/admin/status/connmap`, { waitUntil: 'domcontentloaded' });
  const found = await markersInAnyFrame(page, 30000);
  if (found) ok(`the view shows the map with ${found.n} marker(s) ${found.where}`);
  else bad('the view shows the map with markers', (await page.locator('body').innerText()).slice(0, 600));
  await page.screenshot({ path: process.env.SHOT || '/tmp/connmap-luci.png' }).catch(() => {});
  await ctx.close();

  // a user without the luci-app-connmap ACL
  const g = await browser.newContext();
  const gp = await g.newPage();
  if (await login(gp, guest, guestPw)) ok(`${guest} (without the connmap ACL) logs in`);
  else bad(`${guest} logs in`, (await gp.locator('body').innerText()).slice(0, 400));
  const gmenu = await gp.locator('a[href$="/admin/status/connmap"]').count();
  await gp.goto(`${base}/cgi-bin/luci/admin/status/connmap`, { waitUntil: 'domcontentloaded' });
  const gfound = await markersInAnyFrame(gp, 6000);
  if (gmenu === 0 && !gfound) ok(`${guest}: no menu entry, no map`);
  else bad(`${guest}: no menu entry, no map`, `menu links ${gmenu}, markers ${JSON.stringify(gfound)}`);
  await g.close();
} catch (e) {
  bad('LuCI session', e.stack || e);
} finally {
  await browser.close();
}
console.log(`luci: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
