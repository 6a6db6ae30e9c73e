"""Read a city's data pack from a folder and validate every layer.

A pack holds ``stations``, ``grid``, ``subdistricts``, ``streets`` and optionally ``tips``, each as
GeoJSON, GeoPackage, Shapefile, GeoParquet, or (points only) CSV with ``lon``/``lat`` columns
whose CRS is stated in ``pack.toml`` under ``[csv_crs]``. An optional ``categories.csv`` replaces
the default tip category table. Every problem found is reported with its file, row and id; a
pack with problems is refused as a whole (:class:`~geo.errors.InvalidLayer`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import crs as gcrs
from geo.errors import InvalidInput, InvalidLayer, UnknownCRS
from geo.hours import CITY_TZ, parse_hours

LAYERS = ("stations", "grid", "subdistricts", "streets", "tips")
REQUIRED_LAYERS = ("stations", "grid", "subdistricts", "streets")
SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".parquet", ".geoparquet", ".csv")

AMENITIES: dict[str, str] = {
    "rest": "休息",
    "water": "饮水",
    "toilet": "如厕",
    "meal_heating": "餐食加热",
    "phone_charging": "手机充电",
    "ebike_charging": "电动车充电",
    "battery_swap": "换电",
    "reading": "读书阅览",
    "first_aid": "应急药箱",
    "cooling_heating": "纳凉取暖",
    "rain_shelter": "避雨",
    "wifi": "无线网络",
}
STATION_STATUSES = ("open", "closed", "suspended")

COLUMNS: dict[str, tuple[str, ...]] = {
    "stations": ("station_id", "name", "address", "amenities", "opening_hours", "status"),
    "grid": ("grid_code", "subdistrict_code"),
    "subdistricts": ("subdistrict_code", "name"),
    "streets": ("street_name",),
    "tips": ("tip_id", "reported_at", "category"),
}
OPTIONAL_COLUMNS: dict[str, dict[str, object]] = {
    "stations": {"operator": "", "phone": "", "last_confirmed": None},
    "grid": {"name": ""},
    "subdistricts": {"district": ""},
    "streets": {"road_class": ""},
    "tips": {"description": "", "reporter_id": "", "status": "open"},
}
GEOMETRY_TYPES: dict[str, tuple[str, ...]] = {
    "stations": ("Point",),
    "tips": ("Point",),
    "grid": ("Polygon", "MultiPolygon"),
    "subdistricts": ("Polygon", "MultiPolygon"),
    "streets": ("LineString", "MultiLineString"),
}
ID_COLUMN = {
    "stations": "station_id",
    "grid": "grid_code",
    "subdistricts": "subdistrict_code",
    "streets": "street_name",
    "tips": "tip_id",
}

# Overlaps or cells outside their subdistrict smaller than this are rounding slivers, not errors.
SLIVER_AREA_M2 = 1.0


@dataclass
class Pack:
    """The validated layers of a data pack, all in WGS84, grid sorted by ``grid_code``."""

    folder: Path
    name: str
    stations: gpd.GeoDataFrame
    grid: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    tips: gpd.GeoDataFrame | None
    categories: pd.DataFrame
    metric_crs: str
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the counts of every layer."""
        tips = 0 if self.tips is None else len(self.tips)
        return (
            f"{self.name}: {len(self.stations)} stations, {len(self.grid)} grid cells, "
            f"{len(self.subdistricts)} subdistricts, {len(self.streets)} streets, {tips} tips, "
            f"metric CRS {self.metric_crs}"
        )


class _Problems:
    def __init__(self):
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def __bool__(self) -> bool:
        return bool(self.items)


def read_pack(
    folder: str | Path,
    *,
    metric_crs: str | None = None,
    sliver_area_m2: float = SLIVER_AREA_M2,
) -> Pack:
    """Read and validate a data pack.

    Parameters
    ----------
    folder : path
        The pack folder.
    metric_crs : str, optional
        Override the metric CRS (default: the CGCS2000 Gauss-Kruger zone of the data, or the
        pack's ``metric_crs``).
    sliver_area_m2 : float
        Overlaps between grid cells, and parts of a cell outside its subdistrict, up to this area
        are tolerated as rounding slivers.

    Raises
    ------
    InvalidLayer
        Listing every problem found, each naming the file, the row and the id.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidLayer(f"data folder {str(folder)!r} does not exist or is not a folder")
    problems = _Problems()
    manifest = _read_manifest(folder, problems)
    files = _find_files(folder, problems)
    categories = _read_categories(folder, problems)

    frames: dict[str, gpd.GeoDataFrame | None] = {}
    for layer in LAYERS:
        path = files.get(layer)
        frames[layer] = None if path is None else _read_layer(layer, path, manifest, problems)
    if problems:
        raise InvalidLayer(problems.items)

    try:
        chosen = gcrs.metric_crs_for(
            frames["subdistricts"].geometry.representative_point().x,
            override=metric_crs or manifest.get("metric_crs"),
        )
    except UnknownCRS as exc:
        raise InvalidLayer(str(exc)) from None

    subdistricts = _check_subdistricts(frames["subdistricts"], files["subdistricts"], problems)
    grid = _check_grid(
        frames["grid"], files["grid"], subdistricts, chosen, sliver_area_m2, problems
    )
    streets = _check_streets(frames["streets"], files["streets"], problems)
    stations = _check_stations(frames["stations"], files["stations"], subdistricts, problems)
    tips = frames["tips"]
    if tips is not None:
        tips = _check_tips(tips, files["tips"], categories, problems)
    if problems:
        raise InvalidLayer(problems.items)
    return Pack(
        folder=folder,
        name=str(manifest.get("name") or folder.name),
        stations=stations,
        grid=grid,
        subdistricts=subdistricts,
        streets=streets,
        tips=tips,
        categories=categories,
        metric_crs=chosen,
        files=files,
    )


def read_vector(path: str | Path, *, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read one vector file (or a CSV of ``lon``/``lat`` points in ``crs``) into WGS84.

    Raises
    ------
    InvalidLayer
        If the file cannot be read, has no CRS, or a CSV lacks coordinates or a CRS.
    """
    path = Path(path)
    problems = _Problems()
    frame = _read_file(path, path.stem, {"csv_crs": {path.stem: crs}} if crs else {}, problems)
    if problems:
        raise InvalidLayer(problems.items)
    return frame


