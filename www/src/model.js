// The page's view model: turns one markers.json snapshot plus the user's choices (selected
// device, search text, sort order) into what the map and the side panel show. Pure functions,
// no DOM.
import { countryName } from './format.js';

export const total = (x) => (x.bytes_out || 0) + (x.bytes_in || 0);

export const SORTS = {
  traffic: (a, b) => total(b) - total(a) || (b.last_seen || 0) - (a.last_seen || 0),
  recent: (a, b) => (b.last_seen || 0) - (a.last_seen || 0) || total(b) - total(a),
};

export const isLocated = (m) => typeof m.lat === 'number' && typeof m.lng === 'number';

/** Every address of a device: `ips` (IPv4 and IPv6, merged by MAC), else its one `ip`. */
export const deviceAddresses = (h) => (Array.isArray(h.ips) && h.ips.length ? h.ips : [h.ip]);

/**
 * What a remote or a device is found by, from its fields: a search word (letters and digits
 * only) must equal a whole word of one of them — "us" finds the country code US and names
 * with the word "us", not Russia, Australia or Belarus; a term with other characters (an
 * address, a domain name, `tv-livingroom`) must occur in one of them.
 */
function searchable(fields) {
  const present = fields.filter((p) => p != null && p !== '').map((p) => String(p).toLowerCase());
  return { text: present.join('\n'), words: new Set(present.flatMap((p) => p.split(/[^\p{L}\p{N}]+/u))) };
}

const PLAIN_WORD = /^[\p{L}\p{N}]+$/u;

export const matchesTerm = (s, term) => (PLAIN_WORD.test(term) ? s.words.has(term) : s.text.includes(term));

/** A remote is found by its address, domain names, country code and name, city, network, and its LAN devices. */
function remoteSearchable(m, hostsByIp) {
  const parts = [m.ip, m.city, m.country, countryName(m.country), m.org, m.asn != null ? `as${m.asn}` : null];
  if (Array.isArray(m.names)) parts.push(...m.names);
  for (const ip of m.hosts || []) {
    const h = hostsByIp.get(ip);
    parts.push(ip, h?.name);
  }
  return searchable(parts);
}

/** A device is found by every one of its addresses, its name and its MAC. */
const hostSearchable = (h) => searchable([h.ip, ...deviceAddresses(h), h.name, h.mac]);

/** Every address of every device → the device (a device may have IPv4 and IPv6 addresses: `ips`). */
function indexHosts(hosts) {
  const byIp = new Map();
  for (const h of hosts) {
    for (const ip of deviceAddresses(h)) byIp.set(ip, h);
    byIp.set(h.ip, h);
  }
  return byIp;
}

/**
 * @param {object} data  markers.json
 * @param {{device: string|null, query: string, sort: string}} ui
 */
export function deriveView(data, ui) {
  const hosts = data.hosts || [];
  const markers = data.markers || [];
  const hostsByIp = indexHosts(hosts);
  const terms = ui.query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const sort = SORTS[ui.sort] || SORTS.traffic;
  const deviceHost = ui.device ? hostsByIp.get(ui.device) : null;
  const device = deviceHost ? deviceHost.ip : null;

  const matchRemote = (m) => {
    if (device && !(m.hosts || []).some((ip) => hostsByIp.get(ip) === deviceHost)) return false;
    if (!terms.length) return true;
    const s = remoteSearchable(m, hostsByIp);
    return terms.every((t) => matchesTerm(s, t));
  };
  const remotes = markers.filter(matchRemote);

  // A device is listed when it matches the search itself or talked to a matching remote.
  let devices = hosts;
  if (terms.length) {
    const viaRemotes = new Set(remotes.flatMap((m) => (m.hosts || []).map((ip) => hostsByIp.get(ip))));
    devices = hosts.filter((h) => viaRemotes.has(h) || terms.every((t) => matchesTerm(hostSearchable(h), t)));
  }

  const located = remotes.filter(isLocated).sort(sort);
  const unlocated = remotes.filter((m) => !isLocated(m)).sort(sort);
  const sums = { bytes_out: 0, bytes_in: 0, packets_out: 0, packets_in: 0 };
  for (const m of remotes) for (const k in sums) sums[k] += m[k] || 0;

  return {
    device,
    devices: [...devices].sort(sort),
    located,
    unlocated,
    sums,
    filtered: Boolean(device || terms.length),
    totalRemotes: markers.length,
    totalLocated: markers.filter(isLocated).length,
    hostsByIp,
  };
}

/** Groups located remotes by position so that remotes at the same place share one marker. */
export function groupByPlace(located) {
  const places = new Map();
  for (const m of located) {
    const key = `${m.lat.toFixed(3)},${m.lng.toFixed(3)}`;
    let p = places.get(key);
    if (!p) {
      p = { key, lat: m.lat, lng: m.lng, remotes: [], bytes: 0, last_seen: 0 };
      places.set(key, p);
    }
    p.remotes.push(m);
    p.bytes += total(m);
    p.last_seen = Math.max(p.last_seen, m.last_seen || 0);
  }
  return places;
}

/**
 * Size class 1..5 by bytes, on a log scale relative to `max` (the busiest place): 5 within
 * ~3x of it, 4 within ~18x, 3 within 100x, 2 within 1000x, else 1.
 */
export function sizeClass(bytes, max) {
  if (!(max > 0) || bytes >= max) return 5;
  const r = Math.log10(max / Math.max(bytes, 1));
  if (r < 0.5) return 5;
  if (r < 1.25) return 4;
  if (r < 2) return 3;
  if (r < 3) return 2;
  return 1;
}

/** Recency class 0..3 by age relative to the snapshot time: ≤1 min, ≤10 min, ≤1 h, older. */
export function recencyClass(lastSeen, now) {
  const age = now - (lastSeen || 0);
  if (age <= 60) return 0;
  if (age <= 600) return 1;
  if (age <= 3600) return 2;
  return 3;
}

export const RECENCY_LABELS = ['last minute', 'last 10 min', 'last hour', 'older'];
