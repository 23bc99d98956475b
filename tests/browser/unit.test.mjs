// Unit tests of the map page's pure modules (www/src/format.js and model.js) in node, no
// browser: escaping, formatting, search, device filter, sorting and grouping by place, time
// ranges (in the local time zone, whichever it is) and timeline bars.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as fmt from '../../www/src/format.js';
import { deriveView, groupByPlace, sizeClass, recencyClass, deviceAddresses } from '../../www/src/model.js';
import { encodeWorld, decodeWorld } from '../../www/src/world.js';
import * as range from '../../www/src/range.js';

const sample = JSON.parse(fs.readFileSync(new URL('./fixtures/sample-markers.json', import.meta.url), 'utf8'));
const ui = (o = {}) => ({ device: null, query: '', sort: 'traffic', ...o });

test('esc escapes everything that could become markup', () => {
  assert.equal(fmt.esc(`<img src=x onerror="a('b')">&`), '&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;');
  assert.equal(fmt.esc(null), '');
});

test('bytes, counts and ages read well', () => {
  assert.equal(fmt.bytes(0), '0 B');
  assert.equal(fmt.bytes(999), '999 B');
  assert.equal(fmt.bytes(1500), '1.50 kB');
  assert.equal(fmt.bytes(22_200_000), '22.2 MB');
  assert.equal(fmt.bytes(1_450_000_000), '1.45 GB');
  assert.equal(fmt.bytes(123_400_000), '123 MB');
  assert.equal(fmt.plural(1, 'packet'), '1 packet');
  assert.equal(fmt.plural(12345, 'packet'), '12,345 packets');
  assert.equal(fmt.ago(100, 100), 'just now');
  assert.equal(fmt.ago(100, 145), '45 s ago');
  assert.equal(fmt.ago(0, 600), '10 min ago');
  assert.equal(fmt.ago(0, 7200), '2 h ago');
  assert.equal(fmt.ago(0, 3 * 86400), '3 d ago');
});

test('places and networks', () => {
  assert.equal(fmt.place({ city: 'Sydney', country: 'AU' }), 'Sydney, Australia');
  assert.equal(fmt.place({ city: null, country: 'DE' }), 'Germany');
  assert.equal(fmt.place({ city: null, country: null }), null);
  assert.equal(fmt.network({ asn: 13335, org: 'Cloudflare, Inc.' }), 'AS13335 Cloudflare, Inc.');
  assert.equal(fmt.network({ asn: null, org: null }), null);
});

test('without filters everything is shown, located and unlocated apart', () => {
  const v = deriveView(sample, ui());
  assert.equal(v.located.length + v.unlocated.length, sample.markers.length);
  assert.ok(v.unlocated.every((m) => m.lat === null));
  assert.equal(v.devices.length, sample.hosts.length);
  assert.equal(v.filtered, false);
  const total = (m) => m.bytes_out + m.bytes_in;
  for (let i = 1; i < v.located.length; i++) assert.ok(total(v.located[i - 1]) >= total(v.located[i]), 'by traffic');
});

test('recency sort', () => {
  const v = deriveView(sample, ui({ sort: 'recent' }));
  for (let i = 1; i < v.devices.length; i++) assert.ok(v.devices[i - 1].last_seen >= v.devices[i].last_seen);
});

test('a device shows only its remotes; an unknown device is dropped', () => {
  const ip = '192.168.1.23';
  const v = deriveView(sample, ui({ device: ip }));
  assert.ok(v.located.length > 0);
  assert.ok([...v.located, ...v.unlocated].every((m) => m.hosts.includes(ip)));
  assert.equal(v.device, ip);
  assert.equal(deriveView(sample, ui({ device: '10.9.9.9' })).device, null);
});

