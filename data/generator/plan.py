"""The city plan: its names, the outline, the river 澜江 across it, the two centres and density.

Geometry is in local metres (see ``frames``); the outline is also kept on the lattice. The outline
is irregular and star-shaped, about 16 x 14 km; the river crosses it west to east, splitting the
north bank (old town) from the south bank (new town). ``density`` drives the size of grid cells,
street spacing, where stations stand and where tips are reported. ``word_pool`` draws the
two-character words that streets and communities are named after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from data.generator.frames import lattice_from_local, to_local

CITY_NAME = "江城市（虚构示范城市）"
RIVER_NAME = "澜江"

# Word pool for street and community names: first x second character, drawn without replacement.
_FIRST = "翠青金银玉丹紫碧锦华新福康兴瑞祥和安宁泰明春晓云星月松桂梅兰竹荷柳桃杏枫樟杨育龙凤鹤秀"
_SECOND = "湖园苑林山岭溪桥港湾塘坡台庄堤洲坪峰泉"


def word_pool(rng: np.random.Generator) -> list[str]:
    words = [a + b for a in _FIRST for b in _SECOND]
    return [words[i] for i in rng.permutation(len(words))]


def river_y(x):
    """River centre line y(x) in local metres: an arch with a smaller meander on top."""
    x = np.asarray(x, dtype=float)
    return (
        -500.0
        + 800.0 * np.sin(2 * np.pi * (x + 2500.0) / 16000.0)
        + 250.0 * np.sin(2 * np.pi * x / 6000.0 + 1.1)
    )


def river_slope(x):
    x = np.asarray(x, dtype=float)
    return 800.0 * 2 * np.pi / 16000.0 * np.cos(
        2 * np.pi * (x + 2500.0) / 16000.0
    ) + 250.0 * 2 * np.pi / 6000.0 * np.cos(2 * np.pi * x / 6000.0 + 1.1)


def river_half_width(x):
    return 165.0 + 30.0 * np.sin(2 * np.pi * np.asarray(x, dtype=float) / 7000.0 + 0.4)


CENTRE = np.array([-1500.0, float(river_y(-1500.0)) + 1500.0])  # old town, north bank


SUBCENTRE = np.array([2800.0, float(river_y(2800.0)) - 1900.0])  # new town, south bank


def density(x, y):
    """Relative urban density: ~1.1 in the old town, ~0.7 in the new town, 0.12 at the edge."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    d1 = (x - CENTRE[0]) ** 2 + (y - CENTRE[1]) ** 2
    d2 = (x - SUBCENTRE[0]) ** 2 + (y - SUBCENTRE[1]) ** 2
    return 0.12 + np.exp(-d1 / (2 * 2300.0**2)) + 0.6 * np.exp(-d2 / (2 * 1700.0**2))


@dataclass
class Plan:
    city: Polygon  # local metres, vertices exactly on the lattice
    city_lattice: Polygon  # the same outline in integer lattice units
    river_line: LineString  # centre line, local metres, beyond the city on both sides
    river: Polygon  # water surface, local metres
    river_zone: Polygon  # water plus a 15 m embankment: no street but a bridge enters it


def make_plan(rng: np.random.Generator) -> Plan:
    """An irregular, star-shaped outline of about 16 x 14 km and the river across it."""
    theta = np.linspace(0.0, 2 * np.pi, 720, endpoint=False)
    r = np.ones_like(theta)
    for m, amp in (
        (2, 0.05),
        (3, 0.045),
        (4, 0.03),
        (5, 0.025),
        (7, 0.018),
        (9, 0.012),
        (12, 0.008),
        (17, 0.005),
    ):
        r += amp * np.cos(m * theta + rng.uniform(0, 2 * np.pi))
    for centre, amp, width in (
        (0.6, 0.13, 0.16),
        (2.2, -0.06, 0.10),
        (3.9, -0.10, 0.14),
        (4.6, 0.07, 0.09),
        (5.3, 0.09, 0.18),
    ):
        delta = np.angle(np.exp(1j * (theta - centre)))
        r += amp * np.exp(-((delta / width) ** 2))
    x, y = 8000.0 * r * np.cos(theta), 7000.0 * r * np.sin(theta)
    x = (x - (x.max() + x.min()) / 2) * 16000.0 / (x.max() - x.min())
    y = (y - (y.max() + y.min()) / 2) * 14000.0 / (y.max() - y.min())
    ring = shapely.segmentize(Polygon(np.column_stack([x, y])).exterior, 20.0)
    lat_ring = np.rint(lattice_from_local(shapely.get_coordinates(ring)))
    keep = np.r_[True, np.any(lat_ring[1:] != lat_ring[:-1], axis=1)]
    city_lattice = Polygon(lat_ring[keep])
    assert city_lattice.is_valid
    city = to_local(city_lattice)

    xs = np.arange(-12000.0, 12000.1, 20.0)
    ys = river_y(xs)
    river_line = LineString(np.column_stack([xs, ys]))
    tangent = np.column_stack([np.ones_like(xs), river_slope(xs)])
    tangent /= np.linalg.norm(tangent, axis=1)[:, None]
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    w = river_half_width(xs)[:, None]
    axis = np.column_stack([xs, ys])
    river = Polygon(np.vstack([axis + w * normal, (axis - w * normal)[::-1]]))
    assert river.is_valid
    return Plan(city, city_lattice, river_line, river, river.buffer(15.0))
