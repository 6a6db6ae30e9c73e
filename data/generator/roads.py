"""The road design, in local metres: arterials, bridges, secondaries and local streets.

Streets follow a curvilinear frame (``warp_y``): near the river they run parallel to it, further
away its meander fades out. The arterials are wavy north-south and east-west roads plus three
diagonals; secondaries form an irregular mesh between them, denser where the city is denser, with
spans left out at random; local streets fill the blocks that remain. Every road is cut at the
river zone, and only the north-south arterials cross it, on straight bridges. The designed roads
are noded into the street layer in ``streets``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from data.generator.plan import CENTRE, RIVER_NAME, SUBCENTRE, Plan, density, river_y


@dataclass
class Road:
    name: str
    road_class: str  # arterial / secondary / local
    geom: LineString  # local metres
    bridge: bool = False


def warp_y(u, v):
    """Curvilinear street frame: v = 0 is the river line, |v| < 600 m follows it exactly, and the
    river's meander fades out further from the water."""
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    fade = np.exp(-np.maximum(np.abs(v) - 600.0, 0.0) / 3500.0)
    return v + river_y(u) * fade


@dataclass
class Wave:
    """offset(t) = base + amp * sin(2 pi t / lam + phase) + slant * t."""

    base: float
    amp: float = 0.0
    lam: float = 1.0
    phase: float = 0.0
    slant: float = 0.0

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        return self.base + self.amp * np.sin(2 * np.pi * t / self.lam + self.phase) + self.slant * t


def ns_line(u_of_v, v0: float, v1: float) -> LineString:
    v = np.linspace(v0, v1, max(2, int(abs(v1 - v0) / 25.0)))
    u = u_of_v(v)
    return LineString(np.column_stack([u, warp_y(u, v)]))


def ew_line(v_of_u, u0: float, u1: float) -> LineString:
    u = np.linspace(u0, u1, max(2, int(abs(u1 - u0) / 25.0)))
    return LineString(np.column_stack([u, warp_y(u, v_of_u(u))]))


