"""The courier page (驿站地图): every station on a phone-sized map, the nearest open ones, and a
hazard report form.

The page is one Folium map. Its stations are a ``FastMarkerCluster``: one JSON row per station
(position, open state, GCJ-02 position, amenity codes and a popup escaped here with
``html.escape``), which ``/static/yizhan/finder.js`` turns into markers. Measured with 2,040
stations: a Folium ``Marker`` + ``Popup`` each renders in 2.75 s, the rows in 0.33 s, for the same
page size (about 1.9 KB a station); Folium's ``Popup`` also needs jQuery, which this page does not
load. Every script and stylesheet is served by the app (``maps.assets``); the only external URLs
on the page are the tile templates and the Amap navigation links.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import quote

import folium
import numpy as np
from branca.element import Element, Figure
from folium.elements import JSCSSMixin
from folium.plugins import FastMarkerCluster
from folium.template import Template
from jinja2 import Environment

from geo import crs as gcrs
from geo.city import City
from geo.hours import local_time
from geo.nav import amap_nav_url
from geo.pack import AMENITIES
from maps.assets import (
    LEAFLET_CSS,
    LEAFLET_JS,
    MARKERCLUSTER_CSS,
    MARKERCLUSTER_JS,
    own_asset,
)

TITLE = "暖心驿站地图"
GAODE_URL = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
TIANDITU_URL = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
BASEMAP_NAMES = {"osm": "OpenStreetMap", "gaode": "高德地图", "tianditu": "天地图"}
STATUS_NOTE = {"closed": "站点已关闭", "suspended": "暂停服务"}
# GCJ-02 offsets for positions known only in the browser (the rider's own position), sampled
# with geo.crs on a grid over the city and interpolated bilinearly in finder.js. Measured on the
# demo city (20,000 random points, 10 km around it): at most 0.35 m off at 0.02 degree spacing
# (289 nodes), 0.09 m at 0.01 degree (1,056 nodes), 2.1 m at 0.05 degree.
OFFSET_STEP_DEG = 0.02
OFFSET_PAD_DEG = 0.1

_DAYS = {"Mo": "周一", "Tu": "周二", "We": "周三", "Th": "周四", "Fr": "周五", "Sa": "周六"}
_DAYS["Su"] = "周日"
_DAY = "|".join(_DAYS)


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


def _latlon(lon: float, lat: float) -> list[float]:
    """Leaflet's ``[lat, lon]`` order, to 1e-7 degree (1 cm); the page's only axis swap."""
    return [round(float(lat), 7), round(float(lon), 7)]


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
            "gcj": _latlon(glon[i], glat[i]),
            "am": list(r["amenities"]),
            "popup": popup_html(r, is_open=is_open, nav_url=nav),
        }
        rows.append([*_latlon(r["lon"], r["lat"]), info])
    return rows


def popup_html(record: dict, *, is_open: bool, nav_url: str) -> str:
    """The popup of one station; every value from the data is escaped here."""
    e = html.escape
    badge = (
        '<span class="yz-badge yz-badge-open">营业中</span>'
        if is_open
        else '<span class="yz-badge yz-badge-closed">已休息</span>'
    )
    note = STATUS_NOTE.get(record["status"])
    parts = [
        f'<div class="yz-pop" data-station="{e(record["station_id"])}">',
        f'<div class="yz-pop-head"><b class="yz-pop-name">{e(record["name"])}</b>{badge}</div>',
    ]
    if note:
        parts.append(f'<div class="yz-pop-note">{note}</div>')
    parts.append(f'<div class="yz-pop-addr">{e(record["address"])}</div>')
    chips = "".join(
        f'<span class="yz-am">{e(AMENITIES.get(code, code))}</span>' for code in record["amenities"]
    )
    if chips:
        parts.append(f'<div class="yz-ams">{chips}</div>')
    rows = [("开放时间", e(hours_zh(record["opening_hours"])))]
    phone = record["phone"].strip()
    if phone:
        dial = re.sub(r"[^0-9+]", "", phone)
        rows.append(("电话", f'<a href="tel:{e(dial)}">{e(phone)}</a>'))
    confirmed = record["last_confirmed"]
    if confirmed is not None and confirmed == confirmed:  # NaT/NaN != itself
        day = confirmed.isoformat() if hasattr(confirmed, "isoformat") else str(confirmed)
        rows.append(("最近核实", e(day[:10])))
    parts.append('<dl class="yz-pop-dl">')
    parts.extend(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    parts.append("</dl>")
    parts.append(
        f'<a class="yz-nav" href="{e(nav_url)}" target="_blank" rel="noopener noreferrer">'
        "导航</a></div>"
    )
    return "".join(parts)


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


class _Page(Figure):
    """The HTML document: Chinese, a viewport that lets a rider zoom, no favicon request."""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>{{ this.title }}</title>\n"
        '<link rel="icon" href="data:,">\n'
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n<body>\n"
        "{{ this.html.render(**kwargs) }}\n"
        "<script>\n{{ this.script.render(**kwargs) }}\n</script>\n"
        "</body>\n</html>\n"
    )


class _Map(folium.Map):
    """``folium.Map`` with local assets and a full-screen container (its own head instead of
    Folium's, which fixes the viewport and sets page styles)."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
            <div class="folium-map yz-map" id={{ this.get_name()|tojson }}></div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map(
                {{ this.get_name()|tojson }},
                {
                    center: {{ this.location|tojson }},
                    crs: L.CRS.{{ this.crs }},
                    ...{{ this.options|tojavascript }}
                }
            );
            {%- if this.control_scale %}
            L.control.scale({imperial: false}).addTo({{ this.get_name() }});
            {%- endif %}
        {% endmacro %}
        """
    )


class _TiandituLayer(folium.raster_layers.Layer):
    """Tianditu vector map plus its annotation layer, as one base layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup([
                L.tileLayer({{ this.vec|tojson }}, {{ this.options|tojavascript }}),
                L.tileLayer({{ this.cva|tojson }}, {{ this.options|tojavascript }})
            ]);
        {% endmacro %}
        """
    )

    def __init__(self, key: str, *, show: bool):
        super().__init__(name=BASEMAP_NAMES["tianditu"], overlay=False, control=True, show=show)
        self._name = "TiandituLayer"
        key = quote(key, safe="")
        self.vec = TIANDITU_URL.format(layer="vec", key=key)
        self.cva = TIANDITU_URL.format(layer="cva", key=key)
        self.options = {
            "subdomains": "01234567",
            "maxZoom": 18,
            "attribution": "© 天地图",
        }


class _FinderApp(JSCSSMixin):
    """The page's own script and stylesheet, started once every Folium layer exists."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            YZ.init({{ this.config|tojson }}, {
                map: {{ this.map.get_name() }},
                cluster: {{ this.cluster.get_name() }},
                gaode: {{ this.gaode.get_name() if this.gaode else "null" }}
            });
        {% endmacro %}
        """
    )

    def __init__(self, config: dict, *, map: folium.Map, cluster, gaode):
        super().__init__()
        self._name = "FinderApp"
        self.config, self.map, self.cluster, self.gaode = config, map, cluster, gaode
        self.default_js = [("yizhan_finder_js", own_asset("finder.js"))]
        self.default_css = [
            ("yizhan_base_css", own_asset("base.css")),
            ("yizhan_finder_css", own_asset("finder.css")),
        ]


_PANEL = Environment(autoescape=True).from_string(
    """
