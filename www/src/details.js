// HTML of one remote's details (addresses, names, place, network, ports, traffic, times,
// LAN devices), shared by the map's popups and the side panel's list of unlocated remotes.
// Everything from markers.json is escaped.
import * as fmt from './format.js';

const { esc } = fmt;

/**
 * The details of one remote as HTML (used in map popups and the panel's unlocated list);
 * `location: false` leaves out the place (a popup's heading names it).
 */
export function remoteDetails(m, ctx, { location = true } = {}) {
  const rows = [];
  const row = (k, v) => v && rows.push(`<dt>${k}</dt><dd>${v}</dd>`);
  if (Array.isArray(m.names) && m.names.length) {
    row('Names', m.names.map((n) => `<span class="name">${esc(n)}</span>`).join(' '));
  }
  // The outer name of an encrypted ClientHello names the provider's front, not the site.
  if (Array.isArray(m.ech_outer) && m.ech_outer.length) {
    row('<abbr title="Encrypted Client Hello: the site\'s name is encrypted; this is the provider\'s public front (or, with GREASE ECH, the site)">ECH front</abbr>',
      m.ech_outer.map((n) => `<span class="name ech-outer">${esc(n)}</span>`).join(' '));
  }
  const sources = fmt.nameSources(m);
  if (sources) row('Named by', `<span class="muted">${esc(sources)}</span>`);
  if (location) row('Location', esc(fmt.place(m) || 'unknown'));
  row('Network', esc(fmt.network(m) || ''));
  const ports = (m.ports || []).join(', ');
  const protos = (m.protocols || []).join(', ');
  row('Ports', esc([ports, protos].filter(Boolean).join(' · ')));
  row('Sent', `${fmt.bytes(m.bytes_out)} <span class="muted">(${fmt.plural(m.packets_out, 'packet')})</span>`);
  row('Received', `${fmt.bytes(m.bytes_in)} <span class="muted">(${fmt.plural(m.packets_in, 'packet')})</span>`);
  row('First seen', `${esc(fmt.when(m.first_seen, ctx.now))} <span class="muted">${esc(fmt.ago(m.first_seen, ctx.now))}</span>`);
  row('Last seen', `${esc(fmt.when(m.last_seen, ctx.now))} <span class="muted">${esc(fmt.ago(m.last_seen, ctx.now))}</span>`);
  // each device is a button that selects it in the side panel (see main.js)
  const devices = (m.hosts || []).map((ip) => {
    const h = ctx.hostsByIp?.get(ip);
    const label = h?.name ? `${esc(h.name)} <span class="muted">${esc(ip)}</span>` : esc(ip);
    return `<button type="button" class="device-link" data-device="${esc(ip)}" title="Show only this device's remotes">${label}</button>`;
  });
  row('Devices', devices.join(''));
  return `<section class="remote" data-ip="${esc(m.ip)}"><h4 class="ip">${esc(m.ip)}${fmt.badges(m, ctx)}</h4><dl>${rows.join('')}</dl></section>`;
}
