"""Planning maps for a desktop screen, in Chinese: where tips pile up (热力图), how far every grid
cell is from a station (覆盖), and which cells are worst served and where new stations would help
most (缺口与选址).

Each page is one Folium map on the finder's page shell and basemaps (``maps.finder``; Gaode is
not offered, as its GCJ-02 tiles would put every cell about 500 m off). Every script and
stylesheet is served by the app (``maps.assets``): Leaflet from PyPI, ``leaflet.heat`` from
folium's copy, and ``static/planning.js``/``planning.css``. The only external URLs on a
page are tile templates.

The data of a page is one compact JSON object that ``planning.js`` turns into Leaflet layers
inside Folium ``FeatureGroup``s (so the layer control and the heat layer stay Folium's). Text
from the data (station, cell, subdistrict and category names) is put on the page with
``textContent`` there, or escaped by Jinja here; tip descriptions and reporters are never on
these pages.

Polygons are integers (1e-5 degree, about 1 m): a ring's first vertex relative to the city's
south-west corner, then differences. Measured on the demo city (2,658 cells), the coverage page
is 0.4 MB this way and 1.7 MB as Folium ``GeoJson`` with ``GeoJsonTooltip``.

The heatmap ships one table, not one layer per month: every position once (the same integers),
and the tip count per (position, month, category) as either a dense array (position-major) or
runs of (key, count) per position, whichever is shorter. The page sums the counts for the months
and categories picked and hands the points to the heat layer's ``setLatLngs``. For 1,000,000
tips aggregated to 2,658 cells x 6 months x 9 categories the page is about 0.4 MB; Folium's
``HeatMap`` of the same tips as points is about 41 MB.
"""

from __future__ import annotations

import json

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from folium.elements import JSCSSMixin
from folium.plugins import HeatMap
from folium.template import Template
from jinja2 import Environment

from geo.city import City
from geo.coverage import Coverage
from geo.sites import Suggestion
from maps.assets import HEAT_JS, own_asset
from maps.finder import _latlon, _Page, _TiandituLayer, city_map

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
METRIC_NAMES = {"euclidean": "直线", "network": "路网"}
STATUS_NAMES = {"open": "运营中", "closed": "已关闭", "suspended": "暂停服务"}
# Distance bands as multiples of the coverage radius (500/1000/2000/3000 m at 1 km), then beyond.
BAND_FACTORS = (0.5, 1.0, 2.0, 3.0)
BAND_COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
UNREACHABLE_COLOUR = "#5f6368"
SCALE = 100_000  # positions and vertices as integers of 1e-5 degree (about 1 m)
HEAT_RADIUS_PX = 16
HEAT_BLUR_PX = 14
PANEL_PX = 340  # width of the side panel, kept clear when the map fits the city

_ENV = Environment(autoescape=True)


# -- shared pieces ----------------------------------------------------------------------------


