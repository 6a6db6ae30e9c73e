"""Assign tips to their grid cell, subdistrict, nearest street and nearest station.

Works on coordinate arrays in chunks, never a Python loop over tips:

- grid cell: the raster lookup of :mod:`geo.lookup` (exact; on a shared edge the lowest
  ``grid_code`` wins); ``outside_city`` is true for points in no grid cell, which are kept;
- subdistrict: the cell's ``subdistrict_code``; for a point in no cell, the subdistrict that
  covers it, if any;
- nearest street and nearest station (status ``open``): exact Euclidean distances in metres in
  the city's metric CRS.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo import crs as gcrs
from geo.city import City
from geo.errors import InvalidInput
from geo.lookup import locate_exact

ASSIGNMENT_COLUMNS = (
    "grid_code",
    "subdistrict_code",
    "street_name",
    "street_distance_m",
    "nearest_station_id",
    "station_distance_m",
    "outside_city",
)
CHUNK = 131_072


def assign_points(
    city: City,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    crs: str = "wgs84",
    chunk_size: int = CHUNK,
    workers: int = -1,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Assign points to grid cell, subdistrict, nearest street and nearest open station.

    Parameters
    ----------
    city : City
        The loaded city.
    lon, lat : array_like
        Coordinates in ``crs``; NaN or out-of-range rows get an empty assignment.
    crs : str
        ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``.
    chunk_size : int
        Points per chunk (bounds memory; ``progress`` is called after each chunk).
    workers : int
        Threads for the KD-tree queries (-1: all cores).
    progress : callable, optional
        Called with the number of points finished in each chunk.

    Returns
    -------
    pandas.DataFrame
        One row per input point, in input order, with the columns of ``ASSIGNMENT_COLUMNS``;
        ``outside_city`` is ``<NA>`` where the coordinates were unusable.
    """
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon.shape != lat.shape or lon.ndim != 1:
        raise InvalidInput(f"lon and lat must be 1-D of one length, got {lon.shape}, {lat.shape}")
    wlon, wlat = gcrs.to_wgs84(lon, lat, crs=crs)
    usable = gcrs.valid_lonlat(wlon, wlat)
    wlon = np.where(usable, wlon, np.nan)
    wlat = np.where(usable, wlat, np.nan)

    n = lon.size
    cell = np.full(n, -1, dtype=np.int64)
    sub_row = np.full(n, -1, dtype=np.int64)
    street = np.full(n, -1, dtype=np.int64)
    street_d = np.full(n, np.nan)
    station = np.full(n, -1, dtype=np.int64)
    station_d = np.full(n, np.nan)
    lookup, lines, stations = city.grid_lookup, city.street_index, city.station_index
    for start in range(0, n, chunk_size):
        part = slice(start, min(start + chunk_size, n))
        clon, clat = wlon[part], wlat[part]
        cell[part] = lookup.locate(clon, clat)
        miss = np.flatnonzero((cell[part] < 0) & usable[part])
        if miss.size:
            sub = sub_row[part]
            sub[miss] = locate_exact(city.subdistrict_tree, clon[miss], clat[miss])
        x, y = city.to_metric(clon, clat)
        street[part], street_d[part] = lines.nearest(x, y, workers=workers)
        near = stations.query(x, y, k=1, status="open")
        station[part], station_d[part] = near.index[:, 0], near.distance_m[:, 0]
        if progress is not None:
            progress(part.stop - part.start)

    grid_codes = _pick(city.grid_codes, cell)
    sub_codes = _pick(city.grid_subdistricts, cell)
    from_sub = (cell < 0) & (sub_row >= 0)
    sub_codes[from_sub] = city.subdistricts["subdistrict_code"].to_numpy(object)[sub_row[from_sub]]
    outside = pd.array(cell < 0, dtype="boolean")
    outside[~usable] = pd.NA
    return pd.DataFrame(
        {
            "grid_code": grid_codes,
            "subdistrict_code": sub_codes,
            "street_name": _pick(city.streets["street_name"].to_numpy(object), street),
            "street_distance_m": street_d,
            "nearest_station_id": _pick(city.stations["station_id"].to_numpy(object), station),
            "station_distance_m": station_d,
            "outside_city": outside,
        }
    )


def _pick(values: npt.NDArray[np.object_], index: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    out = np.full(index.shape, None, dtype=object)
    ok = index >= 0
    out[ok] = values[index[ok]]
    return out
