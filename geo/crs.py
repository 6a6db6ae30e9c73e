"""Coordinate systems: WGS84 storage, GCJ-02 / BD-09 input, CGCS2000 Gauss-Kruger for metres.

Every function works on numpy arrays (scalars work too) and never loops in Python over points.

GCJ-02 is the obfuscated datum that Amap, Tencent and Meituan report; BD-09 is Baidu's further
offset of it. Both are defined only inside China: points outside the usual China bounding box
(72.004-137.8347 E, 0.8293-55.8271 N) pass through unchanged, decided point by point. Their
inverses are computed by fixed-point iteration until the forward transform reproduces the input to
1e-10 degree (about 0.01 mm); the one-step inverse found in most libraries is off by up to ~5 m.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from types import SimpleNamespace
from typing import Final, Literal, Protocol, TypeVar, overload

import numpy as np
import numpy.typing as npt
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo.errors import UnknownCRS

WGS84: Final = "wgs84"
GCJ02: Final = "gcj02"
BD09: Final = "bd09"
NAMED = (WGS84, GCJ02, BD09)
Offset = Literal["gcj02", "bd09"]  # the offset datums, computed here rather than by pyproj

# Same datum as WGS84 to well under a metre; stored as WGS84 without transformation.
_WGS84_ALIASES = {"wgs84", "epsg:4326", "cgcs2000", "epsg:4490", "crs84", "ogc:crs84"}

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_ITER = 30

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
# a coordinate value of the offset formulas: one point (float) or many (an array)
_V = TypeVar("_V", float, FloatArray)


class _Maths(Protocol[_V]):
    """The functions the offset formulas use, under the math module's names."""

    @property
    def pi(self) -> float: ...
    def sin(self, x: _V, /) -> _V: ...
    def cos(self, x: _V, /) -> _V: ...
    def sqrt(self, x: _V, /) -> _V: ...
    def fabs(self, x: _V, /) -> _V: ...
    def hypot(self, x: _V, y: _V, /) -> _V: ...
    def atan2(self, y: _V, x: _V, /) -> _V: ...


# The offset formulas are written once against this small namespace: numpy for arrays, the math
# module for one point (a single GCJ-02 inverse costs ~5 us with math, ~250 us through numpy).
_NP: _Maths[FloatArray] = SimpleNamespace(
    sin=np.sin, cos=np.cos, sqrt=np.sqrt, fabs=np.fabs, hypot=np.hypot, atan2=np.arctan2, pi=np.pi
)


def parse_crs(crs: str) -> str:
    """Normalise a ``crs`` argument to ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``.

    Raises
    ------
    UnknownCRS
        If ``crs`` is none of those, naming the value.
    """
    if not isinstance(crs, str) or not crs.strip():
        raise UnknownCRS(f"crs must be wgs84, gcj02, bd09 or EPSG:<code>, got {crs!r}")
    key = crs.strip().lower().replace("-", "").replace("_", "")
    if key in ("gcj02", "gcj"):
        return GCJ02
    if key in ("bd09", "bd09ll", "baidu"):
        return BD09
    if key in _WGS84_ALIASES:
        return WGS84
    if key.startswith("epsg:") and key[5:].isdigit():
        code = int(key[5:])
        try:
            CRS.from_epsg(code)
        except CRSError:
            raise UnknownCRS(f"crs {crs!r} is not a known EPSG code") from None
        return f"EPSG:{code}"
    raise UnknownCRS(f"crs must be wgs84, gcj02, bd09 or EPSG:<code>, got {crs!r}")