def _script_json(value) -> str:
    """Compact JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _json_len(values: np.ndarray) -> int:
    """Characters of a JSON array of non-negative integers."""
    digits = np.floor(np.log10(np.maximum(values, 1))).astype(np.int64) + 1
    return int(digits.sum()) + max(len(values) - 1, 0) + 2


def _metres(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "不可达"
    return f"{value:.0f} 米"


def _number(value: float) -> str:
    """A count as an integer, anything else with two decimals."""
    value = float(value)
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.2f}"


def _round(values, digits: int = 2) -> list:
    """Numbers for the page (``None`` where not finite)."""
    return [round(float(v), digits) if np.isfinite(v) else None for v in np.asarray(values, float)]


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _base(city: City, title: str, *, tile_url_osm: str, tianditu_key: str, basemap: str):
    """The page and its map, fitted to the city, clear of the side panel."""
    page = _Page(title=title)
    minx, miny, maxx, maxy = (float(v) for v in city.grid.total_bounds)
    m = city_map(
        page,
        city.grid.total_bounds,
        zoom_start=12,
        tile_url_osm=tile_url_osm,
        show_osm=not (basemap == "tianditu" and tianditu_key),
        zoom_snap=0.25,
    )
    if tianditu_key:
        _TiandituLayer(tianditu_key, show=basemap == "tianditu").add_to(m)
    m.fit_bounds(
        [_latlon(minx, miny), _latlon(maxx, maxy)],
        padding_top_left=(12, 12),
        padding_bottom_right=(PANEL_PX + 24, 12),
    )
    return page, m


def _origin(city: City) -> tuple[int, int]:
    minx, miny, _, _ = city.grid.total_bounds
    return int(np.floor(minx * SCALE)), int(np.floor(miny * SCALE))


def encode_polygons(geoms, origin: tuple[int, int]) -> list[list[list[int]]]:
    """Per geometry (Polygon or MultiPolygon): polygons, each a list of rings, each a flat list
    ``[x, y, dx, dy, ...]`` of 1e-5 degree integers, the first pair relative to ``origin``, the
    rest differences; the closing vertex is left out (Leaflet closes rings)."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return []
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
    q = np.round(xy * SCALE).astype(np.int64) - np.asarray(origin, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(vertex_of)) + 1]
    delta = q.copy()
    delta[1:] -= q[:-1]
    delta[starts] = q[starts]
    ends = np.r_[starts[1:], len(q)]
    out: list[list[list[int]]] = [[] for _ in range(len(geoms))]
    last_part = -1
    for a, b in zip(starts, ends, strict=True):
        part = ring_of[vertex_of[a]]
        if part != last_part:
            out[part_of[part]].append([])
            last_part = part
        out[part_of[part]][-1].append(delta[a : b - 1].ravel().tolist())
    return out


def station_rows(city: City) -> list[list]:
    """``[lat, lon, in_service, station_id, name, status label]`` per station (WGS84)."""
    return [
        [
            *_latlon(r["lon"], r["lat"]),
            int(r["status"] == "open"),
            r["station_id"],
            r["name"],
            STATUS_NAMES.get(r["status"], r["status"]),
        ]
        for r in city.station_records
    ]


def _station_index(city: City, ids) -> list[int]:
    """Row of each station id in ``station_rows`` (-1 for none)."""
    rows = {r["station_id"]: i for i, r in enumerate(city.station_records)}
    return [rows.get(s, -1) if isinstance(s, str) else -1 for s in ids]


def subdistrict_table(city: City, origin) -> dict:
    """Subdistrict outlines and names, with a label point inside each."""
    sub = city.subdistricts
    label = shapely.point_on_surface(sub.geometry.array)
    return {
        "shape": encode_polygons(sub.geometry.array, origin),
        "name": sub["name"].astype(str).tolist(),
        "at": [
            _latlon(x, y) for x, y in zip(shapely.get_x(label), shapely.get_y(label), strict=True)
        ],
    }


def _group(m, name: str, *, show: bool = True) -> folium.FeatureGroup:
    """A layer in the layer control that ``planning.js`` fills."""
    return folium.FeatureGroup(name=name, overlay=True, control=True, show=show).add_to(m)


class _PlanningApp(JSCSSMixin):
    """The page's data (one compact JSON line) and the call that starts ``planning.js``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var yzp_data = {{ this.data_json }};
            YZP.{{ this.kind }}(yzp_data, {
            {%- for key, layer in this.refs.items() %}
                {{ key }}: {{ layer.get_name() }},
            {%- endfor %}
            });
        {% endmacro %}
        """
    )

    def __init__(self, kind: str, data: dict, refs: dict):
        super().__init__()
        self._name = "PlanningApp"
        self.kind, self.data_json, self.refs = kind, _script_json(data), refs
        self.default_js = [("yizhan_planning_js", own_asset("planning.js"))]
        self.default_css = [
            ("yizhan_base_css", own_asset("base.css")),
            ("yizhan_planning_css", own_asset("planning.css")),
        ]


def _panel(page, template: str, **values) -> None:
    page.html.add_child(Element(_ENV.from_string(template).render(**values)), name="yzp_panel")


# -- the tips heatmap -------------------------------------------------------------------------


