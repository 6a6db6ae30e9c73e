"""The coverage map (驿站覆盖图): every grid cell coloured by its distance to the nearest open
station, each station's catchment, and the city's summary."""

from __future__ import annotations

import folium
import numpy as np

from geo.city import City
from geo.coverage import Coverage
from maps.encode import SCALE, encode_polygons
from maps.page import OSM_URL, add_panel
from maps.planning import (
    METRIC_NAMES,
    PlanningApp,
    cell_table,
    layer_group,
    metres,
    origin,
    planning_map,
    share,
    station_index,
    station_rows,
    subdistrict_table,
)

TITLE = "驿站覆盖图"
# Distance bands as multiples of the coverage radius (500/1000/2000/3000 m at 1 km), then beyond.
BAND_FACTORS = (0.5, 1.0, 2.0, 3.0)
BAND_COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
UNREACHABLE_COLOUR = "#5f6368"


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


def coverage_page(
    city: City,
    cov: Coverage,
    *,
    tile_url_osm: str = OSM_URL,
    tianditu_key: str = "",
    basemap: str = "osm",
) -> str:
    """Grid cells coloured by distance to the nearest station, catchments, and a summary."""
    start = origin(city)
    band = distance_band(cov.cells["distance_m"], cov.radius_m)
    bands = distance_bands(cov.radius_m)
    counts = np.bincount(band, minlength=len(bands))
    for b, n in zip(bands, counts, strict=True):
        b["cells"] = int(n)
    page, m = planning_map(
        city, TITLE, tile_url_osm=tile_url_osm, tianditu_key=tianditu_key, basemap=basemap
    )
    refs = {
        "map": m,
        "cells": layer_group(m, "网格（按距离着色）"),
        "catchments": layer_group(m, "驿站服务范围"),
        "subdistricts": layer_group(m, "街道边界", show=False),
        "stations": layer_group(m, "驿站"),
    }
    folium.LayerControl(position="topleft", collapsed=True).add_to(m)
    areas = catchments(cov)
    data = {
        "origin": start,
        "scale": SCALE,
        "stations": station_rows(city),
        "subdistricts": subdistrict_table(city, start),
        "colours": [b["colour"] for b in bands],
        "cells": {**cell_table(city, cov.cells, start), "band": band.tolist()},
        "catchments": {
            "shape": encode_polygons(areas.geometry.array, start),
            "station": station_index(city, areas["nearest_station_id"]),
        },
    }
    m.add_child(PlanningApp("coverage", data, refs))
    summary = cov.summary()
    add_panel(
        page,
        "coverage_panel.html",
        title=TITLE,
        city=city.name,
        s=summary,
        share=share(summary["demand_covered_share"]),
        median=metres(summary["median_distance_m"]),
        p90=metres(summary["p90_distance_m"]),
        radius=metres(cov.radius_m),
        metric=METRIC_NAMES.get(cov.metric, cov.metric),
        bands=bands,
    )
    return page.render()
