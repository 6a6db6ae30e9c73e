"""Six months of case history for the demo's tips (案件闭环), and the demo's staff accounts.

Each tip's case is walked through the loop with plausible delays: registered (立案) within
minutes to hours, urgent when it is an emergency (突发事件), dispatched, handled within hours to
days (some past their deadline), verified; some are rejected (a few as duplicates of an open
case of the same category), returned by the unit, suspended and resumed, sent back for rework,
or answered by the reporter (a "not fixed" reopens the case). A quarter of the tips came from
the 12345 hotline or from grid workers (``cases.csv``). Nothing happens after 30 June 2026, so
the latest cases are still open, at every step. The history is replayed through the service's
own rules when a store takes the pack in (``api.services.history``): deadlines and units are
the rules' answers, not written here.

The staff accounts' tokens derive from the seed so that the pack stays the same on every run;
they are printed for the demo and must never serve a real city.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely

from data.generator.tips import TZ

END = datetime(2026, 6, 30, 23, 59, 59, tzinfo=TZ)
SOURCES = {"hotline_12345": 0.15, "grid_worker": 0.10}
HANDLED = {
    "01": "已清运垃圾，路面保洁完毕",
    "02": "已清除小广告",
    "03": "已责令工地整改并覆盖渣土",
    "04": "已抢修并设置警示",
    "05": "已劝离占道经营",
    "06": "已处理",
    "11": "已更换井盖/修复设施",
    "12": "已修复护栏/信号灯",
    "13": "已扶正树木、修复绿地",
}
REJECT_REASONS = ("信息不全，无法核实", "不属于城市管理范围", "现场核实无此问题")
RETURN_REASONS = ("非本单位职责，请改派", "地址有误，请核实后派遣")
SUSPEND_REASONS = ("雨天暂缓施工", "需协调产权单位")
REWORK_REASONS = ("现场复核未整改到位", "整改不彻底，请返工")
STAFF = [
    ("S-admin", "系统管理员", "admin", "", ""),
    ("S-centre", "区综治中心值班员", "dispatcher", "", ""),
    ("S-inspect", "核查员", "inspector", "", ""),
    ("S-u07", "市政设施管理处调度员", "unit", "U07", ""),
    ("S-u01", "城管执法局调度员", "unit", "U01", ""),
]


def demo_token(seed: int, staff_id: str) -> str:
    """A demo account's token: from the seed, so that the pack is the same on every run."""
    return "yz_demo_" + hashlib.sha256(f"{seed}:{staff_id}".encode()).hexdigest()[:32]


