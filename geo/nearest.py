"""The k nearest stations to one or many points, filtered by amenities, status and opening time.

One index per filter combination (amenities, status) is built on first use and cached, so a
query only walks stations that qualify; opening hours are evaluated lazily for the candidates a
query needs, once per distinct ``opening_hours`` text and minute. No GeoDataFrame is built per
query.

Many points at once go through a KD-tree (scipy). One point (a courier's request) goes through
grids of buckets searched nearest bucket first in plain Python: the KD-tree call costs ~15 us in a
tight loop but 80-200 us inside a busy web server (100,000 stations), where its large code and data
paths have left the CPU caches between two requests; the bucket search measured ~30 us there on
average (``benchmarks/nearest_http.py``), and the KD-tree is only its fallback far from any
station.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import distance_transform_cdt
from scipy.spatial import cKDTree

from geo import crs as gcrs
from geo.errors import InvalidInput
from geo.hours import is_open, local_time, parse_hours

if TYPE_CHECKING:
    from geo.city import City

# The fine grid's buckets hold about this many stations on average over the bounding box, and a
# point is searched there up to _FINE_REACH buckets each way from its own bucket. A point it does
# not settle (at the edge of town, across a river) is searched on a grid of _COARSE times wider
# buckets up to _REACH buckets each way, and only then in the KD-tree. Measured in the server with
# 100,000 stations: 24 us a query on the fine grid, 50 us on the coarse one (fine search included),
# against 130-200 us for the KD-tree there.
_PER_CELL = 1.0
_FINE_REACH = 3
_COARSE = 6
_REACH = 16
# Distances to a bucket's edge are shortened by this much (m): rounding may put a station that
# lies on the edge into the neighbouring bucket.
_EDGE_M = 1e-6
_MINUTE = dt.timedelta(minutes=1)


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
        cache_stations: int = 1_000_000,
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
        # opening hours are evaluated per distinct text: stations share a handful of them
        texts: dict[str, int] = {}
        self._hours_id = [texts.setdefault(str(h).strip(), len(texts)) for h in opening_hours]
        self._hours = [parse_hours(h) for h in texts]
        self.hours = [self._hours[i] for i in self._hours_id]
        # per filter: KD-tree and bucket grids (~270 bytes a station), least recently used first;
        # kept while they hold at most cache_stations stations in all (the newest always)
        self._trees: OrderedDict[tuple, _Subset] = OrderedDict()
        self.cache_stations = cache_stations
        # per minute, per distinct hours: 0 not evaluated yet, 1 open, 2 closed
        self._open_cache: tuple[dt.datetime | None, dt.datetime | None, bytearray] = (
            None,
            None,
            bytearray(),
        )
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

    def prepare(self, amenities: Iterable[str] | None = None, status: str | None = "open") -> None:
        """Build the search structures for one filter now rather than on its first query."""
        self._subset(self.check_amenities(amenities), status)

    def open_states(self, rows: np.ndarray, at: dt.datetime) -> np.ndarray:
        """Whether each station in ``rows`` is open at the naive local time ``at``."""
        hours_id = np.asarray(self._hours_id, dtype=np.int64)
        out = np.zeros(rows.shape, dtype=bool)
        valid = rows >= 0
        ids = hours_id[rows[valid]]
        for h in np.unique(ids).tolist():
            self._open_hours(h, at)
        states = np.frombuffer(self._states_at(at)[1], dtype=np.uint8)
        out[valid] = states[ids] == 1
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
        subset = self._subset(self.check_amenities(amenities), status)
        tree, rows = subset.tree, subset.rows
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
        """:meth:`query` for one point: the rows and distances of at most ``k`` stations.

        Searches the subset's fine bucket grid, then its coarse one, each until no unvisited
        bucket can hold anything nearer than the ``k``-th station found (exact); a point that
        neither settles (far from every station) goes to the KD-tree. Ties in distance go to the
        lower row."""
        if not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInput(f"k must be a positive integer, got {k!r}")
        subset = self._subset(self.check_amenities(amenities), status)
        if subset.tree is None or not (math.isfinite(x) and math.isfinite(y)):
            return [], []
        for grid in subset.grids:
            found = self._ring_search(grid, x, y, k, open_at)
            if found is not None:
                break
        else:
            return self._tree_search(subset, x, y, k, open_at)
        return [row for _, row in found], [math.sqrt(d2) for d2, _ in found]

    def _ring_search(self, grid, qx: float, qy: float, k: int, open_at):
        """Best ``(squared distance, row)`` pairs, nearest first; None when the buckets within
        the grid's reach of the query's bucket do not settle it (far from the stations, or among
        very few of them).

        Buckets are visited nearest first by the least distance any point of the query's bucket
        can have to them, so the search stops after a handful of buckets once ``k`` stations
        are found and no unvisited bucket can hold a nearer one."""
        cells, empty_rings, size, x0, y0, nx, ny, reach, offsets = grid
        fx, fy = (qx - x0) / size, (qy - y0) / size
        if not (-reach <= fx < nx + reach and -reach <= fy < ny + reach):
            return None
        cx, cy = math.floor(fx), math.floor(fy)
        # rings of buckets around the query's known to be empty: up to the grid for a point
        # outside it, or up to the nearest bucket that holds a station
        empty = max(-cx, cx - nx + 1, -cy, cy - ny + 1, 0) or empty_rings[cx * ny + cy]
        if empty > reach:
            return None
        if open_at is not None:
            hours_id, states = self._hours_id, self._states_at(open_at)[1]
        best: list[tuple[float, int]] = []
        worst = math.inf  # squared distance of the k-th best so far
        limit = math.inf  # the same, as a gap in buckets (plus the rounding margin)
        for gap, ox, oy in offsets[empty]:
            if gap > limit:
                break  # this and every later bucket is farther than the k-th best
            ix, iy = cx + ox, cy + oy
            if not (0 <= ix < nx and 0 <= iy < ny):
                continue
            bucket = cells[ix * ny + iy]
            if bucket is None:
                continue
            if worst < math.inf:  # the exact gap from the query point to this bucket
                gx = ix - fx if fx < ix else fx - ix - 1 if fx > ix + 1 else 0.0
                gy = iy - fy if fy < iy else fy - iy - 1 if fy > iy + 1 else 0.0
                if math.sqrt(gx * gx + gy * gy) > limit:
                    continue
            it = iter(bucket)
            for x, y, row in zip(it, it, it, strict=True):
                dx, dy = x - qx, y - qy
                d2 = dx * dx + dy * dy
                if d2 > worst or (d2 == worst and row > best[-1][1]):
                    continue
                if open_at is not None:
                    h = hours_id[row]
                    state = states[h] or self._open_hours(h, open_at)
                    if state != 1:
                        continue
                bisect.insort(best, (d2, row))
                if len(best) > k:
                    best.pop()
                if len(best) == k:
                    worst = best[-1][0]
                    limit = (math.sqrt(worst) + _EDGE_M) / size
        # the buckets within reach that could matter are visited: settled if nothing beyond
        # them can be nearer, or if they cover the whole grid (fewer than k stations qualify)
        beyond = (reach * size - _EDGE_M) ** 2
        whole = cx - reach <= 0 and cy - reach <= 0 and cx + reach >= nx - 1
        if worst <= beyond or (whole and cy + reach >= ny - 1):
            return best
        return None

    def _tree_search(self, subset: _Subset, x: float, y: float, k: int, open_at):
        """The KD-tree fallback of :meth:`query_one`, widening until ``k`` stations qualify."""
        tree, rows = subset.tree, subset.rows
        m = len(rows)
        kk = min(m, k if open_at is None else max(2 * k, k + 8))
        while True:
            d, j = tree.query((x, y), k=kk)
            d, j = np.atleast_1d(d).tolist(), np.atleast_1d(j).tolist()
            found = []
            for dist, pos in zip(d, j, strict=True):
                if pos >= m:
                    break
                row = int(rows[pos])
                if open_at is None or self.is_open_at(row, open_at):
                    found.append((dist * dist, row))
            found.sort()  # ties to the lower row, as the ring search
            if len(found) >= k or kk >= m:
                found = found[:k]
                return [row for _, row in found], [math.sqrt(d2) for d2, _ in found]
            kk = min(m, kk * 4)

    def is_open_at(self, row: int, at: dt.datetime) -> bool:
        """Whether station ``row`` is open at the naive local time ``at`` (cached per minute)."""
        h = self._hours_id[row]
        return (self._states_at(at)[1][h] or self._open_hours(h, at)) == 1

    def _open_hours(self, h: int, at: dt.datetime) -> int:
        """Evaluate distinct opening hours ``h`` at the minute of ``at``: 1 open, 2 closed."""
        minute, states = self._states_at(at)
        states[h] = 1 if is_open(self._hours[h], minute) else 2
        return states[h]

    def _states_at(self, at: dt.datetime) -> tuple[dt.datetime, bytearray]:
        """Open states of the distinct hours for the minute of ``at`` (reset each minute)."""
        start, end, states = self._open_cache
        if start is not None and start <= at < end:
            return start, states
        start = at.replace(second=0, microsecond=0)
        states = bytearray(len(self._hours))
        self._open_cache = (start, start + _MINUTE, states)
        return start, states

    def _subset(self, amenities: tuple[str, ...], status: str | None) -> _Subset:
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
        entry = _Subset(
            tree=cKDTree(self.xy[rows]) if rows.size else None,
            rows=rows,
            grids=_bucket_grids(self.xy[rows], rows),
        )
        with self._lock:
            self._trees[key] = entry
            held = sum(len(subset.rows) for subset in self._trees.values())
            while len(self._trees) > 1 and held > self.cache_stations:
                held -= len(self._trees.popitem(last=False)[1].rows)
        return entry


@dataclass(frozen=True)
class _Subset:
    """The stations of one filter combination: KD-tree, their rows, and the bucket grids."""

    tree: cKDTree | None
    rows: np.ndarray
    # fine and coarse, each: buckets (at ix * ny + iy: None, or x, y, row of each station in
    # it), the rings around each bucket known to be empty (at most 255), bucket size (m),
    # origin x0, y0, nx, ny buckets, the reach in buckets and its _offsets_by_ring
    grids: tuple[tuple, ...]


def _bucket_grids(xy: np.ndarray, rows: np.ndarray) -> tuple:
    """The fine grid, about ``_PER_CELL`` points a bucket over the bounding box of ``xy`` and
    searched up to ``_FINE_REACH`` buckets out, and the coarse one, ``_COARSE`` times wider
    buckets searched up to ``_REACH`` buckets out."""
    if len(rows) == 0:
        return ()
    width, height = np.ptp(xy, axis=0)
    # the box's area, or for points on a line its length squared over their number
    area = max(width * height, max(width, height) ** 2 / len(rows), 1.0)
    size = max(math.sqrt(area * _PER_CELL / len(rows)), 1.0)
    fine = _bucket_grid(xy, rows, size, _FINE_REACH)
    return fine, _bucket_grid(xy, rows, size * _COARSE, _REACH)


def _bucket_grid(xy: np.ndarray, rows: np.ndarray, size: float, reach: int):
    """Square buckets of ``size`` metres over the bounding box of ``xy``, searched up to
    ``reach`` buckets out."""
    x0, y0 = xy.min(axis=0)
    width, height = np.ptp(xy, axis=0)
    nx, ny = int(width // size) + 1, int(height // size) + 1
    ix = np.minimum(((xy[:, 0] - x0) // size).astype(np.int64), nx - 1)
    iy = np.minimum(((xy[:, 1] - y0) // size).astype(np.int64), ny - 1)
    keys = ix * ny + iy
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    # each bucket's numbers made in a row, so that they sit together in memory
    flat = np.column_stack([xy[order], rows[order].astype(float)]).tolist()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).tolist() + [len(keys)]
    cells: list[tuple | None] = [None] * (nx * ny)
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        cells[int(keys[a])] = tuple(v for x, y, row in flat[a:b] for v in (x, y, int(row)))
    occupied = np.zeros(nx * ny, dtype=bool)
    occupied[keys] = True
    # rings (chessboard distance in buckets) from each bucket to the nearest occupied one
    rings = distance_transform_cdt(~occupied.reshape(nx, ny), metric="chessboard")
    empty_rings = bytes(np.minimum(rings, 255).astype(np.uint8).ravel())
    offsets = _offsets_by_ring(reach)
    return cells, empty_rings, float(size), float(x0), float(y0), nx, ny, reach, offsets


@functools.cache
def _offsets_by_ring(reach: int) -> list[list[tuple[float, int, int]]]:
    """For each ``r`` up to ``reach``: the bucket offsets at least ``r`` rings out, nearest
    first by the least gap (in buckets) from any point of a bucket to the bucket there."""
    offsets = sorted(
        (math.hypot(max(abs(ox) - 1, 0), max(abs(oy) - 1, 0)), ox, oy)
        for ox in range(-reach, reach + 1)
        for oy in range(-reach, reach + 1)
    )
    return [[o for o in offsets if max(abs(o[1]), abs(o[2])) >= ring] for ring in range(reach + 1)]


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