<header class="yz-title">
  <b>{{ title }}</b><span id="yz-summary">{{ city }} · {{ n_open }}/{{ n }} 营业中</span>
</header>
<div id="yz-sheet" class="yz-sheet" data-open="false">
  <nav class="yz-tabs" role="tablist">
    <button type="button" class="yz-tab" role="tab" data-tab="near">附近驿站</button>
    <button type="button" class="yz-tab" role="tab" data-tab="filter">
      筛选<span id="yz-filter-badge" class="yz-count"></span>
    </button>
    <button type="button" class="yz-tab" role="tab" data-tab="report">上报隐患</button>
    <button type="button" class="yz-toggle" id="yz-toggle" aria-label="展开或收起">▴</button>
  </nav>
  <section class="yz-pane" data-pane="near" role="tabpanel">
    <button type="button" class="yz-btn yz-primary" id="yz-near-locate">定位我附近的驿站</button>
    <p class="yz-hint" id="yz-near-status">点“定位”，列出离你最近的 3 个营业中驿站。</p>
    <ol class="yz-near" id="yz-near-list"></ol>
  </section>
  <section class="yz-pane" data-pane="filter" role="tabpanel">
    <p class="yz-hint">只显示有以下全部设施的驿站：</p>
    <div class="yz-chips" id="yz-amenities">
    {%- for code, label in amenities %}
      <label class="yz-chip">
        <input type="checkbox" name="amenity" value="{{ code }}"><span>{{ label }}</span>
      </label>
    {%- endfor %}
    </div>
    <label class="yz-chip yz-chip-open">
      <input type="checkbox" id="yz-open-only"><span>只看营业中</span>
    </label>
    <p class="yz-hint" id="yz-count">显示 {{ n }} / {{ n }} 个驿站</p>
    <p class="yz-hint yz-small">营业状态按 {{ at }} 计算。</p>
  </section>
  <section class="yz-pane" data-pane="report" role="tabpanel">
    <form id="yz-report" novalidate>
      <label class="yz-field">类别
        <select id="yz-cat" required><option value="">加载中…</option></select>
      </label>
      <label class="yz-field">描述
        <textarea id="yz-desc" rows="2" maxlength="{{ desc_max }}"
          placeholder="例如：井盖缺失，在路口东侧"></textarea>
      </label>
      <div class="yz-pos">
        <span id="yz-pos-text">位置：请在地图上点选</span>
        <button type="button" class="yz-btn" id="yz-pos-gps">用我的位置</button>
      </div>
      <button type="submit" class="yz-btn yz-primary" id="yz-submit">提交上报</button>
    </form>
    <div id="yz-report-msg" class="yz-msg" role="status" aria-live="polite"></div>
    <div id="yz-report-result" class="yz-result"></div>
    <p class="yz-hint yz-small" id="yz-pending"></p>
  </section>