def bezier(p0, p1, p2, n: int = 200) -> LineString:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return LineString((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2)


ARTERIALS_NS = [
    ("解放大道", -5400.0),
    ("建设大道", -2000.0),
    ("中山大道", 1300.0),
    ("友谊大道", 4600.0),
]
ARTERIALS_EW = {
    True: [("新华大道", 2400.0), ("光明大道", 4700.0)],
    False: [("发展大道", -2300.0), ("南湖大道", -4600.0)],
}
RIVERSIDE = {True: ("滨江大道", 300.0), False: ("沿江大道", -300.0)}
_NUMERALS = "一二三四五六七八九十"
BRIDGE_NAMES = [f"{RIVER_NAME}{n}桥" for n in _NUMERALS]
OVERSHOOT = 70.0  # secondaries run this far past the road they end on; trimmed after noding


def arterial_frame(rng):
    """The arterial skeleton as functions: NS roads u(v) and, per bank, EW roads v(u)."""
    ns = [
        Wave(
            u0 + rng.uniform(-150, 150),
            rng.uniform(120, 220),
            rng.uniform(7000, 11000),
            rng.uniform(0, 2 * np.pi),
            rng.uniform(-0.025, 0.025),
        )
        for _, u0 in ARTERIALS_NS
    ]
    ns = [Wave(-11000.0), *ns, Wave(11000.0)]  # virtual bounds beyond the city
    ew = {}
    for north in (True, False):
        sign = 1.0 if north else -1.0
        waves = [Wave(RIVERSIDE[north][1])]
        waves += [
            Wave(v0, rng.uniform(80, 150), rng.uniform(7000, 10000), rng.uniform(0, 6.3))
            for _, v0 in ARTERIALS_EW[north]
        ]
        ew[north] = [*waves, Wave(sign * 9000.0)]
    return ns, ew


def make_arterials(rng, ns, ew) -> list[Road]:
    roads = [
        Road(name, "arterial", ns_line(ns[k + 1], -9500.0, 9500.0))
        for k, (name, _) in enumerate(ARTERIALS_NS)
    ]
    for north in (True, False):
        names = [RIVERSIDE[north][0]] + [name for name, _ in ARTERIALS_EW[north]]
        for name, wave in zip(names, ew[north][:-1], strict=True):
            roads.append(Road(name, "arterial", ew_line(wave, -11000.0, 11000.0)))

    def on_riverside(u: float, north: bool) -> np.ndarray:
        v = RIVERSIDE[north][1] - (1 if north else -1) * 40.0  # start just past the road
        return np.array([u, float(warp_y(u, v))])

    diagonals = [
        ("人民大道", on_riverside(CENTRE[0] - 400.0, True), np.array([-9000.0, 8600.0]), 700.0),
        ("胜利大道", on_riverside(CENTRE[0] - 100.0, True), np.array([7500.0, 9000.0]), -500.0),
        ("科技大道", on_riverside(SUBCENTRE[0] - 900.0, False), np.array([9500.0, -8200.0]), 500.0),
    ]
    for name, p0, p2, bend in diagonals:
        mid = (p0 + p2) / 2
        d = (p2 - p0) / np.linalg.norm(p2 - p0)
        p1 = mid + bend * np.array([-d[1], d[0]])
        roads.append(Road(name, "arterial", bezier(p0, p1, p2)))
    return roads


def make_secondaries(rng, ns, ew, words) -> list[Road]:
    """Roads between the arterials: an irregular curvilinear mesh with random spans."""
    roads: list[Road] = []
    for north in (True, False):
        sign = 1.0 if north else -1.0
        levels = ew[north]
        v_mid = sign * 2500.0
        # roughly north-south secondaries, interpolated between the NS arterials
        for k in range(len(ns) - 1):
            left, right = ns[k], ns[k + 1]
            width = float(right(v_mid) - left(v_mid))
            pos = float(left(v_mid))
            while True:
                y_mid = float(warp_y(pos, v_mid))
                pos += float(
                    np.clip(520.0 / np.sqrt(density(pos, y_mid)), 450, 1300) * rng.uniform(0.8, 1.2)
                )
                if pos > float(right(v_mid)) - 300.0:
                    break
                t0 = (pos - float(left(v_mid))) / width
                t1 = t0 + (rng.uniform(-0.25, 0.25) if rng.random() < 0.2 else 0.0)
                noise = Wave(0.0, 40.0, rng.uniform(2500, 4500), rng.uniform(0, 6.3))
                name = f"{next(words)}路"

                def u_of_v(v, left=left, right=right, t0=t0, t1=t1, noise=noise, sign=sign):
                    t = t0 + (t1 - t0) * (np.asarray(v) / (sign * 9000.0))
                    return (1 - t) * left(v) + t * right(v) + noise(v)

                mids = [
                    float(levels[j](pos) + levels[j + 1](pos)) / 2 for j in range(len(levels) - 1)
                ]
                for lo, hi in _spans(rng, [(pos, float(warp_y(pos, v))) for v in mids]):
                    a = levels[lo](pos) - sign * OVERSHOOT
                    b = levels[hi](pos) + sign * (OVERSHOOT if hi < len(levels) - 1 else 0.0)
                    roads.append(Road(name, "secondary", ns_line(u_of_v, a, b)))
        # roughly east-west secondaries, interpolated between the EW arterials
        for j in range(len(levels) - 1):
            lower, upper = levels[j], levels[j + 1]
            band = abs(float(upper(0.0) - lower(0.0)))
            n = max(1, round(band / (850.0 if j == len(levels) - 2 else 720.0)) - 1)
            for i in range(n):
                t = (i + 1 + rng.uniform(-0.2, 0.2)) / (n + 1)
                noise = Wave(0.0, 50.0, rng.uniform(3000, 6000), rng.uniform(0, 6.3))

                def v_of_u(u, lower=lower, upper=upper, t=t, noise=noise):
                    return (1 - t) * lower(u) + t * upper(u) + noise(u)

                v_line = float(v_of_u(0.0))
                name = f"{next(words)}路"
                mids = [float(ns[k](v_line) + ns[k + 1](v_line)) / 2 for k in range(len(ns) - 1)]
                for lo, hi in _spans(rng, [(u, float(warp_y(u, v_line))) for u in mids]):
                    a = ns[lo](v_line) - (OVERSHOOT if lo > 0 else 0.0)
                    b = ns[hi](v_line) + (OVERSHOOT if hi < len(ns) - 1 else 0.0)
                    roads.append(Road(name, "secondary", ew_line(v_of_u, a, b)))
    return roads


def _spans(rng, mids: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Pick bands (by the density at their middle) and return runs as (first level, last level)."""
    keep = [rng.random() < float(np.clip(0.3 + 0.9 * density(x, y), 0.25, 0.95)) for x, y in mids]
    runs, start = [], None
    for i, k in enumerate([*keep, False]):
        if k and start is None:
            start = i
        elif not k and start is not None:
            runs.append((start, i))
            start = None
    return runs


def cut_river(roads: list[Road], plan: Plan, bridge_roads: set[str]) -> list[Road]:
    """Remove the river zone from every road; the NS arterials get a straight bridge across."""
    out: list[Road] = []
    bridges: list[tuple[float, Road]] = []
    for road in roads:
        rest = road.geom.difference(plan.river_zone)
        parts = sorted(shapely.get_parts(rest), key=lambda p: road.geom.project(Point(p.coords[0])))
        out += [Road(road.name, road.road_class, p) for p in parts]
        if road.name in bridge_roads:
            for a, b in zip(parts[:-1], parts[1:], strict=True):
                gap = LineString([a.coords[-1], b.coords[0]])
                if gap.intersects(plan.river):
                    bridges.append((gap.centroid.x, Road("", "arterial", gap, bridge=True)))
    for k, (_, road) in enumerate(sorted(bridges, key=lambda b: b[0])):
        road.name = BRIDGE_NAMES[k]
        out.append(road)
    return out


def clip_city(roads: list[Road], inner: Polygon, min_length: float = 20.0) -> list[Road]:
    out = []
    for road in roads:
        for part in shapely.get_parts(road.geom.intersection(inner)):
            if part.geom_type == "LineString" and part.length >= min_length:
                out.append(Road(road.name, road.road_class, part, road.bridge))
    return out


def make_locals(rng, roads: list[Road], plan: Plan, words) -> list[Road]:
    """Short local streets inside the blocks that the arterials and secondaries leave."""
    lines = [r.geom for r in roads] + [plan.city.exterior, plan.river_zone.exterior]
    blocks = shapely.get_parts(
        shapely.polygonize(list(shapely.get_parts(shapely.unary_union(lines))))
    )
    reps = shapely.point_on_surface(blocks)
    ok = (
        shapely.contains(plan.city, reps)
        & ~shapely.contains(plan.river_zone, reps)
        & (shapely.area(blocks) > 40000.0)
    )
    blocks = sorted(blocks[ok], key=lambda b: (round(-b.centroid.y), round(b.centroid.x)))
    out: list[Road] = []
    for block in blocks:
        c = block.centroid
        d = float(density(c.x, c.y))
        if rng.random() > min(1.0, 0.05 + 0.85 * d):
            continue
        rect = shapely.get_coordinates(shapely.oriented_envelope(block))[:4]
        e1, e2 = rect[1] - rect[0], rect[2] - rect[1]
        (long_v, short_v) = (e1, e2) if np.linalg.norm(e1) >= np.linalg.norm(e2) else (e2, e1)
        length, width = np.linalg.norm(long_v), np.linalg.norm(short_v)
        if rng.random() < 0.25 and width > 2 * 150.0:  # streets across the block instead
            long_v, short_v, length, width = short_v, long_v, width, length
        angle = math.atan2(long_v[1], long_v[0]) + rng.normal(0.0, math.radians(5.0))
        axis = np.array([math.cos(angle), math.sin(angle)])
        perp = np.array([-axis[1], axis[0]])
        centre = rect.mean(0)
        spacing = float(np.clip(150.0 / math.sqrt(d), 140.0, 360.0))
        n = int(width // spacing)
        if n == 0 and width > 170.0:
            n = 1
        if n == 0:
            continue
        n = min(n, 6)
        word = next(words)
        area = block.buffer(8.0)
        offsets = (np.arange(n) + 1) * width / (n + 1) - width / 2
        suffix = "街" if rng.random() < 0.6 else "路"
        for i, off in enumerate(offsets):
            off += rng.uniform(-0.1, 0.1) * width / (n + 1)
            t = np.linspace(-0.5, 0.5, 24)
            bend = rng.uniform(-0.06, 0.06) * length * np.cos(np.pi * t)
            pts = centre + np.outer(t * (length + 60.0), axis) + np.outer(off + bend, perp)
            keep = min(1.0, rng.uniform(700.0, 1000.0) / (length + 60.0))
            if rng.random() < 0.15:  # a dead end: the street stops part way
                keep = min(keep, rng.uniform(0.45, 0.8))
            if keep < 1.0:  # keep the piece that starts at one of the bounding roads
                cut = max(2, int(keep * len(pts)))
                pts = pts[:cut] if rng.random() < 0.5 else pts[-cut:]
            name = f"{word}{_NUMERALS[i]}{suffix}" if n > 1 else f"{word}{suffix}"
            out += _local_parts(name, LineString(pts), area)
        if length > 3 * spacing and d > 0.3 and rng.random() < 0.5:
            pos = rng.uniform(-0.3, 0.3) * length
            pts = centre + pos * axis + np.outer(np.linspace(-0.5, 0.5, 2) * (width + 60.0), perp)
            out += _local_parts(f"{word}巷", LineString(pts), area)
    return out


def _local_parts(name: str, line: LineString, area: Polygon) -> list[Road]:
    return [
        Road(name, "local", p)
        for p in shapely.get_parts(line.intersection(area))
        if p.geom_type == "LineString" and p.length > 60.0
    ]
