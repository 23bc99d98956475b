// Browser tests of the page's time control, device timelines, "new" badges and alerts list,
// in Debian's headless chromium against the real daemon replaying history-capture.mjs's
// capture (six hours across midnight UTC: the capture's timestamps are the daemon's clock).
// The browser runs in UTC (and en-GB: 24-hour times) so that "today" and "a day" are the capture's UTC days. Every page
// fails the test on a console error, a page error, a failed response or a request to another
// origin. Run through tests/browser/run.sh, or (after www/build.sh, cargo build and
// `cargo run --example fixtures -- tests/artifacts/fixtures`):
//   node --test tests/browser/history.test.mjs
// Screenshots: tests/artifacts/history*.png.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, ROOT } from './servers.mjs';
import { writeHistoryCapture, expected, ARGS, START, MIDNIGHT, DEVICES } from './history-capture.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'tests/artifacts');
const FIXTURES = path.join(ARTIFACTS, 'fixtures');
const PCAP = path.join(ARTIFACTS, 'history.pcap');
const HOUR = 3600;
const BIN = path.resolve(ROOT, process.env.CONNMAP_BIN || path.join(process.env.CARGO_TARGET_DIR || 'target', 'debug/connmap'));
const fake = process.env.CONNMAP_FAKE === '1';
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The daemon's options this binary knows (alert rules come with the alerts branch). */
function daemonHelp() {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

let browser;
// A daemon built without the alerts branch answers /alerts.json with 404 (which chromium logs
// as a console error): tolerated only then, and the alerts tests are skipped.
let noAlerts = false;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (!fs.existsSync(path.join(FIXTURES, 'geo.mmdb'))) {
    const r = spawnSync('cargo', ['run', '--quiet', '--example', 'fixtures', '--', FIXTURES], { cwd: ROOT, stdio: 'inherit' });
    assert.equal(r.status, 0, 'cargo run --example fixtures');
  }
  writeHistoryCapture(PCAP);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

/** A page in a fresh UTC context that records requests and problems (but those matching `allow`). */
async function openPage(server, options = {}, allow = []) {
  const origin = new URL(server.url).origin;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC', locale: 'en-GB', ...options });
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== origin) {
      problems.push(`request to another origin: ${url}`);
      return route.abort('blockedbyclient');
    }
    requests.push(url.pathname + url.search);
    return route.continue().catch(() => {});
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !(noAlerts && /404/.test(msg.text())) && !allow.some((re) => re.test(msg.text()))) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (res) => {
    const ok = (noAlerts && res.status() === 404 && res.url().endsWith('/alerts.json')) || allow.some((re) => re.test(res.url()));
    if (res.status() >= 400 && !ok) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  return {
    page,
    problems,
    requests,
    async goto() {
      await page.goto(server.url);
      await page.waitForSelector('.cm-marker, .cm-cluster', { timeout: 20000 });
    },
    async close() {
      await context.close();
      assert.deepEqual(problems, [], 'the page had problems');
    },
  };
}

async function getJson(server, p) {
  const res = await fetch(new URL(p, server.url));
  assert.equal(res.status, 200, p);
  return res.json();
}

/** Waits until the page shows the range it asked for; returns the history.json it shows. */
async function shownRange(p, server) {
  await p.page.waitForTimeout(600); // the slider's debounce: the request is on its way
  const last = [...p.requests].reverse().find((r) => r.startsWith('/history.json?') && !r.includes('host='));
  assert.ok(last, 'the page asked for history.json');
  const data = await getJson(server, last);
  await p.page.waitForFunction((r) => document.body.dataset.range === r, `${data.from}-${data.to}`, { timeout: 15000 });
  await p.page.waitForTimeout(600); // cluster animation
  return { data, query: new URLSearchParams(last.split('?')[1]) };
}

/** The remotes on the map: every marker's remotes, by opening nothing (titles and counts). */
function mapCount(page) {
  return page.evaluate(() => {
    let n = 0;
    for (const el of document.querySelectorAll('.leaflet-marker-pane .cm-marker')) n += Number(el.textContent) || 1;
    for (const el of document.querySelectorAll('.leaflet-marker-pane .cm-cluster')) n += Number(el.textContent);
    return n;
  });
}

