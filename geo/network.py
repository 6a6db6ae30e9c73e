"""Distances along the street network (multi-source shortest paths with scipy.sparse.csgraph).

The graph is built from the street segments of :class:`~geo.lines.LineIndex` (pieces of at most
25 m): its nodes are segment ends (merged when within 1 mm), its edges the segments. A point
(a station, a cell centroid) joins the network at its nearest point on the nearest segment: the
straight line to the street, then along the street to either end of that segment. The distance
between two points is that access line, the shortest path, and the other access line; two points
on the same segment also get the direct way along it. Streets must be noded where they meet (as
in the demo city): lines that only cross without a shared vertex are not connected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra

from geo.lines import LineIndex

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class StreetNetwork:
    """The street graph in a metric CRS."""

    lines: LineIndex
    start: IntArray  # node id of each segment's start
    end: IntArray  # node id of each segment's end
    length: FloatArray  # each segment's length, metres
    node_count: int

    @property
    def component_count(self) -> int:
        graph = self._graph(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), 0)
        return int(connected_components(graph, directed=False)[0])

    def attach(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[IntArray, FloatArray, FloatArray]:
        """Segment, position along it (0..1) and access distance for each point."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        seg, dist = self.lines.nearest_segment(x, y)
        li = self.lines
        with np.errstate(invalid="ignore", divide="ignore"):
            t = ((x - li.ax[seg]) * li.dx[seg] + (y - li.ay[seg]) * li.dy[seg]) / li.len2[seg]
        return seg, np.clip(np.nan_to_num(t), 0.0, 1.0), dist

    def nearest_source(
        self, sources_xy: npt.ArrayLike, targets_xy: npt.ArrayLike, *, limit_m: float = np.inf
    ) -> tuple[FloatArray, IntArray]:
        """For every target, the network distance to its nearest source, and which source.

        Parameters
        ----------
        sources_xy, targets_xy : (n, 2) arrays
            Points in the metric CRS.
        limit_m : float
            Stop searching beyond this distance (targets further get ``inf``).

        Returns
        -------
        (distance_m, source) : arrays over targets; ``inf`` and -1 where unreachable.
        """
        sources_xy = np.asarray(sources_xy, float).reshape(-1, 2)
        targets_xy = np.asarray(targets_xy, float).reshape(-1, 2)
        if len(sources_xy) == 0:
            return np.full(len(targets_xy), np.inf), np.full(len(targets_xy), -1)
        graph, src_nodes, dst_nodes = self._augmented(sources_xy, targets_xy)
        dist, _, origin = dijkstra(
            graph,
            directed=True,
            indices=src_nodes,
            min_only=True,
            limit=limit_m,
            return_predecessors=True,
        )
        d = dist[dst_nodes]
        found = np.isfinite(d)
        source = np.full(len(targets_xy), -1, dtype=np.int64)
        source[found] = origin[dst_nodes[found]] - src_nodes[0]
        return d, source

    def within(
        self,
        sources_xy: npt.ArrayLike,
        targets_xy: npt.ArrayLike,
        *,
        radius_m: float,
        chunk: int = 64,
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """Pairs (source, target, distance) with network distance at most ``radius_m``."""
        sources_xy = np.asarray(sources_xy, float).reshape(-1, 2)
        targets_xy = np.asarray(targets_xy, float).reshape(-1, 2)
        out_s, out_t, out_d = [], [], []
        for start in range(0, len(sources_xy), chunk):
            part = sources_xy[start : start + chunk]
            graph, src_nodes, dst_nodes = self._augmented(part, targets_xy)
            dist = dijkstra(graph, directed=True, indices=src_nodes, limit=radius_m)
            d = dist[:, dst_nodes]
            s, t = np.nonzero(d <= radius_m)
            out_s.append(s + start)
            out_t.append(t)
            out_d.append(d[s, t])
        if not out_s:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return np.concatenate(out_s), np.concatenate(out_t), np.concatenate(out_d)

    def _augmented(
        self, sources_xy: FloatArray, targets_xy: FloatArray
    ) -> tuple[sparse.csr_matrix, IntArray, IntArray]:
        """The graph plus one node per source (edges out) and per target (edges in)."""
        n, ns, nt = self.node_count, len(sources_xy), len(targets_xy)
        s_seg, s_t, s_off = self.attach(sources_xy[:, 0], sources_xy[:, 1])
        t_seg, t_t, t_off = self.attach(targets_xy[:, 0], targets_xy[:, 1])
        src_nodes = n + np.arange(ns)
        dst_nodes = n + ns + np.arange(nt)
        s_len, t_len = self.length[s_seg], self.length[t_seg]
        rows = [src_nodes, src_nodes, self.start[t_seg], self.end[t_seg]]
        cols = [self.start[s_seg], self.end[s_seg], dst_nodes, dst_nodes]
        weights = [
            s_off + s_t * s_len,
            s_off + (1 - s_t) * s_len,
            t_off + t_t * t_len,
            t_off + (1 - t_t) * t_len,
        ]
        # a source and a target on the same segment: the direct way along it
        order = np.argsort(t_seg, kind="stable")
        lo = np.searchsorted(t_seg[order], s_seg, side="left")
        hi = np.searchsorted(t_seg[order], s_seg, side="right")
        counts = hi - lo
        if counts.any():
            si = np.repeat(np.arange(ns), counts)
            ti = order[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])]
            rows.append(src_nodes[si])
            cols.append(dst_nodes[ti])
            weights.append(s_off[si] + np.abs(s_t[si] - t_t[ti]) * s_len[si] + t_off[ti])
        return (
            self._graph(
                np.concatenate(rows), np.concatenate(cols), np.concatenate(weights), ns + nt
            ),
            src_nodes,
            dst_nodes,
        )

    def _graph(
        self, rows: IntArray, cols: IntArray, weights: FloatArray, extra: int
    ) -> sparse.csr_matrix:
        size = self.node_count + extra
        # tiny positive weights: csgraph drops explicit zeros from sparse input
        w = np.maximum(np.concatenate([self.length, self.length, weights]), 1e-9)
        r = np.concatenate([self.start, self.end, rows]).astype(np.int64)
        c = np.concatenate([self.end, self.start, cols]).astype(np.int64)
        # parallel edges (two streets along the same segment) keep the shortest, not the sum
        order = np.lexsort((w, c, r))
        r, c, w = r[order], c[order], w[order]
        first = np.ones(r.size, dtype=bool)
        first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
        return sparse.csr_matrix((w[first], (r[first], c[first])), shape=(size, size))


def build_network(lines: LineIndex, *, snap_m: float = 0.001) -> StreetNetwork:
    """The street graph of ``lines``; segment ends closer than ``snap_m`` become one node."""
    a = np.column_stack([lines.ax, lines.ay])
    b = a + np.column_stack([lines.dx, lines.dy])
    keys = np.round(np.vstack([a, b]) / snap_m).astype(np.int64)
    _, node = np.unique(keys, axis=0, return_inverse=True)
    node = node.ravel()
    m = len(a)
    return StreetNetwork(
        lines=lines,
        start=node[:m],
        end=node[m:],
        length=np.sqrt(lines.len2),
        node_count=int(node.max()) + 1 if node.size else 0,
    )
