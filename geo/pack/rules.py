"""The rules each layer of a pack must keep: ids present and unique, codes well formed, grid
cells tiling their subdistricts without overlaps, stations inside the city with known amenity
codes, parseable opening hours and statuses, tips with known categories and times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geo.errors import InvalidInput
from geo.hours import CITY_TZ, parse_hours
from geo.pack.readers import Problems
from geo.pack.schema import AMENITIES, STATION_STATUSES

FloatArray = npt.NDArray[np.float64]
GeometryArray = npt.NDArray[np.object_]  # shapely geometries


def check_ids(
    frame: pd.DataFrame,
    path: Path,
    column: str,
    problems: Problems,
    *,
    pattern: str | None = None,
    what: str | None = None,
) -> None:
    """Ids stripped, non-empty, unique (and matching ``pattern`` when given)."""
    values = frame[column].astype(str).str.strip()
    frame[column] = values
    if pattern is not None:
        bad = ~values.str.fullmatch(pattern)
        for row in np.flatnonzero(bad.to_numpy()):
            problems.add(f"{path.name} row {row + 1}: {column} {values[row]!r} is not {what}")
    empty = values == ""
    for row in np.flatnonzero(empty.to_numpy()):
        problems.add(f"{path.name} row {row + 1}: {column} is empty")
    dup = values.duplicated(keep="first") & ~empty
    for row in np.flatnonzero(dup.to_numpy()):
        first = int(np.flatnonzero((values == values[row]).to_numpy())[0])
        problems.add(
            f"{path.name} row {row + 1}: duplicate {column} {values[row]!r} "
            f"(first at row {first + 1})"
        )


def check_subdistricts(frame: gpd.GeoDataFrame, path: Path, problems: Problems) -> gpd.GeoDataFrame:
    """Subdistrict codes of 9 digits, unique."""
    check_ids(frame, path, "subdistrict_code", problems, pattern=r"\d{9}", what="9 digits")
    return frame


def check_grid(
    frame: gpd.GeoDataFrame,
    path: Path,
    subdistricts: gpd.GeoDataFrame,
    metric_crs: str,
    sliver_area_m2: float,
    problems: Problems,
) -> gpd.GeoDataFrame:
    """Grid codes agree with their subdistricts; cells neither overlap nor leave their
    subdistrict; the grid comes back sorted by ``grid_code``."""
    check_ids(frame, path, "grid_code", problems, pattern=r"\d{14,15}", what="14 or 15 digits")
    frame["subdistrict_code"] = frame["subdistrict_code"].astype(str).str.strip()
    codes = frame["grid_code"].tolist()
    subs = frame["subdistrict_code"].tolist()
    known = set(subdistricts["subdistrict_code"])
    for row in range(len(frame)):
        code, sub = codes[row], subs[row]
        if sub not in known:
            problems.add(
                f"{path.name} row {row + 1} (grid_code {code}): subdistrict_code {sub!r} "
                "is not in the subdistricts layer"
            )
        elif not code.startswith(sub):
            problems.add(
                f"{path.name} row {row + 1} (grid_code {code}): code does not start with "
                f"its subdistrict_code {sub}"
            )
    if problems:
        return frame

    # Topology is decided in WGS84, where the stored edges are straight; only the areas of the
    # pieces found are measured in metres (projecting first would bend long edges into chords
    # and report slivers that are not in the data).
    cells = frame.geometry.array
    sub_index = pd.Index(subdistricts["subdistrict_code"])
    sub_geoms = subdistricts.geometry.array
    own = sub_geoms[sub_index.get_indexer(subs)]

    def area_m2(geoms: GeometryArray) -> FloatArray:
        return np.asarray(gpd.GeoSeries(geoms, crs=4326).to_crs(metric_crs).area)

    # cells overlapping each other
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="overlaps")
    keep = left < right
    left, right = left[keep], right[keep]
    areas: FloatArray | list[float] = (
        area_m2(shapely.intersection(cells[left], cells[right])) if left.size else []
    )
    for i, j, area in zip(left, right, areas, strict=True):
        if area > sliver_area_m2:
            problems.add(
                f"{path.name} row {i + 1} (grid_code {codes[i]}) overlaps row {j + 1} "
                f"(grid_code {codes[j]}) by {area:.1f} m²"
            )
    contained_l, contained_r = tree.query(cells, predicate="contains")
    seen = set()
    for i, j in zip(contained_l, contained_r, strict=True):
        if i != j and (j, i) not in seen:
            seen.add((i, j))
            problems.add(
                f"{path.name} row {i + 1} (grid_code {codes[i]}) contains row {j + 1} "
                f"(grid_code {codes[j]})"
            )

    # cells outside or straddling their subdistrict
    shapely.prepare(own)
    outside_rows = np.flatnonzero(~shapely.covers(own, cells))
    if outside_rows.size:
        outside_areas = area_m2(shapely.difference(cells[outside_rows], own[outside_rows]))
        cell_areas = area_m2(cells[outside_rows])
    for k, row in enumerate(outside_rows.tolist()):
        outside = float(outside_areas[k])
        if outside <= sliver_area_m2:
            continue
        share = outside / max(float(cell_areas[k]), 1e-9)
        others = sub_geoms.intersects(cells[row])
        other_codes = [c for c in subdistricts["subdistrict_code"][others] if c != subs[row]]
        where = f"straddles {', '.join(other_codes)}" if other_codes else "lies outside the city"
        problems.add(
            f"{path.name} row {row + 1} (grid_code {codes[row]}): {share:.1%} "
            f"({outside:.0f} m²) of the cell is outside its subdistrict {subs[row]} ({where})"
        )
    return frame.sort_values("grid_code", kind="stable").reset_index(drop=True)


def check_streets(frame: gpd.GeoDataFrame, path: Path, problems: Problems) -> gpd.GeoDataFrame:
    """Every street has a name."""
    frame["street_name"] = frame["street_name"].fillna("").astype(str).str.strip()
    empty = frame["street_name"] == ""
    for row in np.flatnonzero(empty.to_numpy()):
        problems.add(f"{path.name} row {row + 1}: street_name is empty")
    frame["road_class"] = frame["road_class"].fillna("").astype(str)
    return frame


def check_stations(
    frame: gpd.GeoDataFrame, path: Path, subdistricts: gpd.GeoDataFrame, problems: Problems
) -> gpd.GeoDataFrame:
    """Known amenity codes and statuses, parseable hours and dates, points in the city."""
    check_ids(frame, path, "station_id", problems)
    ids = frame["station_id"].to_numpy(str)

    def where(row: int) -> str:
        return f"{path.name} row {row + 1} (station_id {ids[row]})"

    amenity_lists = []
    for row, value in enumerate(frame["amenities"]):
        codes = parse_amenities(value)
        unknown = [c for c in codes if c not in AMENITIES]
        if unknown:
            problems.add(
                f"{where(row)}: unknown amenity code(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(AMENITIES)}"
            )
        amenity_lists.append(codes)
    frame["amenities"] = amenity_lists

    for row, value in enumerate(frame["opening_hours"]):
        try:
            parse_hours(value)
        except InvalidInput as exc:
            problems.add(f"{where(row)}: {exc}")

    frame["status"] = frame["status"].fillna("").astype(str).str.strip().str.lower()
    for row in np.flatnonzero(~frame["status"].isin(STATION_STATUSES).to_numpy()).tolist():
        problems.add(
            f"{where(row)}: status {frame['status'][row]!r} is not one of "
            f"{', '.join(STATION_STATUSES)}"
        )

    confirmed: list[dt.date | None] = []
    for row, value in enumerate(frame["last_confirmed"]):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            confirmed.append(None)
            continue
        try:
            if isinstance(value, dt.datetime):
                value = value.date()
            confirmed.append(
                value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
            )
        except ValueError:
            problems.add(f"{where(row)}: last_confirmed {value!r} is not a date (YYYY-MM-DD)")
            confirmed.append(None)
    frame["last_confirmed"] = confirmed

    for column in ("name", "address", "operator", "phone"):
        frame[column] = frame[column].fillna("").astype(str)

    city = shapely.STRtree(subdistricts.geometry.array)
    hit_points, _ = city.query(frame.geometry.array, predicate="intersects")
    outside = np.setdiff1d(np.arange(len(frame)), hit_points)
    for row in outside:
        pt = frame.geometry.array[row]
        problems.add(f"{where(row)}: point ({pt.x:.6f}, {pt.y:.6f}) is outside the city")
    return frame


def check_tips(
    frame: gpd.GeoDataFrame, path: Path, categories: pd.DataFrame, problems: Problems
) -> gpd.GeoDataFrame:
    """Unique tip ids, known categories, ISO 8601 report times."""
    check_ids(frame, path, "tip_id", problems)
    ids = frame["tip_id"].to_numpy(str)
    frame["category"] = frame["category"].astype(str).str.strip()
    known = set(categories["code"])
    for row in np.flatnonzero(~frame["category"].isin(known).to_numpy()):
        problems.add(
            f"{path.name} row {row + 1} (tip_id {ids[row]}): unknown category "
            f"{frame['category'][row]!r}"
        )
    try:
        frame["reported_at"] = parse_timestamps(frame["reported_at"])
    except InvalidInput as exc:
        problems.add(f"{path.name}: {exc}")
    for column in ("description", "reporter_id", "status"):
        frame[column] = frame[column].fillna("").astype(str)
    return frame


# -- helpers ---------------------------------------------------------------------------------


def parse_amenities(value: object) -> list[str]:
    """Amenity codes from a list or a ``;``/``,``-separated string, stripped and lower-cased;
    any other value (a number) is one code."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        parts = value.replace(",", ";").split(";")
    elif isinstance(value, Iterable):
        parts = [str(v) for v in value]
    else:  # a number (a numeric column): one code, which no amenity has
        parts = [str(value)]
    return [p.strip().lower() for p in parts if p.strip()]


def parse_timestamps(values: object, *, strict: bool = True) -> pd.Series:
    """Aware timestamps in Asia/Shanghai; naive values are taken as local time.

    Parameters
    ----------
    values : array_like
        ISO 8601 texts, or timestamps.
    strict : bool
        Raise on a value that does not parse; with False it becomes ``NaT``.

    Raises
    ------
    InvalidInput
        Naming the first row that does not parse (``strict`` only).
    """
    series = pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert(CITY_TZ)
    text = series.astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    naive = ~text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True)
    if naive.any():
        local = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
        parsed[naive] = local.dt.tz_localize(CITY_TZ).dt.tz_convert("UTC")
    bad = parsed.isna()
    if strict and bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InvalidInput(
            f"reported_at {text.iloc[row]!r} at row {row + 1} is not an ISO 8601 date-time"
        )
    return parsed.dt.tz_convert(CITY_TZ)
