// The map: Natural Earth country shapes drawn offline (no tiles, no API key), one marker per
// remote location (clustered with Leaflet.markercluster), arcs from home to each location,
// popups with the details, and the opt-in online tile layer. Places with a remote that an
// alert names get a mark (`alerted`), places with a remote new in a history range another
// (`has-new`). Updates are applied in place so
// that the map does not flicker and an open popup stays open.
import L from './leaflet.js';
import { feature } from 'topojson-client';
import { decodeWorld } from './world.js';
import * as fmt from './format.js';
import { remoteDetails } from './details.js';
import { groupByPlace, sizeClass, recencyClass, SORTS } from './model.js';

const { esc } = fmt;
const MARKER_PX = [0, 14, 18, 24, 30, 38]; // by size class
const CLUSTER_PX = [0, 30, 34, 40, 46, 54];
const POPUP_LIMIT = 40; // remotes listed in one popup; the rest are counted
const MAX_ARCS = 250; // lines from home: to this many places at most, the busiest

export class MapView {
  constructor(el, worldUrl) {
    this.map = L.map(el, {
      center: [25, 10],
      zoom: 2,
      minZoom: 0,
      maxZoom: 10,
      zoomSnap: 0.25,
      worldCopyJump: true,
    });
    this.map.createPane('home').classList.add('cm-home-pane'); // below the markers, above the arcs
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com" rel="noreferrer">Leaflet</a>');
    this.map.attributionControl.addAttribution(
      '<a href="https://www.naturalearthdata.com/" rel="noreferrer">Natural Earth</a>');
    this.geoAttribution = null;
    this.fitWorld();

    this.countries = null;
    this.loadCountries(worldUrl);

    this.cluster = L.markerClusterGroup({
      showCoverageOnHover: false,
      maxClusterRadius: 36,
      spiderfyOnMaxZoom: true,
      chunkedLoading: true,
      iconCreateFunction: (c) => this.clusterIcon(c),
    });
    this.lines = L.layerGroup();
    this.lines.addTo(this.map);
    this.cluster.addTo(this.map);

    this.markers = new Map(); // place key -> L.Marker (with .place)
    this.arcs = new Map(); // place key -> L.Polyline (with .cls)
    this.home = null;
    this.homeMarker = null;
    this.tiles = null;
    this.ctx = null;
    this.maxBytes = 0; // traffic of the busiest place shown: marker sizes are relative to it
    this.loose = null; // {key, popup}: a popup kept open after its marker joined a cluster
  }

  fitWorld() {
    this.map.fitBounds([[-45, -165], [70, 175]], { animate: false });
  }

  async loadCountries(url) {
    try {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const topo = decodeWorld(await res.arrayBuffer());
      const shapes = feature(topo, topo.objects.countries);
      for (const f of shapes.features) unwrapAntimeridian(f.geometry);
      this.countries = L.geoJSON(shapes, {
        interactive: false,
        style: () => ({ className: 'country', weight: 0.6, fillOpacity: 1 }),
      });
      this.countries.addTo(this.map);
      this.countries.bringToBack();
    } catch (err) {
      console.warn('country shapes could not be loaded:', err);
    }
  }

  /**
   * Shows the geolocation attribution from markers.json: DB-IP's licence asks for this link
   * text, and connmap's database is a trimmed DB-IP one; other databases (the demo's) are
   * credited with their own text. Returns the HTML used.
   */
  setGeoAttribution(text) {
    const html = !text || /db-?ip/i.test(text)
      ? '<a href="https://db-ip.com" rel="noreferrer">IP Geolocation by DB-IP</a> (trimmed)'
      : esc(text);
    if (html === this.geoAttribution) return html;
    if (this.geoAttribution) this.map.attributionControl.removeAttribution(this.geoAttribution);
    this.map.attributionControl.addAttribution(html);
    this.geoAttribution = html;
    return html;
  }

