"""Demand per grid cell, station coverage (straight line or along streets), and coverage gaps.

Every cell is represented by its centroid. Its distance to the nearest in-service station
(``status == "open"``) is measured either in a straight line (``euclidean``) or along the street
network (``network``, see :mod:`geo.network`), in metres in the city's metric CRS. A cell is
covered when that distance is at most ``radius_m``.

**Gap score** of a cell: 0 when covered; otherwise its demand times ``1 + excess / radius_m``,
where ``excess`` is how far the nearest station lies beyond the radius. Uncovered demand counts
in full, and counts more the further the riders would have to go.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypedDict, Unpack, get_args

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geo.city import City
from geo.errors import InvalidInput, check_choice

Metric = Literal["euclidean", "network"]
METRICS: tuple[Metric, ...] = get_args(Metric)
DemandKind = Literal["tips", "households", "population"]
DEMAND_KINDS: tuple[DemandKind, ...] = get_args(DemandKind)
# Presets for radius_m: a 15-minute walk (5 km/h) and a 15-minute e-bike ride (15 km/h).
RADIUS_PRESETS = {"walk15": 1250.0, "ride15": 3750.0}
# City-wide or per-subdistrict figures: counts, demand, people, distances (None without any).
Summary = dict[str, float | None]


class DemandFilters(TypedDict, total=False):
    """Which tips count as demand: reported in ``[since, until)``, of these categories."""

    since: dt.datetime | None
    until: dt.datetime | None
    categories: tuple[str, ...]


@dataclass(frozen=True)
class DemandSpec:
    """How to weigh grid cells: ``weights`` maps ``tips``/``households``/``population`` to a
    weight; each kind is rescaled to the city's tip total before weighting, so a blend of
    ``tips=0.5, households=0.5`` gives households half the say."""

    weights: tuple[tuple[DemandKind, float], ...] = (("tips", 1.0),)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    categories: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None, **filters: Unpack[DemandFilters]) -> DemandSpec:
        """``tips``, ``households``, or a blend ``tips:0.7,households:0.3``."""
        if text is None or not text.strip():
            return cls(**filters)
        weights: list[tuple[DemandKind, float]] = []
        for part in text.split(","):
            name, _, weight = part.strip().partition(":")
            name = name.strip().lower()
            if name not in DEMAND_KINDS:
                raise InvalidInput(
                    f"demand: {name!r} is not one of {', '.join(DEMAND_KINDS)} "
                    f"(write e.g. tips or tips:0.7,households:0.3)"
                )
            try:
                value = float(weight) if weight else 1.0
            except ValueError:
                raise InvalidInput(f"demand: weight {weight!r} of {name} is not a number") from None
            if not np.isfinite(value) or value < 0:
                raise InvalidInput(f"demand: weight of {name} must be >= 0, got {weight!r}")
            weights.append((name, value))
        if sum(w for _, w in weights) <= 0:
            raise InvalidInput(f"demand: weights must not all be zero, got {text!r}")
        return cls(weights=tuple(weights), **filters)


def cell_demand(
    city: City, counts: pd.Series | None, *, spec: DemandSpec = DemandSpec()
) -> pd.Series:
    """Demand per grid cell (a Series in grid order, indexed by ``grid_code``).

    Parameters
    ----------
    city : City
    counts : Series, optional
        Tips per ``grid_code`` (counted by the store).
    spec : DemandSpec
        The kinds and their weights.
    """
    codes = city.grid["grid_code"].to_numpy()
    tips = pd.Series(0.0, index=codes)
    if counts is not None and len(counts):
        tips = counts.reindex(codes).fillna(0.0).astype(float)
    total_tips = float(tips.sum())
    out = pd.Series(0.0, index=codes, name="demand")
    for kind, weight in spec.weights:
        if kind == "tips":
            values = tips
        else:
            if kind not in city.grid.columns:
                raise InvalidInput(f"demand: the grid layer has no {kind!r} column")
            raw = pd.to_numeric(city.grid[kind], errors="coerce").fillna(0.0).to_numpy()
            values = pd.Series(raw, index=codes)
            if total_tips > 0 and values.sum() > 0:
                values = values * (total_tips / values.sum())
        out = out + weight * values.to_numpy()
    return out


@dataclass(frozen=True)
class Coverage:
    """Coverage of every grid cell, and the summaries planners read."""

    cells: gpd.GeoDataFrame  # grid_code, subdistrict_code, demand, people, distance_m, ...
    radius_m: float
    metric: Metric

    def summary(self) -> Summary:
        """City-wide figures."""
        return _summarise(self.cells)

    def by_subdistrict(self, subdistricts: pd.DataFrame) -> pd.DataFrame:
        """One row per subdistrict with the same figures, plus its name."""
        rows = []
        names = dict(zip(subdistricts["subdistrict_code"], subdistricts["name"], strict=True))
        for code, group in self.cells.groupby("subdistrict_code", sort=True):
            rows.append(
                {"subdistrict_code": code, "name": names.get(code, ""), **_summarise(group)}
            )
        return pd.DataFrame(rows)


def coverage(
    city: City,
    demand: pd.Series,
    *,
    radius_m: float | str = 1000.0,
    metric: Metric = "euclidean",
    stations: Iterable[int] | None = None,
) -> Coverage:
    """Distance from every cell centroid to its nearest in-service station, and coverage.

    Parameters
    ----------
    city : City
    demand : Series
        Demand per cell in grid order (from :func:`cell_demand`).
    radius_m : float or str
        A cell is covered within this distance, in metres or as a preset of
        ``RADIUS_PRESETS`` (``walk15``, ``ride15``).
    metric : {"euclidean", "network"}
        Straight line or along the streets.
    stations : iterable of int, optional
        Station rows to use; default every station with status ``open``.
    """
    radius_m = check_radius(radius_m)
    metric = check_metric(metric)
    rows = (
        np.flatnonzero(city.stations["status"].to_numpy() == "open")
        if stations is None
        else np.asarray(list(stations), dtype=np.int64)
    )
    cx, cy = city.cell_xy
    sx, sy = city.station_xy
    src = np.column_stack([sx[rows], sy[rows]])
    if len(rows) == 0:
        dist, near = np.full(len(cx), np.inf), np.full(len(cx), -1)
    elif metric == "euclidean":
        dist, near = cKDTree(src).query(np.column_stack([cx, cy]))
    else:
        dist, near = city.street_network.nearest_source(src, np.column_stack([cx, cy]))
    ids = city.stations["station_id"].to_numpy(object)
    nearest_id = np.full(len(cx), None, dtype=object)
    found = near >= 0
    nearest_id[found] = ids[rows[near[found]]]
    covered = dist <= radius_m
    demand_values = demand.to_numpy(float)
    excess = np.where(covered, 0.0, np.where(np.isfinite(dist), dist - radius_m, radius_m * 9))
    gap = np.where(covered, 0.0, demand_values * (1.0 + excess / radius_m))
    cells = gpd.GeoDataFrame(
        {
            "grid_code": city.grid["grid_code"].to_numpy(),
            "name": city.grid["name"].to_numpy(),
            "subdistrict_code": city.grid["subdistrict_code"].to_numpy(),
            "demand": demand_values,
            "people": city.cell_people,
            "distance_m": dist,
            "nearest_station_id": nearest_id,
            "covered": covered,
            "gap_score": gap,
        },
        geometry=city.grid.geometry.to_numpy(),
        crs=city.grid.crs,
    )
    return Coverage(cells=cells, radius_m=radius_m, metric=metric)


def gaps(cov: Coverage, *, top: int = 20) -> gpd.GeoDataFrame:
    """The ``top`` cells by gap score (uncovered demand weighted by distance), ranked."""
    if top < 1:
        raise InvalidInput(f"top must be at least 1, got {top!r}")
    ranked = cov.cells[cov.cells["gap_score"] > 0].sort_values(
        ["gap_score", "grid_code"], ascending=[False, True]
    )
    ranked = ranked.head(top).copy()
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def gaps_by_subdistrict(cov: Coverage, subdistricts: pd.DataFrame) -> pd.DataFrame:
    """Gap score, uncovered demand and uncovered cells summed per subdistrict, worst first."""
    cells = cov.cells
    table = (
        cells.assign(
            uncovered_demand=np.where(cells["covered"], 0.0, cells["demand"]),
            uncovered_cells=~cells["covered"],
        )
        .groupby("subdistrict_code", sort=True)[
            ["gap_score", "uncovered_demand", "uncovered_cells"]
        ]
        .sum()
        .reset_index()
    )
    names = dict(zip(subdistricts["subdistrict_code"], subdistricts["name"], strict=True))
    table.insert(1, "name", table["subdistrict_code"].map(names))
    return table.sort_values(
        ["gap_score", "subdistrict_code"], ascending=[False, True]
    ).reset_index(drop=True)


def check_radius(radius_m: float | str) -> float:
    """A radius in metres (0 to 100 km) from a number, a numeric string or a preset name."""
    if isinstance(radius_m, str) and radius_m in RADIUS_PRESETS:
        return RADIUS_PRESETS[radius_m]
    try:
        value = float(radius_m)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and 0 < value <= 100_000):
        raise InvalidInput(
            f"radius_m must be a distance in metres between 0 and 100000 or one of "
            f"{', '.join(RADIUS_PRESETS)}, got {radius_m!r}"
        )
    return value


def check_metric(metric: object) -> Metric:
    return check_choice("metric", metric, METRICS)


def _summarise(cells: pd.DataFrame) -> Summary:
    demand = cells["demand"].to_numpy(float)
    people = cells["people"].to_numpy(float)
    covered = cells["covered"].to_numpy(bool)
    dist = cells["distance_m"].to_numpy(float)
    finite = dist[np.isfinite(dist)]
    return {
        "cells": int(len(cells)),
        "cells_covered": int(covered.sum()),
        "demand": float(demand.sum()),
        "demand_covered": float(demand[covered].sum()),
        "demand_covered_share": float(demand[covered].sum() / demand.sum())
        if demand.sum()
        else None,
        "people": float(people.sum()),
        "people_covered": float(people[covered].sum()),
        "median_distance_m": float(np.median(finite)) if finite.size else None,
        "p90_distance_m": float(np.percentile(finite, 90)) if finite.size else None,
        "gap_score": float(cells["gap_score"].sum()),
    }
