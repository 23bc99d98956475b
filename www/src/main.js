// Entry point of connmap's map page: wires the live data (poll.js), the view model
// (model.js), the map (map.js) and the side panel (panel.js) together, and shows the
// connection state in the header.
import { startPolling } from './poll.js';
import { luciRequest } from './luci.js';
import { deriveView } from './model.js';
import { MapView } from './map.js';
import { Panel } from './panel.js';
import * as fmt from './format.js';
import { setupDownloads } from './download.js';

const TILES_KEY = 'connmap.tiles';
const ui = { device: null, query: '', sort: 'traffic', tiles: false };
try {
  ui.tiles = localStorage.getItem(TILES_KEY) === 'on';
} catch {
  // storage unavailable: tiles stay off
}
let data = null;

const status = document.getElementById('status');
const mapView = new MapView(document.getElementById('map'), document.body.dataset.world);
const panel = new Panel({
  onDevice(ip) {
    ui.device = ip;
    render();
  },
  onQuery(text) {
    ui.query = text;
    render();
  },
  onSort(key) {
    ui.sort = key;
    render();
  },
  onTiles(on) {
    ui.tiles = on;
    try {
      localStorage.setItem(TILES_KEY, on ? 'on' : 'off');
    } catch {
      // not remembered
    }
    mapView.setTiles(data?.tiles, on);
  },
});

// device buttons in popups and in the unlocated list select that device
document.addEventListener('click', (e) => {
  const btn = e.target.closest?.('button[data-device]');
  if (!btn) return;
  ui.device = btn.dataset.device;
  render();
});

// "/" jumps to the search box, as on many sites
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest?.('input, select, textarea, [contenteditable]')) return;
  e.preventDefault();
  document.getElementById('search').focus();
});

function render() {
  if (!data) return;
  const view = deriveView(data, ui);
  if (ui.device && !view.device) ui.device = null; // the device left the table
  const ctx = { now: data.generated || Date.now() / 1000, home: data.home, sort: ui.sort, hostsByIp: view.hostsByIp };
  mapView.update(view, ctx);
  panel.render(data, view, ctx);
  const title = `connmap · ${fmt.plural(view.totalRemotes, 'remote')}`;
  if (document.title !== title) document.title = title;
  const parts = [];
  if (view.device) parts.push(fmt.deviceLabel(view.hostsByIp.get(view.device)));
  if (ui.query.trim()) parts.push(`“${ui.query.trim()}”`);
  mapView.setFilterNote(parts.length ? `Showing ${parts.join(' + ')}` : null, () => {
    ui.device = null;
    ui.query = '';
    panel.clearSearch();
    render();
  });
}

function onData(next, etag) {
  data = next;
  // which snapshot is on screen (handy when debugging, and for the browser tests)
  document.body.dataset.generated = String(data.generated ?? '');
  document.body.dataset.etag = etag || '';
  const credit = mapView.setGeoAttribution(data.attribution);
  if (!/db-?ip/i.test(credit)) document.getElementById('geo-credit').innerHTML = `Geolocation: ${credit}.`;
  const tilesOffered = typeof data.tiles === 'string' && data.tiles !== '';
  panel.setTilesOffered(tilesOffered, tilesOffered && ui.tiles);
  mapView.setTiles(tilesOffered ? data.tiles : null, tilesOffered && ui.tiles);
  render();
}

const STATE_TEXT = {
  connecting: () => 'Connecting…',
  live: () => 'Live',
  stale: (s) => `Stale: no new data since ${fmt.clock(s.lastChange)}`,
  unreachable: (s) => `Daemon unreachable${s.lastOk ? ` since ${fmt.clock(s.lastOk)}` : ''}, retrying`,
  paused: () => 'Paused',
};

// The state word is a live region (announced when it changes); the data time next to it is
// not, so that screen readers are not told the time every few seconds.
const dataTime = document.getElementById('data-time');

function onState(s) {
  const text = STATE_TEXT[s.state](s);
  if (status.textContent !== text) status.textContent = text;
  status.dataset.state = s.state;
  status.title = s.error ? `Last error: ${s.error}` : '';
  const time = data?.generated ? `data of ${fmt.clock(data.generated)}` : '';
  if (dataTime.textContent !== time) dataTime.textContent = time;
}

setupDownloads(() => data);
startPolling({ onData, onState, request: luciRequest() });
