"""The stations layer: 68 暖心驿站 beside the main streets, with operators, hours and amenities.

Stations stand 6-15 m off an arterial (mostly) or secondary street, denser in the centre, at least
160 m apart, off any other carriageway and away from the river. Each gets an operator (trade
union, subdistrict office, community, courier and delivery firms, a fuel station chain), a name
and address from its street and community, opening hours in OSM syntax (10 are 24/7, 2 keep
office hours), amenities by operator, a phone number, a status (3 closed, 2 suspended) and the
date it was last confirmed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypedDict

import numpy as np
import shapely
from shapely.geometry import Point

from data.generator.grid import Cell, Subdistrict
from data.generator.plan import Plan, density
from data.generator.streets import Street, street_samples

N_STATIONS = 68

AMENITIES = [
    ("rest", "休息"),
    ("water", "饮水"),
    ("toilet", "如厕"),
    ("meal_heating", "餐食加热"),
    ("phone_charging", "手机充电"),
    ("ebike_charging", "电动车充电"),
    ("battery_swap", "换电"),
    ("reading", "读书阅览"),
    ("first_aid", "应急药箱"),
    ("cooling_heating", "纳凉取暖"),
    ("rain_shelter", "避雨"),
    ("wifi", "无线网络"),
]

OPERATOR_COUNTS = [
    ("union", 10),
    ("subdistrict", 14),
    ("community", 13),
    ("sf", 8),
    ("post", 7),
    ("meituan", 8),
    ("sinopec", 5),
    ("jd", 3),
]
DAYTIME_HOURS = [
    ("Mo-Su 08:00-20:00", 10),
    ("Mo-Fr 07:30-21:00; Sa,Su 09:00-18:00", 6),
    ("Mo-Su 08:00-12:00,14:00-20:00", 6),
    ("Mo-Su 07:00-21:00", 5),
    ("Mo-Sa 08:30-20:30", 4),
    ("Mo-Su 06:30-22:00", 3),
    ("Mo-Su 09:00-21:00", 4),
    ("Mo-Fr 08:00-19:00; Sa,Su 10:00-17:00", 3),
    ("Mo-Su 10:00-14:00,16:00-22:00", 3),
]
OFFICE_HOURS = "Mo-Fr 09:00-17:00; Sa,Su off"
AMENITY_P = {
    "rest": 0.97,
    "water": 0.94,
    "toilet": 0.55,
    "meal_heating": 0.45,
    "phone_charging": 0.5,
    "ebike_charging": 0.25,
    "battery_swap": 0.1,
    "reading": 0.25,
    "first_aid": 0.45,
    "cooling_heating": 0.55,
    "rain_shelter": 0.35,
    "wifi": 0.45,
}
AMENITY_BOOST = {
    "sinopec": {"toilet": 0.95, "wifi": 0.8, "ebike_charging": 0.5},
    "meituan": {"battery_swap": 0.6, "ebike_charging": 0.7, "phone_charging": 0.8},
    "sf": {"ebike_charging": 0.55, "phone_charging": 0.7},
    "union": {"reading": 0.6, "meal_heating": 0.75, "first_aid": 0.7},
    "community": {"reading": 0.5, "toilet": 0.75},
}


class _Site(TypedDict):
    """A chosen station site before it is named: where, beside which street, run by whom."""

    pt: np.ndarray  # local metres
    street: str
    dist: float  # along the street, metres
    side: int  # 1 or -1: which side of the street
    kind: str  # the operator
    sub: Subdistrict
    community: str


def build_stations(
    rng: np.random.Generator,
    plan: Plan,
    streets: list[Street],
    subdistricts: list[Subdistrict],
    cells: list[Cell],
) -> list[dict]:
    """68 stations a few metres off arterial (mostly) and secondary streets, denser in the
    centre, at least 150 m apart."""
    pos, nrm, idx, along, weight = street_samples(streets, {"arterial": 3.0, "secondary": 1.0})
    p = weight * density(pos[:, 0], pos[:, 1]) ** 1.8
    p /= p.sum()
    inner = plan.city.buffer(-40.0)
    keep_out = plan.river_zone.buffer(20.0)
    all_lines = shapely.STRtree([s.line for s in streets])
    chosen: list[tuple[np.ndarray, int, float, int]] = []
    while len(chosen) < N_STATIONS:
        k = int(rng.choice(len(p), p=p))
        side = 1 if rng.random() < 0.5 else -1
        pt = pos[k] + side * rng.uniform(6.0, 15.0) * nrm[k]
        if any(np.hypot(*(pt - c[0])) < 160.0 for c in chosen):
            continue
        point = Point(pt)
        if not inner.contains(point) or keep_out.contains(point):
            continue
        near = all_lines.query(point, predicate="dwithin", distance=4.0)
        if len(near):  # not on the carriageway of another street
            continue
        chosen.append((pt, int(idx[k]), float(along[k]), side))

    cell_tree = shapely.STRtree([c.poly for c in cells])
    kinds = [kind for kind, n in OPERATOR_COUNTS for _ in range(n)]
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    stations: list[_Site] = []
    for (pt, si, dist, side), kind in zip(chosen, kinds, strict=True):
        cell = cells[int(cell_tree.query(Point(pt), predicate="within")[0])]
        sub = subdistricts[cell.subdistrict]
        stations.append(
            {
                "pt": pt,
                "street": streets[si].name,
                "dist": dist,
                "side": side,
                "kind": kind,
                "sub": sub,
                "community": cell.community,
            }
        )
    stations.sort(key=lambda s: (s["sub"].code, -round(s["pt"][1] / 500.0), s["pt"][0]))

    n_24 = 10
    always = [i for i, s in enumerate(stations) if s["kind"] == "sinopec"]
    others = [
        i for i, s in enumerate(stations) if s["kind"] in ("meituan", "sf", "jd", "community")
    ]
    always += [
        others[i] for i in sorted(rng.choice(len(others), n_24 - len(always), replace=False))
    ]
    offices = [i for i, s in enumerate(stations) if s["kind"] in ("subdistrict", "union")]
    offices = [offices[i] for i in sorted(rng.choice(len(offices), 2, replace=False))]
    status = ["open"] * len(stations)
    for i in rng.choice(len(stations), 5, replace=False)[:3]:
        status[i] = "closed"
    for i in [i for i in rng.permutation(len(stations)) if status[i] == "open"][:2]:
        status[i] = "suspended"
    hours_p = np.array([w for _, w in DAYTIME_HOURS], dtype=float)
    hours_p /= hours_p.sum()

    features, names, phones = [], set(), set()
    start = date(2025, 9, 1)
    span = (date(2026, 6, 30) - start).days
    for i, s in enumerate(stations):
        options, operator = _station_name(s)
        name = next((n for n in options if n not in names), None)
        assert name is not None, options
        names.add(name)
        number = 2 * int(s["dist"] // 30.0) + (1 if s["side"] > 0 else 2)
        if i in always:
            hours = "24/7"
        elif i in offices:
            hours = OFFICE_HOURS
        else:
            hours = DAYTIME_HOURS[int(rng.choice(len(DAYTIME_HOURS), p=hours_p))][0]
        probs = dict(AMENITY_P, **AMENITY_BOOST.get(s["kind"], {}))
        codes = [code for code, _ in AMENITIES if rng.random() < probs[code]] or ["rest"]
        phone = f"027-8{rng.integers(0, 10_000_000):07d}"
        while phone in phones:
            phone = f"027-8{rng.integers(0, 10_000_000):07d}"
        phones.add(phone)
        confirmed = start + timedelta(days=int(rng.integers(0, span + 1)))
        features.append(
            {
                "pt": s["pt"],
                "props": {
                    "station_id": f"S{i + 1:03d}",
                    "name": name,
                    "address": f"{s['sub'].district}{s['street']}{number}号",
                    "amenities": ";".join(codes),
                    "opening_hours": hours,
                    "operator": operator,
                    "phone": phone,
                    "status": status[i],
                    "last_confirmed": confirmed.isoformat(),
                },
            }
        )
    return features


def _station_name(s: _Site) -> tuple[list[str], str]:
    """Candidate names (the first one not yet taken is used) and the operator."""
    sub, street, comm, district = s["sub"].name, s["street"], s["community"], s["sub"].district
    return {
        "union": (
            [f"{district}总工会{street}暖心驿站", f"{district}总工会{comm}社区暖心驿站"],
            f"{district}总工会",
        ),
        "subdistrict": ([f"{sub}{street}暖心驿站", f"{sub}{comm}社区暖心驿站"], f"{sub}办事处"),
        "community": (
            [f"{comm}社区党群服务中心暖心驿站", f"{comm}社区{street}党群服务站暖心驿站"],
            f"{comm}社区党群服务中心",
        ),
        "sf": ([f"顺丰速运{comm}站点暖心驿站", f"顺丰速运{street}站点暖心驿站"], "顺丰速运"),
        "post": ([f"中国邮政{comm}支局暖心驿站", f"中国邮政{street}支局暖心驿站"], "中国邮政"),
        "meituan": ([f"美团{comm}站暖心驿站", f"美团{street}站暖心驿站"], "美团"),
        "sinopec": (
            [f"中国石化{street}加油站易捷暖心驿站", f"中国石化{comm}加油站易捷暖心驿站"],
            "中国石化易捷",
        ),
        "jd": ([f"京东物流{comm}营业部暖心驿站", f"京东物流{street}营业部暖心驿站"], "京东物流"),
    }[s["kind"]]
