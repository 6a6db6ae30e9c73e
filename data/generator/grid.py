"""The grid layer: cells grouped into subdistricts and communities, with codes and households.

Each bank is one district (江城区 north, 南岸区 south) of 4 subdistricts, found by k-means on the
cell centroids and made contiguous; subdistricts are numbered outwards from the bank's centre.
Each subdistrict is split into communities of 10-45 cells, and every cell gets its 14-digit
``grid_code`` (subdistrict + community + cell number), a name and a household count from the
density and its land area.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

from data.generator.cells import build_cells
from data.generator.plan import CENTRE, SUBCENTRE, Plan, density
from data.generator.topology import components, polygon_from_segments, xor_keys


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iters: int = 60) -> np.ndarray:
    """Plain Lloyd k-means with k-means++ start; returns labels 0..k-1."""
    n = len(points)
    if k <= 1 or n <= k:
        return np.zeros(n, dtype=int) if k <= 1 else np.arange(n)
    seeds = [points[rng.integers(n)]]
    for _ in range(1, k):
        d2 = np.min(((points[:, None, :] - np.array(seeds)[None]) ** 2).sum(-1), axis=1)
        seeds.append(points[rng.choice(n, p=d2 / d2.sum())])
    centres = np.array(seeds)
    labels = np.zeros(n, dtype=int)
    for _ in range(iters):
        labels = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        new = np.array(
            [points[labels == j].mean(0) if np.any(labels == j) else centres[j] for j in range(k)]
        )
        if np.allclose(new, centres):
            break
        centres = new
    return labels


def make_contiguous(
    labels: np.ndarray, adj: dict[tuple[int, int], float], allowed: np.ndarray
) -> np.ndarray:
    """Give every non-main piece of a label to the neighbouring label it shares most border with.

    ``allowed[i]`` is a group id: cells only ever take labels from cells of the same group.
    """
    labels = labels.copy()
    n = len(labels)
    for _ in range(50):
        same = [(i, j) for (i, j) in adj if labels[i] == labels[j]]
        comp = components(n, same)
        changed = False
        for lab in np.unique(labels):
            if lab < 0:  # cells outside the region being partitioned
                continue
            members = np.flatnonzero(labels == lab)
            comps, sizes = np.unique(comp[members], return_counts=True)
            if len(comps) <= 1:
                continue
            main = comps[np.argmax(sizes)]
            for c in comps:
                if c == main:
                    continue
                piece = set(members[comp[members] == c].tolist())
                border: dict[int, float] = defaultdict(float)
                for (i, j), length in adj.items():
                    if (i in piece) != (j in piece):
                        inner, outer = (i, j) if i in piece else (j, i)
                        if allowed[outer] == allowed[inner] and labels[outer] != lab:
                            border[int(labels[outer])] += length
                if border:
                    best = max(sorted(border), key=lambda b: border[b])
                    labels[sorted(piece)] = best
                    changed = True
        if not changed:
            break
    return labels


SUBDISTRICT_NAMES = {
    True: ["鼓楼", "文昌", "滨江", "北湖"],
    False: ["新城", "南湖", "沿江", "白沙"],
}
DISTRICTS = {True: ("429901", "江城区"), False: ("429902", "南岸区")}


@dataclass
class Subdistrict:
    code: str
    name: str
    district: str
    ring: np.ndarray


@dataclass
class Cell:
    code: str
    name: str
    subdistrict: int  # index into the subdistrict list
    community: str
    households: int
    ring: np.ndarray
    poly: Polygon  # local metres


def build_grid(
    rng: np.random.Generator, plan: Plan, words: Iterator[str]
) -> tuple[list[Subdistrict], list[Cell]]:
    """Cells grouped into 4 + 4 subdistricts (one district per bank) and communities."""
    grid = build_cells(rng, plan)
    n = len(grid.rings)
    cent = shapely.get_coordinates(shapely.centroid(grid.polys))
    side = grid.north.astype(int)
    labels = np.zeros(n, dtype=int)
    for is_north in (True, False):
        idx = np.flatnonzero(grid.north == is_north)
        labels[idx] = kmeans(cent[idx], 4, rng) + (0 if is_north else 4)
    labels = make_contiguous(labels, grid.adj, side)

    subdistricts: list[Subdistrict] = []
    order: dict[int, int] = {}
    for is_north in (True, False):
        centre = CENTRE if is_north else SUBCENTRE
        labs = [lab for lab in range(8) if np.any((labels == lab) & (grid.north == is_north))]
        labs.sort(key=lambda lab: float(np.hypot(*(cent[labels == lab].mean(0) - centre))))
        code, district = DISTRICTS[is_north]
        for k, lab in enumerate(labs):
            order[lab] = len(subdistricts)
            ring = polygon_from_segments(
                xor_keys([grid.rings[i] for i in np.flatnonzero(labels == lab)])
            )
            subdistricts.append(
                Subdistrict(
                    f"{code}{k + 1:03d}", f"{SUBDISTRICT_NAMES[is_north][k]}街道", district, ring
                )
            )
    sub_of_cell = np.array([order[lab] for lab in labels])

    river_area = shapely.area(shapely.intersection(grid.polys, plan.river))
    land = shapely.area(grid.polys) - river_area
    dens = density(cent[:, 0], cent[:, 1])
    per_km2 = 500.0 + 19000.0 * ((dens - 0.12) / 1.0).clip(0, None) ** 1.2
    households = np.rint(land / 1e6 * per_km2 * rng.lognormal(0.0, 0.3, n)).astype(int)

    cells: list[Cell | None] = [None] * n
    for s, sub in enumerate(subdistricts):
        idx = np.flatnonzero(sub_of_cell == s)
        k = max(1, round(len(idx) / 25))
        comm = np.full(n, -1)
        comm[idx] = kmeans(cent[idx], k, rng)
        group = np.where(sub_of_cell == s, 0, -1 - np.arange(n))
        comm = make_contiguous(comm, grid.adj, group)
        comm = _balance_communities(comm, idx, cent, grid.adj, group, rng)
        comms = sorted(
            set(comm[idx].tolist()),
            key=lambda c: (
                -round(cent[comm == c][:, 1].mean() / 1500.0),
                cent[comm == c][:, 0].mean(),
            ),
        )
        for ci, c in enumerate(comms):
            word = next(words)
            members = np.flatnonzero(comm == c)
            assert len(members) <= 99
            ordered = sorted(members, key=lambda i: (-round(cent[i, 1] / 250.0), cent[i, 0]))
            for gi, i in enumerate(ordered):
                code = f"{sub.code}{ci + 1:03d}{gi + 1:02d}"
                cells[i] = Cell(
                    code,
                    f"{sub.name}{word}社区第{gi + 1:02d}网格",
                    s,
                    word,
                    int(households[i]),
                    grid.rings[i],
                    grid.polys[i],
                )
    filled = [c for c in cells if c is not None]
    assert len(filled) == n  # every cell is in one community of one subdistrict
    return subdistricts, sorted(filled, key=lambda c: c.code)


def _balance_communities(comm, idx, cent, adj, group, rng):
    """Merge communities under 10 cells into a neighbour; split those over 45 cells in two."""
    for _ in range(100):
        labs, sizes = np.unique(comm[idx], return_counts=True)
        if len(labs) > 1 and sizes.min() < 10:
            small = labs[np.argmin(sizes)]
            border: dict[int, float] = defaultdict(float)
            for (i, j), length in adj.items():
                for a, b in ((i, j), (j, i)):
                    if comm[a] == small and group[b] == 0 and comm[b] != small:
                        border[int(comm[b])] += length
            best = max(sorted(border), key=lambda b: border[b])
            comm[comm == small] = best
        elif sizes.max() > 45:
            members = np.flatnonzero(comm == labs[np.argmax(sizes)])
            half = kmeans(cent[members], 2, rng)
            comm[members[half == 1]] = comm.max() + 1
            comm = make_contiguous(comm, adj, group)
        else:
            break
    return comm
