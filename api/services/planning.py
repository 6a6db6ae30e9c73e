"""The planning questions (coverage, gaps, new sites, the tips heatmap) with the service's
defaults and limits, asked of the tips in a store: the live store, or a data pack's tips put in
an in-memory one (:mod:`api.services.tipsource`). There is one way to count tips: the store's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from api.settings import Settings
from api.stores import Store, TipQuery
from geo.city import City
from geo.coverage import (
    Coverage,
    DemandSpec,
    Metric,
    cell_demand,
    coverage,
    gaps,
    gaps_by_subdistrict,
)
from geo.errors import InvalidInput
from geo.hours import CITY_TZ
from geo.sites import CandidateKind, Method, Suggestion, suggest_sites, suggest_up_to

DEFAULT_SITES = 5


@dataclass(frozen=True)
class PlanningQuery:
    """The knobs every planning question takes."""

    radius_m: float | str = 1000.0
    metric: Metric = "euclidean"
    demand: str = "tips"
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    categories: tuple[str, ...] = ()

    def spec(self) -> DemandSpec:
        return DemandSpec.parse(
            self.demand, since=self.since, until=self.until, categories=self.categories
        )


def parse_when(value: str | None, field: str) -> dt.datetime | None:
    """An ISO 8601 date or date-time; naive values are local (Asia/Shanghai)."""
    if value is None or str(value).strip() == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(
            f"{field}: {value!r} is not an ISO 8601 date or date-time (2026-03-01T08:00)"
        ) from None
    return parsed.replace(tzinfo=CITY_TZ) if parsed.tzinfo is None else parsed


def categories_of(values: Sequence[str] | None, city: City) -> tuple[str, ...]:
    """Checked category codes."""
    known = city.categories["code"].tolist()
    out = []
    for value in values or ():
        if value not in known:
            raise InvalidInput(f"category: {value!r} is not one of {', '.join(known)}")
        out.append(value)
    return tuple(out)


def _tip_query(spec: DemandSpec) -> TipQuery:
    return TipQuery(since=spec.since, until=spec.until, categories=list(spec.categories))


def _columns(rows: list[tuple], width: int) -> list[np.ndarray]:
    """The columns of a table of rows, as arrays (empty ones for no rows)."""
    if not rows:
        return [np.empty(0, dtype=object) for _ in range(width)]
    table = np.array(rows, dtype=object)  # one 2-D array: a third of the time of zip(*rows)
    if table.shape != (len(rows), width):
        raise ValueError(f"rows of {table.shape[1:]} values, expected {width}")
    return list(table.T)


def tip_counts(store: Store, spec: DemandSpec) -> pd.Series:
    """Tips per grid cell counted by the store (in SQL), within the spec's period and
    categories."""
    rows = store.count_by(replace(_tip_query(spec), outside_city=False), ("grid_code",))
    return pd.Series(
        {r["grid_code"]: float(r["count"]) for r in rows if r["grid_code"] is not None},
        dtype=float,
    )


def plan_coverage(city: City, store: Store, query: PlanningQuery) -> Coverage:
    """Coverage of every cell for ``query``, demand counted from the tips in ``store``."""
    spec = query.spec()
    demand = cell_demand(city, tip_counts(store, spec), spec=spec)
    return coverage(city, demand, radius_m=query.radius_m, metric=query.metric)


def suggest_new_sites(
    city: City,
    cov: Coverage,
    settings: Settings,
    *,
    count: int | None = None,
    target_share: float | None = None,
    candidates: CandidateKind = "cells",
    min_spacing_m: float = 300.0,
    method: Method = "milp",
) -> Suggestion:
    """:func:`geo.sites.suggest_sites` with the service's default (5 sites when neither a count
    nor a target share is given) and limits (``YIZHAN_SUGGEST_MAX_COUNT``,
    ``YIZHAN_SUGGEST_TIME_LIMIT_S``), for the API and the command line alike."""
    if count is None and target_share is None:
        count = DEFAULT_SITES
    if count is not None:
        _check_count(count, settings)
    return suggest_sites(
        city,
        cov,
        count=count,
        target_share=target_share,
        candidates=candidates,
        min_spacing_m=min_spacing_m,
        method=method,
        time_limit_s=settings.suggest_time_limit_s,
    )


def build_gaps_page(
    city: City, cov: Coverage, settings: Settings, *, top: int, count: int, **page_options: str
) -> str:
    """The gaps page: the ``top`` worst cells, the gaps per subdistrict and up to ``count`` new
    sites (``YIZHAN_SUGGEST_MAX_COUNT``, ``YIZHAN_SUGGEST_TIME_LIMIT_S``), for the API and the
    command line alike; ``page_options`` go to :func:`maps.gaps.gaps_page`."""
    from maps.gaps import gaps_page

    _check_count(count, settings)
    suggestion = suggest_up_to(city, cov, count=count, time_limit_s=settings.suggest_time_limit_s)
    return gaps_page(
        city,
        cov,
        gaps(cov, top=top),
        gaps_by_subdistrict(cov, city.subdistricts),
        suggestion,
        **page_options,
    )


def _check_count(count: int, settings: Settings) -> None:
    if count > settings.suggest_max_count:
        raise InvalidInput(
            f"count: {count} is more than {settings.suggest_max_count} (YIZHAN_SUGGEST_MAX_COUNT)"
        )


HEAT_COLUMNS = ["lon", "lat", "month", "category", "count"]


def heat_weights(
    store: Store, city: City, spec: DemandSpec, *, raw_max: int
) -> tuple[pd.DataFrame, bool]:
    """Heatmap weights for the tips matching ``spec``: one row per tip when there are at most
    ``raw_max``; else counts per grid cell (at its centroid), and for tips outside every cell per
    0.001-degree square (about 100 m), by month and category. Returns the weights and whether
    they are aggregated."""
    query = _tip_query(spec)
    total = store.list_tips(replace(query, limit=1))[1]
    if total <= raw_max:
        tips, _ = store.list_tips(replace(query, limit=max(raw_max, 1)))
        frame = pd.DataFrame(tips, columns=["lon", "lat", "reported_at", "category"])
        frame["month"] = frame["reported_at"].str.slice(0, 7)
        frame["count"] = 1
        return frame[HEAT_COLUMNS], False
    _, cells = store.count_table(
        replace(query, outside_city=False), ("grid_code", "category", "month")
    )
    _, squares = store.count_table(
        replace(query, outside_city=True), ("lonlat3", "category", "month")
    )
    codes, categories, months, counts = _columns(cells, 4)
    lon3, lat3, square_categories, square_months, square_counts = _columns(squares, 5)
    # each cell's count at its centroid (a cell the city no longer has is left out)
    place = pd.Index(city.grid["grid_code"]).get_indexer(codes)
    known = place >= 0
    centroids = city.cell_lonlat
    cell_lon = np.where(known, centroids["lon"].to_numpy()[place], np.nan)
    cell_lat = np.where(known, centroids["lat"].to_numpy()[place], np.nan)
    frame = pd.DataFrame(
        {
            "lon": np.concatenate([cell_lon, lon3.astype(float)]),
            "lat": np.concatenate([cell_lat, lat3.astype(float)]),
            "month": np.concatenate([months, square_months]),
            "category": np.concatenate([categories, square_categories]),
            "count": np.concatenate([counts, square_counts]).astype(np.int64),
        }
    )
    return frame, True
