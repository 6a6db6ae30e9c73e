"""The rates the city reports (综合评价), per group and for the whole city, from the store.

Of the cases reported in ``[since, until)`` (by the tip's ``reported_at``):

- 结案率 ``closed_rate``: closed ÷ registered (立案) at some point;
- 按期结案率 ``on_time_rate``: closed by the handling deadline (the last ``handled_at`` not after
  ``handle_due_at``, which is set at dispatch and which rework does not move) ÷ the cases whose
  handling deadline has passed or that are closed; suspended cases (缓办) are left out, and an
  open case past its deadline counts against the rate. A case that never had a handling
  deadline (never dispatched: a closed tip imported without its history) is in neither;
- 返工率 ``rework_rate``: reworked at least once ÷ handled at least once;
- 满意率 ``satisfied_rate``: the reporters' "yes" ÷ their "yes" and "no" ("unknown" left out);
- ``median_hours_to_close``: the median hours from report to close of the closed cases.

A rate whose denominator is 0 is None. Every count is made by the store in SQL
(:meth:`api.stores.Store.case_metrics`); this module names the groups and divides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from api.services.planning import parse_when
from api.services.staff import Staff
from api.stores import METRIC_COUNTS, METRIC_KEYS, MetricsQuery, Store
from geo.city import City
from geo.errors import InvalidInput, check_choice
from geo.hours import CITY_TZ

GroupBy = Literal["subdistrict", "unit", "category", "month", "source"]
GROUP_BYS: tuple[GroupBy, ...] = ("subdistrict", "unit", "category", "month", "source")
assert GROUP_BYS == METRIC_KEYS
GROUP_NAMES: dict[GroupBy, str] = {
    "subdistrict": "街道",
    "unit": "处置单位",
    "category": "类别",
    "month": "月份",
    "source": "来源",
}
SOURCE_NAMES = {"courier": "快递员/骑手", "hotline_12345": "12345热线", "grid_worker": "网格员"}
# a group without a key: a tip outside every subdistrict, a case not yet given to a unit
NO_KEY_NAMES: dict[GroupBy, str] = {"subdistrict": "城市范围外", "unit": "未派单位"}
# each rate: its numerator and its denominator, counts of METRIC_COUNTS
RATES = {
    "closed_rate": ("closed", "registered"),
    "on_time_rate": ("closed_on_time", "due"),
    "rework_rate": ("reworked", "handled"),
    "satisfied_rate": ("satisfied", "rated"),
}
CITY_KEY = "city"
CITY_NAME = "全市"
SCOPED_NAME = "合计"  # the total of an account that sees part of the city
_CITY_OFFSET = dt.timezone(dt.timedelta(hours=8))


def case_metrics(
    city: City,
    store: Store,
    staff: Staff | None,
    *,
    group_by: str = "subdistrict",
    since: str | None = None,
    until: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The rates of the cases ``staff`` may see (None: every case, as for the command line),
    per group of ``group_by`` (sorted by key, no key last) and in all (``city``).

    Raises
    ------
    InvalidInput
        An unknown ``group_by``, or a ``since``/``until`` that is no date-time, out of range,
        or an empty period.
    """
    now = (now or dt.datetime.now(CITY_TZ)).astimezone(CITY_TZ)
    by: GroupBy = check_choice("group_by", group_by, GROUP_BYS)
    start, end = _bound(since, "since"), _bound(until, "until")
    if start is not None and end is not None and start >= end:
        raise InvalidInput(f"until: {until!r} is not after since {since!r}")
    subdistricts, unit_id = (None, None) if staff is None else staff.scope()
    groups, total = store.case_metrics(
        MetricsQuery(
            now=now,
            group_by=by,
            since=start,
            until=end,
            subdistricts=subdistricts,
            unit_id=unit_id,
        )
    )
    names = _namer(city, by)
    rows = [rates_row(g, g["key"], names(g["key"])) for g in groups]
    rows.sort(key=lambda r: (r["key"] is None, r["key"] or ""))
    scoped = subdistricts is not None or unit_id is not None
    return {
        "group_by": by,
        "since": None if start is None else start.astimezone(CITY_TZ).isoformat(),
        "until": None if end is None else end.astimezone(CITY_TZ).isoformat(),
        "as_of": now.isoformat(),
        "scope": {
            "subdistricts": None if subdistricts is None else list(subdistricts),
            "unit_id": unit_id,
        },
        "groups": rows,
        "city": rates_row(total, CITY_KEY, SCOPED_NAME if scoped else CITY_NAME),
    }


def rates_row(counts: dict[str, Any], key: str | None, name: str) -> dict[str, Any]:
    """One group's counts with its rates (None where the denominator is 0)."""
    row: dict[str, Any] = {"key": key, "name": name}
    row.update({c: int(counts[c]) for c in METRIC_COUNTS})
    for rate, (part, whole) in RATES.items():
        row[rate] = row[part] / row[whole] if row[whole] else None
    row["median_hours_to_close"] = counts["median_hours_to_close"]
    return row


def month_name(month: str) -> str:
    """``2026-03`` as ``2026年3月``."""
    year, _, number = month.partition("-")
    return f"{year}年{int(number)}月" if number.isdigit() else month


def _namer(city: City, by: GroupBy) -> Callable[[str | None], str]:
    """The Chinese name of a group's key."""
    tables = {
        "subdistrict": (city.subdistricts, "subdistrict_code"),
        "unit": (city.units, "unit_id"),
        "category": (city.categories, "code"),
    }
    known: dict[str, str] = {}
    if by in tables:
        frame, column = tables[by]
        known = dict(zip(frame[column].astype(str), frame["name"].astype(str), strict=True))
    elif by == "source":
        known = SOURCE_NAMES

    def name(key: str | None) -> str:
        if key is None:
            return NO_KEY_NAMES.get(by, "")
        if by == "month":
            return month_name(key)
        return known.get(key, key)

    return name


def _bound(value: str | None, field: str) -> dt.datetime | None:
    when = parse_when(value, field)
    if when is not None:
        try:
            when.astimezone(_CITY_OFFSET)
        except OverflowError:
            raise InvalidInput(f"{field}: {value!r} is out of range") from None
    return when
