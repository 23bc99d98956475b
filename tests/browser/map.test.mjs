// End-to-end tests of the map page (www/) in Debian's headless chromium, driven by
// playwright-core, against the connmap daemon (see servers.mjs for which mode and how).
// Every page is watched: any console error, page error, failed same-origin response or
// request to another origin fails the test. Screenshots go to tests/artifacts/.
// Run through tests/browser/run.sh (builds www/ first), or: node --test tests/browser/
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, ROOT } from './servers.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'tests/artifacts');
const BUDGET = 150 * 1000; // bytes, gzipped first load
const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let browser;
// A daemon built without alerts answers /alerts.json with 404, which chromium logs as a console
// error: tolerated only for such a daemon (the page then hides its alerts; history.test.mjs).
let noAlerts = false;
const probeAlerts = async (server) => {
  noAlerts = (await fetch(new URL('alerts.json', server.url))).status === 404;
};

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // playwright gives the browser a fresh temporary profile (user-data-dir) and removes it on close
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // a name of someone else's that resolves to the daemon (DNS rebinding), on loopback
      '--host-resolver-rules=MAP rebind.test 127.0.0.1',
    ],
  });
});

after(async () => {
  await browser?.close();
});

/**
 * Opens the page in a fresh context that records problems and the markers.json bodies the
 * page received. Returns {page, rec, problems, close}.
 */
async function openPage(server, options = {}, { allowErrors = [] } = {}) {
  const origin = new URL(server.url).origin;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  const problems = [];
  const rec = { last: null, etag: null, count: 0, transform: null };
  const tolerated = noAlerts ? [/\/alerts\.json$/, /the server responded with a status of 404/] : [];
  const allowed = (text) => [...allowErrors, ...tolerated].some((re) => re.test(text));

  await context.route('**/*', async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    if (url.origin !== origin) {
      problems.push(`request to another origin: ${req.method()} ${req.url()}`);
      return route.abort('blockedbyclient');
    }
    if (url.pathname !== '/markers.json') return route.continue().catch(() => {});
    try {
      const response = await route.fetch();
      if (response.status() === 200) {
        let data = await response.json();
        if (rec.transform) data = rec.transform(data);
        rec.last = data;
        rec.etag = response.headers().etag ?? null;
        rec.count++;
        const headers = { ...response.headers() };
        delete headers['content-encoding'];
        delete headers['content-length'];
        return await route.fulfill({ status: 200, headers, body: JSON.stringify(data) });
      }
      return await route.fulfill({ response });
    } catch {
      // the page went away, or gave up on the request: it sees that itself, no more to do here
    }
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !allowed(msg.text())) problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400 && !allowed(res.url())) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });

  return {
    page,
    rec,
    problems,
    async goto() {
      await page.goto(server.url);
      await page.waitForSelector('.cm-marker, .cm-cluster', { timeout: 20000 });
      await page.waitForFunction(() => document.querySelectorAll('path.country').length > 100, null, { timeout: 20000 });
    },
    async close() {
      await context.close();
      assert.deepEqual(problems, [], 'the page had problems');
    },
  };
}

/** Number of remotes the map shows: single markers count their remotes, clusters their children. */
function mapCountIn(page) {
  return page.evaluate(() => {
    let n = 0;
    for (const el of document.querySelectorAll('.leaflet-marker-pane .cm-marker')) n += Number(el.textContent) || 1;
    for (const el of document.querySelectorAll('.leaflet-marker-pane .cm-cluster')) n += Number(el.textContent);
    return n;
  });
}

/**
 * Waits until the DOM shows the snapshot the page last received and `check(data)` passes on
 * it (retrying: the data may change while we look, and markercluster animates).
 */