@overload
def to_wgs84(lon: float, lat: float, *, crs: str) -> tuple[float, float]: ...
@overload
def to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, crs: str
) -> tuple[FloatArray, FloatArray]: ...
def to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, crs: str
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Convert coordinates in ``crs`` to WGS84 longitude and latitude.

    Parameters
    ----------
    lon, lat : array_like or float
        Longitude/latitude (or easting/northing for a projected ``EPSG:`` code).
    crs : str
        ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``.

    Returns
    -------
    tuple of numpy.ndarray (or floats for scalar input)
        WGS84 longitude and latitude. NaN stays NaN.
    """
    name = parse_crs(crs)
    if type(lon) is float and type(lat) is float:  # one point: plain Python, no numpy
        if name == WGS84:
            return lon, lat
        if name in (GCJ02, BD09):
            return _scalar_to_wgs84(lon, lat, name)
    if name in (GCJ02, BD09) and np.ndim(lon) == 0 and np.ndim(lat) == 0:
        # a scalar of another type (int, numpy scalar, 0-d array), which float() takes
        return _scalar_to_wgs84(float(lon), float(lat), name)  # type: ignore[arg-type]
    x, y, scalar = _as_arrays(lon, lat)
    out: tuple[FloatArray, FloatArray]
    if name == WGS84:
        out = (x.copy(), y.copy())
    elif name == GCJ02:
        out = gcj02_to_wgs84(x, y)
    elif name == BD09:
        out = gcj02_to_wgs84(*bd09_to_gcj02(x, y))
    else:
        out = _transformer(name, "EPSG:4326").transform(x, y)
    return _ret(out, scalar)


@overload
def from_wgs84(lon: float, lat: float, *, crs: str) -> tuple[float, float]: ...
@overload
def from_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, crs: str
) -> tuple[FloatArray, FloatArray]: ...
def from_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, crs: str
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Convert WGS84 longitude and latitude to ``crs`` (the inverse of :func:`to_wgs84`)."""
    name = parse_crs(crs)
    if name in (GCJ02, BD09) and np.ndim(lon) == 0 and np.ndim(lat) == 0:
        # a scalar of another type (int, numpy scalar, 0-d array), which float() takes
        return _scalar_from_wgs84(float(lon), float(lat), name)  # type: ignore[arg-type]
    x, y, scalar = _as_arrays(lon, lat)
    out: tuple[FloatArray, FloatArray]
    if name == WGS84:
        out = (x.copy(), y.copy())
    elif name == GCJ02:
        out = wgs84_to_gcj02(x, y)
    elif name == BD09:
        out = gcj02_to_bd09(*wgs84_to_gcj02(x, y))
    else:
        out = _transformer("EPSG:4326", name).transform(x, y)
    return _ret(out, scalar)


