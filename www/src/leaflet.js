// Loads Leaflet (the parts this page uses, see leaflet-core.js) and then
// Leaflet.markercluster from its ES modules, which extend the global `L`; the rest of the page
// imports `L` from here. The order of the imports is the order they run in. Left out: the
// convex hull of a cluster's markers, drawn only with showCoverageOnHover (off here).
import L from './leaflet-core.js';
import 'leaflet.markercluster/src/MarkerClusterGroup.js';
import 'leaflet.markercluster/src/MarkerCluster.js';
import 'leaflet.markercluster/src/MarkerOpacity.js';
import 'leaflet.markercluster/src/DistanceGrid.js';
import 'leaflet.markercluster/src/MarkerCluster.Spiderfier.js';
import 'leaflet.markercluster/src/MarkerClusterGroup.Refresh.js';

export default L;