async function popupOf(page, ip) {
  await page.fill('#search', ip);
  await page.waitForTimeout(700);
  await page.locator('.leaflet-marker-pane .cm-marker').first().click();
  const section = page.locator(`.leaflet-popup .remote[data-ip="${ip}"]`);
  await section.waitFor({ timeout: 10000 });
  return section;
}

const located = (m) => typeof m.lat === 'number';
const sameSet = (a, b, what) => assert.deepEqual([...a].sort(), [...b].sort(), what);

describe('time control, timelines and badges against a replayed capture across midnight', () => {
  let server;
  let live;
  before(async () => {
    const extra = daemonHelp().includes('--alert-learning') ? ['--alert-learning', String(2 * HOUR)] : [];
    server = await startServer('static', { pcap: PCAP, mmdb: path.join(FIXTURES, 'geo.mmdb'), args: [...ARGS, ...extra] });
    live = await getJson(server, 'markers.json');
    noAlerts = (await fetch(new URL('alerts.json', server.url))).status === 404;
  });
  after(async () => {
    await server?.stop();
  });

  test('the first load asks for no history; the slider spans the last 48 hours', async () => {
    const p = await openPage(server);
    await p.goto();
    await p.page.waitForTimeout(1500);
    assert.deepEqual(p.requests.filter((r) => r.startsWith('/history.json')), [], 'no history.json at the first load');
    assert.equal(await p.page.isVisible('#range'), true);
    assert.equal(await p.page.getAttribute('#scrub', 'max'), '47');
    assert.equal(await p.page.inputValue('#scrub'), '47');
    // the capture ends at 03:55 UTC on 25 Nov: the slider's last hour is 03:00-
    assert.match(await p.page.textContent('#scrub-label'), /03:00/);
    assert.equal(await p.page.evaluate(() => document.body.dataset.range), 'live');
    await p.close();
  });

  test('today, a chosen day and 30 days show the remotes of that range, new ones badged', async () => {
    const p = await openPage(server);
    await p.goto();
    const now = live.generated;

    await p.page.selectOption('#range', 'today');
    let { data, query } = await shownRange(p, server);
    assert.equal(Number(query.get('from')), MIDNIGHT, 'today starts at midnight UTC');
    assert.equal(Number(query.get('to')), now, 'today ends at the latest snapshot');
    let want = expected(MIDNIGHT, now + 1);
    sameSet(data.markers.map((m) => m.ip), want.remotes, 'remotes of today');
    sameSet(data.markers.filter((m) => m.new).map((m) => m.ip), want.fresh, 'new remotes of today');
    assert.equal(await mapCount(p.page), data.markers.filter(located).length, 'today on the map');
    assert.equal(await p.page.getAttribute('#status', 'data-state'), 'history');
    assert.match(await p.page.textContent('#status'), /^History: /);
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'history-today.png') });

    // the day before (a date picker: type the date)
    await p.page.selectOption('#range', 'day');
    await p.page.fill('#range-day', '2025-11-24');
    ({ data, query } = await shownRange(p, server));
    assert.deepEqual([Number(query.get('from')), Number(query.get('to'))], [MIDNIGHT - 86400, MIDNIGHT]);
    want = expected(MIDNIGHT - 86400, MIDNIGHT);
    sameSet(data.markers.map((m) => m.ip), want.remotes, 'remotes of 24 Nov');
    assert.ok(!data.markers.some((m) => m.ip === '9.9.9.9'), '9.9.9.9 came after midnight');
    assert.equal(await mapCount(p.page), data.markers.filter(located).length, '24 Nov on the map');
    const devices = await p.page.$$eval('#devices button[data-ip]', (els) => els.map((e) => e.dataset.ip));
    sameSet(devices, data.hosts.map((h) => h.ip), 'devices of 24 Nov');
    assert.ok(!devices.includes(DEVICES.tablet), 'the tablet appeared only on 25 Nov');

    await p.page.selectOption('#range', '30d');
    ({ data } = await shownRange(p, server));
    sameSet(data.markers.map((m) => m.ip), expected(0, now + 1).remotes, 'everything in 30 days');
    await p.close();
  });

  test('the slider scrubs through hours across midnight, by keyboard; new badges in popups', async () => {
    const p = await openPage(server);
    await p.goto();
    await p.page.focus('#scrub');
    await p.page.keyboard.press('ArrowLeft'); // 02:00-03:00 UTC on 25 Nov
    let { data, query } = await shownRange(p, server);
    const from = Number(query.get('from'));
    assert.equal(from, MIDNIGHT + 2 * HOUR);
    assert.equal(Number(query.get('to')), from + HOUR);
    assert.equal(await p.page.inputValue('#range'), 'scrub');
    assert.match(await p.page.textContent('#scrub-label'), /02:00/);
    let want = expected(from, from + HOUR);
    sameSet(data.markers.map((m) => m.ip), want.remotes, 'remotes of 02:00-03:00');
    assert.deepEqual([...want.fresh], ['9.9.9.9'], 'the plan: 9.9.9.9 is new in that hour');
    sameSet(data.markers.filter((m) => m.new).map((m) => m.ip), want.fresh, 'new in 02:00-03:00');
    assert.equal(await mapCount(p.page), data.markers.filter(located).length);
    assert.equal(await p.page.locator('.leaflet-marker-pane .cm-marker.has-new').count(), 1, 'one marker marked new');
    let popup = await popupOf(p.page, '9.9.9.9');
    assert.equal(await popup.locator('.badge-new').count(), 1, '9.9.9.9 badged new');
    await p.page.fill('#search', '');
    popup = await popupOf(p.page, '1.1.1.1');
    assert.equal(await popup.locator('.badge-new').count(), 0, '1.1.1.1 is not new at 02:00');
    await p.page.fill('#search', '');

    // three hours back: 23:00-00:00 on 24 Nov, across the day boundary
    await p.page.focus('#scrub');
    for (let i = 0; i < 3; i++) await p.page.keyboard.press('ArrowLeft');
    ({ data, query } = await shownRange(p, server));
    assert.equal(Number(query.get('from')), START + HOUR);
    want = expected(START + HOUR, START + 2 * HOUR);
    sameSet(data.markers.map((m) => m.ip), want.remotes, 'remotes of 23:00-00:00');
    assert.ok(data.markers.some((m) => m.ip === '8.8.8.8' && m.new), "8.8.8.8 is new at 23:00 (the phone's first contact)");
    assert.match(await p.page.textContent('#status'), /History: .*23:00/);

    // back to live: polling again, the live tables on the map
    const before = p.requests.filter((r) => r === '/markers.json').length;
    await p.page.click('#range-live');
    await p.page.waitForFunction(() => document.body.dataset.range === 'live');
    await p.page.waitForTimeout(6000);
    assert.ok(p.requests.filter((r) => r === '/markers.json').length > before, 'polls again');
    assert.equal(await mapCount(p.page), live.markers.filter(located).length, 'live remotes back');
    assert.notEqual(await p.page.getAttribute('#status', 'data-state'), 'history');
    await p.close();
  });

  test("a device's timeline: bytes per hour of the last 48 h when live, of the range otherwise", async () => {
    const p = await openPage(server);
    await p.goto();
    await p.page.click(`#devices button[data-ip="${DEVICES.laptop}"]`);
    const fig = p.page.locator('#devices .timeline svg');
    await fig.waitFor({ timeout: 15000 });
    const req = p.requests.find((r) => r.startsWith('/history.json?') && r.includes('host='));
    assert.ok(req, 'the live timeline comes from history.json?host=');
    const h = await getJson(server, req);
    const host = h.hosts.find((x) => x.ip === DEVICES.laptop);
    assert.equal(h.resolution, HOUR);
    const hours = new Set(host.timeline.filter((r) => r[1] || r[2]).map((r) => r[0]));
    // the laptop talked every 10 min from 22:00 to 04:00: six hours
    assert.deepEqual([...hours].sort(), [0, 1, 2, 3, 4, 5].map((i) => START + i * HOUR), 'six hours of the laptop');
    const bars = await p.page.$$eval('#devices .timeline .tl-bar', (els) => els.map((e) => ({
      t: Number(e.dataset.t), out: e.querySelector('.tl-out')?.getAttribute('height'), in: e.querySelector('.tl-in')?.getAttribute('height'),
    })));
    assert.equal(await p.page.getAttribute('#devices .timeline', 'data-bars'), '48', '48 hourly slots');
    sameSet(bars.map((b) => b.t), hours, 'a bar for each hour with traffic');
    const at = (t) => Number(bars.find((b) => b.t === t).in);
    assert.ok(at(MIDNIGHT + HOUR) > at(START + HOUR), 'after midnight the laptop was busier (taller bars)');
    const title = await p.page.textContent(`#devices .timeline .tl-bar[data-t="${MIDNIGHT}"] title`);
    assert.match(title, /00:00: ↑ .* ↓ /);
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'history-timeline.png') });

    // a click on an hour's bar shows that hour; the timeline is then the range's own
    await p.page.click(`#devices .timeline .tl-bar[data-t="${MIDNIGHT + HOUR}"]`, { force: true });
    const { data, query } = await shownRange(p, server);
    assert.equal(Number(query.get('from')), MIDNIGHT + HOUR);
    await p.page.waitForSelector('#devices .timeline[data-bars="1"]');
    assert.equal(await p.page.getAttribute(`#devices button[data-ip="${DEVICES.laptop}"]`, 'aria-pressed'), 'true', 'still selected');
    assert.ok(data.hosts.some((x) => x.ip === DEVICES.laptop));

    // 30 days: daily buckets, the two days of the capture
    await p.page.selectOption('#range', '30d');
    const thirty = await shownRange(p, server);
    assert.equal(thirty.data.resolution, 86400);
    await p.page.waitForSelector('#devices .timeline[data-resolution="86400"]');
    const days = await p.page.$$eval('#devices .timeline .tl-bar', (els) => els.map((e) => Number(e.dataset.t)));
    sameSet(days, [MIDNIGHT - 86400, MIDNIGHT], 'a bar for each of the two days');
    await p.close();
  });

  for (const colorScheme of ['light', 'dark']) {
    test(`no serious accessibility problems in a range with a timeline and the alerts open (axe-core), ${colorScheme}`, async (t) => {
      const p = await openPage(server, { colorScheme });
      await p.goto();
      await p.page.click(`#devices button[data-ip="${DEVICES.laptop}"]`);
      await p.page.selectOption('#range', 'today');
      await shownRange(p, server);
      await p.page.waitForSelector('#devices .timeline svg');
      if (await p.page.isVisible('#alerts-btn')) {
        await p.page.click('#alerts-btn');
        await p.page.waitForSelector('#alerts[open]');
      }
      await p.page.locator('.leaflet-marker-pane .cm-marker').first().click();
      await p.page.waitForSelector('.leaflet-popup .remote');
      // Leaflet fades popups in (opacity 0 -> 1 over 0.2 s): checked half-faded, its text would
      // fail the contrast rules on a loaded machine
      await p.page.waitForFunction(() => [...document.querySelectorAll('.leaflet-popup')]
        .every((e) => getComputedStyle(e).opacity === '1'));
      await p.page.evaluate(AXE_SOURCE);
      const result = await p.page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      }));
      for (const v of result.violations) t.diagnostic(`${v.impact} ${v.id}: ${v.nodes.length} × ${v.nodes[0]?.target}`);
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`), []);
      if (colorScheme === 'dark') await p.page.screenshot({ path: path.join(ARTIFACTS, 'history-dark.png') });
      await p.close();
    });
  }

  test('usable on a phone: the time control fits at 360 px, the slider works by touch', async () => {
    const p = await openPage(server, { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await p.goto();
    const box = await p.page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      scrub: document.querySelector('#scrub').getBoundingClientRect().toJSON(),
      range: document.querySelector('#range').getBoundingClientRect().toJSON(),
    }));
    assert.ok(box.scroll <= 360, `no horizontal scrolling (${box.scroll})`);
    assert.ok(box.scrub.width >= 300 && box.scrub.height >= 24, `slider big enough for a thumb: ${JSON.stringify(box.scrub)}`);
    assert.ok(box.range.right <= 360);
    // a tap near the slider's left end: the oldest hours (nothing there: an empty map, said so)
    await p.page.touchscreen.tap(box.scrub.x + 4, box.scrub.y + box.scrub.height / 2);
    const { data } = await shownRange(p, server);
    assert.ok(data.from < START, 'an hour before the capture');
    assert.equal(await mapCount(p.page), 0);
    assert.match(await p.page.textContent('#filter-note'), /No traffic in this time range/);
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'history-phone.png'), fullPage: true });
    await p.close();
  });

  test('alerts: listed with a count badge, a click focuses the device and remote, alerted markers marked', { skip: fake && 'stand-in server' }, async (t) => {
    const probe = await fetch(new URL('alerts.json', server.url));
    if (probe.status === 404) {
      t.skip('this daemon serves no /alerts.json (build with the alerts branch merged)');
      return;
    }
    const alerts = await probe.json();
    const p = await openPage(server);
    await p.goto();
    await p.page.waitForSelector('#alerts-btn:not([hidden])');
    assert.ok(alerts.alerts.length > 0, `the replay raised alerts: ${JSON.stringify(alerts)}`);
    assert.equal(await p.page.textContent('#alerts-badge'), `${alerts.alerts.length} new`, 'unseen alerts counted');
    await p.page.click('#alerts-btn');
    await p.page.waitForSelector('#alerts[open] #alert-list button[data-alert]');
    assert.equal(await p.page.locator('#alert-list button[data-alert]').count(), alerts.alerts.length);
    assert.equal(await p.page.isHidden('#alerts-badge'), true, 'seen once opened');
    const rules = new Set(alerts.alerts.map((a) => a.rule));
    t.diagnostic(`alerts: ${alerts.alerts.map((a) => `${a.rule} ${a.remote?.ip || a.device?.ip}`).join(', ')}`);
    // the new country of the laptop after the learning period: Ireland over IPv6
    const ie = alerts.alerts.find((a) => a.rule === 'new_country' && a.remote?.country === 'IE');
    assert.ok(ie, `a new_country alert for IE (rules seen: ${[...rules]})`);
    assert.ok(!alerts.alerts.some((a) => a.rule === 'new_country' && a.time < START + 2 * HOUR), 'none while learning');
    assert.ok(await p.page.locator('.leaflet-marker-pane .alerted').count() > 0, 'alerted markers marked');
    await p.page.click(`#alert-list button[data-alert="${ie.id}"]`);
    await p.page.waitForSelector(`.leaflet-popup .remote[data-ip="${ie.remote.ip}"] .badge-alert`, { timeout: 10000 });
    assert.equal(await p.page.evaluate(() => document.body.dataset.device), DEVICES.laptop, 'its device selected');
    if (rules.has('new_device')) {
      const nd = alerts.alerts.find((a) => a.rule === 'new_device' && a.device?.ip === DEVICES.tablet);
      if (nd) {
        await p.page.click(`#alert-list button[data-alert="${nd.id}"]`);
        await p.page.waitForFunction((ip) => document.activeElement?.dataset.ip === ip, DEVICES.tablet);
      }
    }
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'history-alerts.png') });
    await p.close();
  });
});

