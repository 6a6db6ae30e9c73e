"""What the planning endpoints and CLI verbs share: demand from a tip source, then geo calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from api.store import Store, TipQuery
from geo.city import City
from geo.coverage import Coverage, DemandSpec, cell_demand, coverage, tip_counts
from geo.errors import InvalidInput
from geo.hours import CITY_TZ


@dataclass(frozen=True)
class PlanningQuery:
    """The knobs every planning question takes."""

    radius_m: float | str = 1000.0
    metric: str = "euclidean"
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


def counts_from_store(store: Store, spec: DemandSpec) -> pd.Series:
    """Tips per grid cell counted by the store (in SQL), within the spec's filters."""
    query = TipQuery(since=spec.since, until=spec.until, categories=list(spec.categories))
    rows = store.count_by(query, ("grid_code",))
    return pd.Series(
        {r["grid_code"]: float(r["count"]) for r in rows if r["grid_code"] is not None},
        dtype=float,
    )


def counts_from_pack(city: City, spec: DemandSpec) -> pd.Series:
    """Tips per grid cell from the data pack's own tips layer."""
    return tip_counts(city.pack_tips, spec)


def plan_coverage(city: City, counts: pd.Series, query: PlanningQuery) -> Coverage:
    """Coverage of every cell for ``query``, with demand from ``counts``."""
    demand = cell_demand(city, counts, query.spec())
    return coverage(city, demand, radius_m=query.radius_m, metric=query.metric)


def categories_of(values: Sequence[str] | None, city: City) -> tuple[str, ...]:
    """Checked category codes."""
    known = set(city.categories["code"])
    out = []
    for value in values or ():
        if value not in known:
            raise InvalidInput(f"category: {value!r} is not one of {', '.join(sorted(known))}")
        out.append(value)
    return tuple(out)
