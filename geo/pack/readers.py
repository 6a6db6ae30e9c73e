"""Reading a pack's files: the manifest, one file per layer (any vector format, or CSV points
in a stated CRS), the tables (categories, units, deadlines), and the geometry checks every layer
gets.

Every problem is added to a :class:`Problems` list with its file and row, so that a pack is
refused once, with all of them, rather than at the first.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import crs as gcrs
from geo.errors import InvalidLayer, UnknownCRS
from geo.pack.schema import (
    COLUMNS,
    GEOMETRY_TYPES,
    ID_COLUMN,
    LAYERS,
    OPTIONAL_COLUMNS,
    REQUIRED_LAYERS,
    SUFFIXES,
    TABLE_COLUMNS,
    Layer,
)

# The shipped default tables and the demo city live in the ``data`` package as resources; they
# are read as files, never imported as code.
_DEFAULTS = "data"
_resources = ExitStack()


class Problems:
    """The problems found in a pack, in the order they were found."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def __bool__(self) -> bool:
        return bool(self.items)


def shipped(name: str) -> Path:
    """A file or folder shipped with Yizhan (``categories.csv``, ``demo``), as a path."""
    resource = importlib.resources.files(_DEFAULTS).joinpath(name)
    return Path(_resources.enter_context(importlib.resources.as_file(resource)))


def read_vector(path: str | Path, *, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read one vector file (or a CSV of ``lon``/``lat`` points in ``crs``) into WGS84.

    Raises
    ------
    InvalidLayer
        If the file cannot be read, has no CRS, or a CSV lacks coordinates or a CRS.
    """
    path = Path(path)
    problems = Problems()
    manifest: dict[str, Any] = {"csv_crs": {path.stem: crs}} if crs else {}
    frame = read_file(path, path.stem, manifest, problems)
    if problems or frame is None:
        raise InvalidLayer(problems.items or f"{path.name}: cannot be read")
    return frame


def read_manifest(folder: Path, problems: Problems) -> dict[str, Any]:
    """``pack.toml`` (name, metric_crs, ``[csv_crs]``), or an empty manifest without one."""
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


def find_files(folder: Path, problems: Problems) -> dict[Layer, Path]:
    """The one file of each layer present in ``folder``."""
    files: dict[Layer, Path] = {}
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


def read_table(folder: Path, name: str, problems: Problems) -> tuple[pd.DataFrame | None, Path]:
    """A table of the pack (``categories.csv``, ``units.csv``, ``sla.csv``), or the shipped
    default of that name, as text with its required columns; ``None`` if it cannot be used."""
    path = folder / name
    if not path.exists():
        path = shipped(name)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        problems.add(f"{path.name}: cannot be read ({first_line(exc)})")
        return None, path
    missing = [c for c in TABLE_COLUMNS[name] if c not in table.columns]
    if missing:
        problems.add(f"{path.name}: missing column(s) {', '.join(missing)}")
        return None, path
    return table, path


def read_categories(folder: Path, problems: Problems) -> pd.DataFrame:
    """The pack's ``categories.csv``, or the shipped default table."""
    table, path = read_table(folder, "categories.csv", problems)
    if table is None:
        return pd.DataFrame({"code": [], "name": []})
    dup = table["code"][table["code"].duplicated()]
    for code in dup:
        problems.add(f"{path.name}: duplicate category code {code!r}")
    return table


def read_layer(
    layer: Layer, path: Path, manifest: dict[str, Any], problems: Problems
) -> gpd.GeoDataFrame | None:
    """One layer's file in WGS84 with its columns present and its geometries usable."""
    frame = read_file(path, layer, manifest, problems)
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
    bad = geometry_problems(frame, GEOMETRY_TYPES[layer])
    id_col = ID_COLUMN[layer]
    for row, reason in bad:
        problems.add(f"{path.name} row {row + 1}{ident(frame, id_col, row)}: {reason}")
    return frame if not bad else None


def read_file(
    path: Path, layer: str, manifest: dict[str, Any], problems: Problems
) -> gpd.GeoDataFrame | None:
    """Any vector file, or CSV points, converted to WGS84 (CGCS2000 is taken as WGS84)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _read_csv_points(path, layer, manifest, problems)
        if suffix in (".parquet", ".geoparquet"):
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear line
        problems.add(f"{path.name}: cannot be read ({first_line(exc)})")
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


def _read_csv_points(
    path: Path, layer: str, manifest: dict[str, Any], problems: Problems
) -> gpd.GeoDataFrame | None:
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
    return gpd.GeoDataFrame(
        table.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(wlon, wlat), crs=4326
    )


def geometry_problems(frame: gpd.GeoDataFrame, allowed: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(row, reason)`` for every missing, mistyped, out-of-range or invalid geometry."""
    geoms = frame.geometry.array
    out: list[tuple[int, str]] = []
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = np.asarray(frame.geometry.geom_type)
    for row in np.flatnonzero(missing):
        out.append((int(row), "empty or missing geometry"))
    wrong = ~missing & ~np.isin(types, allowed)
    for row in np.flatnonzero(wrong):
        out.append((int(row), f"geometry is {types[row]}, expected {' or '.join(allowed)}"))
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
            out.append((int(row), "coordinates out of range for longitude/latitude"))
    polys = ok & ~coords_bad & np.isin(types, ("Polygon", "MultiPolygon"))
    if polys.any():
        invalid = np.zeros(len(frame), bool)
        invalid[polys] = ~shapely.is_valid(geoms[polys])
        for row in np.flatnonzero(invalid):
            reason = shapely.is_valid_reason(geoms[row])
            out.append((int(row), f"invalid polygon: {reason}"))
    return sorted(out)


def ident(frame: pd.DataFrame, column: str, row: int) -> str:
    """`` (column value)`` of a row, for messages; empty without the column."""
    if column in frame.columns:
        return f" ({column} {frame[column].iloc[row]})"
    return ""


def first_line(exc: Exception) -> str:
    """The first line of an exception's message, or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
