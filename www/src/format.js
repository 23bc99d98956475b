// Formatting helpers for the map page: bytes, counts, times, countries, and HTML escaping
// (every string from markers.json goes through esc() before it is put into markup).

const HTML_ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for use inside HTML element content or a quoted attribute value. */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESC[c]);
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** 1536 -> "1.5 kB" (decimal units, as network tools count). */
export function bytes(n) {
  n = Number(n) || 0;
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  const digits = i === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return `${n.toFixed(digits)} ${UNITS[i]}`;
}

const intFormat = new Intl.NumberFormat('en');
/** 12345 -> "12,345" */
export function count(n) {
  return intFormat.format(Number(n) || 0);
}

/** 5 -> "5 packets", 1 -> "1 packet" */
export function plural(n, word) {
  return `${count(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** Age of unix time `t` relative to unix time `now`: "just now", "5 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function ago(t, now) {
  const s = Math.max(0, Math.round(now - t));
  if (s < 2) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Unix seconds -> local time, with the date too unless it is the same day as `now`. */
export function when(t, now) {
  if (!t) return '—';
  const d = new Date(t * 1000);
  if (now && new Date(now * 1000).toDateString() === d.toDateString()) return timeOnly.format(d);
  return dateTime.format(d);
}

/** Unix seconds (or a Date) -> local time of day. */
export function clock(t) {
  return timeOnly.format(t instanceof Date ? t : new Date(t * 1000));
}

let regionNames = null;
try {
  regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
} catch {
  regionNames = null;
}

/** "DE" -> "Germany"; unknown or missing codes come back as given (or null). */
export function countryName(code) {
  if (!code) return null;
  try {
    return regionNames?.of(code) || code;
  } catch {
    return code;
  }
}

/** "Berlin, Germany" / "Germany" / null */
export function place(m) {
  const country = countryName(m.country);
  if (m.city && country) return `${m.city}, ${country}`;
  return m.city || country || null;
}

/** "AS13335 Cloudflare, Inc." / null */
export function network(m) {
  if (m.asn == null && !m.org) return null;
  return [m.asn != null ? `AS${m.asn}` : null, m.org].filter(Boolean).join(' ');
}

/** Name of a LAN device for display: its name, else its address. */
export function deviceLabel(host) {
  return host.name || host.ip;
}

const SOURCES = { dns: 'DNS', sni: 'TLS SNI', quic: 'QUIC SNI', host: 'HTTP Host', 'ech-outer': 'ECH outer name' };

/** Where a remote's names came from, e.g. "DNS, QUIC SNI" (markers' `name_kinds`), or null. */
export function nameSources(m) {
  const k = Array.isArray(m.name_kinds) ? m.name_kinds : [];
  return k.length ? k.map((s) => SOURCES[s] || s).join(', ') : null;
}

/** Per cent, rounded, of `part` in `whole` ("–" when there is nothing). */
export function share(part, whole) {
  return whole > 0 ? `${Math.round((100 * (part || 0)) / whole)} %` : '–';
}

/**
 * The names coverage of `stats.names_coverage`: the shares of remotes and of traffic with a
 * name ("62 %", "80 %") and one line per source; null without it.
 */
export function coverage(c) {
  if (!c || !c.remotes) return null;
  const line = (s) => `${share(s?.remotes, c.remotes)} of remotes, ${share(s?.bytes, c.bytes)} of traffic`;
  const by = ['dns', 'sni', 'quic', 'host']
    .filter((k) => c[k]?.remotes)
    .map((k) => `${SOURCES[k]}: ${line(c[k])}`);
  if (c.ech_outer_only?.remotes) by.push(`only an ECH outer name: ${line(c.ech_outer_only)}`);
  return { remotes: share(c.named?.remotes, c.remotes), bytes: share(c.named?.bytes, c.bytes), by };
}

/** The note of a device that uses encrypted DNS (`hosts[].encrypted_dns`), or null. */
export function encryptedDns(h) {
  const e = h.encrypted_dns;
  if (!e || !(e.dot || e.doh)) return null;
  const how = [e.dot ? 'DNS over TLS' : null, e.doh ? 'DNS over HTTPS' : null].filter(Boolean).join(' and ');
  return { text: 'uses encrypted DNS: names come from SNI only', title: `${how} (${plural((e.dot || 0) + (e.doh || 0), 'resolver')}): the router cannot read its DNS answers` };
}

/** Where the traffic numbers come from, for the panel's notes (null: nothing to say).
 * With `--conntrack` counting, offloading hides nothing: say that instead of a warning. */
export function countsNote(data) {
  const off = data.offload?.detected ? `flow offloading is on${data.offload.hardware ? ' (hardware)' : ''}; ` : '';
  if (data.source === 'conntrack') {
    return `Counts from conntrack (${off}IP-layer bytes, every packet of each connection).`;
  }
  if (!data.offload?.detected) return null;
  const ct = data.conntrack;
  const why = ct ? ` Conntrack is not counting: ${ct.error || (ct.accounting === false ? 'nf_conntrack_acct is off' : 'starting')}.` : '';
  return `Flow offloading is on${data.offload.hardware ? ' (hardware)' : ''}: established connections bypass the capture, so traffic volumes are partial (every connection is still seen).${why}`;
}

/**
 * The badges of a remote as HTML: "new" (history.json's `new`: a device's first contact with
 * it lies in the range shown) and "alert" (an alert names it: `ctx.alerted`, a Set of IPs).
 */
export function badges(m, ctx) {
  let out = '';
  if (m.new === true) out += ' <span class="badge badge-new" title="First contact of a device with this remote in this time range">new</span>';
  if (ctx?.alerted?.has(m.ip)) out += ' <span class="badge badge-alert" title="An alert names this remote (see Alerts)">alert</span>';
  return out;
}