async function eventually(page, rec, check, what, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let last = 'no data received';
  while (Date.now() < deadline) {
    const before = rec.count;
    const data = rec.last;
    const shown = await page.evaluate(() => document.body.dataset.etag || null);
    if (data && shown === rec.etag) {
      try {
        const result = await check(data);
        if (rec.count === before) return result;
        last = 'data changed while checking';
      } catch (err) {
        last = err.message;
      }
    } else {
      last = `page shows ETag ${shown}, last received ${rec.etag}`;
    }
    await page.waitForTimeout(300);
  }
  throw new Error(`${what}: ${last}`);
}

const located = (m) => typeof m.lat === 'number' && typeof m.lng === 'number';

/** Finds a remote's marker on the map (zooming into clusters) and opens its popup. */
async function openPopupOf(page, remote) {
  await page.fill('#search', remote.ip);
  for (let i = 0; i < 8; i++) {
    await page.waitForTimeout(700); // search debounce, cluster animation
    const marker = page.locator('.leaflet-marker-pane .cm-marker');
    if ((await marker.count()) > 0) {
      await marker.first().click();
      break;
    }
    const cluster = page.locator('.leaflet-marker-pane .cm-cluster');
    if ((await cluster.count()) > 0) await cluster.first().click();
  }
  const section = page.locator(`.leaflet-popup .remote[data-ip="${remote.ip}"]`);
  await section.waitFor({ timeout: 10000 });
  return section;
}

// `promise`, or a rejection naming `what` after `ms` (for protocol calls without a timeout).
function within(ms, what, promise) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from chromium in ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function rawGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