  /** Turns the online tile layer on or off (only offered when the daemon configured one). */
  setTiles(template, on) {
    if (this.tiles && (!on || this.tiles.template !== template)) {
      this.map.removeLayer(this.tiles);
      this.tiles = null;
    }
    if (on && template && !this.tiles) {
      this.tiles = L.tileLayer(template, {
        maxZoom: 19,
        attribution: '© <a href="https://www.openstreetmap.org/copyright" rel="noreferrer">OpenStreetMap</a> contributors',
      });
      this.tiles.template = template;
      this.tiles.addTo(this.map);
    }
    this.map.getContainer().classList.toggle('tiles-on', Boolean(this.tiles));
  }

  /** The marks of a place: ' alerted' and/or ' has-new' (CSS classes), or ''. */
  placeFlags(place) {
    const alerted = this.ctx?.alerted;
    let flags = '';
    if (alerted?.size && place.remotes.some((m) => alerted.has(m.ip))) flags += ' alerted';
    if (place.remotes.some((m) => m.new === true)) flags += ' has-new';
    return flags;
  }

  markerIcon(place, now) {
    const s = sizeClass(place.bytes, this.maxBytes);
    const r = recencyClass(place.last_seen, now);
    const n = place.remotes.length;
    const px = Math.round(MARKER_PX[s] * this.iconScale());
    const flags = this.placeFlags(place);
    return {
      cls: `${s}-${r}-${n}-${px}${flags}`,
      icon: L.divIcon({
        className: `cm-marker s${s} r${r}${n > 1 ? ' multi' : ''}${flags}`,
        html: n > 1 ? `<span>${n}</span>` : '',
        iconSize: [px, px],
      }),
    };
  }

  popupOptions() {
    const width = this.map.getSize().x;
    return { maxWidth: Math.min(340, width - 40), minWidth: Math.min(220, width - 40), autoPanPadding: [12, 12] };
  }

  /** Smaller markers on small screens, where the whole world is ~360 px wide. */
  iconScale() {
    return this.map.getSize().x < 520 ? 0.75 : 1;
  }

  clusterIcon(cluster) {
    const now = this.ctx?.now ?? 0;
    let bytes = 0;
    let last = 0;
    let n = 0;
    let alerted = false;
    for (const m of cluster.getAllChildMarkers()) {
      bytes += m.place.bytes;
      last = Math.max(last, m.place.last_seen);
      n += m.place.remotes.length;
      alerted ||= / alerted/.test(m.cls);
    }
    const s = sizeClass(bytes, this.maxBytes);
    const px = Math.round(CLUSTER_PX[s] * this.iconScale());
    return L.divIcon({
      className: `cm-cluster s${s} r${recencyClass(last, now)}${alerted ? ' alerted' : ''}`,
      html: `<span>${n}</span>`,
      iconSize: [px, px],
    });
  }

  /**
   * Applies a new view (see model.deriveView).
   * @param {object} view
   * @param {{now: number, home: {lat:number,lng:number}|null, sort: string}} ctx
   */
  update(view, ctx) {
    this.ctx = { ...ctx, hostsByIp: view.hostsByIp };
    const places = groupByPlace(view.located);
    const sort = SORTS[ctx.sort] || SORTS.traffic;
    for (const p of places.values()) p.remotes.sort(sort);
    this.maxBytes = 0;
    for (const p of places.values()) this.maxBytes = Math.max(this.maxBytes, p.bytes);

    // The place whose popup is open (on its marker, or loose after its marker got clustered)
    let openKey = this.loose?.key ?? null;
    for (const [key, marker] of this.markers) if (marker.isPopupOpen()) openKey = key;

    const removed = [];
    for (const [key, marker] of this.markers) {
      if (!places.has(key)) {
        removed.push(marker);
        this.markers.delete(key);
      }
    }
    const added = [];
    const changed = [];
    for (const [key, place] of places) {
      const { cls, icon } = this.markerIcon(place, ctx.now);
      const marks = cls.includes('alerted') ? ', alert' : '';
      const title = `${fmt.place(place.remotes[0]) || 'Unknown place'}: ${fmt.plural(place.remotes.length, 'remote')}, ${fmt.bytes(place.bytes)}${marks}`;
      let marker = this.markers.get(key);
      if (!marker) {
        marker = L.marker([place.lat, place.lng], { icon, title, alt: title, riseOnHover: true });
        marker.cls = cls;
        marker.place = place;
        marker.bindPopup(() => this.popupHtml(marker.place), this.popupOptions());
        this.markers.set(key, marker);
        added.push(marker);
        continue;
      }
      const old = marker.place;
      marker.place = place;
      if (marker.cls !== cls) {
        marker.cls = cls;
        marker.setIcon(icon);
        changed.push(marker);
      } else if (old.bytes !== place.bytes || old.last_seen !== place.last_seen) {
        changed.push(marker); // same icon, but the cluster totals may differ
      }
      if (marker.isPopupOpen()) {
        const html = this.popupHtml(place);
        if (html !== marker.getPopup().getContent()) marker.setPopupContent(html);
      }
      if (marker.options.title !== title) {
        marker.options.title = title;
        const el = marker.getElement();
        if (el) el.title = title;
      }
    }
    if (removed.length) this.cluster.removeLayers(removed);
    if (added.length) this.cluster.addLayers(added);
    if (changed.length) this.cluster.refreshClusters(changed);
    this.keepPopupOpen(openKey);

    this.updateHome(ctx.home);
    this.updateArcs(places, ctx);
  }

