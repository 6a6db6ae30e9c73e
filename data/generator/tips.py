"""The tips layer: 1,200 hazard tips reported along the streets in the first half of 2026.

Tips lie within 25 m of a street, weighted towards arterials, secondaries and the centre, with a
share around 25 hotspots; 3 lie deliberately just outside the city. The category mix follows the
season (category 04 peaks with the cold spells of January-February and the rain of late May and
June), the hour of day has lunch and evening peaks, and the description names the street (and a
crossing street nearby when there is one). Reporters are unevenly active, a few filing many tips,
and report near their home area; older tips are more likely closed. Tips are sorted by time and
numbered from T000001.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import Point

from data.generator.plan import Plan, density
from data.generator.streets import Street, junctions, street_samples

N_TIPS = 1200
N_TIPS_OUTSIDE = 3
TZ = timezone(timedelta(hours=8))  # Asia/Shanghai
CATEGORIES = ["01", "02", "03", "04", "05", "06", "11", "12", "13"]

TEMPLATES = {
    "01": [
        "{a}路边暴露垃圾未清运",
        "{a}垃圾桶满溢",
        "{a}人行道积存渣土",
        "{a}路面油污未清理",
        "{a}小区门口堆放建筑垃圾",
        "{a}绿化带内垃圾堆积",
    ],
    "02": [
        "{a}沿线电线杆张贴小广告",
        "{a}违规悬挂横幅",
        "{a}墙面喷涂办证广告",
        "{a}公交站牌被张贴广告",
        "{a}人行道散发小广告",
    ],
    "03": [
        "{a}施工围挡倒伏",
        "{a}工地夜间施工扰民",
        "{a}工地裸土未覆盖扬尘大",
        "{a}渣土车道路遗撒",
        "{a}施工占道未设警示标志",
    ],
    "04": ["{a}路面塌陷", "{a}燃气管道疑似泄漏", "{a}广告牌松动有坠落风险", "{a}电缆井冒烟"],
    "04w": [
        "{a}路面结冰，有骑手滑倒",
        "{a}坡道结冰",
        "{a}积雪未清，电动车通行困难",
        "{a}与{b}路口路面结冰",
    ],
    "04r": ["{a}道路积水约30厘米", "{a}与{b}路口积水严重", "{a}下穿通道积水", "{a}路面塌陷"],
    "05": [
        "{a}消防通道被电动车堵塞",
        "{a}附近小区楼道飞线充电",
        "{a}占道经营",
        "{a}机动车占用非机动车道",
        "{a}共享单车堆积",
        "{a}夜市占道经营油烟扰民",
        "{a}小区门口外卖电动车乱停放",
    ],
    "06": ["{a}流浪犬聚集", "{a}外卖柜损坏", "{a}驿站附近照明不足", "{a}公共座椅损坏"],
    "11": [
        "{a}与{b}路口井盖缺失",
        "{a}井盖破损",
        "{a}路灯不亮",
        "{a}雨水篦子堵塞",
        "{a}消火栓漏水",
        "{a}垃圾箱损坏",
        "{a}电箱门未关闭",
    ],
    "12": [
        "{a}与{b}路口信号灯故障",
        "{a}护栏损坏",
        "{a}交通标志被遮挡",
        "{a}路面坑洼",
        "{a}减速带损坏",
        "{a}斑马线标线模糊",
    ],
    "13": [
        "{a}行道树倒伏",
        "{a}树枝遮挡信号灯",
        "{a}绿地被踩踏损坏",
        "{a}树穴缺少盖板",
        "{a}绿化带苗木枯死",
    ],
}
CATEGORY_WEIGHT = {
    "01": 16,
    "02": 6,
    "03": 8,
    "04": 4,
    "05": 20,
    "06": 4,
    "11": 22,
    "12": 11,
    "13": 7,
}
MONTH_WEIGHT = [0.15, 0.12, 0.16, 0.17, 0.19, 0.21]
MONTH_BOOST = {
    "04": [5.0, 3.5, 0.6, 0.8, 1.5, 4.0],
    "13": [0.8, 0.8, 1.0, 1.1, 1.2, 1.6],
    "03": [0.8, 0.5, 1.3, 1.3, 1.2, 1.0],
    "02": [1.0, 0.6, 1.0, 1.0, 1.0, 1.0],
}
COLD_SPELLS = [(date(2026, 1, 20), 10), (date(2026, 2, 6), 4)]
RAIN_SPELLS = [(date(2026, 5, 20), 3), (date(2026, 6, 12), 15)]
HOUR_WEIGHT = [1, 0.5, 0.3, 0.3, 0.4, 1, 3, 6, 8, 8, 9, 11, 12, 10, 8, 8, 9, 11, 12, 11, 9, 7, 4, 2]


def _tip_time(rng, cat: str, month: int) -> datetime:
    days = (date(2026, month + 1, 1) if month < 12 else date(2027, 1, 1)) - date(2026, month, 1)
    day = date(2026, month, 1) + timedelta(days=int(rng.integers(0, days.days)))
    spells = COLD_SPELLS if month <= 2 else RAIN_SPELLS if month >= 5 else []
    spells = [(d0, n) for d0, n in spells if d0.month == month]
    if cat == "04" and spells and rng.random() < 0.8:
        d0, n = spells[int(rng.integers(0, len(spells)))]
        day = d0 + timedelta(days=int(rng.integers(0, n)))
    hw = np.array(HOUR_WEIGHT, dtype=float)
    hour = int(rng.choice(24, p=hw / hw.sum()))
    return datetime(
        day.year,
        day.month,
        day.day,
        hour,
        int(rng.integers(0, 60)),
        int(rng.integers(0, 60)),
        tzinfo=TZ,
    )


def build_tips(rng: np.random.Generator, plan: Plan, streets: list[Street]) -> list[dict]:
    """Tips near streets (mostly arterials and secondaries), denser in the centre, with some
    hotspots, a seasonal category mix and a few very active reporters."""
    pos, nrm, idx, _, weight = street_samples(
        streets, {"arterial": 3.0, "secondary": 2.0, "local": 1.0}
    )
    p = weight * density(pos[:, 0], pos[:, 1]) ** 1.3
    p /= p.sum()
    hot = rng.choice(len(p), 25, replace=False, p=p)
    hot_w = rng.pareto(1.5, 25) + 0.5
    hot_w /= hot_w.sum()
    inner = plan.city.buffer(-2.0)
    bridges = shapely.union_all([s.line for s in streets if s.bridge])

    points: list[tuple[np.ndarray, int]] = []
    while len(points) < N_TIPS - N_TIPS_OUTSIDE:
        if rng.random() < 0.3:
            k = int(hot[rng.choice(25, p=hot_w)])
            same = np.flatnonzero(idx == idx[k])
            near = same[np.abs(same - k) <= 15]  # within ~150 m along the same street
            k = int(near[rng.integers(0, len(near))])
        else:
            k = int(rng.choice(len(p), p=p))
        pt = pos[k] + rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 25.0) * nrm[k]
        point = Point(pt)
        if not inner.contains(point):
            continue
        if plan.river.contains(point) and bridges.distance(point) > 12.0:
            continue
        points.append((pt, int(idx[k])))
    ring = plan.city.exterior
    street_tree = shapely.STRtree([s.line for s in streets])
    for _ in range(N_TIPS_OUTSIDE):
        while True:
            b = shapely.get_coordinates(ring.interpolate(rng.uniform(0, ring.length)))[0]
            out = b + b / np.linalg.norm(b) * rng.uniform(60.0, 220.0)
            if not plan.city.contains(Point(out)) and plan.city.distance(Point(out)) < 280.0:
                break
        points.append((out, int(street_tree.query_nearest(Point(out))[0])))

    jxy, jnames = junctions(streets)
    jtree = cKDTree(jxy)
    cats = list(CATEGORY_WEIGHT)
    n_rep = 165
    ids = set()
    reporters: list[str] = []
    while len(reporters) < n_rep:
        rid = f"r_{int(rng.integers(0, 2**32)):08x}"
        if rid not in ids:
            ids.add(rid)
            reporters.append(rid)
    activity = 1.0 / np.arange(1, n_rep + 1) ** 0.9
    homes = pos[rng.choice(len(p), n_rep, p=p)]
    end = datetime(2026, 6, 30, 23, 59, 59, tzinfo=TZ)

    tips: list[dict[str, Any]] = []
    months = rng.choice(6, len(points), p=np.array(MONTH_WEIGHT) / sum(MONTH_WEIGHT)) + 1
    for (pt, si), month in zip(points, months, strict=True):
        w = np.array([CATEGORY_WEIGHT[c] * MONTH_BOOST.get(c, [1.0] * 6)[month - 1] for c in cats])
        cat = cats[int(rng.choice(len(cats), p=w / w.sum()))]
        when = _tip_time(rng, cat, int(month))
        key = cat
        if cat == "04" and (month <= 2 or month >= 5) and rng.random() < 0.85:
            key = "04w" if month <= 2 else "04r"
        a = streets[si].name
        b = None
        for j in jtree.query_ball_point(pt, 150.0):
            if a in jnames[j]:
                b = next((n for n in jnames[j] if n != a), None)
                break
        options = [t for t in TEMPLATES[key] if b is not None or "{b}" not in t]
        desc = options[int(rng.integers(0, len(options)))].format(a=a, b=b)
        dist = np.hypot(*(homes - pt).T)
        rw = activity * np.exp(-dist / 2500.0)
        reporter = reporters[int(rng.choice(n_rep, p=rw / rw.sum()))]
        age = (end - when).total_seconds() / 86400.0
        p_closed = 0.95 - 0.75 * math.exp(-age / (10.0 if cat == "04" else 25.0))
        status = "closed" if rng.random() < p_closed else "open"
        tips.append(
            {
                "pt": pt,
                "when": when,
                "category": cat,
                "description": desc,
                "reporter_id": reporter,
                "status": status,
            }
        )
    tips.sort(key=lambda t: (t["when"], t["pt"][0], t["pt"][1]))
    for i, t in enumerate(tips):
        t["tip_id"] = f"T{i + 1:06d}"
    return tips
