// Writes the capture the history and alerts browser tests replay (history.test.mjs): six
// hours of traffic from 22:00 UTC on 24 Nov 2025 to 04:00 the next day, so that it crosses
// hour and day boundaries (the capture's timestamps are the daemon's clock in a replay).
// Remotes are in the test database of `cargo run --example fixtures` (tests/common/data.rs,
// PLACES); only headers are kept in the file (a 96-byte snaplen), the packets' wire lengths
// carry the volume. Deterministic. Public addresses appear only inside the file.
//
//   laptop 192.168.1.10  <-> 1.1.1.1 (AU)       every 10 min, all six hours, busier after midnight
//   phone  192.168.1.11  <-> 8.8.8.8 (US)       at 23:30 and 00:30
//   laptop 192.168.1.10  <-> 9.9.9.9 (CH)       first at 02:15 (new in that hour), again 02:45
//   laptop fd00:1::10    <-> 2a00:1450::1 (IE)   at 03:30 (a country new to the laptop)
//   phone  192.168.1.11  <-> 151.101.1.140 (US) at 03:40
//   tablet 192.168.1.12  <-> 1.1.1.1 (AU)       from 03:20 (a device never seen before)
//
// Usage as a module: writeHistoryCapture(path) -> the plan below; or
//   node tests/browser/history-capture.mjs OUT.pcap
import fs from 'node:fs';

export const START = 1764021600; // 2025-11-24T22:00:00Z
export const END = START + 6 * 3600; // 2025-11-25T04:00:00Z (the last packet is a little before)
export const MIDNIGHT = START + 2 * 3600; // 2025-11-25T00:00:00Z
export const ARGS = ['--lan', '192.168.1.0/24', '--lan', 'fd00:1::/64', '--exclude', '192.168.1.1'];

const MAC = {
  router: [2, 0, 0, 0, 0, 1],
  laptop: [2, 0, 0, 0, 0, 0x10],
  phone: [2, 0, 0, 0, 0, 0x11],
  tablet: [2, 0, 0, 0, 0, 0x12],
};
export const DEVICES = { laptop: '192.168.1.10', phone: '192.168.1.11', tablet: '192.168.1.12', laptop6: 'fd00:1::10' };

/** Which remote each device talks to when (unix seconds): the test's expectations come from here. */
export const PLAN = [];
for (let t = START + 300; t < END; t += 600) {
  const busy = t >= MIDNIGHT ? 3 : 1;
  PLAN.push({ t, dev: 'laptop', remote: '1.1.1.1', port: 443, out: 2 * busy, in: 6 * busy });
}
PLAN.push({ t: START + 5400, dev: 'phone', remote: '8.8.8.8', port: 443, out: 3, in: 20 });
PLAN.push({ t: MIDNIGHT + 1800, dev: 'phone', remote: '8.8.8.8', port: 443, out: 3, in: 20 });
PLAN.push({ t: MIDNIGHT + 2 * 3600 + 900, dev: 'laptop', remote: '9.9.9.9', port: 853, out: 4, in: 4 });
PLAN.push({ t: MIDNIGHT + 2 * 3600 + 2700, dev: 'laptop', remote: '9.9.9.9', port: 853, out: 4, in: 4 });
PLAN.push({ t: MIDNIGHT + 3 * 3600 + 1800, dev: 'laptop6', remote: '2a00:1450::1', port: 443, out: 5, in: 30 });
PLAN.push({ t: MIDNIGHT + 3 * 3600 + 2400, dev: 'phone', remote: '151.101.1.140', port: 443, out: 2, in: 10 });
for (let t = MIDNIGHT + 3 * 3600 + 1200; t < END; t += 600) {
  PLAN.push({ t: t + 30, dev: 'tablet', remote: '1.1.1.1', port: 443, out: 2, in: 8 });
}
PLAN.sort((a, b) => a.t - b.t);

/** The remotes a device first reached in [from, to), and all remotes with traffic there. */
export function expected(from, to) {
  const inRange = PLAN.filter((p) => p.t >= from && p.t < to);
  const firstOf = new Map();
  for (const p of PLAN) {
    const key = `${p.dev.replace('6', '')}|${p.remote}`;
    if (!firstOf.has(key)) firstOf.set(key, p.t);
  }
  const remotes = new Set(inRange.map((p) => p.remote));
  const fresh = new Set(inRange.filter((p) => firstOf.get(`${p.dev.replace('6', '')}|${p.remote}`) === p.t).map((p) => p.remote));
  return { remotes, fresh };
}

function ipv4(s) {
  return s.split('.').map(Number);
}

function ipv6(s) {
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

function checksum(bytes) {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) + (bytes[i + 1] || 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet frame with a TCP segment header (no payload kept) and its length on the wire. */
function frame(smac, dmac, src, dst, sport, dport, wire) {
  const v6 = src.includes(':');
  const tcp = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0];
  const payload = wire - 14 - (v6 ? 40 : 20) - 20;
  let ip;
  if (v6) {
    const plen = 20 + payload;
    ip = [0x60, 0, 0, 0, plen >> 8, plen & 0xff, 6, 64, ...ipv6(src), ...ipv6(dst)];
  } else {
    const total = 20 + 20 + payload;
    ip = [0x45, 0, total >> 8, total & 0xff, 0, 0, 0x40, 0, 64, 6, 0, 0, ...ipv4(src), ...ipv4(dst)];
    const c = checksum(ip);
    ip[10] = c >> 8;
    ip[11] = c & 0xff;
  }
  const eth = [...dmac, ...smac, v6 ? 0x86 : 0x08, v6 ? 0xdd : 0x00];
  return Buffer.from([...eth, ...ip, ...tcp]);
}

/** Writes the capture (pcap, Ethernet) to `path`; returns the number of packets. */
export function writeHistoryCapture(path) {
  const recs = [];
  let port = 40000;
  for (const p of PLAN) {
    const lan = DEVICES[p.dev];
    const mac = MAC[p.dev.replace('6', '')];
    const sport = port++;
    for (let i = 0; i < p.out; i++) recs.push([p.t + i, frame(mac, MAC.router, lan, p.remote, sport, p.port, 600)]);
    for (let i = 0; i < p.in; i++) recs.push([p.t + i, frame(MAC.router, mac, p.remote, lan, p.port, sport, 1400)]);
  }
  recs.sort((a, b) => a[0] - b[0]);
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(96, 16); // snaplen
  header.writeUInt32LE(1, 20); // Ethernet
  const parts = [header];
  for (const [ts, data] of recs) {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(ts, 0);
    rh.writeUInt32LE(0, 4);
    rh.writeUInt32LE(data.length, 8);
    const wire = data[12] === 0x86 ? 14 + 40 + 20 + (data.readUInt16BE(18) - 20) : 14 + data.readUInt16BE(16);
    rh.writeUInt32LE(wire, 12);
    parts.push(rh, data);
  }
  fs.writeFileSync(path, Buffer.concat(parts));
  return recs.length;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node history-capture.mjs OUT.pcap');
    process.exit(2);
  }
  console.log(`wrote ${writeHistoryCapture(out)} packets to ${out}`);
}
