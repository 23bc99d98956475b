// A stand-in for the connmap daemon's HTTP side, for developing the page without the daemon
// and for running the browser tests with CONNMAP_FAKE=1. It follows the daemon's contract:
// serves the files below --www (FILE.gz when the client accepts gzip), immutable caching for
// hashed names and no-cache + ETag otherwise, the same CSP and security headers, and
// /markers.json from --json with ETag/If-None-Match. With --live it changes the data every
// 2 s (more traffic, later times, a new remote now and then), like `connmap demo`.
// /history.json?from=&to=[&host=] and /alerts.json follow docs/markers-json.md too: the
// history is made up from the snapshot (each remote's traffic spread evenly over its
// first..last seen), the alerts are a fixed list (fixtures/sample-alerts.json).
// Listens on 127.0.0.1 only.
// Usage: node fake-daemon.mjs --www www/dist --json fixtures/sample-markers.json --port 8080 [--live]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const wwwDir = path.resolve(opt('--www', 'www/dist'));
const jsonFile = opt('--json', new URL('./fixtures/sample-markers.json', import.meta.url).pathname);
const port = Number(opt('--port', '8080'));
const live = args.includes('--live');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2', '.webmanifest': 'application/manifest+json',
};
const COMMON = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};
const etagOf = (buf) => `"${createHash('sha1').update(buf).digest('hex').slice(0, 16)}"`;

let data = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
const alertsBody = fs.readFileSync(new URL('./fixtures/sample-alerts.json', import.meta.url));

/** A made-up history.json for [from, to): each remote's bytes spread evenly over its first..last seen. */
function history(from, to, hostIp) {
  const H = 3600;
  const resolution = to - from > 48 * H ? 86400 : H;
  const start = Math.floor(from / resolution) * resolution;
  const end = Math.ceil(to / resolution) * resolution;
  const hosts = new Map();
  const markers = [];
  for (const m of data.markers) {
    const a = m.first_seen;
    const b = Math.max(m.last_seen, a + 1);
    const share = Math.max(0, Math.min(b, end) - Math.max(a, start)) / (b - a);
    const ips = hostIp ? m.hosts.filter((ip) => ip === hostIp) : m.hosts;
    if (share <= 0 || !ips.length) continue;
    const scale = (n) => Math.round(n * share);
    markers.push({ ...m, hosts: ips, bytes_out: scale(m.bytes_out), bytes_in: scale(m.bytes_in), packets_out: scale(m.packets_out),
      packets_in: scale(m.packets_in), first_seen: Math.max(a, start), last_seen: Math.min(m.last_seen, end), new: a >= start && a < end });
    for (const ip of ips) {
      const h = data.hosts.find((x) => x.ip === ip);
      if (!h) continue;
      let e = hosts.get(ip);
      if (!e) {
        e = { ip: h.ip, ips: h.ips || [h.ip], name: h.name ?? null, mac: h.mac ?? null, packets_out: 0, bytes_out: 0, packets_in: 0, bytes_in: 0, remotes: 0, buckets: new Map() };
        hosts.set(ip, e);
      }
      e.remotes++;
      for (const k of ['packets_out', 'bytes_out', 'packets_in', 'bytes_in']) e[k] += scale(m[k]) / ips.length;
      for (let t = start; t < end; t += resolution) {
        const part = Math.max(0, Math.min(b, t + resolution) - Math.max(a, t)) / (b - a);
        if (part <= 0) continue;
        const row = e.buckets.get(t) || [t, 0, 0];
        row[1] += Math.round((m.bytes_out * part) / ips.length);
        row[2] += Math.round((m.bytes_in * part) / ips.length);
        e.buckets.set(t, row);
      }
    }
  }
  markers.sort((x, y) => y.bytes_out + y.bytes_in - x.bytes_out - x.bytes_in);
  const outHosts = [...hosts.values()].map(({ buckets, ...h }) => ({
    ...h, bytes_out: Math.round(h.bytes_out), bytes_in: Math.round(h.bytes_in), packets_out: Math.round(h.packets_out),
    packets_in: Math.round(h.packets_in), timeline: [...buckets.values()].sort((x, y) => x[0] - y[0]) }));
  return { version: 1, generated: data.generated, from: start, to: Math.min(end, data.generated), resolution,
    available: { hourly_from: data.generated - 48 * H, daily_from: data.generated - 35 * 86400 },
    hosts: outHosts, markers, countries: [], asns: [], other: { bytes_out: 0, bytes_in: 0 } };
}
let body = Buffer.from(JSON.stringify(data));
let etag = etagOf(body);

