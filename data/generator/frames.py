"""The two frames the demo city is built in, and the conversions between them.

Geometry is designed in *local metres*: EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger, CM 114 E)
minus the city centre (``OX``, ``OY``). Output coordinates live on the *lattice*: integer units of
1e-7 degree WGS84 (the 7 decimals of the GeoJSON) counted from ``X0``, ``Y0``. Boundaries and
street crossings are noded on the lattice, so they stay exact once written.
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.crs import project, unproject

METRIC_CRS = "EPSG:4547"
CENTER_LON, CENTER_LAT = 114.15, 30.55
SCALE = 10_000_000  # lattice units per degree: the GeoJSON coordinates carry 7 decimals
X0, Y0 = 1_141_500_000, 305_500_000  # lattice origin = CENTER_LON/LAT * SCALE
OX, OY = (float(v) for v in project(CENTER_LON, CENTER_LAT, METRIC_CRS))  # local frame origin


def lattice_from_local(xy: np.ndarray) -> np.ndarray:
    """Local metres (N, 2) to lattice units: (lon * 1e7 - X0, lat * 1e7 - Y0), not rounded."""
    lon, lat = unproject(xy[:, 0] + OX, xy[:, 1] + OY, METRIC_CRS)
    return np.column_stack([lon * SCALE - X0, lat * SCALE - Y0])


def local_from_lattice(xy: np.ndarray) -> np.ndarray:
    """Lattice units (N, 2) back to local metres."""
    x, y = project((xy[:, 0] + X0) / SCALE, (xy[:, 1] + Y0) / SCALE, METRIC_CRS)
    return np.column_stack([x - OX, y - OY])


def lonlat_coords(xy_int: np.ndarray) -> list[list[float]]:
    """Integer lattice coordinates to GeoJSON [lon, lat] pairs with 7 decimals."""
    return [[round((int(x) + X0) / SCALE, 7), round((int(y) + Y0) / SCALE, 7)] for x, y in xy_int]


def to_local(geom):
    return shapely.transform(geom, local_from_lattice)


def to_lattice(geom):
    return shapely.transform(geom, lattice_from_local)


def int_coords(geom) -> np.ndarray:
    return np.rint(shapely.get_coordinates(geom)).astype(np.int64)


def lattice_scale() -> tuple[float, float]:
    """Metres per lattice unit in x and y at the city centre."""
    base = local_from_lattice(np.array([[0.0, 0.0], [1000.0, 0.0], [0.0, 1000.0]]))
    return (
        float(np.hypot(*(base[1] - base[0]))) / 1000.0,
        float(np.hypot(*(base[2] - base[0]))) / 1000.0,
    )