test('a device with IPv4 and IPv6 addresses (ips) shows the remotes of all of them', () => {
  const data = {
    hosts: [
      { ip: '192.168.1.10', ips: ['192.168.1.10', 'fd00:1::10'], name: 'laptop' },
      { ip: '192.168.1.11', name: 'phone' },
    ],
    markers: [
      { ip: '1.1.1.1', hosts: ['192.168.1.10'], lat: 1, lng: 1, names: ['one.example'] },
      { ip: '2001:db8::1', hosts: ['fd00:1::10'], lat: 2, lng: 2 },
      { ip: '8.8.8.8', hosts: ['192.168.1.11'], lat: 3, lng: 3 },
    ],
  };
  const v = deriveView(data, ui({ device: '192.168.1.10' }));
  assert.deepEqual(v.located.map((m) => m.ip).sort(), ['1.1.1.1', '2001:db8::1']);
  assert.equal(v.device, '192.168.1.10');
  // an address of the device selects it too; search by the other address finds the device
  assert.equal(deriveView(data, ui({ device: 'fd00:1::10' })).device, '192.168.1.10');
  assert.deepEqual(deriveView(data, ui({ query: 'fd00:1::10' })).devices.map((h) => h.ip), ['192.168.1.10']);
  assert.deepEqual(deriveView(data, ui({ query: 'laptop' })).located.map((m) => m.ip).sort(), ['1.1.1.1', '2001:db8::1']);
  assert.deepEqual(deriveView(data, ui({ query: 'one.example' })).located.map((m) => m.ip), ['1.1.1.1']);
});

test('search: IP, domain name, country name and code, device name, several words', () => {
  const ips = (q) => [...deriveView(sample, ui({ query: q })).located, ...deriveView(sample, ui({ query: q })).unlocated].map((m) => m.ip).sort();
  assert.deepEqual(ips('1.1.1.1'), ['1.1.1.1']);
  assert.deepEqual(ips('YouTube'), ['142.250.185.78']);
  assert.deepEqual(ips('japan'), ['203.0.113.77']);
  assert.ok(ips('germany').length >= 5);
  assert.ok(ips('tv-livingroom').every((ip) => sample.markers.find((m) => m.ip === ip).hosts.includes('192.168.1.20')));
  assert.deepEqual(ips('google frankfurt mail'), ['142.250.186.46']);
  assert.deepEqual(ips('vpn.example.org'), ['198.18.0.44']);
  assert.deepEqual(ips('nothing-like-this'), []);
  // devices: by their own fields or through matching remotes
  const devs = deriveView(sample, ui({ query: 'printer' })).devices.map((h) => h.ip);
  assert.ok(devs.includes('fd00:1::8'));
});