  /**
   * Markercluster removes a marker from the map when it joins a cluster, and Leaflet then
   * closes the marker's popup. An update should not close what the user is reading, so such
   * a popup is reopened on its own at the same place (and kept up to date) until closed.
   */
  keepPopupOpen(key) {
    const marker = key && this.markers.get(key);
    if (!marker || marker.isPopupOpen()) {
      this.closeLoose();
      return;
    }
    const html = this.popupHtml(marker.place);
    if (!this.loose || this.loose.key !== key) {
      this.closeLoose();
      const popup = L.popup({ ...this.popupOptions(), offset: [0, -4] })
        .setLatLng(marker.getLatLng())
        .setContent(html);
      this.loose = { key, popup };
      popup.on('remove', () => {
        if (this.loose?.popup === popup) this.loose = null;
      });
      popup.openOn(this.map);
    } else if (this.loose.popup.getContent() !== html) {
      this.loose.popup.setContent(html);
    }
  }

  closeLoose() {
    const loose = this.loose;
    this.loose = null;
    if (loose) this.map.closePopup(loose.popup);
  }

  updateHome(home) {
    const valid = home && typeof home.lat === 'number' && typeof home.lng === 'number';
    if (!valid) {
      if (this.homeMarker) this.map.removeLayer(this.homeMarker);
      this.homeMarker = null;
      this.home = null;
      return;
    }
    this.home = home;
    if (!this.homeMarker) {
      this.homeMarker = L.marker([home.lat, home.lng], {
        icon: L.divIcon({ className: 'cm-home', html: '<span></span>', iconSize: [18, 18] }),
        title: 'Home (this network)', alt: 'Home', keyboard: false, pane: 'home',
      });
      this.homeMarker.addTo(this.map);
    } else {
      this.homeMarker.setLatLng([home.lat, home.lng]);
    }
  }

  updateArcs(allPlaces, ctx) {
    const home = this.home;
    // Arcs to the places with the most traffic only: thousands of lines are noise, and slow.
    let places = allPlaces;
    if (allPlaces.size > MAX_ARCS) {
      const top = [...allPlaces.values()].sort((a, b) => b.bytes - a.bytes).slice(0, MAX_ARCS);
      places = new Map(top.map((p) => [p.key, p]));
    }
    for (const [key, line] of this.arcs) {
      if (!home || !places.has(key) || line.home !== `${home.lat},${home.lng}`) {
        this.lines.removeLayer(line);
        this.arcs.delete(key);
      }
    }
    if (!home) return;
    for (const [key, place] of places) {
      const cls = `cm-arc r${recencyClass(place.last_seen, ctx.now)} s${sizeClass(place.bytes, this.maxBytes)}`;
      const line = this.arcs.get(key);
      if (line && line.cls === cls) continue;
      if (line) this.lines.removeLayer(line);
      const next = L.polyline(arc(home, place), { className: cls, interactive: false, weight: 1.5, smoothFactor: 1 });
      next.cls = cls;
      next.home = `${home.lat},${home.lng}`;
      this.lines.addLayer(next);
      this.arcs.set(key, next);
    }
  }

