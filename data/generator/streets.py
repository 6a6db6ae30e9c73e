"""The street layer: designed roads noded on the lattice into one connected network.

Snap-rounding puts every crossing on a vertex of both streets; the overshoot of secondaries past
the road they end on is trimmed, only the largest connected part is kept, and each road is merged
back into lines. ``junctions`` and ``street_samples`` give the stations and the tips their places
along the streets and the names of nearby crossings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString

from data.generator.frames import (
    int_coords,
    lattice_scale,
    local_from_lattice,
    to_lattice,
    to_local,
)
from data.generator.plan import Plan
from data.generator.roads import (
    ARTERIALS_NS,
    Road,
    arterial_frame,
    clip_city,
    cut_river,
    make_arterials,
    make_locals,
    make_secondaries,
)
from data.generator.topology import components


@dataclass
class Street:
    name: str
    road_class: str
    coords: np.ndarray  # int lattice vertices
    bridge: bool
    line: LineString  # local metres


def node_streets(roads: list[Road], trim_m: float = 100.0) -> list[Street]:
    """Snap-round all roads on the lattice so every crossing is a vertex of both streets, trim
    the overshoot dangles, keep the connected network and merge each road back into lines."""
    lat = [to_lattice(r.geom) for r in roads]
    noded = shapely.unary_union(lat, grid_size=1.0)
    coords, part_idx = shapely.get_coordinates(shapely.get_parts(noded), return_index=True)
    coords = np.rint(coords).astype(np.int64)
    same = part_idx[1:] == part_idx[:-1]
    seg_a, seg_b = coords[:-1][same], coords[1:][same]
    nonzero = np.any(seg_a != seg_b, axis=1)
    seg_a, seg_b = seg_a[nonzero], seg_b[nonzero]
    mids = shapely.points((seg_a + seg_b) / 2.0)
    hits = shapely.STRtree(lat).query_nearest(mids, all_matches=False)
    owner = np.empty(len(mids), dtype=np.int64)
    owner[hits[0]] = hits[1]
    kx, ky = lattice_scale()

    def merged(segs_a, segs_b) -> list[np.ndarray]:
        ml = MultiLineString([[tuple(a), tuple(b)] for a, b in zip(segs_a, segs_b, strict=True)])
        return [int_coords(p) for p in shapely.get_parts(shapely.line_merge(ml))]

    pieces: list[tuple[int, np.ndarray]] = []
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(roads) + 1))
    for r in range(len(roads)):
        sel = order[bounds[r] : bounds[r + 1]]
        if len(sel):
            pieces += [(r, p) for p in merged(seg_a[sel], seg_b[sel])]

    # vertex degree over the whole network, and which roads use a vertex
    degree: dict[tuple[int, int], int] = defaultdict(int)
    for a, b in zip(seg_a, seg_b, strict=True):
        degree[(int(a[0]), int(a[1]))] += 1
        degree[(int(b[0]), int(b[1]))] += 1

    def trim(p: np.ndarray) -> np.ndarray:
        for _ in range(2):
            step = np.hypot(np.diff(p[:, 0]) * kx, np.diff(p[:, 1]) * ky)
            if degree[(int(p[0, 0]), int(p[0, 1]))] == 1:
                dist = 0.0
                for i in range(1, len(p) - 1):
                    dist += step[i - 1]
                    if dist > trim_m:
                        break
                    if degree[(int(p[i, 0]), int(p[i, 1]))] > 2:
                        p = p[i:]
                        break
            p = p[::-1]
        return p

    pieces = [(r, trim(p)) if not roads[r].bridge else (r, p) for r, p in pieces]
    # keep the largest connected component
    verts, inverse = np.unique(np.vstack([p for _, p in pieces]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    edges, start = [], 0
    for _, p in pieces:
        ids = inverse[start : start + len(p)]
        edges += list(zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True))
        start += len(p)
    comp = components(len(verts), edges)
    main = np.argmax(np.bincount(comp))
    streets: list[Street] = []
    start = 0
    for r, p in pieces:
        ids = inverse[start : start + len(p)]
        start += len(p)
        if comp[ids[0]] != main or len(p) < 2:
            continue
        line = to_local(LineString(p))
        if line.length < 15.0 and not roads[r].bridge:
            continue
        streets.append(Street(roads[r].name, roads[r].road_class, p, roads[r].bridge, line))
    rank = {"arterial": 0, "secondary": 1, "local": 2}
    streets.sort(
        key=lambda s: (rank[s.road_class], s.name, tuple(s.coords[0]), tuple(s.coords[-1]))
    )
    return streets


def build_streets(rng: np.random.Generator, plan: Plan, words) -> list[Street]:
    ns, ew = arterial_frame(rng)
    inner = plan.city.buffer(-1.0)
    major = make_arterials(rng, ns, ew) + make_secondaries(rng, ns, ew, words)
    major = clip_city(cut_river(major, plan, {name for name, _ in ARTERIALS_NS}), inner)
    local = make_locals(rng, major, plan, words)
    local = clip_city(cut_river(local, plan, set()), inner, min_length=40.0)
    return node_streets(major + local)


def junctions(streets: list[Street]) -> tuple[np.ndarray, list[list[str]]]:
    """Vertices where streets of different names meet (local metres) and the names there."""
    names: dict[tuple[int, int], set[str]] = defaultdict(set)
    for s in streets:
        for x, y in s.coords:
            names[(int(x), int(y))].add(s.name)
    keys = sorted(k for k, v in names.items() if len(v) > 1)
    xy = local_from_lattice(np.array(keys, dtype=float))
    return xy, [sorted(names[k]) for k in keys]


def street_samples(streets: list[Street], classes: dict[str, float], step: float = 10.0):
    """Points every ``step`` metres along streets: positions, unit normals, street index,
    distance along the street and a class weight."""
    pos, nrm, idx, along, weight = [], [], [], [], []
    for i, s in enumerate(streets):
        if s.road_class not in classes or s.bridge:
            continue
        d = np.arange(step / 2, s.line.length, step)
        if len(d) == 0:
            continue
        p = shapely.get_coordinates(shapely.line_interpolate_point(s.line, d))
        q = shapely.get_coordinates(
            shapely.line_interpolate_point(s.line, np.minimum(d + 1.0, s.line.length))
        )
        r = shapely.get_coordinates(
            shapely.line_interpolate_point(s.line, np.maximum(d - 1.0, 0.0))
        )
        t = q - r
        t /= np.linalg.norm(t, axis=1)[:, None]
        pos.append(p)
        nrm.append(np.column_stack([-t[:, 1], t[:, 0]]))
        idx.append(np.full(len(d), i))
        along.append(d)
        weight.append(np.full(len(d), classes[s.road_class]))
    return (
        np.vstack(pos),
        np.vstack(nrm),
        np.concatenate(idx),
        np.concatenate(along),
        np.concatenate(weight),
    )