# -- files -----------------------------------------------------------------------------------


def _read_manifest(folder: Path, problems: _Problems) -> dict:
    path = folder / "pack.toml"
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            manifest = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.add(f"{path.name}: not valid TOML ({exc})")
        return {}
    csv_crs = manifest.get("csv_crs", {})
    if not isinstance(csv_crs, dict):
        problems.add(f'{path.name}: [csv_crs] must be a table like stations = "gcj02"')
        manifest["csv_crs"] = {}
    return manifest


def _find_files(folder: Path, problems: _Problems) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for layer in LAYERS:
        found = [folder / f"{layer}{s}" for s in SUFFIXES if (folder / f"{layer}{s}").exists()]
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            problems.add(f"{layer}: several files ({names}); keep exactly one")
        elif found:
            files[layer] = found[0]
        elif layer in REQUIRED_LAYERS:
            problems.add(f"{layer}: no {layer}.geojson, .gpkg, .shp, .parquet or .csv in {folder}")
    return files


def _read_categories(folder: Path, problems: _Problems) -> pd.DataFrame:
    from data import CATEGORIES_CSV

    path = folder / "categories.csv"
    if not path.exists():
        path = CATEGORIES_CSV
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        problems.add(f"{path.name}: cannot be read ({exc})")
        return pd.DataFrame({"code": [], "name": []})
    missing = {"code", "name"} - set(table.columns)
    if missing:
        problems.add(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
        return pd.DataFrame({"code": [], "name": []})
    dup = table["code"][table["code"].duplicated()]
    for code in dup:
        problems.add(f"{path.name}: duplicate category code {code!r}")
    return table


def _read_layer(layer, path, manifest, problems) -> gpd.GeoDataFrame | None:
    frame = _read_file(path, layer, manifest, problems)
    if frame is None:
        return None
    for column in (*COLUMNS[layer], *OPTIONAL_COLUMNS[layer]):
        # Shapefile truncates field names to 10 characters: map them back
        if column not in frame.columns and column[:10] in frame.columns:
            frame = frame.rename(columns={column[:10]: column})
    missing = [c for c in COLUMNS[layer] if c not in frame.columns]
    if missing:
        problems.add(f"{path.name}: missing column(s) {', '.join(missing)}")
        return None
    for column, default in OPTIONAL_COLUMNS[layer].items():
        if column not in frame.columns:
            frame[column] = default
    bad = _geometry_problems(frame, GEOMETRY_TYPES[layer])
    id_col = ID_COLUMN[layer]
    for row, reason in bad:
        problems.add(f"{path.name} row {row + 1}{_ident(frame, id_col, row)}: {reason}")
    return frame if not bad else None


def _read_file(path: Path, layer: str, manifest: dict, problems: _Problems):
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _read_csv_points(path, layer, manifest, problems)
        if suffix in (".parquet", ".geoparquet"):
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear line
        problems.add(f"{path.name}: cannot be read ({_first_line(exc)})")
        return None
    if frame.crs is None:
        problems.add(f"{path.name}: no CRS declared (add a .prj, or save with a CRS)")
        return None
    if not frame.crs.equals("EPSG:4326") and frame.crs.to_epsg() not in (4326, 4490):
        try:
            frame = frame.to_crs("EPSG:4326")
        except Exception as exc:  # noqa: BLE001
            problems.add(f"{path.name}: cannot convert from {frame.crs} to WGS84 ({exc})")
            return None
    else:
        frame = frame.set_crs("EPSG:4326", allow_override=True)
    frame = frame.rename_geometry("geometry") if frame.geometry.name != "geometry" else frame
    return frame.reset_index(drop=True)


def _read_csv_points(path: Path, layer: str, manifest: dict, problems: _Problems):
    crs = (manifest.get("csv_crs") or {}).get(layer)
    if not crs:
        problems.add(
            f'{path.name}: CSV points need a stated CRS: add [csv_crs] {layer} = "wgs84" '
            "(or gcj02, bd09, EPSG:n) to pack.toml"
        )
        return None
    try:
        crs = gcrs.parse_crs(str(crs))
    except UnknownCRS as exc:
        problems.add(f"pack.toml: [csv_crs] {layer}: {exc}")
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("lon", "lat") if c not in table.columns]
    if missing:
        problems.add(f"{path.name}: missing column(s) {', '.join(missing)}")
        return None
    lon = pd.to_numeric(table["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(table["lat"], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    for row in np.flatnonzero(bad)[:20]:
        problems.add(
            f"{path.name} row {row + 1}: lon/lat {table['lon'][row]!r}, {table['lat'][row]!r} "
            "are not numbers"
        )
    if bad.any():
        return None
    wlon, wlat = gcrs.to_wgs84(lon, lat, crs=crs)
    frame = gpd.GeoDataFrame(
        table.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(wlon, wlat), crs=4326
    )
    return frame


def _geometry_problems(frame: gpd.GeoDataFrame, allowed: tuple[str, ...]):
    geoms = frame.geometry.array
    out = []
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = np.asarray(frame.geometry.geom_type)
    for row in np.flatnonzero(missing):
        out.append((row, "empty or missing geometry"))
    wrong = ~missing & ~np.isin(types, allowed)
    for row in np.flatnonzero(wrong):
        out.append((row, f"geometry is {types[row]}, expected {' or '.join(allowed)}"))
    ok = ~missing & ~wrong
    coords_bad = np.zeros(len(frame), bool)
    if ok.any():
        bounds = shapely.bounds(geoms)
        coords_bad = ok & ~(
            np.isfinite(bounds).all(axis=1)
            & (bounds[:, 0] >= -180)
            & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90)
            & (bounds[:, 3] <= 90)
        )
        for row in np.flatnonzero(coords_bad):
            out.append((row, "coordinates out of range for longitude/latitude"))
    polys = ok & ~coords_bad & np.isin(types, ("Polygon", "MultiPolygon"))
    if polys.any():
        invalid = np.zeros(len(frame), bool)
        invalid[polys] = ~shapely.is_valid(geoms[polys])
        for row in np.flatnonzero(invalid):
            reason = shapely.is_valid_reason(geoms[row])
            out.append((row, f"invalid polygon: {reason}"))
    return sorted(out)


# -- per-layer rules ---------------------------------------------------------------------------


def _check_ids(frame, path, column, problems, *, pattern=None, what=None) -> None:
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


def _check_subdistricts(frame, path, problems):
    _check_ids(frame, path, "subdistrict_code", problems, pattern=r"\d{9}", what="9 digits")
    return frame


def _check_grid(frame, path, subdistricts, metric_crs, sliver_area_m2, problems):
    _check_ids(frame, path, "grid_code", problems, pattern=r"\d{14,15}", what="14 or 15 digits")
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

    def area_m2(geoms) -> np.ndarray:
        return np.asarray(gpd.GeoSeries(geoms, crs=4326).to_crs(metric_crs).area)

    # cells overlapping each other
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="overlaps")
    keep = left < right
    left, right = left[keep], right[keep]
    areas = area_m2(shapely.intersection(cells[left], cells[right])) if left.size else []
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
    for k, row in enumerate(outside_rows):
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