  popupHtml(place) {
    const ctx = this.ctx;
    const first = place.remotes[0];
    const where = fmt.place(first) || 'Unknown place';
    const parts = [`<div class="popup"><h3>${esc(where)}</h3>`];
    if (place.remotes.length > 1) {
      parts.push(`<p class="popup-sum">${fmt.plural(place.remotes.length, 'remote')} · ${fmt.bytes(place.bytes)}</p>`);
    }
    const shown = place.remotes.slice(0, POPUP_LIMIT);
    for (const m of shown) parts.push(remoteDetails(m, ctx, { location: false })); // the heading says where
    if (place.remotes.length > shown.length) {
      parts.push(`<p class="popup-more">and ${fmt.count(place.remotes.length - shown.length)} more here: search for the place or a network to list them</p>`);
    }
    parts.push('</div>');
    return parts.join('');
  }

  /**
   * Shows what the map is filtered by (a device, a search) in a box over the map, with a
   * button that clears it; `text` null hides the box.
   */
  setFilterNote(text, onClear) {
    if (!this.filterControl) {
      const FilterNote = L.Control.extend({
        onAdd() {
          const div = L.DomUtil.create('div', 'cm-filter leaflet-bar');
          div.innerHTML = '<span class="cm-filter-text"></span><button type="button" class="cm-filter-clear" aria-label="Show everything">×</button>';
          L.DomEvent.disableClickPropagation(div);
          return div;
        },
      });
      this.filterControl = new FilterNote({ position: 'topright' }).addTo(this.map);
      const el = this.filterControl.getContainer();
      el.querySelector('button').addEventListener('click', () => this.onFilterClear?.());
    }
    this.onFilterClear = onClear;
    const el = this.filterControl.getContainer();
    el.hidden = !text;
    el.querySelector('.cm-filter-text').textContent = text || '';
  }

  /**
   * Shows the marker of the place of remote `ip` (zooming into its cluster) and opens its
   * popup; false when no marker holds that remote.
   */
  focusRemote(ip) {
    for (const marker of this.markers.values()) {
      if (!marker.place.remotes.some((m) => m.ip === ip)) continue;
      this.closeLoose();
      this.cluster.zoomToShowLayer(marker, () => {
        marker.openPopup();
        marker.getPopup()?.getElement()?.querySelector(`.remote[data-ip="${CSS.escape(ip)}"]`)?.scrollIntoView({ block: 'nearest' });
      });
      return true;
    }
    return false;
  }

  invalidateSize() {
    this.map.invalidateSize();
  }
}

/**
 * Natural Earth rings that cross the antimeridian (Russia, Fiji) jump from +180 to -180;
 * on a flat map that jump draws a stripe across the world. Make each ring's longitudes
 * continuous instead (they then run a little past 180, which Leaflet draws fine).
 */
function unwrapAntimeridian(geometry) {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
  for (const poly of polys) {
    for (const ring of poly) {
      let shift = 0;
      for (let i = 1; i < ring.length; i++) {
        const d = ring[i][0] + shift - ring[i - 1][0];
        if (d > 180) shift -= 360;
        else if (d < -180) shift += 360;
        if (shift) ring[i] = [ring[i][0] + shift, ring[i][1]];
      }
    }
  }
}

/** Points of a gentle curve from home to a place (a quadratic Bézier in lat/lng). */
function arc(from, to, steps = 24) {
  const dLat = to.lat - from.lat;
  const dLng = to.lng - from.lng;
  const dist = Math.hypot(dLat, dLng);
  if (dist < 0.01) return [[from.lat, from.lng], [to.lat, to.lng]];
  // control point: the midpoint pushed sideways by a fifth of the distance (always bulging poleward)
  const bend = 0.2 * (dLng >= 0 ? 1 : -1);
  const cLat = (from.lat + to.lat) / 2 + dLng * bend;
  const cLng = (from.lng + to.lng) / 2 - dLat * bend;
  const pts = [];
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    const u = 1 - t;
    pts.push([
      Math.max(-85, Math.min(85, u * u * from.lat + 2 * u * t * cLat + t * t * to.lat)),
      u * u * from.lng + 2 * u * t * cLng + t * t * to.lng,
    ]);
  }
  return pts;
}

