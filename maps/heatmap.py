"""The tips heatmap (隐患热力图): where tips pile up, month by month and per category.

The page ships one table of counts per (position, month, category) (``maps.encode.heat_table``);
``static/planning.js`` sums the counts for the months and categories picked and hands the points
to the heat layer's ``setLatLngs``.
"""

from __future__ import annotations

import folium
import pandas as pd
from folium.plugins import HeatMap

from geo.city import City
from maps.assets import HEAT_JS
from maps.encode import heat_table
from maps.page import OSM_URL, add_panel
from maps.planning import (
    PlanningApp,
    layer_group,
    origin,
    planning_map,
    station_rows,
    subdistrict_table,
)

TITLE = "隐患热力图"
HEAT_RADIUS_PX = 16
HEAT_BLUR_PX = 14


def month_labels(months: list[str]) -> list[tuple[str, str]]:
    """``(short, full)`` Chinese labels of ``YYYY-MM`` months: ``3月`` (``26年3月`` when the
    months span years) and ``2026年3月``."""
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

    ``weights`` and ``aggregated`` come from ``api.services.planning.heat_weights``;
    ``categories`` is the city's table (``code``, ``name``).
    """
    data = heat_table(weights, categories)
    page, m = planning_map(
        city, TITLE, tile_url_osm=tile_url_osm, tianditu_key=tianditu_key, basemap=basemap
    )
    heat = HeatMap(
        [],
        name="隐患热力",
        radius=HEAT_RADIUS_PX,
        blur=HEAT_BLUR_PX,
        min_opacity=0.25,
    )
    heat.add_to(m)
    heat.default_js = list(HEAT_JS)
    refs = {
        "map": m,
        "heat": heat,
        "subdistricts": layer_group(m, "街道边界"),
        "stations": layer_group(m, "驿站"),
    }
    folium.LayerControl(position="topleft", collapsed=True).add_to(m)
    start = origin(city)
    data.update(
        aggregated=bool(aggregated),
        stations=station_rows(city),
        radius=HEAT_RADIUS_PX,
        origin=start,
        subdistricts=subdistrict_table(city, start),
    )
    PlanningApp("heatmap", data, refs).add_to(m)
    add_panel(
        page,
        "heatmap_panel.html",
        title=TITLE,
        city=city.name,
        total=data["total"],
        aggregated=aggregated,
        months=month_labels(data["months"]),
        cats=list(zip(data["cats"], data["cat_names"], strict=True)),
    )
    return page.render()