test('search: a country code matches the code, a name whole words', () => {
  const data = {
    hosts: [{ ip: '192.168.1.10', ips: ['192.168.1.10', 'fd00:1::10', '2001:db8:1::10'], name: 'laptop-anna' }],
    markers: [
      { ip: '1.0.0.1', country: 'US', city: 'Ashburn', hosts: ['192.168.1.10'], lat: 1, lng: 1 },
      { ip: '1.0.0.2', country: 'RU', city: 'Moscow', hosts: ['192.168.1.10'], lat: 1, lng: 1 },
      { ip: '1.0.0.3', country: 'AU', city: 'Sydney', hosts: ['192.168.1.10'], lat: 1, lng: 1 },
      { ip: '1.0.0.4', country: 'BY', city: 'Minsk', hosts: ['192.168.1.10'], lat: 1, lng: 1 },
      { ip: '1.0.0.5', country: 'DE', org: 'Hetzner Online', names: ['status.example'], hosts: ['192.168.1.10'], lat: 1, lng: 1 },
    ],
  };
  const ips = (q) => deriveView(data, ui({ query: q })).located.map((m) => m.ip).sort();
  assert.deepEqual(ips('US'), ['1.0.0.1'], 'not Russia, Australia, Belarus');
  assert.deepEqual(ips('us'), ['1.0.0.1']);
  assert.deepEqual(ips('united states'), ['1.0.0.1']);
  assert.deepEqual(ips('Russia'), ['1.0.0.2']);
  assert.deepEqual(ips('australia'), ['1.0.0.3']);
  assert.deepEqual(ips('austral'), [], 'whole words only');
  assert.deepEqual(ips('hetzner'), ['1.0.0.5']);
  assert.deepEqual(ips('status'), ['1.0.0.5'], 'a label of a domain name is a word');
  assert.deepEqual(ips('status.example'), ['1.0.0.5']);
  assert.deepEqual(ips('1.0.0.'), ['1.0.0.1', '1.0.0.2', '1.0.0.3', '1.0.0.4', '1.0.0.5']);
  // a device is found by any of its addresses, its name or a word of it
  for (const q of ['fd00:1::10', '2001:db8:1::10', '192.168.1.10', 'anna', 'laptop-anna']) {
    assert.deepEqual(deriveView(data, ui({ query: q })).devices.map((h) => h.ip), ['192.168.1.10'], q);
  }
  assert.deepEqual(deviceAddresses(data.hosts[0]), ['192.168.1.10', 'fd00:1::10', '2001:db8:1::10']);
  assert.deepEqual(deviceAddresses({ ip: '10.0.0.1' }), ['10.0.0.1']);
});

test('remotes at the same coordinates share a place', () => {
  const v = deriveView(sample, ui());
  const places = groupByPlace(v.located);
  const frankfurt = [...places.values()].find((p) => p.remotes.some((m) => m.city === 'Frankfurt am Main'));
  assert.ok(frankfurt.remotes.length >= 4);
  assert.equal(frankfurt.bytes, frankfurt.remotes.reduce((s, m) => s + m.bytes_out + m.bytes_in, 0));
  assert.equal([...places.values()].reduce((s, p) => s + p.remotes.length, 0), v.located.length);
});

test('size and recency classes', () => {
  assert.deepEqual([0, 9e5, 2e6, 2e7, 1e8, 5e8, 1e9, 2e9].map((b) => sizeClass(b, 1e9)), [1, 1, 2, 3, 4, 5, 5, 5]);
  assert.equal(sizeClass(100, 0), 5);
  assert.deepEqual([10000, 9990, 9700, 9100, 0].map((t) => recencyClass(t, 10000)), [0, 0, 1, 2, 3]);
});

test('map data: binary arcs round-trip, damage is an error', () => {
  const topo = {
    type: 'Topology',
    bbox: [-180, -85, 180, 83],
    transform: { scale: [0.036, 0.0168], translate: [-180, -85] },
    objects: { countries: { type: 'GeometryCollection', geometries: [{ type: 'Polygon', arcs: [[0, -2]], id: '250' }] } },
    arcs: [[[5959, 4377], [-7, 80], [0, 0], [-70000, 9999]], [[1, 2]], []],
  };
  const bytes = encodeWorld(topo);
  assert.deepEqual(decodeWorld(bytes), topo);
  assert.deepEqual(decodeWorld(bytes.slice().buffer), topo);
  assert.throws(() => decodeWorld(bytes.subarray(0, bytes.length - 1)), /truncated/);
  assert.throws(() => decodeWorld(new Uint8Array([...bytes, 0])), /trailing/);
  assert.throws(() => decodeWorld(new Uint8Array([255, 0, 0, 0, 1])), /header/);
  assert.throws(() => encodeWorld({ arcs: [[[0.5, 1]]] }), /step/);
});

