// Loads Leaflet and then Leaflet.markercluster, which extends the global `L` that Leaflet's
// UMD build sets; the rest of the page imports `L` from here.
import L from 'leaflet';
import 'leaflet.markercluster';

export default L;
