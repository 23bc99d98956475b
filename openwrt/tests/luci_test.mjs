// openwrt/tests/luci_test.mjs — runs luci-app-connmap's two views in node against small
// stand-ins for LuCI's view/form/uci/rpc/poll/dom/widgets/E/_ modules, and checks what they
// render, plus the app's JSON files and the defaults shared with the daemon:
//   connmap/map.js (display): heading and description first; the service's state from
//   `service list` (running with PID / exited with status / disabled / not started); while it
//   runs, the map inside LuCI (a frame of /luci-static/resources/connmap/index.html reading the
//   init script's markers.json path), the same over HTTPS; the daemon's own page as a link
//   (this host or the listen address, IPv6 in brackets) unless `http 0`; the map appears and
//   goes when the service starts and stops (poll).
//   connmap/config.js (settings): covers every option of /etc/config/connmap, the interface is
//   a widgets.NetworkSelect, placeholders and defaults are marks filled from src/defaults.conf
//   (the daemon's table) by scripts/fill-defaults.sh, as are the UCI file's values and the
//   init script's fallbacks: every default of the table reaches them, no copy is written there.
//   menu.d / acl.d: Status > Connection Map with Map and Settings tabs, ACL read access to
//   exactly the markers.json path, cgi-io download, service list; write to uci connmap only.
// Prints ok/FAIL lines and "luci: N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const here = path.dirname(fileURLToPath(import.meta.url));
const app = path.join(here, '../luci-app-connmap');
const repo = path.join(here, '../..');
const TABLE = path.join(repo, 'src/defaults.conf');
// a file as the packages install it: its marks filled from the table (what the builds run)
const filled = (p) => execFileSync('sh', [path.join(repo, 'scripts/fill-defaults.sh'), TABLE], { input: fs.readFileSync(p), encoding: 'utf8' });
const raw = (p) => fs.readFileSync(path.join(app, p), 'utf8');
const read = (p) => filled(path.join(app, p));
const mapSrc = read('htdocs/luci-static/resources/view/connmap/map.js');
const configRaw = raw('htdocs/luci-static/resources/view/connmap/config.js');
const configSrc = read('htdocs/luci-static/resources/view/connmap/config.js');
const menu = JSON.parse(read('root/usr/share/luci/menu.d/luci-app-connmap.json'));
const acl = JSON.parse(read('root/usr/share/rpcd/acl.d/luci-app-connmap.json'));
const uciRaw = fs.readFileSync(path.join(here, '../connmap/files/connmap.config'), 'utf8');
const uciFile = filled(path.join(here, '../connmap/files/connmap.config'));
const initRaw = fs.readFileSync(path.join(here, '../connmap/files/connmap.init'), 'utf8');
const init = filled(path.join(here, '../connmap/files/connmap.init'));
// the table: name -> value
const table = Object.fromEntries(fs.readFileSync(TABLE, 'utf8').split('\n').map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#')).map((l) => l.split(/\s+/)).map(([n, , v]) => [n, v]));

let passed = 0, failed = 0;
function check(name, cond, detail) {
  if (cond) { passed++; console.log('ok   luci: ' + name); }
  else { failed++; console.log('FAIL luci: ' + name + (detail ? ': ' + detail : '')); }
}

// LuCI's String.prototype.format, enough for %s
String.prototype.format = function (...args) { let i = 0; return this.replace(/%s/g, () => String(args[i++])); };

function E(tag, attrs, children) {
  // LuCI's E([...], data): a fragment holding the nodes
  if (Array.isArray(tag)) return { tag: 'fragment', attrs: {}, children: tag.concat(Array.isArray(attrs) ? attrs : []) };
  if (Array.isArray(attrs) || typeof attrs === 'string') { children = attrs; attrs = {}; }
  const node = { tag, attrs: attrs || {}, children: [].concat(children ?? []) };
  node.querySelector = (sel) => find(node, (n) => n.attrs && '#' + n.attrs.id === sel)[0] || null;
  node.appendChild = (c) => { node.children.push(c); return c; };
  node.removeChild = (c) => { node.children = node.children.filter((x) => x !== c); return c; };
  node.insertBefore = (c, ref) => {
    const i = node.children.indexOf(ref);
    if (i < 0) node.children.push(c); else node.children.splice(i, 0, c);
    return c;
  };
  Object.defineProperty(node, 'firstChild', { get: () => node.children[0] || null });
  Object.defineProperty(node, 'nextSibling', { get: () => null, configurable: true });
  return node;
}
function find(node, pred, out = []) {
  if (!node || typeof node !== 'object') return out;
  if (pred(node)) out.push(node);
  for (const c of node.children || []) find(c, pred, out);
  return out;
}
const text = (node) => (typeof node === 'string' ? node : (node.children || []).map(text).join(''));

const L = {
  bind: (f, self) => f.bind(self),
  resource: (p) => '/luci-static/resources/' + p,
  url: (p) => '/cgi-bin/luci/' + p,
  resolveDefault: (p, d) => Promise.resolve(p).catch(() => d),
  toArray: (x) => (x == null ? [] : [].concat(x)),
};

function load(src, mods) {
  const names = Object.keys(mods);
  return new Function(...names, src.replace(/^'use strict';/m, ''))(...names.map((n) => mods[n]));
}

// --- map.js ------------------------------------------------------------------------------------
async function renderMap(values, services, location) {
  const polls = [];
  let current = services;
  const mods = {
    view: { extend: (o) => o },
    rpc: { declare: (d) => () => Promise.resolve(d.object === 'service' && d.method === 'list' ? current : {}) },
    uci: { load: (c) => Promise.resolve(c), get: (c, s, o) => (c === 'connmap' && s === 'main' ? values[o] : undefined) },
    poll: { add: (f, secs) => polls.push([f, secs]) },
    dom: { content: (el, c) => { el.children = [].concat(c); } },
    E, _: (s) => s, L, window: { location },
  };
  const v = load(mapSrc, mods);
  const data = await v.load();
  const node = v.render(data);
  return { v, node, polls, setServices: (s) => { current = s; } };
}
const running = { connmap: { instances: { instance1: { running: true, pid: 4242, command: ['/usr/sbin/connmap'] } } } };
const crashed = { connmap: { instances: { instance1: { running: false, exit_code: 1 } } } };
const frames = (n) => find(n, (x) => x.tag === 'iframe');
const http = { hostname: '192.168.1.1', protocol: 'http:' };

const markersPath = (mapSrc.match(/const MARKERS = '([^']+)'/) || [])[1];
const initJson = (init.match(/^RUN_DIR=(\S+)/m) || [])[1] + '/' + ((init.match(/^JSON_OUT=\$RUN_DIR\/(\S+)/m) || [])[1]);
check('markers.json path: the view reads what the init script has the daemon write', markersPath && markersPath === initJson, `${markersPath} vs ${initJson}`);

let r = await renderMap({ enabled: '1', port: '8090' }, running, http);
let f = frames(r.node);
check('running: the map in LuCI, framed from LuCI with the markers path',
  f.length === 1 && f[0].attrs.src === '/luci-static/resources/connmap/index.html?markers=' + encodeURIComponent(markersPath), JSON.stringify(f.map((x) => x.attrs.src)));
check('running: says so, with the PID', /running \(PID 4242\)/.test(text(r.node)) &&
  find(r.node, (n) => n.attrs && n.attrs['data-state'] === 'running').length === 1);
const top = r.node.children;
check('heading and description come first, the map after them', top[0].tag === 'h2' && /cbi-map-descr/.test(top[1].attrs.class) &&
  find(top[2], (n) => n.tag === 'iframe').length === 1 && find(top[0], (n) => n.tag === 'iframe').length === 0);
let links = find(r.node, (n) => n.tag === 'a' && n.attrs.target === '_blank');
check('the daemon\'s own page as a link to this host and the port', links.length === 1 && links[0].attrs.href === 'http://192.168.1.1:8090/', JSON.stringify(links.map((l) => l.attrs.href)));
check('the view polls the service state', r.polls.length === 1 && r.polls[0][1] > 0);
check('display only: no Save/Apply/Reset buttons', r.v.handleSave === null && r.v.handleSaveApply === null && r.v.handleReset === null);

r = await renderMap({ enabled: '1', port: '9000' }, running, { hostname: 'router.lan', protocol: 'https:' });
f = frames(r.node);
links = find(r.node, (n) => n.tag === 'a' && n.attrs.target === '_blank');
check('HTTPS LuCI: the same map inside LuCI (no plain-HTTP frame)', f.length === 1 && f[0].attrs.src.startsWith('/luci-static/') &&
  links.length === 1 && links[0].attrs.href === 'http://router.lan:9000/');

r = await renderMap({ enabled: '1', http: '0' }, running, http);
check('http 0: the map, no link to a port the daemon does not open', frames(r.node).length === 1 &&
  find(r.node, (n) => n.tag === 'a' && n.attrs.target === '_blank').length === 0);

r = await renderMap({ enabled: '1', listen: '10.0.0.1' }, running, http);
check('fixed listen address is where the daemon\'s page is', find(r.node, (n) => n.tag === 'a' && n.attrs.target)[0].attrs.href === 'http://10.0.0.1:8090/');
r = await renderMap({ enabled: '1', listen: '0.0.0.0' }, running, http);
check('wildcard listen: this host', find(r.node, (n) => n.tag === 'a' && n.attrs.target)[0].attrs.href === 'http://192.168.1.1:8090/');
r = await renderMap({ enabled: '1' }, running, { hostname: 'fd00::1', protocol: 'http:' });
check('IPv6 host in brackets', find(r.node, (n) => n.tag === 'a' && n.attrs.target)[0].attrs.href === 'http://[fd00::1]:8090/');

r = await renderMap({ enabled: '1' }, crashed, http);
check('crashed: no frame, "not running" with the exit status', frames(r.node).length === 0 &&
  /not running/.test(text(r.node)) && /status 1/.test(text(r.node)) &&
  find(r.node, (n) => n.attrs && n.attrs['data-state'] === 'stopped' && /warning/.test(n.attrs.class)).length === 1);
r = await renderMap({ enabled: '0' }, {}, http);
check('disabled: no frame, says it is disabled, links to the settings', frames(r.node).length === 0 && /disabled/.test(text(r.node)) &&
  find(r.node, (n) => n.tag === 'a' && n.attrs.href === '/cgi-bin/luci/admin/status/connmap/config').length === 1);
r = await renderMap({ enabled: '1' }, {}, http);
check('enabled but never started: says so (interface up?)', frames(r.node).length === 0 && /not been started/.test(text(r.node)));

// the service starts, then stops, while the page is open
r.setServices(running);
await r.polls[0][0]();
check('service started: the map appears', frames(r.node).length === 1 && /running/.test(text(r.node)));
r.setServices(crashed);
await r.polls[0][0]();
check('service stopped: the map goes, the notice comes', frames(r.node).length === 0 && /not running/.test(text(r.node)));

// --- config.js ---------------------------------------------------------------------------------
const options = [];
const tabs = [];
class Map {
  constructor(config, title) { this.config = config; this.title = title; }
  section(type, name, stype) {
    this.sectionArgs = [type, name, stype];
    const opt = (t, name, title, description) => { const o = { type: t, name, title, description, deps: [], depends(k, v) { this.deps.push([k, v]); }, value() {} }; options.push(o); return o; };
    return { tab: (n) => tabs.push(n), taboption: (tab, ...a) => { const o = opt(...a); o.tab = tab; return o; }, option: opt };
  }
  render() { return Promise.resolve(E('div', { id: 'form' }, [])); }
}
const form = { Map, NamedSection: 'NamedSection', Flag: 'Flag', Value: 'Value', DynamicList: 'DynamicList', ListValue: 'ListValue' };
const widgets = { NetworkSelect: 'NetworkSelect' };
const cv = load(configSrc, {
  view: { extend: (o) => o }, form, uci: { load: (c) => Promise.resolve(c) }, widgets, E, _: (s) => s, L,
});
await cv.load();
await cv.render();
const byName = Object.fromEntries(options.map((o) => [o.name, o]));
const configured = [...new Set([...uciFile.matchAll(/^\s*#?\s*(?:option|list) (\w+)/gm)].map((m) => m[1]))];
const missing = configured.filter((n) => !byName[n]);
check('settings form covers every UCI option', missing.length === 0, 'missing ' + missing.join(','));
const unknown = Object.keys(byName).filter((n) => !configured.includes(n));
check('settings form has no option the config lacks', unknown.length === 0, unknown.join(','));
check('interface is a widgets.NetworkSelect', byName.interface?.type === 'NetworkSelect');
check('an interface the list cannot show (a device name) is kept on save, not refused or removed',
  byName.interface?.rmempty === true && typeof byName.interface?.remove === 'function' && byName.interface.remove('main') === undefined &&
  /remove = function\(section_id\) \{\}/.test(configSrc));
check('port and listen only with the own page on', JSON.stringify(byName.port?.deps) === '[["http","1"]]' && JSON.stringify(byName.listen?.deps) === '[["http","1"]]');
check('settings in three tabs (general, advanced, alerts), every option in one', tabs.length === 3 && options.every((o) => o.tab));

// defaults: src/defaults.conf is the one source. The sources hold marks, never a copy of a
// value; the filled files (what the packages install) carry the table's values.
check('the sources carry no filled value: every form default/placeholder of a table setting is a mark',
  [...configRaw.matchAll(/'@(\w+)@'/g)].length > 20 && !/placeholder = '\d/.test(configRaw) && !/default = '\d/.test(configRaw));
check('no mark is left in the filled files', ![configSrc, mapSrc, uciFile, init].some((t) => /@[a-z_]+@/.test(t)));
let formChecked = 0, uciChecked = 0, initChecked = 0;
const uciValue = (k) => (uciFile.match(new RegExp(`^\\s*option ${k} '([^']*)'`, 'm')) || [])[1];
const initDefault = (k) => (init.match(new RegExp(`config_get(?:_bool)? \\w+ main ${k} (\\S+)$`, 'm')) || [])[1];
for (const [k, d] of Object.entries(table)) {
  const o = byName[k];
  if (o) {
    const shown = o.type === 'Value' ? o.placeholder : o.default;
    check(`default ${k}=${d}: the form's ${o.type === 'Value' ? 'placeholder' : 'default'}`, shown === d, String(shown));
    formChecked++;
  }
  if (new RegExp(`option ${k} '`).test(uciRaw)) {
    check(`default ${k}=${d}: /etc/config/connmap`, uciValue(k) === d, uciValue(k));
    uciChecked++;
  }
  if (new RegExp(`config_get(_bool)? \\w+ main ${k} @`).test(initRaw)) {
    check(`default ${k}=${d}: the init script's fallback`, initDefault(k) === d, initDefault(k));
    initChecked++;
  }
}
check('every UCI option of the table is in the UCI file', Object.keys(table).filter((k) => byName[k] && !uciValue(k)).length === 0);
check(`defaults checked: ${formChecked} in the form, ${uciChecked} in the UCI file, ${initChecked} in the init script`,
  formChecked >= 30 && uciChecked >= 30 && initChecked >= 15);
check('map.js DEFAULT_PORT is the daemon\'s', (mapSrc.match(/DEFAULT_PORT = '(\d+)'/) || [])[1] === table.port);
check('the history description names the history\'s default bounds',
  (byName.history_top?.description || '').includes(`last ${table.history_hours} hours by hour, ${table.history_days} days by day`));

// --- menu and ACL ------------------------------------------------------------------------------
const root = menu['admin/status/connmap'];
check('menu: Status > Connection Map, for the app\'s ACL and config', root?.action?.type === 'firstchild' &&
  root.depends?.acl?.[0] === 'luci-app-connmap' && acl['luci-app-connmap'] && root.depends?.uci?.connmap === true);
const views = Object.entries(menu).filter(([, e]) => e.action?.type === 'view').map(([k, e]) => [k, e.action.path]);
check('menu: a Map tab and a Settings tab, each a view file of the app',
  JSON.stringify(views) === JSON.stringify([['admin/status/connmap/map', 'connmap/map'], ['admin/status/connmap/config', 'connmap/config']]) &&
  views.every(([, p]) => fs.existsSync(path.join(app, 'htdocs/luci-static/resources/view', p + '.js'))));
const g = acl['luci-app-connmap'];
check('ACL: read exactly the markers.json file, through cgi-io download', JSON.stringify(g.read.file) === JSON.stringify({ [markersPath]: ['read'] }) &&
  JSON.stringify(g.read['cgi-io']) === '["download"]');
check('ACL: service list for the running state', g.read.ubus?.service?.includes('list'));
check('ACL: writes only the connmap config', JSON.stringify(g.write) === '{"uci":["connmap"]}');

console.log(`luci: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
