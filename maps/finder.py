"""The courier page (驿站地图): every station on a phone-sized map, the nearest open ones, a
hazard report form that first lists the open cases of its category nearby (我也遇到 or 仍要上报),
and 我的上报, the reports this phone sent with the state of each case and, once it is closed,
问题解决了吗.

The page is one Folium map. Its stations are one JSON row each (position, open state, GCJ-02
position, amenity codes and a popup rendered from ``templates/station_popup.html``), which the
page's ES modules (``static/finder/``) turn into markers in a MarkerCluster group. Measured with
2,040 stations: a Folium ``Marker`` + ``Popup`` each renders in 2.75 s, the rows in 0.33 s, for
the same page size (about 1.9 KB a station); Folium's ``Popup`` also needs jQuery, which this page
does not load. Module scripts run after Folium's inline script, so that script only stores the
data and the layers it made (``window.yzPage``), and ``finder/main.js`` starts from there.
"""

from __future__ import annotations

import datetime as dt
import re

import folium
import numpy as np
from folium.plugins import MarkerCluster

from geo import crs as gcrs
from geo.city import City, StationRecord
from geo.hours import local_time
from geo.nav import amap_nav_url
from geo.pack import AMENITIES
from maps.assets import MARKERCLUSTER_CSS, MARKERCLUSTER_JS
from maps.page import (
    TEMPLATES,
    ModuleApp,
    Page,
    TiandituLayer,
    add_panel,
    city_map,
    gaode_layer,
    latlon,
)

TITLE = "暖心驿站地图"
STATUS_NOTE = {"closed": "站点已关闭", "suspended": "暂停服务"}
# GCJ-02 offsets for positions known only in the browser (the rider's own position), sampled
# with geo.crs on a grid over the city and interpolated bilinearly in finder/coords.js. Measured
# on the demo city (20,000 random points, 10 km around it): at most 0.35 m off at 0.02 degree
# spacing (289 nodes), 0.09 m at 0.01 degree (1,056 nodes), 2.1 m at 0.05 degree.
OFFSET_STEP_DEG = 0.02
OFFSET_PAD_DEG = 0.1

_DAYS = {"Mo": "周一", "Tu": "周二", "We": "周三", "Th": "周四", "Fr": "周五", "Sa": "周六"}
_DAYS["Su"] = "周日"
_DAY = "|".join(_DAYS)
_POPUP = TEMPLATES.get_template("station_popup.html")


def hours_zh(text: str) -> str:
    """OSM ``opening_hours`` read aloud in Chinese: ``Mo-Fr 08:00-20:00; Sa,Su off`` ->
    ``周一至周五 08:00-20:00；周六、周日 休息``. Unknown tokens pass through unchanged."""
    out = text.strip()
    if out == "24/7":
        return "全天 24 小时"
    out = re.sub(rf"\b({_DAY})-({_DAY})\b", lambda m: f"{_DAYS[m[1]]}至{_DAYS[m[2]]}", out)
    out = re.sub(rf"\b({_DAY})\b", lambda m: _DAYS[m[1]], out)
    out = re.sub(r"(?<=[一二三四五六日]),(?=周)", "、", out)
    out = re.sub(r"\boff\b", "休息", out)
    out = re.sub(r"\bPH\b", "节假日", out)
    return re.sub(r"\s*;\s*", "；", out)


def station_rows(city: City, at: dt.datetime) -> list[list]:
    """One ``[lat, lon, info]`` row per station (WGS84), ``info`` holding what the page needs:
    id, name, open now at ``at`` (naive local time), GCJ-02 ``[lat, lon]``, amenity codes and
    the popup HTML (every value escaped)."""
    records = city.station_records
    lon = np.array([r["lon"] for r in records], dtype=float)
    lat = np.array([r["lat"] for r in records], dtype=float)
    glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
    index = city.station_index
    rows = []
    for i, r in enumerate(records):
        is_open = index.open_now(i, at)
        nav = amap_nav_url(r["name"], float(glon[i]), float(glat[i]))
        info = {
            "id": r["station_id"],
            "name": r["name"],
            "open": is_open,
            "gcj": latlon(glon[i], glat[i]),
            "am": list(r["amenities"]),
            "popup": popup_html(r, is_open=is_open, nav_url=nav),
        }
        rows.append([*latlon(r["lon"], r["lat"]), info])
    return rows


