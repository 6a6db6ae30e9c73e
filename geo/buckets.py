"""Square buckets of points in a metric CRS, searched nearest bucket first for one query point.

Many points at once are best served by a KD-tree (scipy). One point in a busy web server is not:
the KD-tree call costs ~15 us in a tight loop but 80-200 us there (100,000 stations), where its
large code and data paths have left the CPU caches between two requests. A bucket search in plain
Python over buckets laid out together in memory measured ~30 us there on average
(``benchmarks/nearest_http.py``).

A :class:`BucketGrid` visits buckets in order of the least distance any point of the query's own
bucket can have to them, skipping the rings of buckets known to be empty, and stops once the
``k``-th point found is nearer than every unvisited bucket. It gives up (returns ``None``) when
the buckets within its reach cannot settle the answer, far from every point.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import distance_transform_cdt

# Distances to a bucket's edge are shortened by this much (m): rounding may put a point that
# lies on the edge into the neighbouring bucket.
EDGE_M = 1e-6

# An optional filter on candidate rows, checked only for points that could enter the answer:
# ``(text_of_row, states, evaluate)`` where ``states[text_of_row[row]]`` is 0 (unknown), 1 (keep)
# or 2 (drop), and ``evaluate(text)`` fills in an unknown state and returns it.
RowFilter = tuple[list[int], bytearray, Callable[[int], int]]


@dataclass(frozen=True, slots=True)
class BucketGrid:
    """Points in square buckets of ``size`` metres over their bounding box.

    ``cells[ix * ny + iy]`` holds the bucket's points as a flat tuple ``x, y, row, x, y, row,
    ...`` (or ``None`` when empty); ``empty_rings[b]`` is how many rings of buckets around bucket
    ``b`` are known to be empty (at most 255); a query is searched up to ``reach`` buckets out,
    in the order of ``offsets``.
    """

    cells: list[tuple[float | int, ...] | None]
    empty_rings: bytes
    size: float
    x0: float
    y0: float
    nx: int
    ny: int
    reach: int
    offsets: list[list[tuple[float, int, int]]]

    @classmethod
    def build(
        cls, xy: npt.NDArray[np.float64], rows: npt.NDArray[np.int64], *, size: float, reach: int
    ) -> BucketGrid:
        """Buckets of ``size`` metres over the points ``xy`` (their ``rows`` kept with them)."""
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
        cells: list[tuple[float | int, ...] | None] = [None] * (nx * ny)
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            cells[int(keys[a])] = tuple(v for x, y, row in flat[a:b] for v in (x, y, int(row)))
        occupied = np.zeros(nx * ny, dtype=bool)
        occupied[keys] = True
        # rings (chessboard distance in buckets) from each bucket to the nearest occupied one
        rings = distance_transform_cdt(~occupied.reshape(nx, ny), metric="chessboard")
        empty_rings = bytes(np.minimum(rings, 255).astype(np.uint8).ravel())
        return cls(
            cells=cells,
            empty_rings=empty_rings,
            size=float(size),
            x0=float(x0),
            y0=float(y0),
            nx=nx,
            ny=ny,
            reach=reach,
            offsets=offsets_by_ring(reach),
        )

    def search(
        self, qx: float, qy: float, k: int, keep: RowFilter | None = None
    ) -> list[tuple[float, int]] | None:
        """The best ``(squared distance, row)`` pairs, nearest first (ties: the lower row), of
        the points ``keep`` accepts; ``None`` when the buckets within reach do not settle it."""
        cells, size, nx, ny, reach = self.cells, self.size, self.nx, self.ny, self.reach
        fx, fy = (qx - self.x0) / size, (qy - self.y0) / size
        if not (-reach <= fx < nx + reach and -reach <= fy < ny + reach):
            return None
        cx, cy = math.floor(fx), math.floor(fy)
        # rings of buckets around the query's known to be empty: up to the grid for a point
        # outside it, or up to the nearest bucket that holds a point
        empty = max(-cx, cx - nx + 1, -cy, cy - ny + 1, 0) or self.empty_rings[cx * ny + cy]
        if empty > reach:
            return None
        if keep is not None:
            text_of, states, evaluate = keep
        best: list[tuple[float, int]] = []
        worst = math.inf  # squared distance of the k-th best so far
        limit = math.inf  # the same, as a gap in buckets (plus the rounding margin)
        for gap, ox, oy in self.offsets[empty]:
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
                if keep is not None:
                    t = text_of[int(row)]
                    if (states[t] or evaluate(t)) != 1:
                        continue
                bisect.insort(best, (d2, int(row)))
                if len(best) > k:
                    best.pop()
                if len(best) == k:
                    worst = best[-1][0]
                    limit = (math.sqrt(worst) + EDGE_M) / size
        # the buckets within reach that could matter are visited: settled if nothing beyond
        # them can be nearer, or if they cover the whole grid (fewer than k points qualify)
        beyond = (reach * size - EDGE_M) ** 2
        whole = cx - reach <= 0 and cy - reach <= 0 and cx + reach >= nx - 1
        if worst <= beyond or (whole and cy + reach >= ny - 1):
            return best
        return None


@functools.cache
def offsets_by_ring(reach: int) -> list[list[tuple[float, int, int]]]:
    """For each ``r`` up to ``reach``: the bucket offsets at least ``r`` rings out, nearest
    first by the least gap (in buckets) from any point of a bucket to the bucket there."""
    offsets = sorted(
        (math.hypot(max(abs(ox) - 1, 0), max(abs(oy) - 1, 0)), ox, oy)
        for ox in range(-reach, reach + 1)
        for oy in range(-reach, reach + 1)
    )
    return [[o for o in offsets if max(abs(o[1]), abs(o[2])) >= ring] for ring in range(reach + 1)]
