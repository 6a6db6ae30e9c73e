"""The grid cells' geometry: Voronoi cells of density-dependent seeds, split by the river.

Seeds are thrown with a Poisson-disc spacing that follows ``plan.density`` (about 115 m in the old
town, 345 m at the edge). Their Voronoi edges, the river centre line and the city outline are
moved to the lattice and noded together, so each face shares its edges vertex for vertex with its
neighbours. Slivers are merged into the same-bank neighbour they share most border with.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from data.generator.frames import int_coords, lattice_from_local, lattice_scale, to_local
from data.generator.plan import Plan, density, river_y
from data.generator.topology import ccw, polygon_from_segments, ring_keys, xor_keys


def cell_radius(x, y):
    """Poisson-disc spacing of grid seeds: ~115 m in the old town, ~345 m at the edge."""
    return 120.0 / np.sqrt(density(x, y))


def poisson_seeds(
    rng: np.random.Generator, city: Polygon, n_candidates: int = 60000, batch: int = 400
) -> np.ndarray:
    """Dart throwing with a spacing that varies with density (denser seeds in the centre)."""
    minx, miny, maxx, maxy = city.bounds
    cand = np.column_stack(
        [rng.uniform(minx, maxx, n_candidates), rng.uniform(miny, maxy, n_candidates)]
    )
    cand = cand[shapely.contains_xy(city, cand[:, 0], cand[:, 1])]
    radius = cell_radius(cand[:, 0], cand[:, 1])
    accepted = np.empty((0, 2))
    for start in range(0, len(cand), batch):
        c, rc = cand[start : start + batch], radius[start : start + batch]
        if len(accepted):
            d, _ = cKDTree(accepted).query(c, k=1)
            c, rc = c[d >= rc], rc[d >= rc]
        chosen: list[int] = []
        for i in range(len(c)):
            if not chosen or np.min(np.hypot(*(c[chosen] - c[i]).T)) >= rc[i]:
                chosen.append(i)
        accepted = np.vstack([accepted, c[chosen]])
    return accepted


def clip_and_snap(lines, plan: Plan, outline_tree: cKDTree, outline_int: np.ndarray) -> list:
    """Clip local-metre lines to the city, move them to the lattice, and snap the ends that
    touch the outline onto the nearest outline vertex (so the outline gains no new vertices)."""
    out = []
    boundary = plan.city.exterior
    for geom in shapely.get_parts(shapely.intersection(lines, plan.city)):
        for part in shapely.get_parts(geom):
            if part.geom_type != "LineString" or part.length < 1e-6:
                continue
            xy = shapely.get_coordinates(part)
            lat = lattice_from_local(xy)
            for end in (0, -1):
                if boundary.distance(Point(xy[end])) < 1e-3:
                    _, idx = outline_tree.query(xy[end])
                    lat[end] = outline_int[idx]
            if len(lat) == 2 and np.all(lat[0] == lat[1]):
                continue
            out.append(LineString(lat))
    return out


@dataclass
class Grid:
    rings: list[np.ndarray]  # exterior rings, int lattice, one per cell
    polys: np.ndarray  # shapely polygons, local metres
    north: np.ndarray  # bool per cell: north of the river centre line
    adj: dict[tuple[int, int], float]  # shared border length (m) between adjacent cells


def build_cells(rng: np.random.Generator, plan: Plan) -> Grid:
    """Voronoi cells of density-dependent seeds, split by the river line, fully noded."""
    seeds = poisson_seeds(rng, plan.city)
    edges = shapely.voronoi_polygons(
        MultiPoint(seeds), extend_to=plan.city.buffer(3000.0), only_edges=True
    )
    outline_int = int_coords(plan.city_lattice.exterior)[:-1]
    outline_local = shapely.get_coordinates(plan.city.exterior)[:-1]
    tree = cKDTree(outline_local)
    voronoi = clip_and_snap(shapely.get_parts(edges), plan, tree, outline_int)
    river = clip_and_snap(np.array([plan.river_line]), plan, tree, outline_int)
    outline = LineString(int_coords(plan.city_lattice.exterior))
    noded = shapely.unary_union([outline, *voronoi, *river], grid_size=1.0)
    faces = list(shapely.get_parts(shapely.polygonize(list(shapely.get_parts(noded)))))
    halves = shapely.get_parts(
        shapely.polygonize(
            list(shapely.get_parts(shapely.unary_union([outline, *river], grid_size=1.0)))
        )
    )
    half_north = [
        float(river_y(p.x)) < p.y for p in (to_local(h.point_on_surface()) for h in halves)
    ]
    rings = []
    for f in faces:
        assert len(f.interiors) == 0
        rings.append(ccw(int_coords(f.exterior)))
    reps = shapely.point_on_surface(faces)
    north = np.zeros(len(faces), dtype=bool)
    for h, is_north in zip(halves, half_north, strict=True):
        north |= shapely.contains(h, reps) & is_north
    local_faces = to_local(np.array(faces))
    area = shapely.area(local_faces)
    rep_local = shapely.get_coordinates(to_local(reps))
    threshold = 0.3 * 1.4 * cell_radius(rep_local[:, 0], rep_local[:, 1]) ** 2

    seg_faces: dict[tuple[int, int, int, int], list[int]] = defaultdict(list)
    for i, ring in enumerate(rings):
        for key in ring_keys(ring):
            seg_faces[key].append(i)
    kx, ky = lattice_scale()
    face_adj: dict[tuple[int, int], float] = defaultdict(float)
    for key in sorted(seg_faces):
        owners = seg_faces[key]
        assert len(owners) <= 2
        if len(owners) == 2:
            length = math.hypot((key[2] - key[0]) * kx, (key[3] - key[1]) * ky)
            face_adj[(min(owners), max(owners))] += length

    # merge slivers (outline clips, river splits) into the same-bank neighbour with most border
    parent = list(range(len(faces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    nbrs: list[list[tuple[int, float]]] = [[] for _ in faces]
    for (i, j), length in face_adj.items():
        nbrs[i].append((j, length))
        nbrs[j].append((i, length))
    group_area = area.copy()
    group_members = {i: [i] for i in range(len(faces))}
    for _ in range(10):
        merged = False
        for f in np.argsort(area, kind="stable"):
            g = root(int(f))
            if group_area[g] >= threshold[g]:
                continue
            border: dict[int, float] = defaultdict(float)
            for m in group_members[g]:
                for j, length in nbrs[m]:
                    other = root(j)
                    if other != g and north[other] == north[g]:
                        border[other] += length
            if not border:
                continue
            best = max(sorted(border), key=lambda b: border[b])
            parent[g] = best
            group_area[best] += group_area[g]
            group_members[best] += group_members.pop(g)
            merged = True
        if not merged:
            break

    roots = sorted({root(i) for i in range(len(faces))})
    index = {r: k for k, r in enumerate(roots)}
    members: list[list[int]] = [[] for _ in roots]
    for i in range(len(faces)):
        members[index[root(i)]].append(i)
    cell_rings = [
        rings[m[0]] if len(m) == 1 else polygon_from_segments(xor_keys([rings[i] for i in m]))
        for m in members
    ]
    cell_of_face = np.array([index[root(i)] for i in range(len(faces))])
    adj: dict[tuple[int, int], float] = defaultdict(float)
    for (i, j), length in sorted(face_adj.items()):
        a, b = cell_of_face[i], cell_of_face[j]
        if a != b:
            adj[(int(min(a, b)), int(max(a, b)))] += length
    polys = to_local(np.array([Polygon(r) for r in cell_rings]))
    return Grid(cell_rings, polys, north[[m[0] for m in members]], dict(adj))
