"""Deadlines of a case's steps: working time, the calendar of working days, and the SLA table.

The rule: a **normal** case's limits count **working time**, the minutes inside the working
periods (:class:`WorkHours`, e.g. ``09:00-12:00,13:30-18:00``) of working days; an **urgent**
case's limits count **calendar time**, every minute. The limits themselves are data, the pack's
``sla.csv`` (:class:`SlaTable`).

Working days come from the ``chinesecalendar`` package (``chinese_calendar``): weekends and
public holidays are off, make-up working days (调休, e.g. Sunday 2025-09-28) are on. The package
knows the years the State Council has published (2004 to 2026 in chinesecalendar 1.11); for any
other year this module falls back to Monday to Friday, so a deadline in such a year ignores
public holidays. :func:`calendar_covers` says whether a year is known; upgrade the package when
a new year's schedule is out.

Times: every function takes aware or naive datetimes. An aware one (UTC or any offset) is
converted to the city's time zone (:data:`geo.hours.CITY_TZ`, Asia/Shanghai); a naive one is
taken as local time there. Every datetime returned is aware, in the city's time zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import chinese_calendar
import pandas as pd

from geo.errors import InvalidInput, check_choice
from geo.hours import CITY_TZ
from geo.pack.schema import ANY, STEPS, URGENCIES, Step, Urgency

Clock = Literal["working", "calendar"]
DEFAULT_WORK_HOURS = "09:00-12:00,13:30-18:00"

_DAY = dt.timedelta(days=1)
_PERIOD = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class WorkHours:
    """The working periods of a working day, as ``(start, end)`` offsets from midnight, in
    order and not overlapping (``end`` may be 24:00).

    Build it with :meth:`parse` from a text like ``"09:00-12:00,13:30-18:00"``.
    """

    periods: tuple[tuple[dt.timedelta, dt.timedelta], ...]
    minutes_per_day: int = field(init=False)

    def __post_init__(self) -> None:
        if not self.periods:
            raise InvalidInput("work hours: at least one working period is needed")
        zero = dt.timedelta(0)
        previous_end = zero
        for start, end in self.periods:
            if not (zero <= start < end <= _DAY) or start < previous_end:
                raise InvalidInput(
                    "work hours: periods must lie within one day, each start before its end, "
                    f"in order, without overlapping; got {_text(self.periods)!r}"
                )
            previous_end = end
        total = sum((end - start for start, end in self.periods), zero)
        object.__setattr__(self, "minutes_per_day", int(total.total_seconds()) // 60)

    @classmethod
    def parse(cls, text: str, *, name: str = "YIZHAN_WORK_HOURS") -> WorkHours:
        """Parse ``"HH:MM-HH:MM,HH:MM-HH:MM,..."``.

        Parameters
        ----------
        text : str
            The periods, comma-separated, e.g. ``09:00-12:00,13:30-18:00``.
        name : str
            The setting the text comes from, for the message.

        Raises
        ------
        InvalidInput
            Naming ``name`` and the text, if a period does not parse, a time is not a time of
            day, or the periods overlap, are out of order or end before they start.
        """
        if not isinstance(text, str):
            raise InvalidInput(f"{name}: expected text like {DEFAULT_WORK_HOURS}, got {text!r}")
        periods = []
        for part in text.split(","):
            match = _PERIOD.fullmatch(part.strip())
            if match is None:
                raise InvalidInput(
                    f"{name}: {text!r}: period {part.strip()!r} is not HH:MM-HH:MM "
                    f"(expected e.g. {DEFAULT_WORK_HOURS})"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
                raise InvalidInput(f"{name}: {text!r}: {part.strip()!r} is not a time of day")
            periods.append((dt.timedelta(hours=h1, minutes=m1), dt.timedelta(hours=h2, minutes=m2)))
        try:
            return cls(tuple(periods))
        except InvalidInput:
            raise InvalidInput(
                f"{name}: {text!r}: periods must each start before they end, in order, "
                f"without overlapping (expected e.g. {DEFAULT_WORK_HOURS})"
            ) from None

    def __str__(self) -> str:
        return _text(self.periods)


def _text(periods: tuple[tuple[dt.timedelta, dt.timedelta], ...]) -> str:
    def hhmm(offset: dt.timedelta) -> str:
        minutes = int(offset.total_seconds()) // 60
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return ",".join(f"{hhmm(start)}-{hhmm(end)}" for start, end in periods)


# -- the calendar --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def is_working_day(day: dt.date) -> bool:
    """Whether ``day`` is a working day in China: Monday to Friday unless a public holiday, and
    the make-up working days (调休) on a weekend; Monday to Friday in a year the calendar does
    not cover (:func:`calendar_covers`)."""
    # cached: the library scans its whole table for its year range on every call (measured
    # 41 us a call here, so a deadline two weeks out cost ~0.6 ms)
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


@functools.lru_cache(maxsize=256)
def calendar_covers(year: int) -> bool:
    """Whether the holiday calendar knows ``year``; outside it, working days fall back to
    Monday to Friday and public holidays are not known."""
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except (NotImplementedError, ValueError):
        return False
    return True


# -- working time ----------------------------------------------------------------------------


def _local(at: dt.datetime, name: str) -> dt.datetime:
    """``at`` as naive wall-clock time in the city (an aware value converted, a naive one kept)."""
    if not isinstance(at, dt.datetime):
        raise InvalidInput(f"{name} must be a date-time, got {at!r}")
    if at.tzinfo is None:
        return at
    try:
        return at.astimezone(CITY_TZ).replace(tzinfo=None)
    except OverflowError:
        raise InvalidInput(f"{name} {at.isoformat()} is out of range in city time") from None


def _aware(local: dt.datetime) -> dt.datetime:
    return local.replace(tzinfo=CITY_TZ)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def due_at(start: dt.datetime, *, minutes: int, working: bool, hours: WorkHours) -> dt.datetime:
    """The moment ``minutes`` of time have passed since ``start``.

    Parameters
    ----------
    start : datetime
        When the clock starts; aware (converted to city time) or naive (city time).
    minutes : int
        The limit, 0 or more.
    working : bool
        Count working time (only minutes inside ``hours`` on working days) rather than calendar
        time. A start outside working time starts counting at the next working period; a limit
        used up exactly at the end of a period falls due then, not at the next period's start.
    hours : WorkHours
        The working periods of a working day.

    Returns
    -------
    datetime
        Aware, in the city's time zone.

    Raises
    ------
    InvalidInput
        If ``minutes`` is negative or the answer lies beyond what a datetime holds (year 9999).
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise InvalidInput(f"minutes must be a whole number of 0 or more, got {minutes!r}")
    local = _local(start, "start")
    try:
        if not working:
            # through UTC: right across a change of offset too (Asia/Shanghai has none now)
            utc = (start if start.tzinfo else _aware(local)).astimezone(dt.UTC)
            return (utc + dt.timedelta(minutes=minutes)).astimezone(CITY_TZ)
        return _aware(_working_due(local, minutes, hours))
    except OverflowError:
        raise InvalidInput(
            f"start {start.isoformat()} plus {minutes} minutes lies beyond the year 9999"
        ) from None


