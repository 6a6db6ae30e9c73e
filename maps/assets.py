"""Leaflet and its plugins from their PyPI packages, and the URLs the pages use.

Folium's defaults point at CDNs, which an intranet (or this test machine) cannot reach; every
page here loads the same files from the app under ``/static/vendor/``. Leaflet and MarkerCluster
come from their XStatic packages, Leaflet.heat from the copy folium ships (``leaflet_heat.min.js``,
the 0.2.0 release with its weights fix: each redraw scales to the busiest spot, see
``static/planning.js``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import folium
import xstatic.pkg.leaflet as _leaflet
import xstatic.pkg.leaflet_markercluster as _markercluster

from maps import STATIC_DIR

VENDOR_DIRS: dict[str, Path] = {
    "leaflet": Path(_leaflet.BASE_DIR),
    "markercluster": Path(_markercluster.BASE_DIR),
    "leaflet-heat": Path(folium.__file__).resolve().parent / "templates",
}

LEAFLET_JS = [("leaflet", "/static/vendor/leaflet/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", "/static/vendor/leaflet/leaflet.css")]
MARKERCLUSTER_JS = [("markerclusterjs", "/static/vendor/markercluster/leaflet.markercluster.js")]
MARKERCLUSTER_CSS = [
    ("markerclustercss", "/static/vendor/markercluster/MarkerCluster.css"),
    ("markerclusterdefaultcss", "/static/vendor/markercluster/MarkerCluster.Default.css"),
]
HEAT_JS = [("leaflet-heat.js", "/static/vendor/leaflet-heat/leaflet_heat.min.js")]


@lru_cache
def own_asset(name: str) -> str:
    """The URL of one of the project's own files in ``maps/static``, versioned by its content so
    a phone never keeps an old copy after an update."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/yizhan/{name}?v={digest}"


def import_map(folder: str) -> dict:
    """An import map for the ES modules in ``maps/static/<folder>``: they import each other by
    plain relative paths, and the browser fetches each at its content-versioned URL."""
    return {
        "imports": {
            f"/static/yizhan/{folder}/{path.name}": own_asset(f"{folder}/{path.name}")
            for path in sorted((STATIC_DIR / folder).glob("*.js"))
        }
    }