def popup_html(record: StationRecord, *, is_open: bool, nav_url: str) -> str:
    """The popup of one station (``templates/station_popup.html``, every value escaped)."""
    phone = record["phone"].strip()
    confirmed = record["last_confirmed"]
    day = None
    if confirmed is not None and confirmed == confirmed:  # NaT/NaN != itself
        day = confirmed.isoformat() if hasattr(confirmed, "isoformat") else str(confirmed)
    return _POPUP.render(
        id=record["station_id"],
        name=record["name"],
        is_open=is_open,
        note=STATUS_NOTE.get(record["status"]),
        address=record["address"],
        amenities=[AMENITIES.get(code, code) for code in record["amenities"]],
        hours=hours_zh(record["opening_hours"]),
        phone=phone,
        dial=re.sub(r"[^0-9+]", "", phone),
        confirmed=day[:10] if day else None,
        nav_url=nav_url,
    )


def gcj_offset_grid(bounds, *, step_deg: float = OFFSET_STEP_DEG, pad_deg: float = OFFSET_PAD_DEG):
    """GCJ-02 minus WGS84 (degrees) on a regular grid over ``bounds`` (minlon, minlat, maxlon,
    maxlat) plus ``pad_deg``, for bilinear interpolation in the browser."""
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    x0 = np.floor((minx - pad_deg) / step_deg) * step_deg
    y0 = np.floor((miny - pad_deg) / step_deg) * step_deg
    nx = int(np.ceil((maxx + pad_deg - x0) / step_deg)) + 1
    ny = int(np.ceil((maxy + pad_deg - y0) / step_deg)) + 1
    xs, ys = np.meshgrid(x0 + step_deg * np.arange(nx), y0 + step_deg * np.arange(ny))
    gx, gy = gcrs.from_wgs84(xs.ravel(), ys.ravel(), crs="gcj02")
    return {
        "x0": round(float(x0), 9),
        "y0": round(float(y0), 9),
        "step": step_deg,
        "nx": nx,
        "ny": ny,
        # row-major, south to north, west to east; 1e-8 degree is about a millimetre
        "dlon": np.round(gx - xs.ravel(), 8).tolist(),
        "dlat": np.round(gy - ys.ravel(), 8).tolist(),
    }


def finder_page(
    city: City,
    *,
    basemap: str,
    tianditu_key: str,
    tile_url_osm: str,
    at: dt.datetime | None = None,
    description_max_chars: int = 500,
) -> str:
    """The full HTML of the station finder, open states evaluated at ``at`` (default now).

    ``basemap`` (``osm``, ``gaode`` or ``tianditu``) is the layer shown first; Tianditu is
    offered only with a ``tianditu_key``.
    """
    at = local_time(at)
    if basemap == "tianditu" and not tianditu_key:
        basemap = "osm"
    rows = station_rows(city, at)
    minx, miny, maxx, maxy = (float(v) for v in city.stations.total_bounds)

    page = Page(title=TITLE)
    m = city_map(
        page,
        city.stations.total_bounds,
        zoom_start=13,
        tile_url_osm=tile_url_osm,
        show_osm=basemap == "osm",
    )
    gaode = gaode_layer(m, show=basemap == "gaode")
    if tianditu_key:
        TiandituLayer(tianditu_key, show=basemap == "tianditu").add_to(m)

    # filled by finder/main.js, which also sets its icons (iconCreateFunction)
    cluster = MarkerCluster(
        name="驿站",
        control=False,
        max_cluster_radius=48,
        disable_clustering_at_zoom=17,
        show_coverage_on_hover=False,
        spiderfy_on_max_zoom=True,
    )
    cluster.add_to(m)
    cluster.default_js = list(MARKERCLUSTER_JS)
    cluster.default_css = list(MARKERCLUSTER_CSS)

    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    # clear of the title at the top and the collapsed sheet at the bottom
    m.fit_bounds(
        [latlon(minx, miny), latlon(maxx, maxy)],
        padding_top_left=(24, 72),
        padding_bottom_right=(24, 64),
    )

    present = {code for r in city.station_records for code in r["amenities"]}
    data = {
        "at": at.isoformat(timespec="minutes"),
        "total": len(rows),
        "amenities": {code: label for code, label in AMENITIES.items() if code in present},
        "subdistricts": dict(
            zip(
                city.subdistricts["subdistrict_code"].astype(str),
                city.subdistricts["name"].astype(str),
                strict=True,
            )
        ),
        "offset": gcj_offset_grid((minx, miny, maxx, maxy)),
        "stations": rows,
    }
    ModuleApp("finder", "yzPage", data, {"map": m, "cluster": cluster, "gaode": gaode}).add_to(m)

    add_panel(
        page,
        "finder_panel.html",
        title=TITLE,
        city=city.name,
        n=len(rows),
        n_open=sum(1 for r in rows if r[2]["open"]),
        at=at.strftime("%m-%d %H:%M"),
        amenities=[(c, AMENITIES[c]) for c in AMENITIES if c in present],
        desc_max=description_max_chars,
    )
    return page.render()