test('names where DNS is hidden: sources, ECH front, coverage, encrypted DNS', async () => {
  const { remoteDetails } = await import('../../www/src/details.js');
  assert.equal(fmt.nameSources({ name_kinds: ['dns', 'quic'] }), 'DNS, QUIC SNI');
  assert.equal(fmt.nameSources({}), null);
  const m = {
    ip: '10.99.1.1', hosts: [], ports: [443], protocols: ['tcp'], names: [],
    name_kinds: ['ech-outer'], ech_outer: ['cloudflare-ech.com'], first_seen: 1, last_seen: 2,
  };
  const html = remoteDetails(m, { now: 3, hostsByIp: new Map() });
  assert.match(html, /ECH front<\/abbr><\/dt><dd><span class="name ech-outer">cloudflare-ech\.com/);
  assert.doesNotMatch(html, /<dt>Names<\/dt>/, 'an ECH outer name is not among the names');
  assert.match(html, /Named by.*ECH outer name/);
  const c = fmt.coverage({
    remotes: 4, bytes: 1000, named: { remotes: 3, bytes: 800 }, dns: { remotes: 2, bytes: 500 },
    quic: { remotes: 1, bytes: 300 }, sni: { remotes: 0, bytes: 0 }, host: { remotes: 0, bytes: 0 },
    ech_outer_only: { remotes: 1, bytes: 100 },
  });
  assert.deepEqual(c, {
    remotes: '75 %', bytes: '80 %',
    by: ['DNS: 50 % of remotes, 50 % of traffic', 'QUIC SNI: 25 % of remotes, 30 % of traffic',
      'only an ECH outer name: 25 % of remotes, 10 % of traffic'],
  });
  assert.equal(fmt.coverage({ remotes: 0 }), null);
  assert.equal(fmt.encryptedDns({}), null);
  const n = fmt.encryptedDns({ encrypted_dns: { dot: 1, doh: 1, bytes: 10 } });
  assert.equal(n.text, 'uses encrypted DNS: names come from SNI only');
  assert.match(n.title, /DNS over TLS and DNS over HTTPS \(2 resolvers\)/);
});

test('downloads: CSV of the tables, safe in spreadsheets', async () => {
  const dl = await import('../../www/src/download.js');
  assert.equal(dl.csvField('a,b'), '"a,b"');
  assert.equal(dl.csvField('say "hi"'), '"say ""hi"""');
  assert.equal(dl.csvField('=HYPERLINK("x")'), '"\'=HYPERLINK(""x"")"');
  assert.equal(dl.csvField('@cmd'), "'@cmd");
  assert.equal(dl.csvField(-33.5), '-33.5');
  assert.equal(dl.csvField(null), '');
  assert.equal(dl.csvField(['a.example', 'b.example']), 'a.example b.example');
  const csv = dl.remotesCsv(sample).split('\r\n');
  assert.equal(csv[0].split(',')[0], 'ip');
  assert.equal(csv.length, sample.markers.length + 2); // header, rows, final newline
  assert.ok(csv[1].startsWith(`${sample.markers[0].ip},`));
  assert.equal(dl.devicesCsv(sample).split('\r\n').length, sample.hosts.length + 2);
  assert.equal(dl.baseName(0.5e9 + 1.2e9), 'connmap-2023-11-14T22-13-20');
});

