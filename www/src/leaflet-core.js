// Leaflet from its ES modules, only the parts this page uses, as the global `L` that
// Leaflet.markercluster extends. Bundling `leaflet` whole keeps everything (every class is a
// call the bundler must keep); this leaves out the layers and scale controls, tooltips, image,
// video and SVG overlays, WMS, circles, rectangles, the Canvas renderer and the CRSs other
// than Web Mercator (~26 KB minified). Imported for their side effects: the map handlers and
// controls, which register themselves on `Map`, and Popup, which adds its methods to layers.
import * as Util from 'leaflet/src/core/Util.js';
import Browser from 'leaflet/src/core/Browser.js';
import { Class } from 'leaflet/src/core/Class.js';
import { Evented } from 'leaflet/src/core/Events.js';
import * as DomUtil from 'leaflet/src/dom/DomUtil.js';
import * as DomEvent from 'leaflet/src/dom/DomEvent.js';
import { Point, toPoint } from 'leaflet/src/geometry/Point.js';
import { Bounds } from 'leaflet/src/geometry/Bounds.js';
import { LatLng, toLatLng } from 'leaflet/src/geo/LatLng.js';
import { LatLngBounds, toLatLngBounds } from 'leaflet/src/geo/LatLngBounds.js';
import { Map, createMap } from 'leaflet/src/map/Map.js';
import 'leaflet/src/map/handler/Map.BoxZoom.js';
import 'leaflet/src/map/handler/Map.DoubleClickZoom.js';
import 'leaflet/src/map/handler/Map.Drag.js';
import 'leaflet/src/map/handler/Map.Keyboard.js';
import 'leaflet/src/map/handler/Map.ScrollWheelZoom.js';
import 'leaflet/src/map/handler/Map.TapHold.js';
import 'leaflet/src/map/handler/Map.TouchZoom.js';
import { Control } from 'leaflet/src/control/Control.js';
import 'leaflet/src/control/Control.Zoom.js';
import 'leaflet/src/control/Control.Attribution.js';
import { Layer } from 'leaflet/src/layer/Layer.js';
import { LayerGroup, layerGroup } from 'leaflet/src/layer/LayerGroup.js';
import { FeatureGroup, featureGroup } from 'leaflet/src/layer/FeatureGroup.js';
import { geoJSON } from 'leaflet/src/layer/GeoJSON.js';
import { Popup, popup } from 'leaflet/src/layer/Popup.js';
import { Icon } from 'leaflet/src/layer/marker/Icon.js';
import { DivIcon, divIcon } from 'leaflet/src/layer/marker/DivIcon.js';
import { Marker, marker } from 'leaflet/src/layer/marker/Marker.js';
import { tileLayer } from 'leaflet/src/layer/tile/TileLayer.js';
import { Path } from 'leaflet/src/layer/vector/Path.js';
import { Polyline, polyline } from 'leaflet/src/layer/vector/Polyline.js';
import { Polygon } from 'leaflet/src/layer/vector/Polygon.js';
import { svg } from 'leaflet/src/layer/vector/SVG.js';

// Paths (country shapes, lines) are drawn with SVG, the default: Leaflet's own
// Renderer.getRenderer.js would bring the Canvas renderer too, for `preferCanvas`, which this
// page never sets. One renderer for the map, unless a path or the map names another.
Map.include({
  getRenderer(layer) {
    const renderer = layer.options.renderer || this.options.renderer || (this._renderer ||= svg());
    if (!this.hasLayer(renderer)) this.addLayer(renderer);
    return renderer;
  },
});

const L = {
  Util, extend: Util.extend, bind: Util.bind, stamp: Util.stamp, setOptions: Util.setOptions,
  Browser, Class, Evented, DomUtil, DomEvent,
  Point, point: toPoint, Bounds, LatLng, latLng: toLatLng, LatLngBounds, latLngBounds: toLatLngBounds,
  Map, map: createMap, Control,
  Layer, LayerGroup, layerGroup, FeatureGroup, featureGroup, geoJSON,
  Popup, popup, Icon, DivIcon, divIcon, Marker, marker, tileLayer,
  Path, Polyline, polyline, Polygon,
};
globalThis.L = L;
export default L;
