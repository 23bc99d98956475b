// Build step for connmap's map page: assembles www/dist/, the directory the daemon serves
// (`connmap --www www/dist`) and the OpenWrt package installs to /usr/share/connmap/www/.
//
// Output:
//   index.html                    references the hashed files below (no inline script or style)
//   app.<hash>.js / app.<hash>.css   our src/ plus Leaflet, Leaflet.markercluster and
//                                 topojson-client, bundled and minified by esbuild (the
//                                 script then by terser too)
//   world.<hash>.bin              Natural Earth 1:110m country shapes (world-atlas TopoJSON, trimmed,
//                                 its arcs in binary: src/world.js)
//   favicon.<hash>.svg
//   licenses.txt                  licences of everything third-party that dist/ contains
//   FILE.gz beside every FILE     gzip -9, served when the client accepts gzip
// and dist-luci/, the same page for LuCI (luci-app-connmap installs it to
// /www/luci-static/connmap/, served by LuCI's web server, which sends files as they are): the
// same files without .gz, index.html marked `data-source="luci"` (src/luci.js: markers.json is
// then read through LuCI's cgi-io with the LuCI session, not from the daemon).
// Hashes are hex (the daemon marks `name.<8+ hex>.ext` immutable); esbuild's own base32
// hashes are not, so files are hashed here. Prints the first-load size (gzipped).
import { build } from 'esbuild';
import { minify } from 'terser';
import { quantize } from 'topojson-client';
import { encodeWorld } from './src/world.js';
import { createHash } from 'node:crypto';
import { gzipSync, constants } from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
const distLuci = path.join(root, 'dist-luci');
const nm = path.join(root, 'node_modules');

const hash = (buf) => createHash('sha256').update(buf).digest('hex').slice(0, 12);
const files = new Map(); // dist name -> contents

function emit(base, ext, contents) {
  const name = `${base}.${hash(contents)}.${ext}`;
  files.set(name, Buffer.from(contents));
  return name;
}

async function bundle(entry, extra = {}) {
  const result = await build({
    entryPoints: [path.join(src, entry)],
    bundle: true,
    minify: true,
    write: false,
    target: 'es2020',
    legalComments: 'none', // licences go to licenses.txt instead
    logLevel: 'warning',
    outdir: dist,
    ...extra,
  });
  if (result.outputFiles.length !== 1) throw new Error(`${entry}: expected one output file`);
  return result.outputFiles[0].contents;
}

// The script minified again by terser after esbuild (which bundles and minifies first): its
// compressor, run twice, and its mangler take 1.3 KB more off the router package after zopfli
// (the app bundle 57,742 -> 56,474 bytes). terser's default transforms, plus `unsafe_methods`
// (`{ m: function () {} }` written `{ m() {} }`, −536 bytes after zopfli): unsafe only for code
// that calls `new` on such a method, which neither Leaflet (its classes call `initialize`
// from their own constructor), Leaflet.markercluster, topojson-client nor our src/ does.
async function terse(bytes) {
  const out = await minify(Buffer.from(bytes).toString('utf8'), {
    ecma: 2020,
    compress: { passes: 2, unsafe_methods: true },
    mangle: true,
    format: { comments: false },
  });
  return Buffer.from(out.code);
}

// Country shapes: world-atlas 1:110m TopoJSON without the `land` object, the names, the ids
// (the page styles every country alike) and Antarctica (not useful on a Web Mercator map of
// where traffic goes). Converted to
// GeoJSON in the browser by topojson-client: TopoJSON is much smaller on the wire.
// Re-quantized from world-atlas's 1e5 steps per axis to 1e4 (0.036° of longitude, ~4 km,
// where the 1:110m shapes have ~10 km between points): 35.8 -> 26.0 KB gzipped, on every
// router's flash and every first page load, with no visible difference at the map's zooms.
// The arcs are then written in binary (src/world.js): 20.3 KB; without the ids 19.7 KB.
const WORLD_QUANTIZATION = 1e4;
function worldData() {
  const topo = JSON.parse(fs.readFileSync(path.join(nm, 'world-atlas/countries-110m.json'), 'utf8'));
  delete topo.objects.land;
  const countries = topo.objects.countries;
  countries.geometries = countries.geometries
    .filter((g) => g.id !== '010')
    .map((g) => ({ type: g.type, arcs: g.arcs }));
  // back to degrees (the arcs are delta-encoded steps of `transform`), then quantized again
  const [sx, sy] = topo.transform.scale;
  const [tx, ty] = topo.transform.translate;
  const arcs = topo.arcs.map((arc) => {
    let x = 0;
    let y = 0;
    return arc.map(([dx, dy]) => {
      x += dx;
      y += dy;
      return [x * sx + tx, y * sy + ty];
    });
  });
  const degrees = { type: 'Topology', bbox: topo.bbox, objects: topo.objects, arcs };
  return encodeWorld(quantize(degrees, WORLD_QUANTIZATION));
}

