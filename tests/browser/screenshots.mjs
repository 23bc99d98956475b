// Makes the screenshots in docs/screenshots/ (desktop, phone, dark: the README's) from
// `connmap demo` in Debian's headless chromium, and history.png (today's history, a device's
// timeline, the alerts badge) from the daemon replaying history-capture.mjs's capture. tests/browser/run.sh runs it after the tests
// pass, so the pictures are always of the current page; by hand:
//   www/build.sh && cargo build && node tests/browser/screenshots.mjs [OUTDIR]
// (CONNMAP_BIN / CONNMAP_FAKE as for the tests, see servers.mjs).
import path from 'node:path';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer, ROOT } from './servers.mjs';
import { writeHistoryCapture, ARGS, DEVICES } from './history-capture.mjs';

const out = path.resolve(process.argv[2] || path.join(ROOT, 'docs/screenshots'));
fs.mkdirSync(out, { recursive: true });
const server = await startServer('live');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  await new Promise((r) => setTimeout(r, 15000)); // let the demo gather some traffic
  const shots = [
    ['desktop', { viewport: { width: 1280, height: 800 } }],
    ['phone', { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
    ['dark', { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' }],
  ];
  for (const [name, options] of shots) {
    const context = await browser.newContext(options);
    await context.route('**/*', (route) =>
      new URL(route.request().url()).origin === new URL(server.url).origin ? route.continue() : route.abort());
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForSelector('.cm-marker, .cm-cluster');
    await page.waitForTimeout(1500);
    if (name === 'dark') {
      await page.locator('.leaflet-marker-pane .cm-marker').last().click();
      await page.waitForSelector('.leaflet-popup .remote');
      await page.waitForTimeout(500);
    }
    await page.screenshot({ path: path.join(out, `${name}.png`) });
    await context.close();
    console.log(`wrote ${path.join(out, `${name}.png`)}`);
  }
} finally {
  await server.stop();
}

// The time control on "today", the laptop's timeline, the alerts badge in the header. Needs the
// test database of `cargo run --example fixtures -- tests/artifacts/fixtures` (run.sh makes it).
const mmdb = path.join(ROOT, 'tests/artifacts/fixtures/geo.mmdb');
if (process.env.CONNMAP_FAKE !== '1' && fs.existsSync(mmdb)) {
  const pcap = path.join(ROOT, 'tests/artifacts/history.pcap');
  writeHistoryCapture(pcap);
  const replay = await startServer('static', { pcap, mmdb, args: [...ARGS, '--alert-learning', '7200'] }).catch(
    () => startServer('static', { pcap, mmdb, args: ARGS }), // a daemon without alerts
  );
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 960 }, timezoneId: 'UTC', locale: 'en-GB' });
    await context.route('**/*', (route) =>
      new URL(route.request().url()).origin === new URL(replay.url).origin ? route.continue() : route.abort());
    const page = await context.newPage();
    await page.goto(replay.url);
    await page.waitForSelector('.cm-marker, .cm-cluster');
    await page.click(`#devices button[data-ip="${DEVICES.laptop}"]`);
    await page.waitForSelector('#devices .timeline svg');
    await page.selectOption('#range', 'today'); // 00:00-03:55 UTC: four hours, new remotes
    await page.waitForFunction(() => /^\d+-\d+$/.test(document.body.dataset.range));
    await page.waitForSelector('#devices .timeline[data-bars="4"]');
    await page.waitForTimeout(1200);
    await page.screenshot({ path: path.join(out, 'history.png') });
    await context.close();
    console.log(`wrote ${path.join(out, 'history.png')}`);
  } finally {
    await replay.stop();
  }
}
await browser.close();