def _working_due(local: dt.datetime, minutes: int, hours: WorkHours) -> dt.datetime:
    remaining = dt.timedelta(minutes=minutes)
    if not remaining:
        return local
    per_day = dt.timedelta(minutes=hours.minutes_per_day)
    day = local.date()
    offset = local - _midnight(day)  # time of day, as an offset from midnight
    while True:
        if is_working_day(day):
            for period_start, period_end in hours.periods:
                if offset >= period_end:
                    continue
                begin = max(offset, period_start)
                if remaining <= period_end - begin:
                    return _midnight(day) + begin + remaining
                remaining -= period_end - begin
                offset = period_end
        day += _DAY
        offset = dt.timedelta(0)
        # whole working days at a time; the day that uses the rest is walked period by period
        while remaining > per_day and is_working_day(day):
            remaining -= per_day
            day += _DAY


def working_minutes_between(a: dt.datetime, b: dt.datetime, *, hours: WorkHours) -> float:
    """The working minutes from ``a`` to ``b`` (negative when ``b`` is before ``a``), the
    inverse of :func:`due_at` with ``working=True``.

    Parameters
    ----------
    a, b : datetime
        Aware (converted to city time) or naive (city time).
    hours : WorkHours
        The working periods of a working day.

    Returns
    -------
    float
        Minutes, with the seconds as a fraction.
    """
    start, end = _local(a, "a"), _local(b, "b")
    if end < start:
        return -working_minutes_between(b, a, hours=hours)
    total = dt.timedelta(0)
    day = start.date()
    while day <= end.date():
        if is_working_day(day):
            midnight = _midnight(day)
            for period_start, period_end in hours.periods:
                begin = max(start, midnight + period_start)
                finish = min(end, midnight + period_end)
                if finish > begin:
                    total += finish - begin
        day += _DAY
    return total.total_seconds() / 60