def build_staff(seed: int) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The rows of ``staff.csv`` (with the tokens' SHA-256) and the tokens by staff_id."""
    rows, tokens = [], {}
    for staff_id, name, role, unit, subs in STAFF:
        token = demo_token(seed, staff_id)
        tokens[staff_id] = token
        rows.append(
            {
                "staff_id": staff_id,
                "name": name,
                "role": role,
                "unit_id": unit,
                "subdistricts": subs,
                "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            }
        )
    return rows, tokens


def _minutes(rng: np.random.Generator, median: float, spread: float = 0.8) -> timedelta:
    return timedelta(minutes=float(median * np.exp(rng.normal(0.0, spread))))


def build_history(
    rng: np.random.Generator, tips: list[dict], city: shapely.Geometry
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The rows of ``cases.csv`` (source, external_id) and of ``case_history.csv``; a tip
    outside ``city`` (the outline, metric) is not the city's to handle: it is rejected."""
    order = sorted(range(len(tips)), key=lambda i: (tips[i]["when"], tips[i]["tip_id"]))
    cases: list[dict[str, str]] = []
    rows: list[dict[str, str]] = []
    first_closed: dict[str, datetime] = {}  # tip_id -> when its case was first closed
    by_category: dict[str, list[str]] = {}
    hotline_n = 0
    for i in order:
        tip = tips[i]
        tip_id, cat, t = tip["tip_id"], tip["category"], tip["when"]
        u = rng.random()
        if u < SOURCES["hotline_12345"]:
            hotline_n += 1
            cases.append(
                {
                    "tip_id": tip_id,
                    "source": "hotline_12345",
                    "external_id": f"12345-{hotline_n:06d}",
                }
            )
        elif u < sum(SOURCES.values()):
            cases.append({"tip_id": tip_id, "source": "grid_worker", "external_id": ""})
        if not city.contains(shapely.Point(tip["pt"])):
            steps = [
                {
                    "tip_id": tip_id,
                    "at": (t + _minutes(rng, 25, 1.0)).replace(microsecond=0).isoformat(),
                    "action": "reject",
                    "note": "不在本市管辖范围",
                    "public_note": "不予立案：不在本市管辖范围",
                }
            ]
        else:
            steps = _walk(rng, tip, t, by_category.get(cat, []), first_closed)
        rows += [s for s in steps if datetime.fromisoformat(s["at"]) <= END]
        closed = [datetime.fromisoformat(s["at"]) for s in steps if s["action"] == "verify"]
        if closed and closed[0] <= END:
            first_closed[tip_id] = closed[0]
        if not any(s["action"] == "reject" for s in steps):
            by_category.setdefault(cat, []).append(tip_id)
    return cases, rows


def _walk(
    rng: np.random.Generator,
    tip: dict,
    t: datetime,
    earlier: list[str],
    first_closed: dict[str, datetime],
) -> list[dict[str, str]]:
    """One case's actions, in order."""
    tip_id, cat = tip["tip_id"], tip["category"]
    out: list[dict[str, str]] = []

    def step(action: str, at: datetime, **fields: Any) -> datetime:
        at = at.replace(microsecond=0)
        out.append({"tip_id": tip_id, "at": at.isoformat(), "action": action, **fields})
        return at

    # an open tip of the pack stops somewhere along the way
    stop = (
        rng.choice(
            ["reported", "registered", "dispatched", "handled", "none"],
            p=[0.3, 0.15, 0.35, 0.2, 0.0],
        )
        if tip["status"] == "open"
        else "none"
    )
    if stop == "reported":
        return out
    t = t + _minutes(rng, 25, 1.0)
    if rng.random() < 0.06:
        open_ones = [e for e in earlier[-40:] if e not in first_closed or first_closed[e] > t]
        if open_ones and rng.random() < 0.6:
            step(
                "reject",
                t,
                note="重复上报",
                duplicate_of=open_ones[-1],
                public_note="与已受理案件重复，已合并处理",
            )
        else:
            reason = REJECT_REASONS[int(rng.integers(len(REJECT_REASONS)))]
            step("reject", t, note=reason, public_note=f"不予立案：{reason}")
        return out
    urgent = cat == "04" and rng.random() < 0.7
    t = step("register", t, urgency="urgent" if urgent else "")
    if stop == "registered":
        return out
    t = step("dispatch", t + _minutes(rng, 20 if urgent else 40))
    if rng.random() < 0.05:
        t = step(
            "return",
            t + _minutes(rng, 180),
            note=RETURN_REASONS[int(rng.integers(len(RETURN_REASONS)))],
        )
        t = step("dispatch", t + _minutes(rng, 45))
    if rng.random() < 0.03:
        t = step(
            "suspend",
            t + _minutes(rng, 600),
            note=SUSPEND_REASONS[int(rng.integers(len(SUSPEND_REASONS)))],
        )
        if rng.random() < 0.25:  # still waiting
            return out
        t = step("resume", t + timedelta(days=float(rng.uniform(1.5, 5.0))))
    if stop == "dispatched":
        return out
    handle_median = 180 if urgent else 1200  # minutes
    t = step(
        "handle", t + _minutes(rng, handle_median, 0.9), note=HANDLED[cat], public_note=HANDLED[cat]
    )
    if stop == "handled":
        return out
    if rng.random() < 0.08:
        t = step(
            "rework",
            t + _minutes(rng, 150),
            note=REWORK_REASONS[int(rng.integers(len(REWORK_REASONS)))],
        )
        t = step("handle", t + _minutes(rng, 900), note="已按要求整改", public_note="已整改")
    t = step("verify", t + _minutes(rng, 150), public_note="经核查已处置完毕，结案")
    if rng.random() < 0.22:
        answer = str(rng.choice(["yes", "unknown", "no"], p=[0.75, 0.15, 0.10]))
        t = step("feedback", t + timedelta(days=float(rng.uniform(0.2, 3.0))), fixed=answer)
        if answer == "no":
            t = step(
                "handle", t + _minutes(rng, 900), note="复查后再次处置", public_note="已再次处置"
            )
            step("verify", t + _minutes(rng, 150), public_note="复核通过，结案")
    return out


HISTORY_COLUMNS = [
    "tip_id",
    "at",
    "action",
    "note",
    "public_note",
    "urgency",
    "unit_id",
    "duplicate_of",
    "fixed",
]


def write_history(out, cases: list[dict], rows: list[dict], staff: list[dict]) -> None:
    """``cases.csv``, ``case_history.csv`` and ``staff.csv`` in the pack folder ``out``."""
    import csv

    for name, fields, table in (
        ("cases.csv", ["tip_id", "source", "external_id"], cases),
        ("case_history.csv", HISTORY_COLUMNS, rows),
        ("staff.csv", list(staff[0]), staff),
    ):
        with (out / name).open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n", restval="")
            writer.writeheader()
            writer.writerows(table)
