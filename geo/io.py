"""Read point tables and write results in the format their file suffix names."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import IO, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo import crs as gcrs
from geo.errors import InvalidInput, InvalidLayer
from geo.pack import read_vector

OutputFormat = Literal["CSV", "GeoJSON", "GPKG", "GeoParquet", "Excel"]
WRITERS: dict[str, OutputFormat] = {
    ".csv": "CSV",
    ".geojson": "GeoJSON",
    ".gpkg": "GPKG",
    ".parquet": "GeoParquet",
}
TABLE_WRITERS: dict[str, OutputFormat] = {**WRITERS, ".xlsx": "Excel"}
# what read_points gives: the attribute table, WGS84 lon and lat, a problem per row
Points = tuple[
    pd.DataFrame, npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.object_]
]


def output_format(path: str | Path, *, tables: bool = False) -> OutputFormat:
    """The format for an output path, from its suffix; raise InvalidInput if unsupported."""
    suffix = Path(path).suffix.lower()
    known = TABLE_WRITERS if tables else WRITERS
    if suffix not in known:
        raise InvalidInput(
            f"output {str(path)!r}: unsupported suffix {suffix or '(none)'!r}; "
            f"use one of {', '.join(known)}"
        )
    return known[suffix]


def write_frame(frame: pd.DataFrame, path: str | Path, *, layer: str | None = None) -> Path:
    """Write ``frame`` (a GeoDataFrame or a plain table) to ``path``, format from the suffix.

    A GeoDataFrame written to CSV gets ``lon``/``lat`` columns for point geometries; a plain table
    written to a spatial format is refused.
    """
    path = Path(path)
    fmt = output_format(path, tables=True)
    if path.parent and not path.parent.exists():
        raise InvalidInput(f"output {str(path)!r}: folder {str(path.parent)!r} does not exist")
    is_geo = isinstance(frame, gpd.GeoDataFrame)
    if fmt in ("CSV", "Excel"):
        table = pd.DataFrame(frame)
        if is_geo:
            geom = frame.geometry
            if geom.geom_type.isin(["Point", None]).all():
                table["lon"], table["lat"] = geom.x, geom.y
            else:
                table["wkt"] = geom.to_wkt()
            table = table.drop(columns=[frame.geometry.name])
        table = table.map(_plain) if len(table) else table
        if fmt == "CSV":
            table.to_csv(path, index=False)
        else:
            table.to_excel(path, index=False)
        return path
    if not is_geo:
        raise InvalidInput(f"output {str(path)!r}: {fmt} needs geometries; use .csv or .xlsx")
    frame = frame.copy()
    for column in frame.columns:
        if column != frame.geometry.name and frame[column].dtype == object:
            frame[column] = frame[column].map(_plain)
    if path.exists():
        path.unlink()
    if fmt == "GeoParquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_file(path, driver=fmt, engine="pyogrio", layer=layer or path.stem)
    return path


def write_tables(tables: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Several plain tables: sheets of one ``.xlsx``, or one ``.csv`` (the tables stacked, with a
    ``table`` column naming each)."""
    path = Path(path)
    fmt = output_format(path, tables=True)
    if fmt == "Excel":
        if path.parent and not path.parent.exists():
            raise InvalidInput(f"output {str(path)!r}: folder {str(path.parent)!r} does not exist")
        with pd.ExcelWriter(path) as writer:
            for name, table in tables.items():
                table.to_excel(writer, sheet_name=name[:31], index=False)
        return path
    if fmt != "CSV":
        raise InvalidInput(f"output {str(path)!r}: these are tables; use .csv or .xlsx")
    stacked = pd.concat([t.assign(table=name) for name, t in tables.items()], ignore_index=True)
    return write_frame(stacked[["table", *[c for c in stacked.columns if c != "table"]]], path)