def _check_streets(frame, path, problems):
    frame["street_name"] = frame["street_name"].fillna("").astype(str).str.strip()
    empty = frame["street_name"] == ""
    for row in np.flatnonzero(empty.to_numpy()):
        problems.add(f"{path.name} row {row + 1}: street_name is empty")
    frame["road_class"] = frame["road_class"].fillna("").astype(str)
    return frame


def _check_stations(frame, path, subdistricts, problems):
    _check_ids(frame, path, "station_id", problems)
    ids = frame["station_id"].to_numpy(str)

    def where(row):
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
    for row in np.flatnonzero(~frame["status"].isin(STATION_STATUSES).to_numpy()):
        problems.add(
            f"{where(row)}: status {frame['status'][row]!r} is not one of "
            f"{', '.join(STATION_STATUSES)}"
        )

    confirmed = []
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


def _check_tips(frame, path, categories, problems):
    _check_ids(frame, path, "tip_id", problems)
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


def parse_amenities(value) -> list[str]:
    """Amenity codes from a list or a ``;``/``,``-separated string, stripped and lower-cased."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        parts = value.replace(",", ";").split(";")
    else:
        parts = [str(v) for v in value]
    return [p.strip().lower() for p in parts if p.strip()]


def parse_timestamps(values) -> pd.Series:
    """Aware timestamps in Asia/Shanghai; naive values are taken as local time.

    Raises
    ------
    InvalidInput
        Naming the first row that does not parse.
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
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InvalidInput(
            f"reported_at {text.iloc[row]!r} at row {row + 1} is not an ISO 8601 date-time"
        )
    return parsed.dt.tz_convert(CITY_TZ)


def _ident(frame, column, row) -> str:
    if column in frame.columns:
        return f" ({column} {frame[column].iloc[row]})"
    return ""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
