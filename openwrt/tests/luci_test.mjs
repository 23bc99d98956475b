// openwrt/tests/luci_test.mjs — runs the LuCI view (luci-app-connmap's connmap/map.js) in node
// against small stand-ins for LuCI's view/form/uci/E/_ modules, and checks what it renders:
// the iframe to this host and the configured port over HTTP, only the link over HTTPS, the
// listen address, IPv6 brackets, the disabled notice, and that the settings form covers the
// options of /etc/config/connmap. Prints ok/FAIL lines and "luci: N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = fs.readFileSync(path.join(here, '../luci-app-connmap/htdocs/luci-static/resources/view/connmap/map.js'), 'utf8');
const config = fs.readFileSync(path.join(here, '../connmap/files/connmap.config'), 'utf8');

let passed = 0, failed = 0;
function check(name, cond, detail) {
  if (cond) { passed++; console.log('ok   luci: ' + name); }
  else { failed++; console.log('FAIL luci: ' + name + (detail ? ': ' + detail : '')); }
}

function E(tag, attrs, children) {
  // LuCI's E([...], data): a fragment holding the nodes, then data
  if (Array.isArray(tag)) return { tag: 'fragment', attrs: {}, children: tag.concat(Array.isArray(attrs) ? attrs : [].concat(children || [])) };
  if (Array.isArray(attrs) || typeof attrs === 'string') { children = attrs; attrs = {}; }
  return { tag, attrs: attrs || {}, children: [].concat(children || []) };
}
function find(node, pred, out = []) {
  if (!node || typeof node !== 'object') return out;
  if (pred(node)) out.push(node);
  for (const c of node.children || []) find(c, pred, out);
  return out;
}

async function render(values, location) {
  const options = [];
  const form = {
    NamedSection: 'NamedSection', Flag: 'Flag', Value: 'Value', DynamicList: 'DynamicList',
    Map: class {
      constructor(config, title) { this.config = config; this.title = title; }
      section(type, name, stype) {
        this.sectionArgs = [type, name, stype];
        return { option: (t, name) => { const o = { type: t, name, depends() {}, value() {} }; options.push(o); return o; } };
      }
      render() { return Promise.resolve(E('div', { id: 'form' }, [])); }
    },
  };
  const uci = {
    load: (c) => Promise.resolve(c),
    get: (c, s, o) => (c === 'connmap' && s === 'main' ? values[o] : undefined),
  };
  const view = { extend: (o) => o };
  const L = { bind: (f, self) => f.bind(self) };
  const window = { location };
  const body = src.replace(/^'use strict';/, '');
  const v = new Function('view', 'form', 'uci', 'E', '_', 'L', 'window', body)(view, form, uci, E, (s) => s, L, window);
  await v.load();
  const node = await v.render();
  return { node, options };
}

const http = { hostname: '192.168.1.1', protocol: 'http:' };
let r = await render({ enabled: '1', port: '8090' }, http);
let frames = find(r.node, (n) => n.tag === 'iframe');
let links = find(r.node, (n) => n.tag === 'a');
check('HTTP LuCI: iframe to this host and the port', frames.length === 1 && frames[0].attrs.src === 'http://192.168.1.1:8090/', JSON.stringify(frames.map((f) => f.attrs.src)));
check('plain link too, new tab', links.length === 1 && links[0].attrs.href === 'http://192.168.1.1:8090/' && links[0].attrs.target === '_blank');
check('the settings form is rendered after the map', find(r.node, (n) => n.attrs && n.attrs.id === 'form').length === 1);

r = await render({ enabled: '1', port: '9000' }, { hostname: 'router.lan', protocol: 'https:' });
frames = find(r.node, (n) => n.tag === 'iframe');
links = find(r.node, (n) => n.tag === 'a');
check('HTTPS LuCI: no iframe (mixed content), the link instead', frames.length === 0 && links.length === 1 && links[0].attrs.href === 'http://router.lan:9000/');

r = await render({ enabled: '1', port: '8090', listen: '10.0.0.1' }, http);
check('fixed listen address is where the page is', find(r.node, (n) => n.tag === 'iframe')[0].attrs.src === 'http://10.0.0.1:8090/');
r = await render({ enabled: '1', listen: '0.0.0.0' }, http);
check('wildcard listen: this host, default port', find(r.node, (n) => n.tag === 'iframe')[0].attrs.src === 'http://192.168.1.1:8090/');
r = await render({ enabled: '1' }, { hostname: 'fd00::1', protocol: 'http:' });
check('IPv6 host in brackets', find(r.node, (n) => n.tag === 'iframe')[0].attrs.src === 'http://[fd00::1]:8090/');
r = await render({ enabled: '0' }, http);
check('disabled: no iframe, a notice', find(r.node, (n) => n.tag === 'iframe').length === 0 &&
  find(r.node, (n) => (n.attrs.class || '').includes('warning')).length === 1);

// the form covers the config's options (except log_level/tiles/lan/remote/max_hosts: advanced)
const configured = [...config.matchAll(/^\s*#?\s*(?:option|list) (\w+)/gm)].map((m) => m[1]);
const formNames = new Set(r.options.map((o) => o.name));
const advanced = new Set(['log_level', 'tiles', 'lan', 'remote', 'max_hosts']);
const missing = configured.filter((n) => !advanced.has(n) && !formNames.has(n));
check('settings form covers the UCI options', missing.length === 0, 'missing ' + missing.join(','));
const unknown = [...formNames].filter((n) => !configured.includes(n));
check('settings form has no option the config lacks', unknown.length === 0, unknown.join(','));

console.log(`luci: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
