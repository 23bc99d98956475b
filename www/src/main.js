// Entry point of connmap's map page: wires the live data (poll.js), the time control and
// history ranges (history.js), the alerts (alerts.js), the view model (model.js), the map
// (map.js) and the side panel (panel.js) together, and shows the connection state in the
// header.
import { startPolling } from './poll.js';
import { luciRequest } from './luci.js';
import { deriveView } from './model.js';
import { MapView } from './map.js';
import { Panel } from './panel.js';
import { TimeControl, fetchHistory, historyStatus } from './history.js';
import { Alerts } from './alerts.js';
import { scrubHour } from './range.js';
import * as fmt from './format.js';
import { setupDownloads } from './download.js';

const TILES_KEY = 'connmap.tiles';
const TIMELINE_REFRESH_MS = 5 * 60000; // a live device timeline is fetched again after this
const ui = { device: null, query: '', sort: 'traffic', tiles: false };
try {
  ui.tiles = localStorage.getItem(TILES_KEY) === 'on';
} catch {
  // storage unavailable: tiles stay off
}
let live = null; // the latest markers.json
let range = null; // the chosen history range ({mode, from, to, ...}), null: live
let hist = null; // history.json of `range` once it arrived
let histCtrl = null; // aborts the request of a range no longer wanted
let histError = null;
let data = null; // what is on screen: `live`, or `hist` with live's map settings
let liveAt = 0; // when `live` arrived (browser clock, ms)
let liveMoving = false; // the snapshots' time advances (a live capture; not a replay that ended)
// the selected device's timeline while live (the last 48 h of that device, history.json?host=)
let devTimeline = { key: null, host: null, range: null, loading: false, error: null, at: 0, ctrl: null };

// Inside LuCI the page reads markers.json as a file through cgi-io: there is no daemon to ask
// for history.json or alerts.json (and with --no-http no daemon web server at all).
const luci = document.body.dataset.source === 'luci';
const NO_HISTORY = 'Time ranges and alerts need connmap’s own web server; this LuCI view reads only the live map (a file on the router).';
const HISTORY_OFF = 'This router keeps no history (history_top 0): only the live map.';
let historyOff = false; // history.json answered 404: no ranges, no timelines

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
    mapView.setTiles(live?.tiles, on);
  },
  onHour(t) {
    timeCtl.showHour(t);
  },
});

/**
 * "Now" for the time control: the latest snapshot's time, plus the time since it arrived when
 * snapshots keep coming (polling pauses while a range is shown: "last hour" chosen an hour
 * later is still the last hour). A replay's clock stops at its last packet.
 */
function currentNow() {
  if (!live?.generated) return 0;
  return live.generated + (liveMoving ? Math.floor((Date.now() - liveAt) / 1000) : 0);
}

const timeCtl = new TimeControl(chooseRange, currentNow);
const alerts = new Alerts({ onFocus: focusAlert, onChange: render });
if (luci) {
  timeCtl.setAvailable(false, NO_HISTORY);
  alerts.unavailable();
} else {
  timeCtl.setAvailable(true);
}

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

/** The data on screen: live, or the history range with live's map settings (home, tiles, credit). */
function shownData() {
  if (!range) return live;
  if (!hist) return data || live; // the previous picture until the range arrives
  return { ...hist, home: live?.home ?? null, tiles: live?.tiles ?? null, attribution: live?.attribution, history: true };
}

function render() {
  data = shownData();
  if (!data) return;
  const view = deriveView(data, ui);
  if (ui.device && !view.device) ui.device = null; // the device left the table (or is not in the range)
  const now = data.history ? data.to : data.generated || Date.now() / 1000;
  const ctx = {
    now,
    home: data.home,
    sort: ui.sort,
    hostsByIp: view.hostsByIp,
    alerted: alerts.remotes,
    timeline: view.device ? timelineOf(view.device, view) : null,
    history: data.history ? { other: data.other, resolution: data.resolution, empty: !(data.markers || []).length } : null,
  };
  mapView.update(view, ctx);
  panel.render(data, view, ctx);
  const title = `connmap · ${fmt.plural(view.totalRemotes, 'remote')}${data.history ? ' (history)' : ''}`;
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
  document.body.dataset.device = view.device || '';
}

/**
 * The selected device's timeline: from the range's own answer, or while live the last 48 h
 * of that device (fetched on selection, again every few minutes while it stays selected).
 */
function timelineOf(ip, view) {
  if (luci || historyOff) return null;
  const host = view.hostsByIp.get(ip);
  if (data.history) {
    return { host, range: { from: data.from, to: data.to, resolution: data.resolution } };
  }
  const key = host.ip;
  const stale = Date.now() - devTimeline.at > TIMELINE_REFRESH_MS;
  if (devTimeline.key !== key || (stale && !devTimeline.loading)) loadDeviceTimeline(key);
  return { host: devTimeline.host, range: devTimeline.range, state: { loading: devTimeline.loading, error: devTimeline.error } };
}

