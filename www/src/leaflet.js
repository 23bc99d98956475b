// Loads Leaflet (the parts this page uses, see leaflet-core.js) and then
// Leaflet.markercluster, which extends the global `L`; the rest of the page imports `L` from
// here. The order of the imports is the order they run in.
import L from './leaflet-core.js';
import 'leaflet.markercluster';

export default L;