// Leaflet's stylesheet also styles what this page leaves out (leaflet-core.js): tooltips, the
// layers and scale controls, image and video overlays, default marker icons and IE fallbacks.
// Rules whose every selector names one of those go (about 4 KB of the minified CSS).
const UNUSED_SELECTOR = /\.leaflet-(tooltip|control-layers|control-scale|oldie|image-layer|video|marker-shadow|default-icon-path|retina)/;
function dropUnusedRules(cssBytes) {
  const css = Buffer.from(cssBytes).toString('utf8');
  // esbuild's minified output: `selectors{declarations}`, at-rules with nested blocks aside
  const out = css.replace(/(?<=^|[{}])([^{}@]+)\{[^{}]*\}/g, (rule, selectors) =>
    selectors.split(',').every((sel) => UNUSED_SELECTOR.test(sel)) ? '' : rule,
  );
  return Buffer.from(out);
}

// Third-party licences, read from the installed packages so they match what was bundled.
function licenses() {
  const pkgs = [
    ['leaflet', 'LICENSE', 'BSD-2-Clause'],
    ['leaflet.markercluster', 'MIT-LICENCE.txt', 'MIT'],
    ['topojson-client', 'LICENSE', 'ISC'],
    ['world-atlas', 'LICENSE', 'ISC'],
  ];
  let out =
    'Third-party software and data in this directory\n' +
    '================================================\n\n' +
    'connmap\'s own page code (index.html, app.*.js/css) is MIT licensed; it bundles the\n' +
    'packages below, whose licences follow.\n\n' +
    'Map data: world.*.bin is derived from Natural Earth (https://www.naturalearthdata.com/),\n' +
    '1:110m Admin 0 country boundaries, which are in the public domain, as redistributed in\n' +
    'TopoJSON form by the world-atlas package (ISC licence below).\n\n' +
    'IP geolocation (served by the daemon, not in this directory): IP Geolocation by DB-IP\n' +
    '(https://db-ip.com), licensed under CC BY 4.0; connmap ships a trimmed copy.\n';
  for (const [name, file, spdx] of pkgs) {
    const meta = JSON.parse(fs.readFileSync(path.join(nm, name, 'package.json'), 'utf8'));
    const text = fs.readFileSync(path.join(nm, name, file), 'utf8').trim();
    out += `\n\n---- ${name} ${meta.version} (${spdx}) ----\n\n${text}\n`;
  }
  return out;
}

async function main() {
  const js = emit('app', 'js', await terse(await bundle('main.js', { format: 'iife' })));
  // Leaflet's CSS names images only for controls and default markers this page does not
  // use; leave those URLs alone rather than shipping the images.
  const css = emit('app', 'css', dropUnusedRules(await bundle('style.css', { external: ['*.png'] })));
  const world = emit('world', 'bin', worldData());
  const icon = emit('favicon', 'svg', fs.readFileSync(path.join(src, 'favicon.svg')));

  // the template's comments are for its readers, not for every page load
  let html = fs.readFileSync(path.join(src, 'index.html'), 'utf8').replace(/<!--[\s\S]*?-->\n?/g, '');
  const refs = { 'app.js': js, 'app.css': css, 'world.bin': world, 'favicon.svg': icon };
  html = html.replace(/\{\{([\w.]+)\}\}/g, (m, key) => {
    if (!(key in refs)) throw new Error(`index.html: unknown placeholder ${m}`);
    return refs[key];
  });
  if (/<style|\sstyle=|<script(?![^>]*\ssrc=)/i.test(html)) throw new Error('index.html: inline style or script breaks the CSP');
  files.set('index.html', Buffer.from(html));
  files.set('licenses.txt', Buffer.from(licenses()));

  fs.rmSync(dist, { recursive: true, force: true });
  fs.mkdirSync(dist, { recursive: true });
  const sizes = {};
  for (const [name, data] of files) {
    const gz = gzipSync(data, { level: constants.Z_BEST_COMPRESSION });
    fs.writeFileSync(path.join(dist, name), data);
    fs.writeFileSync(path.join(dist, name + '.gz'), gz);
    sizes[name] = { raw: data.length, gz: gz.length };
  }

  fs.rmSync(distLuci, { recursive: true, force: true });
  fs.mkdirSync(distLuci, { recursive: true });
  for (const [name, data] of files) {
    let out = data;
    if (name === 'index.html') {
      const luci = html.replace('<body ', '<body data-source="luci" ');
      if (luci === html) throw new Error('index.html: no <body ...> to mark for LuCI');
      out = Buffer.from(luci);
    }
    fs.writeFileSync(path.join(distLuci, name), out);
  }

  const firstLoad = ['index.html', js, css, world, icon];
  let total = 0;
  for (const name of Object.keys(sizes)) {
    const { raw, gz } = sizes[name];
    const mark = firstLoad.includes(name) ? '*' : ' ';
    console.log(`${mark} ${name.padEnd(32)} ${String(raw).padStart(8)} B ${String(gz).padStart(8)} B gz`);
    if (firstLoad.includes(name)) total += gz;
  }
  console.log(`first load (*), gzipped: ${total} B = ${(total / 1024).toFixed(1)} KiB (budget 150 KB)`);
  if (total > 150 * 1000) throw new Error('first load is over the 150 KB budget');
}

main().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