if (live) {
  let tick = 0;
  const extra = [
    ['203.0.113.5', 59.3293, 18.0686, 'SE', 'Stockholm', 'Spotify AB', 'audio-fa.scdn.co'],
    ['203.0.113.6', -36.8485, 174.7633, 'NZ', 'Auckland', 'Spark New Zealand', null],
    ['203.0.113.7', 55.7558, 37.6173, 'RU', 'Moscow', 'Yandex LLC', 'yandex.ru'],
    ['203.0.113.8', 64.1466, -21.9426, 'IS', 'Reykjavik', 'Siminn', null],
  ];
  setInterval(() => {
    tick++;
    data.generated += 2;
    const m = data.markers[tick % data.markers.length];
    m.bytes_in += 50000 * tick;
    m.packets_in += 40;
    m.last_seen = data.generated;
    if (tick % 2 === 0 && extra.length) {
      const [ip, lat, lng, country, city, org, name] = extra.shift();
      const host = data.hosts[tick % data.hosts.length];
      data.markers.push({
        ip, lat, lng, country, city, asn: 64500 + tick, org, hosts: [host.ip], ports: [443], protocols: ['tcp'],
        packets_out: 10, bytes_out: 4000, packets_in: 12, bytes_in: 90000,
        first_seen: data.generated - 1, last_seen: data.generated, ...(name ? { names: [name] } : {}),
      });
      host.remotes += 1;
    }
    body = Buffer.from(JSON.stringify(data));
    etag = etagOf(body);
  }, 2000);
}

// like the daemon: enumerate the files once at start
const files = new Map();
(function walk(dir) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) walk(p);
    else if (ent.isFile()) files.set('/' + path.relative(wwwDir, p).split(path.sep).join('/'), p);
  }
})(wwwDir);

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const headers = { ...COMMON };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, headers).end();
    return;
  }
  if (url.pathname === '/markers.json') {
    headers.ETag = etag;
    headers['Cache-Control'] = 'no-cache';
    headers['Content-Type'] = 'application/json';
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (url.pathname === '/history.json' || url.pathname === '/alerts.json') {
    let out = alertsBody;
    if (url.pathname === '/history.json') {
      const num = (k, d) => (url.searchParams.has(k) ? Number(url.searchParams.get(k)) : d);
      const to = num('to', data.generated);
      const from = num('from', to - 86400);
      if (!Number.isInteger(from) || !Number.isInteger(to) || from >= to) {
        res.writeHead(400, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end('bad from/to\n');
        return;
      }
      out = Buffer.from(JSON.stringify(history(from, to, url.searchParams.get('host'))));
    }
    headers.ETag = etagOf(out);
    headers['Cache-Control'] = 'no-cache';
    headers['Content-Type'] = 'application/json';
    if (req.headers['if-none-match'] === headers.ETag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : out);
    return;
  }
  const rel = url.pathname === '/' ? '/index.html' : url.pathname;
  const file = files.get(rel);
  if (!file || rel.endsWith('.gz')) {
    headers['Content-Type'] = 'text/plain; charset=utf-8';
    res.writeHead(404, headers).end('not found\n');
    return;
  }
  let buf = fs.readFileSync(file);
  headers['Content-Type'] = TYPES[path.extname(file)] || 'application/octet-stream';
  if (/\.[0-9a-f]{8,}\.[a-z0-9]+$/.test(rel)) {
    headers['Cache-Control'] = 'public, max-age=31536000, immutable';
  } else {
    headers['Cache-Control'] = 'no-cache';
    headers.ETag = etagOf(buf);
    if (req.headers['if-none-match'] === headers.ETag) {
      res.writeHead(304, headers).end();
      return;
    }
  }
  headers.Vary = 'Accept-Encoding';
  if (files.has(rel + '.gz') && /\bgzip\b/.test(req.headers['accept-encoding'] || '')) {
    buf = fs.readFileSync(files.get(rel + '.gz'));
    headers['Content-Encoding'] = 'gzip';
  }
  res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : buf);
});
server.listen(port, '127.0.0.1', () => console.log(`fake daemon on http://127.0.0.1:${server.address().port}/`));