async function loadDeviceTimeline(ip) {
  devTimeline.ctrl?.abort();
  const ctrl = new AbortController();
  const now = live?.generated || Date.now() / 1000;
  const from = scrubHour(0, now);
  const keep = devTimeline.key === ip;
  devTimeline = { key: ip, host: keep ? devTimeline.host : null, range: keep ? devTimeline.range : null, loading: true, error: null, at: Date.now(), ctrl };
  try {
    const h = await fetchHistory({ from, to: now, host: ip }, ctrl.signal);
    if (devTimeline.ctrl !== ctrl) return;
    const host = (h.hosts || []).find((x) => x.ip === ip || (x.ips || []).includes(ip)) || null;
    devTimeline = { ...devTimeline, host, range: { from: h.from, to: h.to, resolution: h.resolution }, loading: false };
  } catch (err) {
    if (devTimeline.ctrl !== ctrl) return;
    devTimeline = { ...devTimeline, loading: false, error: err.message || String(err) };
    if (err.status === 404) historyGone();
  }
  render();
}

/** The daemon keeps no history: hide the time control (saying why) and show live data. */
function historyGone() {
  historyOff = true;
  timeCtl.setAvailable(false, HISTORY_OFF);
  if (range) timeCtl.choose('live');
}

/** A choice of the time control: fetch that range and show it, or (null) back to live. */
async function chooseRange(choice) {
  histCtrl?.abort();
  histCtrl = null;
  histError = null;
  if (!choice) {
    range = null;
    hist = null;
    document.body.dataset.range = 'live';
    timeCtl.setLabel('');
    poller.resume();
    render();
    return;
  }
  range = choice;
  poller.pause();
  document.body.dataset.range = 'loading';
  showHistoryStatus();
  const ctrl = new AbortController();
  histCtrl = ctrl;
  try {
    const h = await fetchHistory(choice, ctrl.signal);
    if (histCtrl !== ctrl) return;
    hist = h;
    timeCtl.setAvailableFrom(h.available);
    document.body.dataset.range = `${h.from}-${h.to}`;
  } catch (err) {
    if (histCtrl !== ctrl) return;
    if (err.status === 404) {
      historyGone();
      return;
    }
    histError = err.message || String(err);
    document.body.dataset.range = 'error';
  }
  showHistoryStatus();
  render();
}

function showHistoryStatus() {
  const s = historyStatus(range, hist && !histError ? hist : null);
  const text = histError ? `History unavailable: ${histError}` : s.text;
  if (status.textContent !== text) status.textContent = text;
  status.dataset.state = histError ? 'unreachable' : 'history';
  status.title = '';
  const detail = histError ? '' : s.detail;
  if (dataTime.textContent !== detail) dataTime.textContent = detail;
  timeCtl.setLabel(histError ? '' : hist ? s.detail : 'loading…');
}

/** An alert was clicked: select its device, open its remote on the map (or say it is not there). */
function focusAlert(alert) {
  if (!data) return;
  const hosts = deriveView(data, { device: null, query: '', sort: ui.sort }).hostsByIp;
  const dev = alert.device?.ip;
  ui.query = '';
  panel.clearSearch();
  ui.device = dev && hosts.has(dev) ? dev : null;
  render();
  const rip = alert.remote?.ip;
  if (rip) {
    if (mapView.focusRemote(rip) || panel.focusUnlocated(rip)) return;
    alerts.say(`${rip} is not in the ${range ? 'time range shown' : 'live tables'}.`);
  } else if (ui.device) {
    panel.focusDevice(ui.device);
  } else if (dev) {
    alerts.say(`${dev} is not in the ${range ? 'time range shown' : 'live tables'}.`);
  }
}

function onData(next, etag) {
  liveMoving = Boolean(live?.generated && next.generated > live.generated);
  live = next;
  liveAt = Date.now();
  timeCtl.setNow(live.generated);
  // which snapshot is on screen (handy when debugging, and for the browser tests)
  document.body.dataset.generated = String(live.generated ?? '');
  document.body.dataset.etag = etag || '';
  const credit = mapView.setGeoAttribution(live.attribution);
  if (!/db-?ip/i.test(credit)) document.getElementById('geo-credit').innerHTML = `Geolocation: ${credit}.`;
  const tilesOffered = typeof live.tiles === 'string' && live.tiles !== '';
  panel.setTilesOffered(tilesOffered, tilesOffered && ui.tiles);
  mapView.setTiles(tilesOffered ? live.tiles : null, tilesOffered && ui.tiles);
  if (!range) render();
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
  if (range) return; // the header shows the history range
  const text = STATE_TEXT[s.state](s);
  if (status.textContent !== text) status.textContent = text;
  status.dataset.state = s.state;
  status.title = s.error ? `Last error: ${s.error}` : '';
  const time = live?.generated ? `data of ${fmt.clock(live.generated)}` : '';
  if (dataTime.textContent !== time) dataTime.textContent = time;
}

setupDownloads(() => data);
document.body.dataset.range = 'live';
const poller = startPolling({ onData, onState, request: luciRequest() });
if (!luci) alerts.start();