</div>
<noscript><p class="yz-noscript">此页面需要启用 JavaScript。</p></noscript>
"""
)


def city_map(page, bounds, *, zoom_start: int, tile_url_osm: str, show_osm: bool, **options):
    """A map on ``page`` centred on ``bounds`` (lon/lat), Leaflet served locally, with the
    OpenStreetMap basemap (other basemaps are added by the caller)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    m = _Map(
        location=_latlon((minx + maxx) / 2, (miny + maxy) / 2),
        zoom_start=zoom_start,
        tiles=None,
        control_scale=True,
        max_zoom=19,
        **options,
    ).add_to(page)
    m.default_js = list(LEAFLET_JS)
    m.default_css = list(LEAFLET_CSS)
    folium.TileLayer(
        tile_url_osm,
        name=BASEMAP_NAMES["osm"],
        attr="© OpenStreetMap 贡献者",
        max_zoom=19,
        max_native_zoom=19,
        show=show_osm,
    ).add_to(m)
    return m


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

    page = _Page(title=TITLE)
    m = city_map(
        page,
        city.stations.total_bounds,
        zoom_start=13,
        tile_url_osm=tile_url_osm,
        show_osm=basemap == "osm",
    )
    gaode = folium.TileLayer(
        GAODE_URL,
        name=BASEMAP_NAMES["gaode"],
        attr="© 高德地图",
        subdomains="1234",
        max_zoom=19,
        max_native_zoom=18,
        show=basemap == "gaode",
    ).add_to(m)
    if tianditu_key:
        _TiandituLayer(tianditu_key, show=basemap == "tianditu").add_to(m)

    cluster = FastMarkerCluster(
        rows,
        callback="YZ.stationMarker",
        icon_create_function="YZ.clusterIcon",
        name="驿站",
        control=False,
        max_cluster_radius=48,
        disable_clustering_at_zoom=17,
        show_coverage_on_hover=False,
        spiderfy_on_max_zoom=True,
    ).add_to(m)
    cluster.default_js = list(MARKERCLUSTER_JS)
    cluster.default_css = list(MARKERCLUSTER_CSS)

    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    # clear of the title at the top and the collapsed sheet at the bottom
    m.fit_bounds(
        [_latlon(minx, miny), _latlon(maxx, maxy)],
        padding_top_left=(24, 72),
        padding_bottom_right=(24, 64),
    )

    present = {code for r in city.station_records for code in r["amenities"]}
    config = {
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
    }
    _FinderApp(config, map=m, cluster=cluster, gaode=gaode).add_to(m)

    page.html.add_child(
        Element(
            _PANEL.render(
                title=TITLE,
                city=city.name,
                n=len(rows),
                n_open=sum(1 for r in rows if r[2]["open"]),
                at=at.strftime("%m-%d %H:%M"),
                amenities=[(c, AMENITIES[c]) for c in AMENITIES if c in present],
                desc_max=description_max_chars,
            )
        ),
        name="yizhan_panel",
    )
    return page.render()
