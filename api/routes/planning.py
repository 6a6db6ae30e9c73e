"""Planning: coverage, gaps and where new stations would cover the most."""

from __future__ import annotations

import json
import math
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query

from api.deps import CityDep, SettingsDep, StoreDep
from api.errors import error_responses
from api.services.planning import (
    PlanningQuery,
    categories_of,
    parse_when,
    plan_coverage,
    suggest_new_sites,
)
from geo.coverage import Coverage, Metric, gaps, gaps_by_subdistrict
from geo.sites import CandidateKind, Method

router = APIRouter(prefix="/api", tags=["planning"])

RadiusQ = Annotated[str, Query(description="Covered within this many metres, or walk15 / ride15.")]
MetricQ = Annotated[Metric, Query(description="euclidean (straight line) or network (streets).")]
DemandQ = Annotated[
    str, Query(description="tips, households, population, or a blend tips:0.7,households:0.3.")
]
SinceQ = Annotated[str | None, Query(description="Count tips reported at or after (local).")]
UntilQ = Annotated[str | None, Query(description="Count tips reported before (local).")]
CategoryQ = Annotated[list[str] | None, Query(description="Count only these categories.")]


def _query(city, radius_m, metric, demand, since, until, category) -> PlanningQuery:
    return PlanningQuery(
        radius_m=radius_m,
        metric=metric,
        demand=demand,
        since=parse_when(since, "since"),
        until=parse_when(until, "until"),
        categories=categories_of(category, city),
    )


def planning_query(
    city: CityDep,
    radius_m: RadiusQ = "1000",
    metric: MetricQ = "euclidean",
    demand: DemandQ = "tips",
    since: SinceQ = None,
    until: UntilQ = None,
    category: CategoryQ = None,
) -> PlanningQuery:
    """The parameters every planning question takes, checked."""
    return _query(city, radius_m, metric, demand, since, until, category)


def planning_coverage(
    city: CityDep, store: StoreDep, query: Annotated[PlanningQuery, Depends(planning_query)]
) -> Coverage:
    """Coverage for the request's planning parameters, demand counted by the store."""
    return plan_coverage(city, store, query)


QueryDep = Annotated[PlanningQuery, Depends(planning_query)]
CoverageDep = Annotated[Coverage, Depends(planning_coverage)]


def _number(value, digits):
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def cells_geojson(cells) -> dict:
    """GeoJSON of coverage cells (distances in metres, ``null`` where unreachable)."""
    out = cells.copy()
    out["distance_m"] = [_number(v, 1) for v in out["distance_m"]]
    out["demand"] = [_number(v, 3) for v in out["demand"]]
    out["gap_score"] = [_number(v, 3) for v in out["gap_score"]]
    out["covered"] = out["covered"].astype(bool)
    return json.loads(out.to_json(drop_id=True, na="null"))


def _summary(values: dict) -> dict:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()
    }


@router.get(
    "/coverage",
    summary="Coverage of the city and of every subdistrict",
    responses=error_responses(422),
)
def coverage_summary(city: CityDep, query: QueryDep, cov: CoverageDep) -> dict:
    table = cov.by_subdistrict(city.subdistricts)
    return {
        "radius_m": cov.radius_m,
        "metric": cov.metric,
        "demand": query.demand,
        "city": _summary(cov.summary()),
        "subdistricts": [_summary(r) for r in table.to_dict(orient="records")],
    }


@router.get(
    "/coverage/cells",
    summary="Every grid cell's distance to a station, as GeoJSON",
    responses=error_responses(422),
)
def coverage_cells(cov: CoverageDep) -> dict:
    return cells_geojson(cov.cells)


@router.get(
    "/gaps",
    summary="The worst-served grid cells, ranked by gap score",
    responses=error_responses(422),
)
def gap_cells(
    city: CityDep,
    cov: CoverageDep,
    top: Annotated[int, Query(ge=1, le=100_000, description="How many cells.")] = 20,
) -> dict:
    out = cells_geojson(gaps(cov, top=top))
    table = gaps_by_subdistrict(cov, city.subdistricts)
    out["subdistricts"] = [_summary(r) for r in table.to_dict(orient="records")]
    return out


@router.get(
    "/sites/suggest",
    summary="Where new stations would cover the most demand",
    responses=error_responses(422),
)
def suggest(
    city: CityDep,
    cov: CoverageDep,
    settings: SettingsDep,
    count: Annotated[int | None, Query(ge=1, description="How many new sites.")] = None,
    target_share: Annotated[
        float | None,
        Query(gt=0, le=1, description="Or: the fewest sites reaching this covered share."),
    ] = None,
    candidates: Annotated[
        CandidateKind, Query(description="cells (centroids) or streets.")
    ] = "cells",
    min_spacing_m: Annotated[
        float, Query(ge=0, le=10_000, description="Candidates at least this far from stations.")
    ] = 300.0,
    method: Annotated[Method, Query(description="milp (optimal) or greedy.")] = "milp",
) -> dict:
    result = suggest_new_sites(
        city,
        cov,
        settings,
        count=count,
        target_share=target_share,
        candidates=candidates,
        min_spacing_m=min_spacing_m,
        method=method,
    )
    sites = result.sites.copy()
    sites["added_demand"] = np.round(sites["added_demand"].astype(float), 3)
    sites["street_distance_m"] = np.round(sites["street_distance_m"].astype(float), 1)
    out = json.loads(sites.drop(columns=["lon", "lat"]).to_json(drop_id=True, na="null"))
    out.update(
        radius_m=result.radius_m,
        metric=result.metric,
        before=_summary(result.before),
        after=_summary(result.after),
        optimal=result.optimal,
        solver=result.solver,
    )
    return out
