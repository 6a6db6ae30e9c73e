"""The gaps map (覆盖缺口与选址建议): the worst-served grid cells ranked, the suggested new sites
with the demand each adds, coverage before and after, and the gaps per subdistrict."""

from __future__ import annotations

import folium
import pandas as pd

from geo.city import City
from geo.coverage import Coverage
from geo.sites import Suggestion
from maps.encode import SCALE, encode_polygons
from maps.page import OSM_URL, add_panel, latlon
from maps.planning import (
    METRIC_NAMES,
    PlanningApp,
    cell_table,
    layer_group,
    metres,
    number,
    origin,
    planning_map,
    rounded,
    share,
    station_rows,
    subdistrict_table,
)

TITLE = "覆盖缺口与选址建议"


def site_rows(city: City, suggestion: Suggestion, sub_names: dict) -> list[dict]:
    """One row per suggested site: position, rank, added demand, cell, subdistrict, street."""
    cell_names = dict(zip(city.grid["grid_code"], city.grid["name"].astype(str), strict=True))
    rows = []
    for s in suggestion.sites.itertuples(index=False):
        code = None if pd.isna(s.grid_code) else str(s.grid_code)
        sub = None if pd.isna(s.subdistrict_code) else str(s.subdistrict_code)
        street = None if pd.isna(s.street_name) else str(s.street_name)
        rows.append(
            {
                "at": latlon(s.lon, s.lat),
                "rank": int(s.rank),
                "added": number(s.added_demand),
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
    start = origin(city)
    sub_names = dict(
        zip(
            city.subdistricts["subdistrict_code"],
            city.subdistricts["name"].astype(str),
            strict=True,
        )
    )
    page, m = planning_map(
        city, TITLE, tile_url_osm=tile_url_osm, tianditu_key=tianditu_key, basemap=basemap
    )
    refs = {
        "map": m,
        "uncovered": layer_group(m, "未覆盖网格"),
        "ranked": layer_group(m, f"缺口最大的网格（前 {len(ranked)} 名）"),
    }
    sites = site_rows(city, suggestion, sub_names) if suggestion is not None else []
    if sites:
        refs["sites"] = layer_group(m, "建议新站点")
    refs["subdistricts"] = layer_group(m, "街道边界")
    refs["stations"] = layer_group(m, "驿站")
    folium.LayerControl(position="topleft", collapsed=True).add_to(m)
    uncovered = cov.cells[~cov.cells["covered"].to_numpy(bool)]
    centroids = city.cell_lonlat.reindex(ranked["grid_code"])
    circles = cov.metric == "euclidean"
    data = {
        "origin": start,
        "scale": SCALE,
        "stations": station_rows(city),
        "subdistricts": subdistrict_table(city, start),
        "uncovered": {"shape": encode_polygons(uncovered.geometry.array, start)},
        "ranked": {
            **cell_table(city, ranked, start),
            "rank": ranked["rank"].astype(int).tolist(),
            "sub": [sub_names.get(c, c) for c in ranked["subdistrict_code"]],
            "score": rounded(ranked["gap_score"]),
            "at": [latlon(x, y) for x, y in zip(centroids["lon"], centroids["lat"], strict=True)],
        },
        "sites": sites,
        "radius_m": cov.radius_m if circles else None,
    }
    m.add_child(PlanningApp("gaps", data, refs))
    summary = cov.summary()
    table = [
        {
            "name": sub_names.get(row.subdistrict_code, str(row.subdistrict_code)),
            "score": f"{row.gap_score:.1f}",
            "demand": number(row.uncovered_demand),
            "cells": int(row.uncovered_cells),
        }
        for row in by_subdistrict.itertuples(index=False)
    ]
    values = {
        "title": TITLE,
        "city": city.name,
        "radius": metres(cov.radius_m),
        "metric": METRIC_NAMES.get(cov.metric, cov.metric),
        "suggestion": suggestion is not None,
        "all_covered": summary["demand_covered_share"] in (None, 1.0),
        "before": share(summary["demand_covered_share"]),
        "table": table,
        "n_ranked": len(ranked),
        "sites": sites,
        "circles": circles,
    }
    if suggestion is not None:
        values.update(
            before=share(suggestion.before["demand_covered_share"]),
            after=share(suggestion.after["demand_covered_share"]),
            n_sites=len(suggestion.sites),
            optimal=suggestion.optimal,
            solver=suggestion.solver,
        )
    add_panel(page, "gaps_panel.html", **values)
    return page.render()
