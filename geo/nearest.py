"""The k nearest stations to one or many points, filtered by amenities, status and opening time.

One set of search structures per filter combination (amenities, status) is built on first use
and cached, so a query only walks stations that qualify; opening hours are evaluated lazily for
the candidates a query needs, once per distinct ``opening_hours`` text and minute
(:class:`geo.hours.HoursTable`). No GeoDataFrame is built per query.

Many points at once go through a KD-tree (scipy). One point (a courier's request) goes through
two :class:`geo.buckets.BucketGrid` of the subset, a fine one and a coarse one, and only then the
KD-tree: see :mod:`geo.buckets` for why.
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
import numpy.typing as npt
from scipy.spatial import cKDTree

from geo.buckets import BucketGrid, RowFilter
from geo.errors import InvalidInput
from geo.hours import HoursTable

if TYPE_CHECKING:
    from geo.pack.schema import StationStatus

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

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# a search filter: the sorted amenity codes and the status (None: any)
Filter = tuple[tuple[str, ...], "StationStatus | None"]


@dataclass(frozen=True)
class Nearest:
    """Result of a nearest query: ``index`` into the stations (``-1`` where fewer than ``k``
    qualify) and ``distance_m``, both shaped ``(points, k)``, nearest first."""

    index: IntArray
    distance_m: FloatArray


@dataclass(frozen=True)
class _Subset:
    """The stations of one filter combination: their rows, KD-tree and bucket grids."""

    tree: cKDTree | None
    rows: IntArray
    grids: tuple[BucketGrid, ...]


class StationIndex:
    """Stations in a metric CRS with their amenities, status and opening hours."""

    def __init__(
        self,
        x: FloatArray,
        y: FloatArray,
        *,
        amenities: Sequence[Iterable[str]],
        status: Sequence[str],
        opening_hours: Sequence[str],
        amenity_codes: Sequence[str],
        cache_stations: int = 1_000_000,
    ) -> None:
        self.xy: FloatArray = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        self.amenity_codes = list(amenity_codes)
        column = {code: i for i, code in enumerate(self.amenity_codes)}
        self.has = np.zeros((len(self.xy), len(self.amenity_codes)), dtype=bool)
        for row, codes in enumerate(amenities):
            for code in codes:
                if code in column:
                    self.has[row, column[code]] = True
        self.status = np.asarray(status, dtype=object)
        self._in_service = [s == "open" for s in status]
        self.hours = HoursTable(opening_hours)
        # per filter: KD-tree and bucket grids (~270 bytes a station), least recently used first;
        # kept while they hold at most cache_stations stations in all (the newest always)
        self._subsets: OrderedDict[Filter, _Subset] = OrderedDict()
        self.cache_stations = cache_stations
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

    def prepare(
        self, *, amenities: Iterable[str] | None = None, status: StationStatus | None = "open"
    ) -> None:
        """Build the search structures for one filter now rather than on its first query."""
        self._subset(self.check_amenities(amenities), status)

    @property
    def cached_filters(self) -> list[Filter]:
        """The ``(amenities, status)`` filters with search structures built, oldest first."""
        with self._lock:
            return list(self._subsets)

    @property
    def cached_stations(self) -> int:
        """How many stations the cached search structures hold in all."""
        with self._lock:
            return sum(len(subset.rows) for subset in self._subsets.values())

    def clear_cache(self) -> None:
        """Drop every cached search structure (they are rebuilt on demand)."""
        with self._lock:
            self._subsets.clear()

    def open_now(self, row: int, at: dt.datetime) -> bool:
        """The one "open now" rule: station ``row`` is in service (status ``open``) and its
        opening hours are open at the naive local time ``at``."""
        return self._in_service[row] and self.hours.is_open(row, at)

    def query(
        self,
        x: float | FloatArray,
        y: float | FloatArray,
        *,
        k: int = 3,
        amenities: Iterable[str] | None = None,
        status: StationStatus | None = "open",
        open_at: dt.datetime | None = None,
    ) -> Nearest:
        """The ``k`` nearest qualifying stations to metric points ``x``, ``y``.

        Parameters
        ----------
        x, y : float or array_like
            Points in the same metric CRS as the stations.
        k : int
            How many stations per point.
        amenities : iterable of str, optional
            Stations must have all of these.
        status : {"open", "closed", "suspended"} or None
            Required station status (``open`` by default); ``None`` for any.
        open_at : datetime, optional
            Naive local time at which the stations' hours must be open.
        """
        _check_k(k)
        if np.ndim(x) == 0 and np.ndim(y) == 0:
            rows, dists = self.query_one(
                float(x),
                float(y),
                k=k,
                amenities=amenities,
                status=status,
                open_at=open_at,
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
        tree, rows_of = subset.tree, subset.rows
        finite = np.isfinite(pts).all(axis=1)
        if tree is None or not finite.any():
            return Nearest(index, distance)
        todo = np.flatnonzero(finite)
        m = len(rows_of)
        kk = min(m, k if open_at is None else max(2 * k, k + 8))
        while todo.size:
            d, j = tree.query(pts[todo], k=kk)
            d, j = d.reshape(len(todo), kk), j.reshape(len(todo), kk)
            cand = np.where(j < m, rows_of[np.minimum(j, m - 1)], -1)
            ok = cand >= 0
            if open_at is not None:
                ok &= self.hours.open_rows(cand, open_at)
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
        status: StationStatus | None = "open",
        open_at: dt.datetime | None = None,
    ) -> tuple[list[int], list[float]]:
        """:meth:`query` for one point: the rows and distances of at most ``k`` stations.

        Searches the subset's fine bucket grid, then its coarse one, each until no unvisited
        bucket can hold anything nearer than the ``k``-th station found (exact); a point that
        neither settles (far from every station) goes to the KD-tree. Ties in distance go to the
        lower row."""
        _check_k(k)
        subset = self._subset(self.check_amenities(amenities), status)
        if subset.tree is None or not (math.isfinite(x) and math.isfinite(y)):
            return [], []
        keep: RowFilter | None = None
        if open_at is not None:
            hours = self.hours
            keep = (hours.ids, hours.states(open_at), lambda t: hours.evaluate(t, open_at))
        for grid in subset.grids:
            found = grid.search(x, y, k, keep)
            if found is not None:
                return [row for _, row in found], [math.sqrt(d2) for d2, _ in found]
        return self._tree_search(subset, x, y, k, open_at)

    def _tree_search(
        self, subset: _Subset, x: float, y: float, k: int, open_at: dt.datetime | None
    ) -> tuple[list[int], list[float]]:
        """The KD-tree fallback of :meth:`query_one`, widening until ``k`` stations qualify."""
        tree, rows = subset.tree, subset.rows
        assert tree is not None
        m = len(rows)
        kk = min(m, k if open_at is None else max(2 * k, k + 8))
        while True:
            d, j = tree.query((x, y), k=kk)
            dists, positions = np.atleast_1d(d).tolist(), np.atleast_1d(j).tolist()
            found = []
            for dist, pos in zip(dists, positions, strict=True):
                if pos >= m:
                    break
                row = int(rows[pos])
                if open_at is None or self.hours.is_open(row, open_at):
                    found.append((dist * dist, row))
            found.sort()  # ties to the lower row, as the bucket search
            if len(found) >= k or kk >= m:
                found = found[:k]
                return [row for _, row in found], [math.sqrt(d2) for d2, _ in found]
            kk = min(m, kk * 4)

    def _subset(self, amenities: tuple[str, ...], status: StationStatus | None) -> _Subset:
        key = (amenities, status)
        with self._lock:
            hit = self._subsets.get(key)
            if hit is not None:
                self._subsets.move_to_end(key)
                return hit
        mask = np.ones(len(self.xy), dtype=bool)
        if status is not None:
            mask &= self.status == status
        for code in amenities:
            mask &= self.has[:, self.amenity_codes.index(code)]
        rows = np.flatnonzero(mask).astype(np.int64)
        entry = _Subset(
            tree=cKDTree(self.xy[rows]) if rows.size else None,
            rows=rows,
            grids=_bucket_grids(self.xy[rows], rows),
        )
        with self._lock:
            self._subsets[key] = entry
            held = sum(len(subset.rows) for subset in self._subsets.values())
            while len(self._subsets) > 1 and held > self.cache_stations:
                held -= len(self._subsets.popitem(last=False)[1].rows)
        return entry


def _check_k(k: object) -> None:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")


def _bucket_grids(xy: FloatArray, rows: IntArray) -> tuple[BucketGrid, ...]:
    """The fine grid, about ``_PER_CELL`` points a bucket over the bounding box of ``xy`` and
    searched up to ``_FINE_REACH`` buckets out, and the coarse one, ``_COARSE`` times wider
    buckets searched up to ``_REACH`` buckets out."""
    if len(rows) == 0:
        return ()
    width, height = np.ptp(xy, axis=0)
    # the box's area, or for points on a line its length squared over their number
    area = max(width * height, max(width, height) ** 2 / len(rows), 1.0)
    size = max(math.sqrt(area * _PER_CELL / len(rows)), 1.0)
    fine = BucketGrid.build(xy, rows, size=size, reach=_FINE_REACH)
    return fine, BucketGrid.build(xy, rows, size=size * _COARSE, reach=_REACH)