describe('learning period, a daemon without history, the LuCI variant', () => {
  test('the learning period is shown while it lasts', { skip: fake && 'stand-in server' }, async (t) => {
    if (!daemonHelp().includes('--alert-learning')) {
      t.skip('this daemon has no alerts (build with the alerts branch merged)');
      return;
    }
    // the default learning period (7 days) has not ended 6 h into the capture
    const server = await startServer('static', { pcap: PCAP, mmdb: path.join(FIXTURES, 'geo.mmdb'), args: ARGS });
    try {
      const alerts = await getJson(server, 'alerts.json');
      assert.ok(alerts.learning_until > alerts.generated, 'learning');
      const p = await openPage(server);
      await p.goto();
      await p.page.click('#alerts-btn');
      await p.page.waitForSelector('#alerts[data-learning="true"] #alert-note:not([hidden])');
      assert.match(await p.page.textContent('#alert-note'), /Learning until/);
      await p.close();
    } finally {
      await server.stop();
    }
  });

  test('a daemon that keeps no history (--history-top 0): the time control goes, saying why', { skip: fake && 'stand-in server' }, async () => {
    const server = await startServer('static', { pcap: PCAP, mmdb: path.join(FIXTURES, 'geo.mmdb'), args: [...ARGS, '--history-top', '0'] });
    try {
      // the one 404 that tells the page (chromium logs every failed response)
      const p = await openPage(server, {}, [/\/history\.json\?/, /status of 404/]);
      await p.goto();
      await p.page.selectOption('#range', 'today');
      await p.page.waitForSelector('#history-note:not([hidden])', { timeout: 10000 });
      assert.match(await p.page.textContent('#history-note'), /keeps no history/);
      assert.equal(await p.page.isVisible('#scrub'), false);
      assert.equal(await p.page.evaluate(() => document.body.dataset.range), 'live', 'back to live');
      await p.page.click(`#devices button[data-ip="${DEVICES.laptop}"]`);
      await p.page.waitForSelector(`#devices button[data-ip="${DEVICES.laptop}"][aria-pressed="true"]`);
      await p.page.waitForTimeout(500);
      assert.equal(await p.page.locator('#devices .timeline').count(), 0, 'no timeline');
      assert.equal(p.requests.filter((r) => r.startsWith('/history.json')).length, 1, 'asked once');
      await p.close();
    } finally {
      await server.stop();
    }
  });

  test('inside LuCI (no daemon web server for it): no history or alerts controls, and why', { skip: fake && 'stand-in server' }, async () => {
    // the LuCI build of the page, served here only to load it: it reads markers.json through
    // cgi-io, which is not there outside LuCI ("unreachable"), and must ask for nothing else
    const server = await startServer('static', { pcap: PCAP, mmdb: path.join(FIXTURES, 'geo.mmdb'), args: ARGS, www: 'www/dist-luci' });
    try {
      const p = await openPage(server);
      await p.page.goto(server.url);
      await p.page.waitForSelector('#status[data-state="unreachable"]', { timeout: 15000 });
      await p.page.waitForTimeout(1000);
      assert.equal(await p.page.isVisible('#history-note'), true);
      assert.match(await p.page.textContent('#history-note'), /need connmap’s own web server/);
      assert.equal(await p.page.isVisible('#range'), false, 'no range picker');
      assert.equal(await p.page.isVisible('#scrub'), false, 'no slider');
      assert.equal(await p.page.isVisible('#alerts-btn'), false, 'no alerts badge');
      assert.equal(await p.page.isVisible('#alerts'), false, 'no alerts list');
      assert.deepEqual(p.requests.filter((r) => /history|alerts/.test(r)), [], 'asked for neither');

      // framed as luci-app-connmap frames it: the parent's L.env, markers.json through cgi-io
      // (stood in for here by the daemon's own markers.json): a live map, still no time control
      const markers = await (await fetch(new URL('markers.json', server.url))).text();
      await p.page.route('**/luci-parent.html', (route) => route.fulfill({
        contentType: 'text/html',
        body: '<!doctype html><script>window.L = { env: { sessionid: "s3ss10n", cgi_base: "/cgi-bin" } };</script>'
          + '<iframe id="f" src="/index.html?markers=/var/run/connmap/markers.json" width="1200" height="800"></iframe>',
      }));
      let cgi = 0;
      await p.page.route('**/cgi-bin/cgi-download', (route) => {
        cgi++;
        const form = new URLSearchParams(route.request().postData() || '');
        assert.equal(form.get('sessionid'), 's3ss10n');
        assert.equal(form.get('path'), '/var/run/connmap/markers.json');
        return route.fulfill({ contentType: 'application/json', body: markers });
      });
      await p.page.goto(new URL('luci-parent.html', server.url).href);
      const frame = await (await p.page.waitForSelector('#f')).contentFrame();
      await frame.waitForSelector('.leaflet-marker-pane .cm-marker, .leaflet-marker-pane .cm-cluster', { timeout: 20000 });
      await frame.waitForSelector('#status[data-state="live"]', { timeout: 15000 });
      assert.ok(cgi > 0, 'read through cgi-io');
      assert.equal(await frame.isVisible('#history-note'), true, 'says why there is no time control');
      assert.equal(await frame.isVisible('#scrub'), false);
      assert.equal(await frame.isVisible('#alerts-btn'), false);
      await frame.click(`#devices button[data-ip="${DEVICES.laptop}"]`);
      await frame.waitForSelector(`#devices button[data-ip="${DEVICES.laptop}"][aria-pressed="true"]`);
      assert.equal(await frame.locator('#devices .timeline').count(), 0, 'no timeline to ask for');
      assert.deepEqual(p.requests.filter((r) => /history|alerts/.test(r)), [], 'asked for neither, framed');
      await p.close();
    } finally {
      await server.stop();
    }
  });
});
