// Time ranges of the page's time control and the geometry of a device's timeline: pure
// functions, no DOM (unit-tested in tests/browser/unit.test.mjs). Times are unix seconds; "now"
// is the time of the daemon's latest snapshot (`generated`: the capture clock in a replay),
// never the browser's clock. Days are the browser's local days.

export const HOUR = 3600;
export const DAY = 86400;
export const SCRUB_HOURS = 48; // the slider: the hours of the last 48 h (the daemon keeps them hourly)

/** Local midnight at or before unix time `t`. */
export function localMidnight(t) {
  const d = new Date(t * 1000);
  d.setHours(0, 0, 0, 0);
  return Math.floor(d.getTime() / 1000);
}

/** The local midnight after the one of `t` (23 or 25 h later across a DST change). */
export function nextMidnight(t) {
  const d = new Date(localMidnight(t) * 1000);
  d.setDate(d.getDate() + 1);
  return Math.floor(d.getTime() / 1000);
}

/** "2026-12-05" (an <input type=date> value) of the local day of `t`. */
export function dayValue(t) {
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** Local midnight of an <input type=date> value, or null when it is not a date. */
export function parseDay(value) {
  const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(value || '');
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(d.getTime()) ? null : Math.floor(d.getTime() / 1000);
}

/** The hour that holds the last second before `now` (now itself may be the very start of the next). */
const currentHour = (now) => Math.floor((now - 1) / HOUR) * HOUR;

/** Start of the slider's hour at position `i` (0 = 47 h before the current hour, 47 = the current hour). */
export function scrubHour(i, now) {
  const current = currentHour(now);
  return current - (SCRUB_HOURS - 1 - i) * HOUR;
}

/** The slider position of the hour that holds unix time `t` (clamped to the slider). */
export function scrubIndex(t, now) {
  const i = SCRUB_HOURS - 1 - Math.round((currentHour(now) - Math.floor(t / HOUR) * HOUR) / HOUR);
  return Math.max(0, Math.min(SCRUB_HOURS - 1, i));
}

/**
 * The time range [from, to) of a choice of the time control, or null for live.
 * @param {{mode: string, day?: number|null, hour?: number}} choice
 *   mode live | hour (last hour) | today | day (the local day starting at `day`) | 30d | scrub
 *   (the slider's hour, position `hour`)
 * @param {number} now  the latest snapshot's time
 */
export function rangeOf(choice, now) {
  switch (choice.mode) {
    case 'hour':
      return { from: now - HOUR, to: now };
    case 'today':
      return { from: localMidnight(now), to: now };
    case 'day': {
      if (choice.day == null) return null;
      const from = localMidnight(choice.day);
      return { from, to: Math.min(nextMidnight(from), now) };
    }
    case '30d':
      return { from: now - 30 * DAY, to: now };
    case 'scrub': {
      const from = scrubHour(choice.hour ?? SCRUB_HOURS - 1, now);
      return { from, to: Math.min(from + HOUR, now) };
    }
    default:
      return null;
  }
}

const hm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayHm = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
const dayOnly = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' });

/** "Sat 5 Dec, 14:00–15:00", "Sat 5 Dec, 00:00 – Sun 6 Dec, 00:00", "Sat 5 Dec" (a whole day). */
export function rangeLabel(from, to) {
  const a = new Date(from * 1000);
  const b = new Date(to * 1000);
  if (from === localMidnight(from) && to === nextMidnight(from)) return dayOnly.format(a);
  if (a.toDateString() === b.toDateString() || to === nextMidnight(from)) return `${dayHm.format(a)}–${hm.format(b)}`;
  return `${dayHm.format(a)} – ${dayHm.format(b)}`;
}

/**
 * The bars of a device's timeline: one per bucket of `resolution` seconds from `from` to `to`
 * (the buckets with no traffic too), from the host's `timeline` ([start, bytes_out, bytes_in],
 * nonzero buckets only). Returns {bars: [{t, out, in}], maxOut, maxIn}; at most `limit` bars
 * (the latest), so a long range cannot make thousands of elements.
 */
export function timelineBars(timeline, from, to, resolution, limit = 400) {
  const res = resolution > 0 ? resolution : HOUR;
  const start = Math.floor(from / res) * res;
  const byT = new Map();
  for (const row of Array.isArray(timeline) ? timeline : []) {
    if (!Array.isArray(row) || row.length < 3) continue;
    const t = Math.floor(Number(row[0]) / res) * res;
    const prev = byT.get(t) || [0, 0];
    byT.set(t, [prev[0] + (Number(row[1]) || 0), prev[1] + (Number(row[2]) || 0)]);
  }
  let first = start;
  const last = Math.max(start, to - 1);
  if ((last - first) / res + 1 > limit) first = Math.floor(last / res) * res - (limit - 1) * res;
  const bars = [];
  let maxOut = 0;
  let maxIn = 0;
  for (let t = first; t <= last; t += res) {
    const [o, i] = byT.get(t) || [0, 0];
    bars.push({ t, out: o, in: i });
    maxOut = Math.max(maxOut, o);
    maxIn = Math.max(maxIn, i);
  }
  return { bars, maxOut, maxIn, resolution: res };
}
