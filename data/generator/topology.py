"""Exact topology on the integer lattice, and connected components of a graph.

A boundary segment is keyed by its two integer end points in a fixed order, so two rings share an
edge exactly when they share a key. From the keys: the outer boundary of a group of cells (the
segments used once), the single polygon such segments enclose, and the adjacency of cells.
``components`` labels the connected parts of an undirected graph given as an edge list (cells
sharing a border, street vertices joined by segments).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import LineString

from data.generator.frames import int_coords


def seg_key(a, b) -> tuple[int, int, int, int]:
    a, b = (int(a[0]), int(a[1])), (int(b[0]), int(b[1]))
    return (a + b) if a <= b else (b + a)


def ring_keys(ring: np.ndarray) -> list[tuple[int, int, int, int]]:
    return [seg_key(ring[i], ring[i + 1]) for i in range(len(ring) - 1)]


def ccw(ring: np.ndarray) -> np.ndarray:
    """Return the closed ring counter-clockwise (RFC 7946 exterior orientation)."""
    x, y = ring[:, 0].astype(float), ring[:, 1].astype(float)
    area2 = np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])
    return ring if area2 > 0 else ring[::-1]


def polygon_from_segments(keys: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Exterior ring (int lattice) of the single polygon that the boundary segments enclose."""
    lines = [LineString([(k[0], k[1]), (k[2], k[3])]) for k in keys]
    polys = shapely.get_parts(shapely.polygonize(lines))
    assert len(polys) == 1 and len(polys[0].interiors) == 0, f"{len(polys)} polygons"
    return ccw(int_coords(polys[0].exterior))


def xor_keys(rings: list[np.ndarray]) -> list[tuple[int, int, int, int]]:
    count: dict[tuple[int, int, int, int], int] = defaultdict(int)
    for ring in rings:
        for key in ring_keys(ring):
            count[key] += 1
    return sorted(k for k, c in count.items() if c == 1)


def components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    if not edges:
        return np.arange(n)
    e = np.array(edges)
    m = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(m, directed=False)[1]