# -- the SLA table ---------------------------------------------------------------------------


class SlaLimit(NamedTuple):
    """The limit of one step: its ``minutes`` and the ``category`` of the row it comes from
    (the case's own, or ``*``)."""

    minutes: int
    category: str


class SlaTable:
    """The pack's ``sla.csv``: a limit in minutes per step, category (or ``*``) and urgency.

    ``frame`` is the table as read (``step``, ``category``, ``urgency``, ``minutes``).

    Raises
    ------
    InvalidInput
        If a step and urgency has no ``*`` row (a pack's table is checked for that on load).
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._limits: dict[tuple[str, str, str], int] = {
            (str(step), str(category), str(urgency)): int(minutes)
            for step, category, urgency, minutes in frame[
                ["step", "category", "urgency", "minutes"]
            ].itertuples(index=False)
        }
        missing = [
            f"{step}/{urgency}"
            for step in STEPS
            for urgency in URGENCIES
            if (step, ANY, urgency) not in self._limits
        ]
        if missing:
            raise InvalidInput(f"sla table: no * row for {', '.join(missing)}")

    def limit(self, *, step: Step, category: str | None, urgency: Urgency) -> SlaLimit:
        """The limit of ``step`` for a case of ``category`` (``None``: the ``*`` row) and
        ``urgency``: the category's own row, else the ``*`` row.

        Raises
        ------
        InvalidInput
            If ``step`` or ``urgency`` is not one of the known ones.
        """
        step = check_choice("step", step, STEPS)
        urgency = check_choice("urgency", urgency, URGENCIES)
        if category is not None:
            own = self._limits.get((step, str(category), urgency))
            if own is not None:
                return SlaLimit(own, str(category))
        return SlaLimit(self._limits[(step, ANY, urgency)], ANY)


def clock_for(urgency: Urgency) -> Clock:
    """The clock a case's deadlines count: ``calendar`` when urgent, else ``working``."""
    return "calendar" if check_choice("urgency", urgency, URGENCIES) == "urgent" else "working"


@dataclass(frozen=True)
class Deadline:
    """When one step of a case falls due, and why: the limit, its row and the clock."""

    step: Step
    category: str | None
    urgency: Urgency
    start: dt.datetime
    due_at: dt.datetime
    minutes: int
    clock: Clock
    row_category: str


def step_deadline(
    sla: SlaTable,
    *,
    step: Step,
    category: str | None,
    urgency: Urgency,
    start: dt.datetime,
    hours: WorkHours,
) -> Deadline:
    """The deadline of ``step`` for a case of ``category`` and ``urgency`` whose clock starts at
    ``start``: the table's limit (the category's row, else ``*``) counted in working time for a
    normal case, in calendar time for an urgent one.

    Raises
    ------
    InvalidInput
        For an unknown step or urgency, or an answer beyond the year 9999.
    """
    limit = sla.limit(step=step, category=category, urgency=urgency)
    clock = clock_for(urgency)
    due = due_at(start, minutes=limit.minutes, working=clock == "working", hours=hours)
    return Deadline(
        step=step,
        category=category,
        urgency=urgency,
        start=_aware(_local(start, "start")),
        due_at=due,
        minutes=limit.minutes,
        clock=clock,
        row_category=limit.category,
    )


def step_due(
    sla: SlaTable,
    *,
    step: Step,
    category: str | None,
    urgency: Urgency,
    start: dt.datetime,
    hours: WorkHours,
) -> dt.datetime:
    """When ``step`` of a case falls due (:func:`step_deadline`'s ``due_at``): aware, in city
    time."""
    return step_deadline(
        sla, step=step, category=category, urgency=urgency, start=start, hours=hours
    ).due_at