@overload
def valid_lonlat(lon: float, lat: float) -> bool | np.bool_: ...
@overload
def valid_lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray: ...
def valid_lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike) -> bool | np.bool_ | BoolArray:
    """True where lon/lat are finite and within [-180, 180] x [-90, 90]."""
    if type(lon) is float and type(lat) is float:
        return math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90
    x: FloatArray = np.asarray(lon, dtype=float)
    y: FloatArray = np.asarray(lat, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """True where GCJ-02 applies: the conventional China bounding box, point by point."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Forward GCJ-02 obfuscation; points outside China are returned unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_offset(lon, lat, _NP)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Exact GCJ-02 inverse by fixed-point iteration (error below 1e-10 degree)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Baidu's BD-09 offset of GCJ-02; points outside China are returned unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    blon, blat = _bd_offset(lon, lat, _NP)
    inside = in_china(lon, lat)
    return np.where(inside, blon, lon), np.where(inside, blat, lat)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Exact BD-09 inverse by fixed-point iteration."""
    return _invert(gcj02_to_bd09, lon, lat)


def gauss_kruger_epsg(lon_center: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Kruger zone (no zone prefix) for a longitude.

    ``4534 + (central_meridian - 75) / 3``: EPSG:4547 for 114 E. Covers 75 E to 135 E.
    """
    if not np.isfinite(lon_center) or not 73.5 <= lon_center < 136.5:
        raise UnknownCRS(
            f"no CGCS2000 3-degree Gauss-Kruger zone for longitude {lon_center!r}; "
            "set metric_crs explicitly"
        )
    central_meridian = 3 * int(np.floor(lon_center / 3 + 0.5))
    return 4534 + (central_meridian - 75) // 3


def metric_crs_for(
    lon: npt.ArrayLike, lat: npt.ArrayLike | None = None, *, override: str | None = None
) -> str:
    """Choose the city's metric CRS from its coordinates (median longitude), or the override."""
    if override:
        name = parse_crs(override)
        if not name.startswith("EPSG:") or not CRS.from_user_input(name).is_projected:
            raise UnknownCRS(f"metric_crs must be a projected EPSG code, got {override!r}")
        return name
    x: FloatArray = np.asarray(lon, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise UnknownCRS("cannot choose a metric CRS: no coordinates")
    return f"EPSG:{gauss_kruger_epsg(float(np.median(x)))}"


def is_projected(name: str) -> bool:
    """Whether an ``EPSG:`` CRS is projected (its coordinates are metres, not degrees)."""
    return name.startswith("EPSG:") and CRS.from_user_input(name).is_projected


@overload
def project(lon: float, lat: float, metric_crs: str) -> tuple[float, float]: ...
@overload
def project(
    lon: npt.ArrayLike, lat: npt.ArrayLike, metric_crs: str
) -> tuple[FloatArray, FloatArray]: ...
def project(
    lon: npt.ArrayLike, lat: npt.ArrayLike, metric_crs: str
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """WGS84 lon/lat to easting/northing in metres in ``metric_crs``."""
    if type(lon) is float and type(lat) is float:
        return _transformer("EPSG:4326", metric_crs).transform(lon, lat)
    x, y = _transformer("EPSG:4326", metric_crs).transform(
        np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    )
    return np.asarray(x), np.asarray(y)


def unproject(x: npt.ArrayLike, y: npt.ArrayLike, metric_crs: str) -> tuple[FloatArray, FloatArray]:
    """Easting/northing in ``metric_crs`` back to WGS84 lon/lat."""
    lon, lat = _transformer(metric_crs, "EPSG:4326").transform(
        np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    )
    return np.asarray(lon), np.asarray(lat)


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _gcj_offset(lon: _V, lat: _V, m: _Maths[_V]) -> tuple[_V, _V]:
    """GCJ-02 offset in degrees at WGS84 ``lon``, ``lat``; ``m`` is numpy or math."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = m.sqrt(m.fabs(x))
    s6x = 20.0 * m.sin(6.0 * x * m.pi) + 20.0 * m.sin(2.0 * x * m.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += s6x * 2.0 / 3.0
    dlat += (20.0 * m.sin(y * m.pi) + 40.0 * m.sin(y / 3.0 * m.pi)) * 2.0 / 3.0
    dlat += (160.0 * m.sin(y / 12.0 * m.pi) + 320.0 * m.sin(y * m.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += s6x * 2.0 / 3.0
    dlon += (20.0 * m.sin(x * m.pi) + 40.0 * m.sin(x / 3.0 * m.pi)) * 2.0 / 3.0
    dlon += (150.0 * m.sin(x / 12.0 * m.pi) + 300.0 * m.sin(x / 30.0 * m.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * m.pi
    magic = 1.0 - _EE * m.sin(rad_lat) ** 2
    sqrt_magic = m.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * m.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * m.cos(rad_lat) * m.pi)
    return dlon, dlat


def _bd_offset(lon: _V, lat: _V, m: _Maths[_V]) -> tuple[_V, _V]:
    """BD-09 coordinates of GCJ-02 ``lon``, ``lat``; ``m`` is numpy or math."""
    z = m.hypot(lon, lat) + 0.00002 * m.sin(lat * _X_PI)
    theta = m.atan2(lat, lon) + 0.000003 * m.cos(lon * _X_PI)
    return z * m.cos(theta) + 0.0065, z * m.sin(theta) + 0.006


def _gcj_scalar(lon: float, lat: float) -> tuple[float, float]:
    if not _in_china_scalar(lon, lat):
        return lon, lat
    dlon, dlat = _gcj_offset(lon, lat, math)
    return lon + dlon, lat + dlat


def _bd_scalar(lon: float, lat: float) -> tuple[float, float]:
    return _bd_offset(lon, lat, math) if _in_china_scalar(lon, lat) else (lon, lat)


def _in_china_scalar(lon: float, lat: float) -> bool:
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _scalar_from_wgs84(lon: float, lat: float, name: Offset) -> tuple[float, float]:
    """One point, the same steps as the array path: GCJ-02, then BD-09."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return lon, lat
    lon, lat = _gcj_scalar(lon, lat)
    return _bd_scalar(lon, lat) if name == BD09 else (lon, lat)


def _scalar_to_wgs84(lon: float, lat: float, name: Offset) -> tuple[float, float]:
    """One point, the same steps as the array path: BD-09 inverse, then GCJ-02 inverse."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return lon, lat
    if name == BD09:
        lon, lat = _invert_scalar(_bd_scalar, lon, lat)
    return _invert_scalar(_gcj_scalar, lon, lat)


def _invert_scalar(
    forward: Callable[[float, float], tuple[float, float]], lon: float, lat: float
) -> tuple[float, float]:
    wlon, wlat = lon, lat
    for _ in range(_INVERSE_MAX_ITER):
        flon, flat = forward(wlon, wlat)
        elon, elat = lon - flon, lat - flat
        wlon, wlat = wlon + elon, wlat + elat
        if max(abs(elon), abs(elat)) <= _INVERSE_TOL_DEG:
            break
    return wlon, wlat


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """Solve forward(w) = (lon, lat) for w; the offsets vary slowly, so w += target - f(w)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        flon, flat = forward(wlon, wlat)
        elon, elat = lon - flon, lat - flat
        wlon = wlon + elon
        wlat = wlat + elat
        err = np.maximum(np.abs(elon), np.abs(elat))
        if not np.any(err > _INVERSE_TOL_DEG):  # NaN compares False: NaN inputs stop too
            break
    return wlon, wlat


def _as_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x = np.atleast_1d(np.asarray(lon, dtype=float))
    y = np.atleast_1d(np.asarray(lat, dtype=float))
    if x.shape != y.shape:
        raise ValueError(f"lon and lat must have the same shape, got {x.shape} and {y.shape}")
    return x, y, scalar


def _ret(
    out: tuple[npt.ArrayLike, npt.ArrayLike], scalar: bool
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    x, y = np.asarray(out[0], dtype=float), np.asarray(out[1], dtype=float)
    if scalar:
        return float(x[0]), float(y[0])
    return x, y