def read_points(path: str | Path, *, crs: str | None = None) -> Points:
    """Read a table of points for batch work.

    CSV: columns ``lon`` and ``lat`` in ``crs`` (default WGS84), every column kept as text. Any
    vector file: point geometries in the file's CRS; with ``crs`` gcj02/bd09 the (geographic)
    coordinates are read as that offset datum.

    Returns
    -------
    (table, lon, lat, problem)
        The attribute table, WGS84 lon/lat (NaN where unusable) and a ``problem`` string per row
        (empty when fine).
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"input {str(path)!r} does not exist")
    if path.suffix.lower() == ".csv":
        return _read_csv(path, path.name, crs)
    frame = read_vector(path, crs=None) if crs in (None, "wgs84") else _read_offset(path, crs)
    geom = frame.geometry
    table = pd.DataFrame(frame.drop(columns=[geom.name]))
    problem = np.full(len(frame), "", dtype=object)
    is_point = np.asarray(geom.geom_type == "Point")
    problem[~is_point] = "geometry is not a point"
    lon = np.where(is_point, geom.x.where(is_point), np.nan).astype(float)
    lat = np.where(is_point, geom.y.where(is_point), np.nan).astype(float)
    return table, lon, lat, problem


def _read_offset(path: Path, crs: str) -> gpd.GeoDataFrame:
    name = gcrs.parse_crs(crs)
    frame = gpd.read_file(path, engine="pyogrio")
    if name.startswith("EPSG:"):
        frame = frame.set_crs(name, allow_override=True).to_crs(4326)
        return frame
    if frame.crs is not None and frame.crs.to_epsg() not in (4326, 4490):
        raise InvalidLayer(
            f"{path.name}: --crs {crs} applies to lon/lat coordinates, but the file is in "
            f"{frame.crs.to_string()}"
        )
    geom = frame.geometry
    is_point = geom.geom_type == "Point"
    x = np.where(is_point, geom.x.where(is_point), np.nan).astype(float)
    y = np.where(is_point, geom.y.where(is_point), np.nan).astype(float)
    wx, wy = gcrs.to_wgs84(x, y, crs=name)
    keep = np.where(is_point, gpd.points_from_xy(wx, wy), geom.array)
    return gpd.GeoDataFrame(frame.drop(columns=[geom.name]), geometry=keep, crs=4326)


def parse_points(
    data: bytes, *, fmt: Literal["csv", "geojson"], crs: str | None = None, name: str = "body"
) -> Points:
    """Read a table of points from the bytes of a file, as :func:`read_points` reads one.

    Parameters
    ----------
    data : bytes
        A CSV with ``lon`` and ``lat`` columns (UTF-8), or a GeoJSON FeatureCollection of
        Point features.
    fmt : {"csv", "geojson"}
        Which of the two ``data`` is.
    crs : str, optional
        The coordinates' CRS (default WGS84). In GeoJSON, a legacy ``crs`` member naming an
        EPSG code is taken when ``crs`` is not given.
    name : str
        What messages call the input (a file name).

    Returns
    -------
    (table, lon, lat, problem)
        As :func:`read_points`: every property as text (``""`` where absent), a GeoJSON row per
        feature.

    Raises
    ------
    InvalidLayer
        When ``data`` is not a CSV with the columns, or not a FeatureCollection.
    """
    if fmt == "csv":
        return _read_csv(io.BytesIO(data), name, crs)
    if fmt == "geojson":
        return _read_geojson(data, name, crs)
    raise InvalidInput(f"fmt must be csv or geojson, got {fmt!r}")


def _read_csv(source: Path | IO[bytes], name: str, crs: str | None) -> Points:
    try:
        table = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InvalidLayer(f"{name}: cannot be read as CSV ({exc})") from None
    missing = [c for c in ("lon", "lat") if c not in table.columns]
    if missing:
        raise InvalidLayer(
            f"{name}: missing column(s) {', '.join(missing)} (need lon and lat); "
            f"found {', '.join(table.columns) or 'no columns'}"
        )
    raw_lon, raw_lat = table["lon"].str.strip(), table["lat"].str.strip()
    lon = np.array(pd.to_numeric(raw_lon, errors="coerce"), dtype=float)
    lat = np.array(pd.to_numeric(raw_lat, errors="coerce"), dtype=float)
    problem = np.full(len(table), "", dtype=object)
    empty = np.asarray((raw_lon == "") | (raw_lat == ""))
    nonnum = ~empty & ~(np.isfinite(lon) & np.isfinite(lat))
    problem[empty] = "missing lon/lat"
    problem[nonnum] = [
        f"lon/lat {a!r}, {b!r} not numeric"
        for a, b in zip(raw_lon[nonnum], raw_lat[nonnum], strict=True)
    ]
    shown = (raw_lon + ", " + raw_lat).to_numpy(dtype=object)
    wlon, wlat = _to_wgs84(lon, lat, problem, shown, gcrs.parse_crs(crs or "wgs84"))
    return table, wlon, wlat, problem


def _read_geojson(data: bytes, name: str, crs: str | None) -> Points:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidLayer(f"{name}: cannot be read as JSON ({exc})") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidLayer(f"{name}: not a GeoJSON FeatureCollection (its 'type' must be that)")
    if not isinstance(features, list):
        raise InvalidLayer(f"{name}: a FeatureCollection's 'features' must be a list")
    declared = _declared_crs(doc.get("crs"), name)
    given = None if crs is None else gcrs.parse_crs(crs)
    # a file that says WGS84 may hold GCJ-02 or BD-09 numbers (they have no EPSG code)
    offset = declared == "wgs84" and given in ("gcj02", "bd09")
    if given is not None and declared is not None and given != declared and not offset:
        raise InvalidLayer(f"{name}: declares the CRS {declared}, but the crs given is {crs!r}")
    rows: list[dict[str, str]] = []
    lon = np.full(len(features), np.nan)
    lat = np.full(len(features), np.nan)
    problem = np.full(len(features), "", dtype=object)
    shown = np.full(len(features), "", dtype=object)
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            rows.append({})
            problem[i] = "not a GeoJSON Feature"
            continue
        props = feature.get("properties")
        rows.append(
            {str(k): _as_text(v) for k, v in props.items()} if isinstance(props, dict) else {}
        )
        geometry = feature.get("geometry")
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            problem[i] = "geometry is not a point"
        elif not (
            isinstance(coords, list)
            and len(coords) in (2, 3)
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
            and all(math.isfinite(c) for c in coords[:2])
        ):
            problem[i] = f"coordinates {_as_text(coords)[:60]} are not a lon, lat pair"
        else:
            lon[i], lat[i] = float(coords[0]), float(coords[1])
            shown[i] = f"{coords[0]}, {coords[1]}"
    table = pd.DataFrame(rows, dtype=object).fillna("").astype(str)
    if len(table.columns) == 0:
        table = pd.DataFrame(index=range(len(features)))
    wlon, wlat = _to_wgs84(lon, lat, problem, shown, crs or declared or "wgs84")
    return table, wlon, wlat, problem


def _declared_crs(member: object, name: str) -> str | None:
    """The CRS a GeoJSON file's legacy ``crs`` member names (``EPSG:n``), None without one;
    CRS84, 4326 and CGCS2000 (4490) are WGS84."""
    if member is None:
        return None
    text = ""
    if isinstance(member, dict) and isinstance(member.get("properties"), dict):
        text = str(member["properties"].get("name", ""))
    upper = text.upper()
    if upper.endswith(("CRS84", ":4326", "::4326", ":4490", "::4490")):
        return "wgs84"
    code = upper.rsplit(":", 1)[-1]
    if "EPSG" in upper and code.isdigit():
        return gcrs.parse_crs(f"EPSG:{code}")
    raise InvalidLayer(f"{name}: its crs member {_as_text(member)[:80]} names no EPSG code")


def _to_wgs84(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    problem: npt.NDArray[np.object_],
    shown: npt.NDArray[np.object_],
    crs: str,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """WGS84 lon/lat of coordinates in ``crs``; a row out of range gets its ``problem`` (with
    the coordinates as ``shown`` in the input) and, with every row that has one, NaN."""
    name = gcrs.parse_crs(crs)
    usable = problem == ""
    if name.startswith("EPSG:") and gcrs.is_projected(name):
        wlon, wlat = gcrs.to_wgs84(lon, lat, crs=name)
        out_range = usable & ~gcrs.valid_lonlat(wlon, wlat)
    else:
        out_range = usable & ~gcrs.valid_lonlat(lon, lat)
    problem[out_range] = [f"lon/lat {text} out of range" for text in shown[out_range]]
    bad = problem != ""
    lon, lat = lon.copy(), lat.copy()
    lon[bad], lat[bad] = np.nan, np.nan
    return gcrs.to_wgs84(lon, lat, crs=name)


def _as_text(value: object) -> str:
    """A GeoJSON property as the text a CSV would hold: "" for null, numbers as written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _plain(value: object) -> object:
    """A list or array as one ``;``-separated string, for formats without lists."""
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(str(v) for v in value)
    return value
