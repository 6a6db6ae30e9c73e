"""What the planning maps share (热力图 ``maps.heatmap``, 覆盖 ``maps.coverage``, 缺口与选址
``maps.gaps``): a desktop page fitted to the city beside a side panel, the station and
subdistrict layers, tooltip tables of grid cells, and the call that starts ``static/planning.js``.

Each page is one Folium map on the shared page shell (``maps.page``; Gaode is not offered, as its
GCJ-02 tiles would put every cell about 500 m off). The data of a page is one compact JSON object
(``maps.encode``) that ``planning.js`` turns into Leaflet layers inside Folium ``FeatureGroup``s,
so the layer control and the heat layer stay Folium's. Text from the data (station, cell,
subdistrict and category names) is put on the page with ``textContent`` there, or escaped by the
panel templates here; tip descriptions and reporters are never on these pages.
"""

from __future__ import annotations

import folium
import numpy as np
import shapely

from geo.city import City
from maps.assets import own_asset
from maps.encode import SCALE, encode_polygons, script_json
from maps.page import Page, PageApp, TiandituLayer, city_map, latlon

METRIC_NAMES = {"euclidean": "直线", "network": "路网"}
STATUS_NAMES = {"open": "运营中", "closed": "已关闭", "suspended": "暂停服务"}
PANEL_PX = 340  # width of the side panel, kept clear when the map fits the city


def metres(value: float | None) -> str:
    """A distance for the panel, ``不可达`` when there is none."""
    if value is None or not np.isfinite(value):
        return "不可达"
    return f"{value:.0f} 米"


def number(value: float) -> str:
    """A count as an integer, anything else with two decimals."""
    value = float(value)
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.2f}"


def rounded(values, digits: int = 2) -> list:
    """Numbers for the page (``None`` where not finite)."""
    return [round(float(v), digits) if np.isfinite(v) else None for v in np.asarray(values, float)]


def share(value: float | None) -> str:
    """A share as a percentage with one decimal, ``—`` when there is none."""
    return "—" if value is None else f"{100 * value:.1f}%"


def planning_map(
    city: City,
    title: str,
    *,
    tile_url_osm: str,
    tianditu_key: str,
    basemap: str,
    panel_px: int = PANEL_PX,
    margin_px: int = 12,
    zoom_start: int = 12,
):
    """The page and its map, fitted to the city, clear of the side panel on the right
    (``panel_px`` wide, ``margin_px`` from the edges)."""
    page = Page(title=title)
    minx, miny, maxx, maxy = (float(v) for v in city.grid.total_bounds)
    m = city_map(
        page,
        city.grid.total_bounds,
        zoom_start=zoom_start,
        tile_url_osm=tile_url_osm,
        show_osm=not (basemap == "tianditu" and tianditu_key),
        zoom_snap=0.25,
    )
    if tianditu_key:
        TiandituLayer(tianditu_key, show=basemap == "tianditu").add_to(m)
    m.fit_bounds(
        [latlon(minx, miny), latlon(maxx, maxy)],
        padding_top_left=(margin_px, margin_px),
        padding_bottom_right=(panel_px + 2 * margin_px, margin_px),
    )
    return page, m


def origin(city: City) -> tuple[int, int]:
    """The city's south-west corner in 1e-5 degree integers: where polygon rings start from."""
    minx, miny, _, _ = city.grid.total_bounds
    return int(np.floor(minx * SCALE)), int(np.floor(miny * SCALE))


def station_rows(city: City) -> list[list]:
    """``[lat, lon, in_service, station_id, name, status label]`` per station (WGS84)."""
    return [
        [
            *latlon(r["lon"], r["lat"]),
            int(r["status"] == "open"),
            r["station_id"],
            r["name"],
            STATUS_NAMES.get(r["status"], r["status"]),
        ]
        for r in city.station_records
    ]


def station_index(city: City, ids) -> list[int]:
    """Row of each station id in ``station_rows`` (-1 for none)."""
    rows = {r["station_id"]: i for i, r in enumerate(city.station_records)}
    return [rows.get(s, -1) if isinstance(s, str) else -1 for s in ids]


def subdistrict_table(city: City, start: tuple[int, int]) -> dict:
    """Subdistrict outlines and names, with a label point inside each."""
    sub = city.subdistricts
    label = shapely.point_on_surface(sub.geometry.array)
    return {
        "shape": encode_polygons(sub.geometry.array, start),
        "name": sub["name"].astype(str).tolist(),
        "at": [
            latlon(x, y) for x, y in zip(shapely.get_x(label), shapely.get_y(label), strict=True)
        ],
    }


def cell_table(city: City, cells, start: tuple[int, int]) -> dict:
    """Shapes and tooltip values of grid cells (columns of equal length)."""
    return {
        "shape": encode_polygons(cells.geometry.array, start),
        "name": cells["name"].astype(str).tolist(),
        "code": cells["grid_code"].astype(str).tolist(),
        "dist": rounded(cells["distance_m"], 0),
        "station": station_index(city, cells["nearest_station_id"]),
        "demand": rounded(cells["demand"]),
    }


def layer_group(m, name: str, *, show: bool = True) -> folium.FeatureGroup:
    """A layer in the layer control that ``planning.js`` fills."""
    group = folium.FeatureGroup(name=name, overlay=True, control=True, show=show)
    group.add_to(m)
    return group


class PlanningApp(PageApp):
    """The page's data (one compact JSON line) and the call that starts ``planning.js``."""

    def __init__(self, kind: str, data: dict, refs: dict):
        super().__init__()
        self._name = "PlanningApp"
        self.kind, self.data_json, self.refs = kind, script_json(data), refs
        self.default_js = [("yizhan_planning_js", own_asset("planning.js"))]
        self.default_css = [
            ("yizhan_base_css", own_asset("base.css")),
            ("yizhan_planning_css", own_asset("planning.css")),
        ]

    def script_text(self) -> str:
        layers = "".join(f"{key}: {layer.get_name()}, " for key, layer in self.refs.items())
        return f"var yzp_data = {self.data_json};\nYZP.{self.kind}(yzp_data, {{{layers}}});\n"
