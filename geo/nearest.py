"""The k nearest stations to one or many points, filtered by amenities, status and opening time.

One KD-tree per filter combination (amenities, status) is built on first use and cached, so a
query only walks stations that qualify; opening hours are evaluated lazily for the candidates a
query returns, widening the search until ``k`` open stations are found. A single query costs tens
of microseconds (``benchmarks/nearest.py``); no GeoDataFrame is built per query.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from geo import crs as gcrs
from geo.errors import InvalidInput
from geo.hours import is_open, local_time, parse_hours

if TYPE_CHECKING:
    from geo.city import City

_TREE_CACHE_SIZE = 64


@dataclass(frozen=True)
class Nearest:
    """Result of a nearest query: ``index`` into the stations (``-1`` where fewer than ``k``
    qualify) and ``distance_m``, both shaped ``(points, k)``, nearest first."""

    index: np.ndarray
    distance_m: np.ndarray


class StationIndex:
    """Stations in a metric CRS with their amenities, status and opening hours."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        amenities: Sequence[Iterable[str]],
        status: Sequence[str],
        opening_hours: Sequence[str],
        amenity_codes: Sequence[str],
    ):
        self.xy = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        self.amenity_codes = list(amenity_codes)
        column = {code: i for i, code in enumerate(self.amenity_codes)}
        self.has = np.zeros((len(self.xy), len(self.amenity_codes)), dtype=bool)
        for row, codes in enumerate(amenities):
            for code in codes:
                if code in column:
                    self.has[row, column[code]] = True
        self.status = np.asarray(status, dtype=object)
        self.hours = [parse_hours(h) for h in opening_hours]
        self._trees: OrderedDict[tuple, tuple[cKDTree | None, np.ndarray]] = OrderedDict()
        self._open_cache: tuple[dt.datetime | None, np.ndarray] = (None, np.empty(0, np.int8))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.xy)

    def check_amenities(self, amenities: Iterable[str] | None) -> tuple[str, ...]:
        """Normalise amenity codes; raise InvalidInput naming an unknown one."""
        if not amenities:
            return ()
        codes = []
        for code in amenities:
            code = str(code).strip().lower()
            if code not in self.amenity_codes:
                raise InvalidInput(
                    f"amenity {code!r} is not one of {', '.join(self.amenity_codes)}"
                )
            codes.append(code)
        return tuple(sorted(set(codes)))

    def open_states(self, rows: np.ndarray, at: dt.datetime) -> np.ndarray:
        """Whether each station in ``rows`` is open at the naive local time ``at``."""
        minute, states = self._states_at(at)
        flat = np.unique(rows[rows >= 0])
        unknown = flat[states[flat] < 0]
        for row in unknown:
            states[row] = is_open(self.hours[row], minute)
        out = np.zeros(rows.shape, dtype=bool)
        valid = rows >= 0
        out[valid] = states[rows[valid]] == 1
        return out

    def query(
        self,
        x,
        y,
        *,
        k: int = 3,
        amenities: Iterable[str] | None = None,
        status: str | None = "open",
        open_at: dt.datetime | None = None,
    ) -> Nearest:
        """The ``k`` nearest qualifying stations to metric points ``x``, ``y``.

        Parameters
        ----------
        x, y : array_like
            Points in the same metric CRS as the stations.
        k : int
            How many stations per point.
        amenities : iterable of str, optional
            Stations must have all of these.
        status : str or None
            Required station status (``open`` by default); ``None`` for any.
        open_at : datetime, optional
            Naive local time at which the stations must be open.
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInput(f"k must be a positive integer, got {k!r}")
        if np.ndim(x) == 0 and np.ndim(y) == 0:
            rows, dists = self.query_one(
                float(x), float(y), k=k, amenities=amenities, status=status, open_at=open_at
            )
            index = np.full((1, k), -1, dtype=np.int64)
            distance = np.full((1, k), np.nan)
            index[0, : len(rows)], distance[0, : len(rows)] = rows, dists
            return Nearest(index, distance)
        pts = np.column_stack([np.atleast_1d(x), np.atleast_1d(y)]).astype(float)
        n = len(pts)
        index = np.full((n, k), -1, dtype=np.int64)
        distance = np.full((n, k), np.nan)
        tree, rows = self._subset(self.check_amenities(amenities), status)
        finite = np.isfinite(pts).all(axis=1)
        if tree is None or not finite.any():
            return Nearest(index, distance)
        todo = np.flatnonzero(finite)
        m = len(rows)
        kk = min(m, k if open_at is None else max(2 * k, k + 8))
        while todo.size:
            d, j = tree.query(pts[todo], k=kk)
            d, j = d.reshape(len(todo), kk), j.reshape(len(todo), kk)
            cand = np.where(j < m, rows[np.minimum(j, m - 1)], -1)
            ok = cand >= 0
            if open_at is not None:
                ok &= self.open_states(cand, open_at)
            done = (ok.sum(axis=1) >= k) | (kk >= m)
            take = np.argsort(~ok[done], axis=1, kind="stable")[:, :k]
            chosen = np.take_along_axis(cand[done], take, axis=1)
            chosen_ok = np.take_along_axis(ok[done], take, axis=1)
            width = chosen.shape[1]
            index[todo[done], :width] = np.where(chosen_ok, chosen, -1)
            distance[todo[done], :width] = np.where(
                chosen_ok, np.take_along_axis(d[done], take, axis=1), np.nan
            )
            todo = todo[~done]
            kk = min(m, kk * 4)
        return Nearest(index, distance)

    def query_one(
        self,
        x: float,
        y: float,
        *,
        k: int = 3,
        amenities: Iterable[str] | None = None,
        status: str | None = "open",
        open_at: dt.datetime | None = None,
    ) -> tuple[list[int], list[float]]:
        """:meth:`query` for one point, in plain Python around one KD-tree call (~15 us)."""
        if not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInput(f"k must be a positive integer, got {k!r}")
        tree, rows = self._subset(self.check_amenities(amenities), status)
        if tree is None or not (math.isfinite(x) and math.isfinite(y)):
            return [], []
        m = len(rows)
        kk = min(m, k if open_at is None else max(2 * k, k + 8))
        states = None if open_at is None else self._states_at(open_at)[1]
        hours = self.hours
        while True:
            d, j = tree.query((x, y), k=kk)
            d, j = np.atleast_1d(d).tolist(), np.atleast_1d(j).tolist()
            found, dists = [], []
            for dist, pos in zip(d, j, strict=True):
                if pos >= m:
                    break
                row = int(rows[pos])
                if states is not None:
                    if states[row] < 0:
                        states[row] = is_open(hours[row], open_at.replace(second=0, microsecond=0))
                    if states[row] != 1:
                        continue
                found.append(row)
                dists.append(dist)
                if len(found) == k:
                    return found, dists
            if kk >= m:
                return found, dists
            kk = min(m, kk * 4)

    def is_open_at(self, row: int, at: dt.datetime) -> bool:
        """Whether station ``row`` is open at the naive local time ``at`` (cached per minute)."""
        minute, states = self._states_at(at)
        if states[row] < 0:
            states[row] = is_open(self.hours[row], minute)
        return bool(states[row] == 1)

    def _states_at(self, at: dt.datetime) -> tuple[dt.datetime, np.ndarray]:
        """Open states for the minute of ``at``: 1 open, 0 closed, -1 not evaluated yet."""
        minute = at.replace(second=0, microsecond=0)
        cached_at, states = self._open_cache
        if cached_at != minute:
            states = np.full(len(self.xy), -1, dtype=np.int8)
            self._open_cache = (minute, states)
        return minute, states

    def _subset(self, amenities: tuple[str, ...], status: str | None):
        key = (amenities, status)
        with self._lock:
            hit = self._trees.get(key)
            if hit is not None:
                self._trees.move_to_end(key)
                return hit
        mask = np.ones(len(self.xy), dtype=bool)
        if status is not None:
            mask &= self.status == status
        for code in amenities:
            mask &= self.has[:, self.amenity_codes.index(code)]
        rows = np.flatnonzero(mask)
        entry = (cKDTree(self.xy[rows]) if rows.size else None, rows)
        with self._lock:
            self._trees[key] = entry
            while len(self._trees) > _TREE_CACHE_SIZE:
                self._trees.popitem(last=False)
        return entry


@dataclass(frozen=True)
class NearestStation:
    """One station found by :func:`nearest_stations`: its attributes, distance and open state."""

    row: int
    station_id: str
    name: str
    address: str
    amenities: tuple[str, ...]
    opening_hours: str
    status: str
    operator: str
    phone: str
    last_confirmed: dt.date | None
    lon: float
    lat: float
    distance_m: float
    open_now: bool


def nearest_stations(
    city: City,
    lon: float,
    lat: float,
    *,
    crs: str = "wgs84",
    k: int = 3,
    amenities: Iterable[str] | None = None,
    open_at: dt.datetime | None = None,
    status: str | None = "open",
) -> list[NearestStation]:
    """The ``k`` nearest qualifying stations to one point, nearest first.

    Parameters
    ----------
    city : City
        The loaded city.
    lon, lat : float
        The point, in ``crs``.
    crs : str
        ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``.
    k : int
        How many stations.
    amenities : iterable of str, optional
        Required amenity codes (all of them).
    open_at : datetime, optional
        Only stations open at this time (naive = local); ``open_now`` is evaluated at this time,
        or now when not given.
    status : str or None
        Required status, ``open`` by default; ``None`` for any.

    Returns
    -------
    list of NearestStation
        At most ``k``; fewer when fewer stations qualify.
    """
    wlon, wlat = gcrs.to_wgs84(lon, lat, crs=crs)
    if not gcrs.valid_lonlat(wlon, wlat):
        raise InvalidInput(f"lon/lat ({lon!r}, {lat!r}) are not valid coordinates in {crs}")
    at = local_time(open_at) if open_at is not None else None
    x, y = city.to_metric(wlon, wlat)
    index = city.station_index
    rows, dists = index.query_one(
        float(x), float(y), k=k, amenities=amenities, status=status, open_at=at
    )
    now = at or local_time()
    records = city.station_records
    return [
        NearestStation(**records[row], distance_m=dist, open_now=index.is_open_at(row, now))
        for row, dist in zip(rows, dists, strict=True)
    ]