def heat_table(weights: pd.DataFrame, categories: pd.DataFrame) -> dict:
    """The heatmap's data: unique positions once, counts per (position, month, category).

    ``weights`` has ``lon``, ``lat``, ``month`` (YYYY-MM), ``category`` and ``count`` (from
    ``api.planning.heat_weights_from_*``). Keys are ``month index * len(cats) + category
    index``. ``dense`` pages hold ``n`` = one count per position and key; sparse pages hold per
    position ``r`` (how many keys), then ``k``/``n`` (key, count) pairs.
    """
    table = categories[["code", "name"]].astype(str)
    names = dict(zip(table["code"], table["name"], strict=True))
    w = weights[["lon", "lat", "month", "category", "count"]].copy()
    w["count"] = pd.to_numeric(w["count"], errors="coerce").fillna(0).astype(np.int64)
    w = w[np.isfinite(w["lon"].astype(float)) & np.isfinite(w["lat"].astype(float))]
    w = w[w["count"] > 0]
    month_of, months = pd.factorize(w["month"].astype(str), sort=True)
    months = [str(m) for m in months]
    cat_of, codes = pd.factorize(w["category"].astype(str))
    cats = list(table["code"]) + sorted({str(c) for c in codes} - set(table["code"]))
    x = np.round(w["lon"].to_numpy(float) * SCALE).astype(np.int64)
    y = np.round(w["lat"].to_numpy(float) * SCALE).astype(np.int64)
    x0 = int(x.min()) if len(x) else 0
    y0 = int(y.min()) if len(y) else 0
    stride = int(y.max()) - y0 + 1 if len(y) else 1
    uniq, pos = np.unique((x - x0) * stride + (y - y0), return_inverse=True)
    month_idx = month_of
    cat_idx = pd.Index(cats).get_indexer(codes)[cat_of]
    nkeys = max(len(months) * len(cats), 1)
    key = pos * nkeys + month_idx * len(cats) + cat_idx
    counts = np.bincount(key, weights=w["count"].to_numpy(), minlength=len(uniq) * nkeys)
    counts = np.round(counts).astype(np.int64)
    data = {
        "scale": SCALE,
        "x0": x0,
        "y0": y0,
        "x": (uniq // stride).tolist(),
        "y": (uniq % stride).tolist(),
        "months": months,
        "cats": cats,
        "cat_names": [names.get(c, c) for c in cats],
        "total": int(counts.sum()),
    }
    nonzero = np.flatnonzero(counts)
    runs = np.bincount(nonzero // nkeys, minlength=len(uniq))
    keys = nonzero % nkeys
    if _json_len(counts) <= _json_len(runs) + _json_len(keys) + _json_len(counts[nonzero]):
        data.update(dense=True, n=counts.tolist())
    else:
        data.update(dense=False, r=runs.tolist(), k=keys.tolist(), n=counts[nonzero].tolist())
    return data


_HEAT_PANEL = """
<aside class="yzp-panel" id="yzp-panel">
  <h1>{{ title }}</h1>
  <p class="yzp-sub">{{ city }} · 流动网格员上报的隐患</p>
  <section class="yzp-box">
    <div class="yzp-total"><b id="yzp-total">{{ total }}</b> 条隐患（当前筛选）</div>
    <p class="yzp-note" id="yzp-mode">
    {%- if aggregated %}隐患较多，按网格汇总：每个网格的隐患数画在网格中心。
    {%- else %}每条隐患按上报位置显示。{% endif %}</p>
  </section>
  <section class="yzp-box">
    <h2>月份 <span id="yzp-month-label" class="yzp-chosen">全部月份</span></h2>
    <div class="yzp-months" id="yzp-months" role="radiogroup" aria-label="月份">
      <button type="button" class="yzp-month" data-month="-1" aria-pressed="true">全部</button>
      {%- for label, full in months %}
      <button type="button" class="yzp-month" data-month="{{ loop.index0 }}" title="{{ full }}"
        aria-pressed="false">{{ label }}</button>
      {%- endfor %}
    </div>
    <button type="button" class="yzp-btn" id="yzp-play"
      {%- if months|length < 2 %} disabled{% endif %}>▶ 逐月播放</button>
  </section>
  <section class="yzp-box">
    <h2>类别</h2>
    <div class="yzp-cats" id="yzp-cats">
    {%- for code, name in cats %}
      <label class="yzp-cat"><input type="checkbox" value="{{ loop.index0 }}" checked>
        <span>{{ name }}</span><span class="yzp-n" data-cat="{{ loop.index0 }}"></span></label>
    {%- endfor %}
    </div>
    <p class="yzp-links">
      <a href="#" id="yzp-all">全选</a> · <a href="#" id="yzp-none">全不选</a>
    </p>
  </section>
  <section class="yzp-box">
    <h2>图例</h2>
    <div class="yzp-ramp"><span>少</span><i></i><span>多</span></div>
    <p class="yzp-note">颜色表示当前筛选下隐患的相对密集程度。</p>
    <div class="yzp-key"><i class="yzp-dot yzp-dot-open"></i>驿站（运营中）</div>
    <div class="yzp-key"><i class="yzp-dot yzp-dot-closed"></i>驿站（已关闭或暂停）</div>
  </section>
</aside>
"""


def _month_labels(months: list[str]) -> list[tuple[str, str]]:
    years = {m[:4] for m in months}
    out = []
    for m in months:
        try:
            full = f"{int(m[:4])}年{int(m[5:7])}月"
            short = f"{int(m[5:7])}月" if len(years) == 1 else f"{m[2:4]}年{int(m[5:7])}月"
        except ValueError:
            full = short = m
        out.append((short, full))
    return out


def heatmap_page(
    city: City,
    weights: pd.DataFrame,
    *,
    aggregated: bool,
    categories: pd.DataFrame,
    tile_url_osm: str = OSM_URL,
    tianditu_key: str = "",
    basemap: str = "osm",
) -> str:
    """The tips heatmap: a month view (全部 or one month at a time) and a category filter.

    ``weights`` and ``aggregated`` come from ``api.planning.heat_weights_from_store`` (or
    ``_from_tips``); ``categories`` is the city's table (``code``, ``name``).
    """
    title = "隐患热力图"
    data = heat_table(weights, categories)
    page, m = _base(
        city, title, tile_url_osm=tile_url_osm, tianditu_key=tianditu_key, basemap=basemap
    )
    heat = HeatMap(
        [],
        name="隐患热力",
        radius=HEAT_RADIUS_PX,
        blur=HEAT_BLUR_PX,
        min_opacity=0.25,
    ).add_to(m)
    heat.default_js = list(HEAT_JS)
    refs = {
        "map": m,
        "heat": heat,
        "subdistricts": _group(m, "街道边界"),
        "stations": _group(m, "驿站"),
    }
    folium.LayerControl(position="topleft", collapsed=True).add_to(m)
    origin = _origin(city)
    data.update(
        aggregated=bool(aggregated),
        stations=station_rows(city),
        radius=HEAT_RADIUS_PX,
        origin=origin,
        subdistricts=subdistrict_table(city, origin),
    )
    _PlanningApp("heatmap", data, refs).add_to(m)
    _panel(
        page,
        _HEAT_PANEL,
        title=title,
        city=city.name,
        total=data["total"],
        aggregated=aggregated,
        months=_month_labels(data["months"]),
        cats=list(zip(data["cats"], data["cat_names"], strict=True)),
    )
    return page.render()


# -- coverage ---------------------------------------------------------------------------------


def distance_bands(radius_m: float) -> list[dict]:
    """The legend's steps: upper bound in metres (``None`` beyond the last), colour, label."""
    bounds = [f * radius_m for f in BAND_FACTORS]
    bands = []
    for factor, upper, colour in zip(BAND_FACTORS, bounds, BAND_COLOURS, strict=False):
        note = "（覆盖半径）" if factor == 1.0 else ""
        bands.append({"upper_m": upper, "colour": colour, "label": f"≤ {upper:.0f} 米{note}"})
    bands.append({"upper_m": None, "colour": BAND_COLOURS[-1], "label": f"> {bounds[-1]:.0f} 米"})
    bands.append({"upper_m": None, "colour": UNREACHABLE_COLOUR, "label": "不可达"})
    return bands


def distance_band(distance_m, radius_m: float) -> np.ndarray:
    """Band index per distance (``len(BAND_FACTORS)`` beyond the last, one more: unreachable)."""
    dist = np.asarray(distance_m, float)
    bounds = np.asarray(BAND_FACTORS) * radius_m
    band = np.searchsorted(bounds, np.where(np.isfinite(dist), dist, 0.0), side="left")
    return np.where(np.isfinite(dist), band, len(bounds) + 1)


def catchments(cov: Coverage):
    """The cells dissolved by their nearest station: each station's catchment (WGS84)."""
    cells = cov.cells.loc[
        cov.cells["nearest_station_id"].notna(), ["nearest_station_id", "geometry"]
    ]
    if cells.empty:
        return cells
    return cells.dissolve(by="nearest_station_id").reset_index()


def _cell_table(city: City, cells, origin) -> dict:
    """Shapes and tooltip values of grid cells (columns of equal length)."""
    return {
        "shape": encode_polygons(cells.geometry.array, origin),
        "name": cells["name"].astype(str).tolist(),
        "code": cells["grid_code"].astype(str).tolist(),
        "dist": _round(cells["distance_m"], 0),
        "station": _station_index(city, cells["nearest_station_id"]),
        "demand": _round(cells["demand"]),
    }


_COVERAGE_PANEL = """
<aside class="yzp-panel" id="yzp-panel">
  <h1>{{ title }}</h1>
  <p class="yzp-sub">{{ city }} · 每个网格中心到最近运营中驿站的{{ metric }}距离</p>
  <section class="yzp-box yzp-summary" id="yzp-summary">
    <dl>
      <dt>覆盖网格数</dt><dd>{{ s.cells_covered }} / {{ s.cells }}</dd>
      <dt>覆盖需求占比</dt><dd>{{ share }}</dd>
      <dt>中位距离</dt><dd>{{ median }}</dd>
      <dt>P90 距离</dt><dd>{{ p90 }}</dd>
      <dt>半径</dt><dd>{{ radius }}</dd>
      <dt>度量</dt><dd>{{ metric }}</dd>
    </dl>
  </section>
  <section class="yzp-box">
    <h2>到最近驿站的距离</h2>
    <ul class="yzp-legend" id="yzp-legend">
    {%- for band in bands %}
      <li><i style="background: {{ band.colour }}"></i>{{ band.label }}
        <span class="yzp-n">{{ band.cells }} 格</span></li>
    {%- endfor %}
    </ul>
    <div class="yzp-key"><i class="yzp-line"></i>驿站服务范围（最近驿站相同的网格）</div>
    <div class="yzp-key"><i class="yzp-dot yzp-dot-open"></i>驿站（运营中）</div>
    <div class="yzp-key"><i class="yzp-dot yzp-dot-closed"></i>驿站（已关闭或暂停，不计覆盖）</div>
    <p class="yzp-note">鼠标移到网格上可查看名称、代码、距离、最近驿站和需求。</p>
  </section>
</aside>
"""


def coverage_page(
    city: City,
    cov: Coverage,
    *,
    tile_url_osm: str = OSM_URL,
    tianditu_key: str = "",
    basemap: str = "osm",
) -> str:
    """Grid cells coloured by distance to the nearest station, catchments, and a summary."""
    title = "驿站覆盖图"
    origin = _origin(city)
    band = distance_band(cov.cells["distance_m"], cov.radius_m)
    bands = distance_bands(cov.radius_m)
    counts = np.bincount(band, minlength=len(bands))
    for b, n in zip(bands, counts, strict=True):
        b["cells"] = int(n)
    page, m = _base(
        city, title, tile_url_osm=tile_url_osm, tianditu_key=tianditu_key, basemap=basemap
    )
    refs = {
        "map": m,
        "cells": _group(m, "网格（按距离着色）"),
        "catchments": _group(m, "驿站服务范围"),
        "subdistricts": _group(m, "街道边界", show=False),
        "stations": _group(m, "驿站"),
    }
    folium.LayerControl(position="topleft", collapsed=True).add_to(m)
    areas = catchments(cov)
    data = {
        "origin": origin,
        "scale": SCALE,
        "stations": station_rows(city),
        "subdistricts": subdistrict_table(city, origin),
        "colours": [b["colour"] for b in bands],
        "cells": {**_cell_table(city, cov.cells, origin), "band": band.tolist()},
        "catchments": {
            "shape": encode_polygons(areas.geometry.array, origin),
            "station": _station_index(city, areas["nearest_station_id"]),
        },
    }
    m.add_child(_PlanningApp("coverage", data, refs))
    summary = cov.summary()
    _panel(
        page,
        _COVERAGE_PANEL,
        title=title,
        city=city.name,
        s=summary,
        share=_share(summary["demand_covered_share"]),
        median=_metres(summary["median_distance_m"]),
        p90=_metres(summary["p90_distance_m"]),
        radius=_metres(cov.radius_m),
        metric=METRIC_NAMES.get(cov.metric, cov.metric),
        bands=bands,
    )
    return page.render()


# -- gaps and suggested sites -----------------------------------------------------------------


_GAPS_PANEL = """
<aside class="yzp-panel" id="yzp-panel">
  <h1>{{ title }}</h1>
  <p class="yzp-sub">{{ city }} · 半径 {{ radius }}（{{ metric }}距离）</p>
  <section class="yzp-box yzp-summary" id="yzp-before-after">
  {%- if suggestion %}
    <dl>
      <dt>覆盖需求占比</dt><dd>现状 {{ before }} → 新增 {{ n_sites }} 站后 <b>{{ after }}</b></dd>
      <dt>求解结果</dt><dd id="yzp-optimal">
        {%- if optimal %}<b class="yzp-ok">最优</b>（已证明）
        {%- else %}<b class="yzp-warn">非最优</b>（近似解）{% endif %}</dd>
      <dt>求解器</dt><dd id="yzp-solver">{{ solver }}</dd>
    </dl>
  {%- else %}
    <dl><dt>覆盖需求占比</dt><dd>现状 {{ before }}</dd></dl>
    <p class="yzp-note">{% if all_covered %}全部需求已在覆盖半径内，无需新增站点。
      {%- else %}未计算新站点建议。{% endif %}</p>
  {%- endif %}
  </section>
  <section class="yzp-box">
    <h2>各街道覆盖缺口</h2>
    <table class="yzp-table" id="yzp-subdistricts">
      <thead><tr><th>街道</th><th>缺口得分</th><th>未覆盖需求</th><th>未覆盖网格</th></tr></thead>
      <tbody>
      {%- for row in table %}
        <tr><td>{{ row.name }}</td><td>{{ row.score }}</td><td>{{ row.demand }}</td>
          <td>{{ row.cells }}</td></tr>
      {%- endfor %}
      </tbody>
    </table>
    <p class="yzp-note">缺口得分 = 未覆盖需求 ×（1 + 超出半径的距离 / 半径）。</p>
  </section>
  {%- if sites %}
  <section class="yzp-box">
    <h2>建议新站点</h2>
    <table class="yzp-table" id="yzp-sites">
      <thead><tr><th>编号</th><th>新增覆盖需求</th><th>街道</th><th>最近道路</th></tr></thead>
      <tbody>
      {%- for s in sites %}
        <tr><td>★{{ s.rank }}</td><td>{{ s.added }}</td><td>{{ s.sub }}</td>
          <td>{{ s.road }}</td></tr>
      {%- endfor %}
      </tbody>
    </table>
  </section>
  {%- endif %}
  <section class="yzp-box">
    <h2>图例</h2>
    <div class="yzp-key"><i class="yzp-rank-key">1</i>缺口最大的网格（前 {{ n_ranked }} 名）</div>
    <div class="yzp-key"><i class="yzp-swatch yzp-swatch-open"></i>其他未覆盖网格</div>
    {%- if sites %}
    <div class="yzp-key"><i class="yzp-site-key">★</i>建议新站点
      {%- if circles %}（虚线圈为覆盖半径）{% endif %}</div>
    {%- endif %}
    <div class="yzp-key"><i class="yzp-dot yzp-dot-open"></i>驿站（运营中）
      <i class="yzp-dot yzp-dot-closed"></i>已关闭或暂停</div>
  </section>
</aside>
"""


def _site_rows(city: City, suggestion: Suggestion, sub_names: dict) -> list[dict]:
    cell_names = dict(zip(city.grid["grid_code"], city.grid["name"].astype(str), strict=True))
    rows = []
    for s in suggestion.sites.itertuples(index=False):
        code = None if pd.isna(s.grid_code) else str(s.grid_code)
        sub = None if pd.isna(s.subdistrict_code) else str(s.subdistrict_code)
        street = None if pd.isna(s.street_name) else str(s.street_name)
        rows.append(
            {
                "at": _latlon(s.lon, s.lat),
                "rank": int(s.rank),
                "added": _number(s.added_demand),
                "cell": f"{cell_names.get(code, '')}（{code}）" if code else "城外",
                "sub": sub_names.get(sub, sub or "—"),
                "street": f"{street}（约 {s.street_distance_m:.0f} 米）" if street else "—",
                "road": street or "—",
            }
        )
    return rows


def gaps_page(
    city: City,
    cov: Coverage,
    ranked,
    by_subdistrict: pd.DataFrame,
    suggestion: Suggestion | None,
    *,
    tile_url_osm: str = OSM_URL,
    tianditu_key: str = "",
    basemap: str = "osm",
) -> str:
    """The worst-served cells ranked, suggested sites, and the gaps per subdistrict.

    ``ranked`` comes from ``geo.coverage.gaps``, ``by_subdistrict`` from
    ``gaps_by_subdistrict``, ``suggestion`` from ``geo.sites.suggest_sites`` (or None).
    """
    title = "覆盖缺口与选址建议"
    origin = _origin(city)
    sub_names = dict(
        zip(
            city.subdistricts["subdistrict_code"],
            city.subdistricts["name"].astype(str),
            strict=True,
        )
    )
    page, m = _base(
        city, title, tile_url_osm=tile_url_osm, tianditu_key=tianditu_key, basemap=basemap
    )
    refs = {
        "map": m,
        "uncovered": _group(m, "未覆盖网格"),
        "ranked": _group(m, f"缺口最大的网格（前 {len(ranked)} 名）"),
    }
    site_rows = _site_rows(city, suggestion, sub_names) if suggestion is not None else []
    if site_rows:
        refs["sites"] = _group(m, "建议新站点")
    refs["subdistricts"] = _group(m, "街道边界")
    refs["stations"] = _group(m, "驿站")
    folium.LayerControl(position="topleft", collapsed=True).add_to(m)
    uncovered = cov.cells[~cov.cells["covered"].to_numpy(bool)]
    centroids = city.cell_lonlat.reindex(ranked["grid_code"])
    circles = cov.metric == "euclidean"
    data = {
        "origin": origin,
        "scale": SCALE,
        "stations": station_rows(city),
        "subdistricts": subdistrict_table(city, origin),
        "uncovered": {"shape": encode_polygons(uncovered.geometry.array, origin)},
        "ranked": {
            **_cell_table(city, ranked, origin),
            "rank": ranked["rank"].astype(int).tolist(),
            "sub": [sub_names.get(c, c) for c in ranked["subdistrict_code"]],
            "score": _round(ranked["gap_score"]),
            "at": [_latlon(x, y) for x, y in zip(centroids["lon"], centroids["lat"], strict=True)],
        },
        "sites": site_rows,
        "radius_m": cov.radius_m if circles else None,
    }
    m.add_child(_PlanningApp("gaps", data, refs))
    summary = cov.summary()
    table = [
        {
            "name": sub_names.get(row.subdistrict_code, str(row.subdistrict_code)),
            "score": f"{row.gap_score:.1f}",
            "demand": _number(row.uncovered_demand),
            "cells": int(row.uncovered_cells),
        }
        for row in by_subdistrict.itertuples(index=False)
    ]
    values = {
        "title": title,
        "city": city.name,
        "radius": _metres(cov.radius_m),
        "metric": METRIC_NAMES.get(cov.metric, cov.metric),
        "suggestion": suggestion is not None,
        "all_covered": summary["demand_covered_share"] in (None, 1.0),
        "before": _share(summary["demand_covered_share"]),
        "table": table,
        "n_ranked": len(ranked),
        "sites": site_rows,
        "circles": circles,
    }
    if suggestion is not None:
        values.update(
            before=_share(suggestion.before["demand_covered_share"]),
            after=_share(suggestion.after["demand_covered_share"]),
            n_sites=len(suggestion.sites),
            optimal=suggestion.optimal,
            solver=suggestion.solver,
        )
    _panel(page, _GAPS_PANEL, **values)
    return page.render()
