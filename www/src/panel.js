// The side panel: totals, search box, sort order, the list of LAN devices (selecting one
// filters the map to its remotes), the remotes without a location, the colour legend and the
// optional online-tiles toggle; the selected device's timeline (timeline.js). Re-rendered on
// every update while keeping focus and open details in place.
import * as fmt from './format.js';
import { remoteDetails } from './details.js';
import { total, deviceAddresses, RECENCY_LABELS } from './model.js';
import { timelineHtml } from './timeline.js';
import { HOUR } from './range.js';

const { esc } = fmt;
const UNLOCATED_LIMIT = 200;

export class Panel {
  /**
   * @param {object} handlers  onDevice(ip|null), onQuery(text), onSort(key), onTiles(bool),
   *   onHour(t) (a bar of an hourly timeline was clicked: show that hour)
   */
  constructor(handlers) {
    this.h = handlers;
    this.el = {
      totals: document.getElementById('totals'),
      search: document.getElementById('search'),
      sort: document.getElementById('sort'),
      devices: document.getElementById('devices'),
      deviceCount: document.getElementById('device-count'),
      allDevices: document.getElementById('all-devices'),
      unlocated: document.getElementById('unlocated'),
      unlocatedCount: document.getElementById('unlocated-count'),
      tilesBox: document.getElementById('tiles-option'),
      tiles: document.getElementById('tiles'),
      legend: document.getElementById('legend'),
      filterNote: document.getElementById('filter-note'),
    };
    let debounce = null;
    this.el.search.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.h.onQuery(this.el.search.value), 150);
    });
    this.el.sort.addEventListener('change', () => this.h.onSort(this.el.sort.value));
    this.el.allDevices.addEventListener('click', () => this.h.onDevice(null));
    this.el.devices.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-ip]');
      if (btn) this.h.onDevice(btn.getAttribute('aria-pressed') === 'true' ? null : btn.dataset.ip);
      const bar = e.target.closest('.timeline[data-resolution="3600"] .tl-bar');
      if (bar) this.h.onHour(Number(bar.dataset.t));
    });
    this.el.tiles.addEventListener('change', () => this.h.onTiles(this.el.tiles.checked));
    this.el.legend.innerHTML = RECENCY_LABELS
      .map((label, i) => `<li><span class="swatch r${i}" aria-hidden="true"></span>${esc(label)}</li>`)
      .join('');
  }

  clearSearch() {
    this.el.search.value = '';
  }

  /** Shows or hides the online tile option (offered only when the daemon has a tile URL). */
  setTilesOffered(offered, on) {
    this.el.tilesBox.hidden = !offered;
    this.el.tiles.checked = Boolean(on);
  }

  render(data, view, ctx) {
    this.renderTotals(data, view, ctx);
    this.renderDevices(view, ctx);
    this.renderUnlocated(view, ctx);
  }

  renderTotals(data, view, ctx) {
    const s = view.sums;
    const remotes = view.located.length + view.unlocated.length;
    const stats = data.stats || {};
    let html = `
      <div class="stat"><strong>${fmt.count(remotes)}</strong> remote${remotes === 1 ? '' : 's'}
        <span class="muted">${fmt.count(view.located.length)} on the map</span></div>
      <div class="stat"><strong>${fmt.count(view.devices.length)}</strong> device${view.devices.length === 1 ? '' : 's'}</div>
      <div class="stat"><strong>↑ ${fmt.bytes(s.bytes_out)}</strong> sent
        <span class="muted">${fmt.plural(s.packets_out, 'packet')}</span></div>
      <div class="stat"><strong>↓ ${fmt.bytes(s.bytes_in)}</strong> received
        <span class="muted">${fmt.plural(s.packets_in, 'packet')}</span></div>`;
    const cov = fmt.coverage(stats.names_coverage);
    const covHtml = cov
      ? `<div class="stat names-coverage" title="${esc(cov.by.join('\n') || 'no names yet')}"><strong>${esc(cov.remotes)}</strong> of remotes named
        <span class="muted">${esc(cov.bytes)} of traffic</span></div>`
      : '';
    html += covHtml;
    if (html !== this.lastTotals) {
      this.el.totals.innerHTML = html;
      this.lastTotals = html;
    }
    const notes = [];
    if (view.filtered) notes.push(`Showing ${fmt.count(remotes)} of ${fmt.count(view.totalRemotes)} remotes.`);
    if (stats.evicted_remotes) notes.push(`${fmt.count(stats.evicted_remotes)} remotes dropped (table full).`);
    if (stats.geo_errors) notes.push(`${fmt.count(stats.geo_errors)} geolocation errors.`);
    const h = ctx.history;
    if (h?.empty) notes.push('No traffic in this time range.');
    if (h?.other && (h.other.bytes_out || h.other.bytes_in)) {
      notes.push(`Not on the map: ↑ ${fmt.bytes(h.other.bytes_out)} ↓ ${fmt.bytes(h.other.bytes_in)} to smaller remotes (beyond each device's top list of this range).`);
    }
    if (h && h.resolution > HOUR) notes.push('Older than 48 h: daily totals.');
    if (stats.geo_database === null && view.totalLocated === 0) notes.push('No geolocation database loaded: no remote has a location.');
    const counts = fmt.countsNote(data);
    if (counts) notes.push(counts);
    if (data.capture?.dropped) notes.push(`${fmt.count(data.capture.dropped)} packets dropped by the capture (not counted).`);
    this.el.filterNote.textContent = notes.join(' ');
    this.el.filterNote.hidden = notes.length === 0;
  }

  renderDevices(view, ctx) {
    const focused = document.activeElement?.closest?.('#devices button[data-ip]')?.dataset.ip;
    const items = view.devices.map((h) => {
      const pressed = h.ip === view.device;
      // every address of the device (IPv4 and IPv6), those not already its label
      const addrs = deviceAddresses(h).filter((ip) => h.name || ip !== h.ip);
      const sub = [...addrs, h.mac].filter(Boolean).map(esc).join(' · ');
      return `<li><button type="button" class="device-btn" data-ip="${esc(h.ip)}" aria-pressed="${pressed}">
        <span class="dev-name">${esc(fmt.deviceLabel(h))}</span>
        <span class="dev-traffic">${fmt.bytes(total(h))}</span>
        ${sub ? `<span class="dev-sub">${sub}</span>` : ''}
        <span class="dev-meta">↑ ${fmt.bytes(h.bytes_out)} ↓ ${fmt.bytes(h.bytes_in)} · ${fmt.plural(h.remotes ?? 0, 'remote')}${h.last_seen ? ` · ${esc(fmt.ago(h.last_seen, ctx.now))}` : ''}</span>
        ${encDnsNote(h)}
      </button>${pressed && ctx.timeline ? timelineHtml(ctx.timeline.host, ctx.timeline.range, ctx.timeline.state) : ''}</li>`;
    });
    const html = items.join('') || '<li class="empty">No devices match.</li>';
    if (html !== this.lastDevices) {
      this.el.devices.innerHTML = html;
      this.lastDevices = html;
      if (focused) this.el.devices.querySelector(`button[data-ip="${CSS.escape(focused)}"]`)?.focus();
    }
    this.el.deviceCount.textContent = `(${view.devices.length})`;
    this.el.allDevices.hidden = !view.device;
  }

  /** Scrolls to a device's button and focuses it (an alert about the device was clicked). */
  focusDevice(ip) {
    const btn = this.el.devices.querySelector(`button[data-ip="${CSS.escape(ip)}"]`);
    if (!btn) return false;
    btn.scrollIntoView({ block: 'nearest' });
    btn.focus();
    return true;
  }

  /** Opens a remote of the unlocated list and focuses it; false when it is not listed. */
  focusUnlocated(ip) {
    const details = this.el.unlocated.querySelector(`details[data-ip="${CSS.escape(ip)}"]`);
    if (!details) return false;
    details.open = true;
    details.scrollIntoView({ block: 'nearest' });
    details.querySelector('summary').focus();
    return true;
  }

  renderUnlocated(view, ctx) {
    const open = new Set([...this.el.unlocated.querySelectorAll('details[open]')].map((d) => d.dataset.ip));
    const focused = document.activeElement?.closest?.('#unlocated details')?.dataset.ip;
    const list = view.unlocated.slice(0, UNLOCATED_LIMIT);
    const items = list.map((m) => {
      const ech = Array.isArray(m.ech_outer) && m.ech_outer[0] ? `ECH front ${m.ech_outer[0]}` : '';
      const label = (Array.isArray(m.names) && m.names[0]) || ech || fmt.network(m) || fmt.countryName(m.country) || '';
      return `<li><details data-ip="${esc(m.ip)}"${open.has(m.ip) ? ' open' : ''}>
        <summary><span class="un-ip">${esc(m.ip)}${fmt.badges(m, ctx)}</span><span class="un-traffic">${fmt.bytes(total(m))}</span>
        <span class="un-label">${esc(label)}</span></summary>
        ${remoteDetails(m, ctx)}
      </details></li>`;
    });
    if (view.unlocated.length > list.length) {
      items.push(`<li class="empty">and ${fmt.count(view.unlocated.length - list.length)} more (narrow the search)</li>`);
    }
    const html = items.join('') || '<li class="empty">None.</li>';
    if (html !== this.lastUnlocated) {
      this.el.unlocated.innerHTML = html;
      this.lastUnlocated = html;
      if (focused) this.el.unlocated.querySelector(`details[data-ip="${CSS.escape(focused)}"] > summary`)?.focus();
    }
    this.el.unlocatedCount.textContent = `(${view.unlocated.length})`;
  }
}

/** A device's encrypted-DNS note (names of its remotes come from SNI only), or ''. */
function encDnsNote(h) {
  const n = fmt.encryptedDns(h);
  return n ? `<span class="dev-note enc-dns" title="${esc(n.title)}">${esc(n.text)}</span>` : '';
}
