"""Leaflet and plugin files from their PyPI (XStatic) packages, and the URLs the pages use.

Folium's defaults point at CDNs, which an intranet (or this test machine) cannot reach; every
page here loads the same files from the app under ``/static/vendor/``.
"""

from __future__ import annotations

from pathlib import Path

import xstatic.pkg.leaflet as _leaflet
import xstatic.pkg.leaflet_markercluster as _markercluster

VENDOR_DIRS: dict[str, Path] = {
    "leaflet": Path(_leaflet.BASE_DIR),
    "markercluster": Path(_markercluster.BASE_DIR),
}

LEAFLET_JS = [("leaflet", "/static/vendor/leaflet/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", "/static/vendor/leaflet/leaflet.css")]
MARKERCLUSTER_JS = [("markerclusterjs", "/static/vendor/markercluster/leaflet.markercluster.js")]
MARKERCLUSTER_CSS = [
    ("markerclustercss", "/static/vendor/markercluster/MarkerCluster.css"),
    ("markerclusterdefaultcss", "/static/vendor/markercluster/MarkerCluster.Default.css"),
]
