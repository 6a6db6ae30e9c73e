"""What the planning endpoints and CLI verbs share: demand from a tip source, then geo calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from api.settings import Settings
from api.stores import Store, TipQuery
from geo.city import City
from geo.coverage import Coverage, DemandSpec, cell_demand, coverage, filter_tips, tip_counts
from geo.errors import InvalidInput
from geo.hours import CITY_TZ
from geo.sites import Suggestion, suggest_sites


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


def suggest_new_sites(
    city: City,
    cov: Coverage,
    settings: Settings,
    *,
    count: int | None,
    target_share: float | None,
    candidates: str,
    min_spacing_m: float,
    method: str,
) -> Suggestion:
    """:func:`geo.sites.suggest_sites` with the service's default (5 sites when neither a count
    nor a target share is given) and limits (``YIZHAN_SUGGEST_MAX_COUNT``,
    ``YIZHAN_SUGGEST_TIME_LIMIT_S``), for the API and the command line alike."""
    if count is None and target_share is None:
        count = 5
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
    city: City, cov: Coverage, settings: Settings, *, top: int, count: int, **page_options
) -> str:
    """The gaps page: the ``top`` worst cells, the gaps per subdistrict and up to ``count`` new
    sites (``YIZHAN_SUGGEST_MAX_COUNT``, ``YIZHAN_SUGGEST_TIME_LIMIT_S``), for the API and the
    command line alike; ``page_options`` go to :func:`maps.planning.gaps_page`."""
    from geo.coverage import gaps, gaps_by_subdistrict
    from geo.sites import suggest_up_to
    from maps.planning import gaps_page

    _check_count(count, settings)
    suggestion = suggest_up_to(city, cov, count, time_limit_s=settings.suggest_time_limit_s)
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
            f"count must be at most {settings.suggest_max_count} (YIZHAN_SUGGEST_MAX_COUNT)"
        )


def categories_of(values: Sequence[str] | None, city: City) -> tuple[str, ...]:
    """Checked category codes."""
    known = set(city.categories["code"])
    out = []
    for value in values or ():
        if value not in known:
            raise InvalidInput(f"category: {value!r} is not one of {', '.join(sorted(known))}")
        out.append(value)
    return tuple(out)


HEAT_COLUMNS = ("lon", "lat", "month", "category", "count")


def heat_weights_from_store(
    store: Store, city: City, spec: DemandSpec, *, raw_max: int
) -> tuple[pd.DataFrame, bool]:
    """Heatmap weights for the tips matching ``spec``: raw points when there are at most
    ``raw_max``, else counts per grid cell (at its centroid) and, for tips outside every cell,
    per 0.001-degree square. Returns the weights and whether they are aggregated."""
    query = TipQuery(since=spec.since, until=spec.until, categories=list(spec.categories))
    total = store.list_tips(TipQuery(**{**query.__dict__, "limit": 1}))[1]
    if total <= raw_max:
        query.limit = max(raw_max, 1)
        tips, _ = store.list_tips(query)
        frame = pd.DataFrame(tips, columns=["lon", "lat", "reported_at", "category"])
        frame["month"] = frame["reported_at"].str.slice(0, 7)
        frame["count"] = 1
        return frame[list(HEAT_COLUMNS)], False
    rows = pd.DataFrame(store.count_by(query, ("grid_code", "lonlat3", "category", "month")))
    return _cells_and_squares(city, rows), True


def heat_weights_from_tips(
    city: City, tips: pd.DataFrame | None, spec: DemandSpec, *, raw_max: int
) -> tuple[pd.DataFrame, bool]:
    """The same from a table of assigned tips (``lon``, ``lat``, ``reported_at``, ``category``,
    ``grid_code``), e.g. the data pack's."""
    if tips is None or len(tips) == 0:
        return pd.DataFrame(columns=list(HEAT_COLUMNS)), False
    tips = filter_tips(tips, spec)
    local = pd.to_datetime(tips["reported_at"], utc=True).dt.tz_convert(CITY_TZ)
    # Counting runs on integer keys (cell or square x month x category) with numpy: formatting
    # a month string per row, or a pandas groupby on strings, cost 0.5 s per million tips.
    months, month_idx = np.unique(
        local.dt.year.to_numpy() * 100 + local.dt.month.to_numpy(), return_inverse=True
    )
    month_names = np.array([f"{k // 100:04d}-{k % 100:02d}" for k in months], dtype=object)
    if len(tips) <= raw_max:
        frame = pd.DataFrame(
            {
                "lon": tips["lon"].to_numpy(),
                "lat": tips["lat"].to_numpy(),
                "month": month_names[month_idx],
                "category": tips["category"].to_numpy(),
                "count": 1,
            }
        )
        return frame, False
    cats = pd.Categorical(tips["category"])
    cell = pd.Categorical(tips["grid_code"], categories=city.grid["grid_code"]).codes
    lon, lat = tips["lon"].to_numpy(float), tips["lat"].to_numpy(float)
    outside = cell < 0
    squares, square_idx = np.unique(
        np.column_stack([np.round(lon[outside], 3), np.round(lat[outside], 3)]),
        axis=0,
        return_inverse=True,
    )
    n_cells = len(city.grid)
    place = cell.astype(np.int64)
    place[outside] = n_cells + square_idx.ravel()
    n_m, n_c = len(months), len(cats.categories)
    keys, counts = np.unique(
        (place * n_m + month_idx) * n_c + cats.codes.astype(np.int64), return_counts=True
    )
    place_of, rest = np.divmod(keys, n_m * n_c)
    month_of, cat_of = np.divmod(rest, n_c)
    centroids = city.cell_lonlat
    all_lon = np.concatenate([centroids["lon"].to_numpy(), squares[:, 0] if len(squares) else []])
    all_lat = np.concatenate([centroids["lat"].to_numpy(), squares[:, 1] if len(squares) else []])
    frame = pd.DataFrame(
        {
            "lon": all_lon[place_of],
            "lat": all_lat[place_of],
            "month": month_names[month_of],
            "category": np.asarray(cats.categories, dtype=object)[cat_of],
            "count": counts,
        }
    )
    return frame, True


def _cells_and_squares(city: City, rows: pd.DataFrame) -> pd.DataFrame:
    """Counts per (cell or square, category, month) placed at the cell centroid or square."""
    if rows.empty:
        return pd.DataFrame(columns=list(HEAT_COLUMNS))
    centroids = city.cell_lonlat
    in_cell = rows["grid_code"].notna()
    lon = rows["lon3"].astype(float).to_numpy().copy()
    lat = rows["lat3"].astype(float).to_numpy().copy()
    codes = rows.loc[in_cell, "grid_code"]
    lon[in_cell.to_numpy()] = centroids["lon"].reindex(codes).to_numpy()
    lat[in_cell.to_numpy()] = centroids["lat"].reindex(codes).to_numpy()
    frame = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "month": rows["month"],
            "category": rows["category"],
            "count": rows["count"].astype(int),
        }
    )
    return (
        frame.groupby(["lon", "lat", "month", "category"], sort=True)["count"].sum().reset_index()
    )[list(HEAT_COLUMNS)]