test('where the counts come from: conntrack replaces the offload warning', () => {
  assert.equal(fmt.countsNote({ source: 'capture', offload: { detected: false } }), null);
  assert.match(fmt.countsNote({ source: 'capture', offload: { detected: true, hardware: true } }),
    /^Flow offloading is on \(hardware\): .* partial/);
  assert.match(fmt.countsNote({ source: 'capture', offload: { detected: true }, conntrack: { active: false, accounting: false, error: null } }),
    /Conntrack is not counting: nf_conntrack_acct is off\.$/);
  assert.match(fmt.countsNote({ source: 'capture', offload: { detected: true }, conntrack: { error: 'conntrack: Operation not permitted (conntrack needs CAP_NET_ADMIN)' } }),
    /CAP_NET_ADMIN/);
  const on = fmt.countsNote({ source: 'conntrack', offload: { detected: true, hardware: false }, conntrack: { active: true } });
  assert.match(on, /^Counts from conntrack \(flow offloading is on; IP-layer bytes/);
  assert.doesNotMatch(on, /partial/);
  assert.equal(fmt.countsNote({ source: 'conntrack', offload: { detected: false } }),
    'Counts from conntrack (IP-layer bytes, every packet of each connection).');
});

test('time ranges: last hour, today, a day, 30 days, the hours of the slider', () => {
  const now = 1764042917; // 2025-11-25T03:55:17Z
  assert.deepEqual(range.rangeOf({ mode: 'live' }, now), null);
  assert.deepEqual(range.rangeOf({ mode: 'hour' }, now), { from: now - 3600, to: now });
  assert.deepEqual(range.rangeOf({ mode: '30d' }, now), { from: now - 30 * 86400, to: now });
  const midnight = range.localMidnight(now);
  assert.equal(new Date(midnight * 1000).getHours(), 0);
  assert.ok(now - midnight < 86400 + 3600 && now >= midnight);
  assert.deepEqual(range.rangeOf({ mode: 'today' }, now), { from: midnight, to: now });
  // a day: local midnight to the next one (or now, for today)
  const day = range.parseDay(range.dayValue(now - 86400));
  assert.deepEqual(range.rangeOf({ mode: 'day', day }, now), { from: day, to: range.nextMidnight(day) });
  assert.deepEqual(range.rangeOf({ mode: 'day', day: midnight }, now), { from: midnight, to: now });
  assert.equal(range.rangeOf({ mode: 'day', day: null }, now), null);
  assert.equal(range.parseDay('2025-13-99x'), null);
  assert.equal(range.dayValue(range.parseDay('2025-11-24')), '2025-11-24');
  // the slider: 48 hours, the last one holds now; an hour boundary belongs to the hour before
  assert.deepEqual(range.rangeOf({ mode: 'scrub', hour: 47 }, now), { from: 1764039600, to: now });
  assert.deepEqual(range.rangeOf({ mode: 'scrub', hour: 46 }, now), { from: 1764036000, to: 1764039600 });
  assert.equal(range.scrubHour(0, now), 1764039600 - 47 * 3600);
  assert.equal(range.scrubHour(47, 1764039600), 1764036000, 'now on the hour: the hour before is the current one');
  assert.equal(range.scrubIndex(1764036000 + 5, now), 46);
  assert.equal(range.scrubIndex(0, now), 0, 'clamped');
  assert.equal(range.scrubIndex(now + 99999, now), 47, 'clamped');
});

test('timeline bars: every bucket of the range, sums per bucket, bounded', () => {
  const tl = [[7200, 10, 100], [14400, 5, 0], [14400, 1, 1], ['x'], null];
  const r = range.timelineBars(tl, 3600, 18000, 3600);
  assert.deepEqual(r.bars.map((b) => b.t), [3600, 7200, 10800, 14400]);
  assert.deepEqual(r.bars.map((b) => [b.out, b.in]), [[0, 0], [10, 100], [0, 0], [6, 1]]);
  assert.equal(r.maxOut, 10);
  assert.equal(r.maxIn, 100);
  const days = range.timelineBars([[86400, 1, 2]], 0, 3 * 86400, 86400);
  assert.equal(days.bars.length, 3);
  const many = range.timelineBars([], 0, 10000 * 3600, 3600, 400);
  assert.equal(many.bars.length, 400, 'at most the limit, the latest');
  assert.equal(many.bars[399].t, 9999 * 3600);
});

test('badges: new in the range, named by an alert', () => {
  assert.equal(fmt.badges({ ip: '1.1.1.1' }, {}), '');
  assert.match(fmt.badges({ ip: '1.1.1.1', new: true }, {}), /badge-new/);
  assert.match(fmt.badges({ ip: '1.1.1.1' }, { alerted: new Set(['1.1.1.1']) }), /badge-alert/);
});