describe('map page against replayed data', () => {
  let server;
  before(async () => {
    server = await startServer('static');
    await probeAlerts(server);
  });
  after(async () => {
    await server?.stop();
  });

  test('first load is gzipped, cached right and within budget', async (t) => {
    t.diagnostic(`server: ${server.kind}`);
    const index = await rawGet(server.url, { 'Accept-Encoding': 'gzip' });
    assert.equal(index.status, 200);
    assert.match(index.headers['cache-control'] || '', /no-cache/);
    assert.match(index.headers['content-security-policy'] || '', /default-src 'self'/);
    const html = (await import('node:zlib')).gunzipSync(index.body).toString();
    assert.doesNotMatch(html, /<style|\sstyle=|<script>/i, 'no inline style or script (CSP)');
    const assets = [
      ...html.matchAll(/<(?:link|script)\b[^>]*?\s(?:href|src)="([^"]+)"/g),
      ...html.matchAll(/\sdata-world="([^"]+)"/g),
    ].map((m) => m[1]);
    assert.ok(assets.some((a) => /^app\.[0-9a-f]{8,}\.js$/.test(a)), 'hashed JS');
    assert.ok(assets.some((a) => /^app\.[0-9a-f]{8,}\.css$/.test(a)), 'hashed CSS');
    assert.ok(assets.some((a) => /^world\.[0-9a-f]{8,}\.bin$/.test(a)), 'hashed map data');
    let total = index.body.length;
    const lines = [`index.html ${index.body.length} B`];
    for (const a of new Set(assets)) {
      const res = await rawGet(new URL(a, server.url).href, { 'Accept-Encoding': 'gzip' });
      assert.equal(res.status, 200, a);
      assert.equal(res.headers['content-encoding'], 'gzip', `${a} served gzipped`);
      assert.match(res.headers['cache-control'] || '', /immutable/, `${a} cached as immutable`);
      total += res.body.length;
      lines.push(`${a} ${res.body.length} B`);
    }
    t.diagnostic(`first load gzipped: ${total} B (${lines.join(', ')})`);
    assert.ok(total <= BUDGET, `first load ${total} B exceeds ${BUDGET} B`);
    const lic = await rawGet(new URL('licenses.txt', server.url).href);
    assert.equal(lic.status, 200);
    for (const name of ['leaflet', 'leaflet.markercluster', 'topojson-client', 'world-atlas', 'Natural Earth']) {
      assert.ok(lic.body.toString().includes(name), `licenses.txt names ${name}`);
    }
  });

  test('a page at another name gets nothing (DNS rebinding); only the router frames the page', async () => {
    if (server.kind === 'fake') return; // the stand-in server does not check Host
    const port = new URL(server.url).port;
    // Each refused navigation in a browser context of its own, closed without waiting: on a
    // loaded machine, closing a tab that is still settling on chromium's own error page (or
    // reading a refused frame) hung the run twice, with nothing on the wire. Protocol calls
    // that have no timeout of their own get one (`within`), so a hang fails with its step.
    for (const p of ['/', '/markers.json']) {
      const refused = await within(20000, 'a new context', browser.newContext());
      const page = await within(20000, 'a new tab', refused.newPage());
      // rebind.test resolves to the daemon's address (--host-resolver-rules above)
      // an error status without a body (421): chromium shows its own error page
      await page.goto(`http://rebind.test:${port}${p}`, { timeout: 20000 }).then(
        () => assert.fail(`${p}: loaded`),
        (e) => assert.match(e.message, /ERR_HTTP_RESPONSE_CODE_FAILURE/, p),
      );
      assert.equal(await within(20000, 'counting #map', page.locator('#map').count()), 0);
      const raw = await rawGet(`http://127.0.0.1:${port}${p}`, { Host: `rebind.test:${port}` });
      assert.deepEqual([raw.status, raw.body.length], [421, 0], `${p}: 421 without a body`);
      refused.close().catch(() => {});
    }
    const context = await within(20000, 'a new context', browser.newContext());
    const ok = await within(20000, 'a new tab', context.newPage());
    assert.equal((await ok.goto(`http://localhost:${port}/`, { timeout: 20000 })).status(), 200);
    assert.equal(await within(20000, 'counting #map', ok.locator('#map').count()), 1, 'the router name is served');
    // another origin may not frame the map (frame-ancestors: the router's own origins)
    const other = http.createServer((q, s) => s.end(`<!doctype html><iframe src="${server.url}"></iframe>`));
    await new Promise((r) => other.listen(0, '127.0.0.1', r));
    const messages = [];
    ok.on('console', (m) => messages.push(m.text()));
    await ok.goto(`http://127.0.0.1:${other.address().port}/`, { timeout: 20000 });
    await ok.waitForTimeout(1500);
    const framed = ok.frames().find((f) => f.url().startsWith(server.url));
    const inside = framed
      ? await within(10000, 'reading the refused frame', framed.evaluate(() => document.querySelectorAll('#map').length)).catch(() => 0)
      : 0;
    assert.equal(inside, 0, 'the map page did not load in a foreign frame');
    assert.ok(messages.some((t) => /frame-ancestors/.test(t)), `refused by frame-ancestors: ${messages.join(' | ')}`);
    other.close();
    context.close().catch(() => {});
  });

  test('a marker or cluster for every located remote, every device in the panel', async () => {
    const p = await openPage(server);
    await p.goto();
    await eventually(p.page, p.rec, async (data) => {
      const want = data.markers.filter(located).length;
      const got = await mapCountIn(p.page);
      assert.equal(got, want, 'remotes on the map');
      const ips = await p.page.$$eval('#devices button[data-ip]', (els) => els.map((e) => e.dataset.ip));
      assert.deepEqual([...ips].sort(), data.hosts.map((h) => h.ip).sort(), 'devices in the panel');
      for (const h of data.hosts) {
        const text = await p.page.textContent(`#devices button[data-ip="${h.ip}"]`);
        for (const ip of h.ips || [h.ip]) assert.ok(text.includes(ip), `device ${h.ip} shows its address ${ip}`);
      }
      const unlocated = await p.page.$$eval('#unlocated details', (els) => els.map((e) => e.dataset.ip));
      assert.deepEqual(unlocated.sort(), data.markers.filter((m) => !located(m)).map((m) => m.ip).sort(), 'unlocated list');
      const totals = await p.page.textContent('#totals');
      assert.match(totals, new RegExp(`${data.markers.length.toLocaleString('en')}\\s*remote`));
    }, 'map and panel match markers.json');
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'desktop.png') });
    await p.close();
  });

  test('selecting a device shows only its remotes', async () => {
    const p = await openPage(server);
    await p.goto();
    const data = p.rec.last;
    // the device with the fewest located remotes, but some
    const counts = data.hosts
      .map((h) => [h.ip, data.markers.filter((m) => located(m) && ofDevice(m, h)).length])
      .filter(([, n]) => n > 0)
      .sort((a, b) => a[1] - b[1]);
    assert.ok(counts.length > 0, 'some device has located remotes');
    const ip = counts[0][0];
    const button = p.page.locator(`#devices button[data-ip="${ip}"]`);
    await button.click();
    await assertPressed(p.page, ip, 'true');
    await eventually(p.page, p.rec, async (d) => {
      const dev = d.hosts.find((h) => h.ip === ip);
      const want = d.markers.filter((m) => located(m) && ofDevice(m, dev)).length;
      assert.equal(await mapCountIn(p.page), want, `remotes of ${ip} on the map`);
      assert.ok(want < d.markers.filter(located).length || d.hosts.length === 1, 'the filter hides something');
    }, 'device filter');
    await p.page.locator(`#devices button[data-ip="${ip}"]`).click();
    await assertPressed(p.page, ip, 'false');
    await eventually(p.page, p.rec, async (d) => {
      assert.equal(await mapCountIn(p.page), d.markers.filter(located).length, 'all remotes back');
    }, 'filter cleared');
    await p.close();
  });

  test('a popup shows the expected fields', async () => {
    const p = await openPage(server);
    await p.goto();
    const data = p.rec.last;
    const remote = data.markers.filter(located).sort((a, b) => score(b) - score(a))[0];
    const section = await openPopupOf(p.page, remote);
    const text = (await section.textContent()) + (await p.page.textContent('.leaflet-popup h3'));
    for (const label of ['Sent', 'Received', 'First seen', 'Last seen', 'Devices']) {
      assert.ok(text.includes(label), `popup has ${label}: ${text}`);
    }
    assert.ok(text.includes(remote.ip));
    if (remote.country) assert.ok(text.includes(regionNames.of(remote.country)), `country name in ${text}`);
    if (remote.city) assert.ok(text.includes(remote.city), 'city');
    if (remote.org) assert.ok(text.includes(remote.org), 'organisation');
    if (remote.asn != null) assert.ok(text.includes(`AS${remote.asn}`), 'ASN');
    for (const n of remote.names || []) assert.ok(text.includes(n), `domain name ${n}`);
    if (remote.ports?.length) assert.ok(text.includes('Ports'), 'ports row');
    for (const port of remote.ports || []) assert.ok(text.includes(String(port)), `port ${port}`);
    for (const proto of remote.protocols || []) assert.ok(text.includes(proto), `protocol ${proto}`);
    assert.match(text, /packets?\)/);
    const host = data.hosts.find((h) => remote.hosts.includes(h.ip));
    if (host) assert.ok(text.includes(host.name || host.ip), 'a LAN device');
    await p.close();
  });

  test('names learned from DNS and TLS are in popups and found by search', async () => {
    const p = await openPage(server);
    await p.goto();
    const data = p.rec.last;
    const remote = data.markers.find((m) => located(m) && m.names?.length);
    if (!process.env.CONNMAP_PCAP) {
      if (!remote) return; // the demo and the stand-in may have no names
    }
    assert.ok(remote, 'the fixture capture names a located remote');
    const name = remote.names[0];
    const section = await openPopupOf(p.page, remote);
    assert.ok((await section.textContent()).includes(name), `popup shows ${name}`);
    await p.page.fill('#search', name);
    await eventually(p.page, p.rec, async (d) => {
      const want = d.markers.filter((m) => located(m) && (m.names || []).some((n) => n.includes(name))).length;
      assert.ok(want >= 1);
      assert.equal(await mapCountIn(p.page), want, `remotes named ${name} on the map`);
    }, `search for ${name}`);
    await p.close();
  });

  test('names coverage in the totals, the encrypted-DNS note on devices', async () => {
    const p = await openPage(server);
    await p.goto();
    await eventually(p.page, p.rec, async (data) => {
      const cov = data.stats?.names_coverage;
      if (!cov) return; // the stand-in server sends none
      const totals = await p.page.textContent('#totals');
      const pct = (a, b) => `${Math.round((100 * a) / b)} %`;
      assert.ok(totals.includes(`${pct(cov.named.remotes, cov.remotes)} of remotes named`), totals);
      assert.ok(totals.includes(`${pct(cov.named.bytes, cov.bytes)} of traffic`), totals);
      const notes = await p.page.$$eval('#devices button[data-ip]', (els) => els.map((e) => [e.dataset.ip, e.querySelector('.enc-dns')?.textContent || null]));
      for (const [ip, note] of notes) {
        const h = data.hosts.find((x) => x.ip === ip);
        if (h.encrypted_dns) assert.equal(note, 'uses encrypted DNS: names come from SNI only', ip);
        else assert.equal(note, null, ip);
      }
      if (process.env.CONNMAP_PCAP) {
        // the fixture's devices talk to well-known DoH resolvers (1.1.1.1, 8.8.8.8 on 443)
        assert.ok(notes.some(([, n]) => n), 'a device with the encrypted-DNS note');
      }
    }, 'coverage and encrypted DNS shown');
    await p.close();
  });

  test('search finds remotes by country and shows only those', async () => {
    const p = await openPage(server);
    await p.goto();
    const data = p.rec.last;
    const country = data.markers.find((m) => located(m) && m.country)?.country;
    assert.ok(country, 'a remote with a country');
    const name = regionNames.of(country);
    await p.page.fill('#search', name);
    await eventually(p.page, p.rec, async (d) => {
      const want = d.markers.filter((m) => located(m) && matchesCountry(m, d, name)).length;
      assert.equal(await mapCountIn(p.page), want);
    }, `search for ${name}`);
    await p.close();
  });

  test('download: the tables as CSV and JSON, made from the snapshot on screen', async () => {
    const p = await openPage(server);
    await p.goto();
    const fetchDownload = async (id) => {
      const [download] = await Promise.all([p.page.waitForEvent('download'), p.page.click(`#${id}`)]);
      const file = await download.path();
      return { name: download.suggestedFilename(), text: fs.readFileSync(file, 'utf8') };
    };
    const data = p.rec.last;
    const remotes = await fetchDownload('dl-remotes');
    assert.match(remotes.name, /^connmap-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-remotes\.csv$/);
    const lines = remotes.text.trimEnd().split('\r\n');
    assert.ok(lines[0].startsWith('ip,names,country,'));
    assert.equal(lines.length, data.markers.length + 1);
    for (const m of data.markers) assert.ok(lines.some((l) => l.startsWith(`${m.ip},`)), m.ip);
    const devices = await fetchDownload('dl-devices');
    assert.equal(devices.text.trimEnd().split('\r\n').length, data.hosts.length + 1);
    const json = await fetchDownload('dl-json');
    assert.equal(JSON.parse(json.text).markers.length, data.markers.length);
    await p.close();
  });

  test('an unreachable daemon is shown', async () => {
    const p = await openPage(server, {}, { allowErrors: [/markers\.json/, /Failed to load resource/] });
    await p.goto();
    await p.page.route('**/markers.json', (route) => route.abort('connectionrefused'));
    await p.page.waitForSelector('#status[data-state="unreachable"]', { timeout: 20000 });
    assert.match(await p.page.textContent('#status'), /unreachable/i);
    await p.page.unroute('**/markers.json');
    await p.page.waitForSelector('#status[data-state="live"]', { timeout: 20000 });
    await p.close();
  });

  test('polling pauses while the tab is hidden and resumes when shown', async () => {
    const p = await openPage(server);
    // headless chromium never hides a tab: let the test flip document.hidden
    await p.page.addInitScript(() => {
      window.__testHidden = false;
      Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__testHidden });
      Object.defineProperty(Document.prototype, 'visibilityState', {
        configurable: true, get: () => (window.__testHidden ? 'hidden' : 'visible'),
      });
    });
    let polls = 0;
    p.page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/markers.json') polls++;
    });
    await p.goto();
    const setHidden = (h) => p.page.evaluate((v) => {
      window.__testHidden = v;
      document.dispatchEvent(new Event('visibilitychange'));
    }, h);
    await setHidden(true);
    await p.page.waitForSelector('#status[data-state="paused"]');
    const before = polls;
    await p.page.waitForTimeout(11000); // two poll intervals
    assert.equal(polls, before, 'no polling while hidden');
    await setHidden(false);
    await p.page.waitForSelector('#status[data-state="live"]', { timeout: 5000 });
    assert.ok(polls > before, 'polls at once when shown');
    await p.close();
  });

  test('a daemon without new data for a minute is shown as stale', async () => {
    const p = await openPage(server);
    await p.page.clock.install(); // real time, but it can jump
    await p.goto();
    await p.page.route('**/markers.json', (route) => route.fulfill({ status: 304 }));
    await p.page.clock.fastForward(65000);
    await p.page.waitForSelector('#status[data-state="stale"]', { timeout: 20000 });
    assert.match(await p.page.textContent('#status'), /no new data since/i);
    await p.page.unroute('**/markers.json');
    await p.close();
  });

  test('online tiles: offered only when configured, off by default, work when turned on', async () => {
    const p = await openPage(server);
    await p.goto();
    assert.equal(await p.page.isVisible('#tiles-option'), p.rec.last.tiles != null);
    p.rec.transform = (d) => ({ ...d, tiles: 'https://tiles.invalid/{z}/{x}/{y}.png', generated: d.generated + 1 });
    await p.page.reload(); // the first answer after a reload is a 200 that now carries a tile URL
    await p.page.waitForSelector('#tiles-option:not([hidden])', { timeout: 15000 });
    assert.equal(await p.page.isChecked('#tiles'), false, 'tiles off by default');
    await p.page.waitForTimeout(1000);
    assert.equal(await p.page.locator('.leaflet-tile').count(), 0, 'no tiles requested');

    // Turned on, tiles load. A same-origin template here: the test must not leave the machine.
    const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    let tileRequests = 0;
    await p.page.route('**/test-tiles/**', (route) => {
      tileRequests++;
      return route.fulfill({ status: 200, contentType: 'image/png', body: PNG });
    });
    p.rec.transform = (d) => ({ ...d, tiles: `${new URL(server.url).origin}/test-tiles/{z}/{x}/{y}.png` });
    await p.page.reload();
    await p.page.waitForSelector('#tiles-option:not([hidden])', { timeout: 15000 });
    assert.equal(tileRequests, 0, 'no tile requested before the user asks');
    await p.page.check('#tiles');
    await p.page.waitForSelector('.leaflet-tile-loaded', { timeout: 15000 });
    assert.ok(tileRequests > 0);
    await p.page.reload(); // the choice is remembered
    await p.page.waitForSelector('.leaflet-tile-loaded', { timeout: 15000 });
    assert.equal(await p.page.isChecked('#tiles'), true);
    await p.page.uncheck('#tiles');
    await p.page.waitForFunction(() => document.querySelectorAll('.leaflet-tile').length === 0);
    await p.close();
  });

  test('keyboard reaches the controls', async () => {
    const p = await openPage(server);
    await p.goto();
    const reached = new Set();
    for (let i = 0; i < 25 && reached.size < 3; i++) {
      await p.page.keyboard.press('Tab');
      const id = await p.page.evaluate(() => {
        const el = document.activeElement;
        return el.id || (el.dataset.ip ? 'device' : el.tagName);
      });
      if (['search', 'sort', 'device'].includes(id)) reached.add(id);
      if (id === 'device') {
        await p.page.keyboard.press('Enter');
        await p.page.waitForSelector('#devices button[aria-pressed="true"]');
      }
    }
    assert.deepEqual([...reached].sort(), ['device', 'search', 'sort']);
    await p.page.evaluate(() => document.activeElement?.blur());
    await p.page.keyboard.press('/');
    assert.equal(await p.page.evaluate(() => document.activeElement?.id), 'search', '"/" focuses the search box');
    await p.close();
  });

  for (const colorScheme of ['light', 'dark']) {
    test(`no serious accessibility problems (axe-core), ${colorScheme}`, async (t) => {
      const p = await openPage(server, { colorScheme });
      await p.goto();
      await p.page.waitForTimeout(800); // cluster animation
      const single = p.page.locator('.leaflet-marker-pane .cm-marker');
      if ((await single.count()) > 0) await single.first().click(); // a popup too
      await p.page.click('#unlocated summary').catch(() => {}); // and an unlocated remote's details
      await p.page.waitForTimeout(500);
      await p.page.evaluate(AXE_SOURCE); // through the DevTools protocol: the page's CSP does not apply
      const result = await p.page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      }));
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      t.diagnostic(`axe: ${result.passes.length} rules passed, ${result.violations.length} violated, to check by hand: ${result.incomplete.map((r) => `${r.id} (${r.nodes.length})`).join(", ") || "none"}`);
      for (const v of result.violations) t.diagnostic(`${v.impact} ${v.id}: ${v.nodes.length} × ${v.nodes[0]?.target}`);
      assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`), []);
      await p.close();
    });
  }

  test('usable at 360 px', async () => {
    const p = await openPage(server, { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await p.goto();
    const layout = await p.page.evaluate(() => {
      const box = (sel) => document.querySelector(sel).getBoundingClientRect().toJSON();
      return {
        scrollWidth: document.documentElement.scrollWidth,
        map: box('#map'),
        search: box('#search'),
        devices: [...document.querySelectorAll('#devices button')].map((b) => b.getBoundingClientRect().toJSON()),
      };
    });
    assert.ok(layout.scrollWidth <= 360, `no horizontal scrolling (${layout.scrollWidth})`);
    assert.ok(layout.map.width >= 359 && layout.map.height >= 250, `map is big enough: ${JSON.stringify(layout.map)}`);
    assert.ok(layout.search.right <= 360 && layout.search.width >= 250, 'search box fits');
    for (const d of layout.devices) assert.ok(d.left >= 0 && d.right <= 360, 'device buttons fit');
    await eventually(p.page, p.rec, async (data) => {
      assert.equal(await mapCountIn(p.page), data.markers.filter(located).length, 'remotes on the map');
    }, 'phone map');
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'phone.png') });
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'phone-full.png'), fullPage: true });
    await p.close();
  });

  test('dark mode', async () => {
    const p = await openPage(server, { colorScheme: 'dark' });
    await p.goto();
    const bg = await p.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, `dark background (${bg})`);
    // a popup on a marker that is not in a cluster, at the world view, for the screenshot
    const single = p.page.locator('.leaflet-marker-pane .cm-marker');
    if ((await single.count()) > 0) await single.last().click();
    else await openPopupOf(p.page, p.rec.last.markers.filter(located).sort((a, b2) => score(b2) - score(a))[0]);
    await p.page.waitForSelector('.leaflet-popup .remote');
    await p.page.waitForTimeout(400);
    await p.page.screenshot({ path: path.join(ARTIFACTS, 'dark.png') });
    await p.close();
  });
});

describe('map page against live data (connmap demo)', () => {
  let server;
  before(async () => {
    server = await startServer('live');
    await probeAlerts(server);
  });
  after(async () => {
    await server?.stop();
  });

  test('a live update appears after new data, the open popup stays open', async () => {
    const p = await openPage(server);
    await p.goto();
    const first = p.rec.last;
    const remote = first.markers.filter(located).sort((a, b) => total(b) - total(a))[0];
    await openPopupOf(p.page, remote);
    await p.page.fill('#search', ''); // all markers again; the popup stays (maybe on its own, if its marker joins a cluster)
    await p.page.waitForTimeout(800); // search debounce, cluster animation
    const etag = p.rec.etag;
    const totalsBefore = await p.page.textContent('#totals');
    // tag the popup and the map's icons: an update must change them in place, not rebuild them
    await p.page.evaluate(() => {
      document.querySelector('.leaflet-popup').dataset.tag = 'before';
      for (const el of document.querySelectorAll('.leaflet-marker-pane > *')) el.dataset.tag = 'before';
    });
    await p.page.waitForFunction((e) => document.body.dataset.etag && document.body.dataset.etag !== e, etag, { timeout: 30000 });
    await eventually(p.page, p.rec, async (data) => {
      assert.equal(await mapCountIn(p.page), data.markers.filter(located).length, 'remotes on the map');
    }, 'updated map', 30000);
    assert.notEqual(await p.page.textContent('#totals'), totalsBefore, 'totals changed');
    assert.equal(await p.page.locator(`.leaflet-popup .remote[data-ip="${remote.ip}"]`).count(), 1, 'popup still open');
    assert.equal(await p.page.getAttribute('.leaflet-popup', 'data-tag'), 'before', 'the same popup, not closed and reopened');
    const kept = await p.page.evaluate(() => document.querySelectorAll('.leaflet-marker-pane > [data-tag="before"]').length);
    assert.ok(kept > 0, 'icons are updated in place');
    assert.equal(await p.page.getAttribute('#status', 'data-state'), 'live');
    await p.close();
  });
});

function total(m) {
  return (m.bytes_out || 0) + (m.bytes_in || 0);
}

/** Prefers remotes with many fields filled in, for the popup test. */
function score(m) {
  return (m.names?.length ? 4 : 0) + (m.city ? 2 : 0) + (m.org ? 2 : 0) + (m.ports?.length ? 1 : 0) + total(m) / 1e12;
}

/**
 * Whether a remote matches a country's name searched for: each plain word of it a whole word
 * of a field, a term with other characters (d'Ivoire) a part of one.
 */
function matchesCountry(m, data, name) {
  const fields = [m.ip, m.city, m.country, m.country && regionNames.of(m.country), m.org, m.asn != null ? `as${m.asn}` : null,
    ...(m.names || []), ...m.hosts.flatMap((ip) => [ip, data.hosts.find((h) => h.ip === ip)?.name])]
    .filter(Boolean).map((f) => String(f).toLowerCase());
  const words = new Set(fields.flatMap((f) => f.split(/[^\p{L}\p{N}]+/u)));
  return name.toLowerCase().split(/\s+/).every((t) => (/^[\p{L}\p{N}]+$/u.test(t) ? words.has(t) : fields.some((f) => f.includes(t))));
}

/** Whether a LAN device (all its addresses, `ips`) sent to a remote. */
function ofDevice(m, h) {
  const ips = h?.ips?.length ? h.ips : [h?.ip];
  return m.hosts.some((ip) => ips.includes(ip));
}

async function assertPressed(page, ip, value) {
  await page.waitForSelector(`#devices button[data-ip="${ip}"][aria-pressed="${value}"]`, { timeout: 5000 });
}
