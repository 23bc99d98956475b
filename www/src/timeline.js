// A device's traffic over time, as inline SVG markup for the device panel: one bar per
// bucket (hour, or day for long ranges), bytes sent above the axis and received below it,
// each half scaled to its own largest bucket (downloads are usually far larger than uploads,
// which would vanish on a shared scale). Plain SVG: no chart library, colours from CSS
// classes (the page's CSP forbids inline styles), a <title> per bar for the pointer and a
// text summary for screen readers.
import * as fmt from './format.js';
import { timelineBars, HOUR, DAY } from './range.js';

const W = 300; // viewBox units; the SVG is as wide as the panel
const H = 64;
const MID = 32;
const GAP = 0.15; // of a bar's slot

const stamp = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
const dayStamp = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' });

/**
 * @param {object} host  a history host (with `timeline`)
 * @param {{from: number, to: number, resolution: number}} range
 * @param {{loading?: boolean, error?: string}} [state]
 */
export function timelineHtml(host, range, state = {}) {
  if (state.error) return `<div class="timeline"><p class="muted">Timeline unavailable: ${fmt.esc(state.error)}</p></div>`;
  if (!host || !range) {
    return `<div class="timeline"><p class="muted">${state.loading ? 'Loading the timeline…' : 'No traffic in this time range.'}</p></div>`;
  }
  const { bars, maxOut, maxIn, resolution } = timelineBars(host.timeline, range.from, range.to, range.resolution);
  const per = resolution >= DAY ? 'day' : resolution === HOUR ? 'hour' : `${resolution} s`;
  const label = (t) => (resolution >= DAY ? dayStamp : stamp).format(new Date(t * 1000));
  const slot = W / Math.max(bars.length, 1);
  const rects = [];
  let busiest = null;
  for (let k = 0; k < bars.length; k++) {
    const b = bars[k];
    if (!busiest || b.out + b.in > busiest.out + busiest.in) busiest = b;
    if (!b.out && !b.in) continue;
    const x = (k * slot + (slot * GAP) / 2).toFixed(2);
    const w = Math.max(slot * (1 - GAP), 0.5).toFixed(2);
    const hOut = maxOut ? Math.max((b.out / maxOut) * (MID - 2), b.out ? 1 : 0) : 0;
    const hIn = maxIn ? Math.max((b.in / maxIn) * (H - MID - 2), b.in ? 1 : 0) : 0;
    const title = `<title>${fmt.esc(label(b.t))}: ↑ ${fmt.bytes(b.out)} ↓ ${fmt.bytes(b.in)}</title>`;
    rects.push(`<g class="tl-bar" data-t="${b.t}">${title}`
      + (hOut ? `<rect class="tl-out" x="${x}" y="${(MID - hOut).toFixed(2)}" width="${w}" height="${hOut.toFixed(2)}"/>` : '')
      + (hIn ? `<rect class="tl-in" x="${x}" y="${MID}" width="${w}" height="${hIn.toFixed(2)}"/>` : '')
      + `<rect class="tl-hit" x="${(k * slot).toFixed(2)}" y="0" width="${slot.toFixed(2)}" height="${H}"/></g>`);
  }
  const nonzero = bars.filter((b) => b.out || b.in).length;
  const summary = nonzero
    ? `Traffic per ${per}, ${fmt.plural(bars.length, per)} shown: busiest ${label(busiest.t)} (↑ ${fmt.bytes(busiest.out)} ↓ ${fmt.bytes(busiest.in)}); largest ↑ ${fmt.bytes(maxOut)}, ↓ ${fmt.bytes(maxIn)} per ${per}.`
    : `No traffic in ${fmt.plural(bars.length, per)}.`;
  const first = bars[0]?.t;
  const last = bars.length ? bars[bars.length - 1].t : null;
  return `<figure class="timeline" data-bars="${bars.length}" data-resolution="${resolution}">
    <figcaption><span>Per ${per}</span><span class="tl-key"><span class="tl-swatch tl-out"></span>↑ max ${fmt.bytes(maxOut)} <span class="tl-swatch tl-in"></span>↓ max ${fmt.bytes(maxIn)}</span></figcaption>
    <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${fmt.esc(summary)}">
      <line class="tl-axis" x1="0" y1="${MID}" x2="${W}" y2="${MID}"/>${rects.join('')}
    </svg>
    <div class="tl-ends muted"><span>${first != null ? fmt.esc(label(first)) : ''}</span><span>${last != null ? fmt.esc(label(last)) : ''}</span></div>
  </figure>`;
}
