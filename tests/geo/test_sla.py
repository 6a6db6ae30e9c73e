"""Deadlines in working and calendar time, against chinesecalendar's own answers around National
Day (2025, 2026) and the Spring Festival (2026), make-up working days included.

The working hours are the default, 09:00-12:00 and 13:30-18:00: 450 minutes a working day.
"""

import datetime as dt

import chinese_calendar
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.errors import InvalidInput
from geo.hours import CITY_TZ
from geo.sla import (
    SlaLimit,
    SlaTable,
    WorkHours,
    calendar_covers,
    due_at,
    is_working_day,
    step_deadline,
    step_due,
    working_minutes_between,
)

HOURS = WorkHours.parse("09:00-12:00,13:30-18:00")
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    """A city time, aware."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=CITY_TZ)


def working(start: str, minutes: int, hours: WorkHours = HOURS) -> dt.datetime:
    return due_at(at(start), minutes=minutes, working=True, hours=hours)


def days(first: str, last: str) -> list[dt.date]:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [a + dt.timedelta(n) for n in range((b - a).days + 1)]


# -- the calendar ----------------------------------------------------------------------------

# Days off (weekends and holidays) and make-up working days on a weekend (调休), as published and
# as chinesecalendar 1.11 has them.
CALENDAR = {
    ("2025-09-20", "2025-10-15"): (
        {"2025-09-20", "2025-09-21", "2025-09-27", "2025-10-12"}
        | {f"2025-10-0{d}" for d in range(1, 9)},
        {"2025-09-28", "2025-10-11"},
    ),
    ("2026-09-15", "2026-10-15"): (
        {"2026-09-19", "2026-09-25", "2026-09-26", "2026-09-27", "2026-10-11"}
        | {f"2026-10-0{d}" for d in range(1, 8)},
        {"2026-09-20", "2026-10-10"},
    ),
    ("2026-02-07", "2026-03-03"): (
        {"2026-02-07", "2026-02-08", "2026-03-01"} | {f"2026-02-{d}" for d in range(15, 24)},
        {"2026-02-14", "2026-02-28"},
    ),
}


@pytest.mark.parametrize("span", list(CALENDAR))
def test_working_days_are_the_calendars(span):
    off, make_up = CALENDAR[span]
    for day in days(*span):
        assert is_working_day(day) == chinese_calendar.is_workday(day), day
        assert is_working_day(day) == (day.isoformat() not in off), day
        if day.isoformat() in make_up:
            assert day.weekday() >= 5 and is_working_day(day)


def test_years_the_calendar_does_not_know_fall_back_to_monday_to_friday():
    assert calendar_covers(2025) and calendar_covers(2026)
    assert not calendar_covers(2100) and not calendar_covers(1990)
    # 2100-10-01 is a Friday: a working day, since no holiday is known then
    assert [is_working_day(d) for d in days("2100-10-01", "2100-10-04")] == [
        True,
        False,
        False,
        True,
    ]
    assert working("2100-10-01T17:00", 90) == at("2100-10-04T09:30")


# -- working time ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        # within a period, up to its end (not the next period's start), across lunch
        ("2025-09-22T09:00", 30, "2025-09-22T09:30"),
        ("2025-09-22T11:00", 60, "2025-09-22T12:00"),
        ("2025-09-22T11:30", 60, "2025-09-22T14:00"),
        ("2025-09-22T10:00", 450, "2025-09-23T10:00"),
        # a start outside working time counts from the next working period
        ("2025-09-22T07:00", 30, "2025-09-22T09:30"),
        ("2025-09-22T12:15", 30, "2025-09-22T14:00"),
        ("2025-09-22T19:00", 30, "2025-09-23T09:30"),
        ("2025-09-26T18:00", 30, "2025-09-28T09:30"),  # Fri evening -> Sunday, a make-up day
        # National Day 2025: Oct 1-8 off, Sat Oct 11 a make-up working day
        ("2025-09-30T17:00", 90, "2025-10-09T09:30"),
        ("2025-09-29T14:00", 900, "2025-10-09T14:00"),
        ("2025-10-03T10:00", 30, "2025-10-09T09:30"),
        ("2025-10-10T17:30", 60, "2025-10-11T09:30"),
        ("2025-10-10T17:00", 900, "2025-10-13T17:00"),
        # National Day 2026: Sep 25-27 (Mid-autumn) and Oct 1-7 off, Sat Oct 10 a make-up day
        ("2026-09-24T17:00", 120, "2026-09-28T10:00"),
        ("2026-09-30T16:00", 450, "2026-10-08T16:00"),
        ("2026-10-09T16:00", 450, "2026-10-10T16:00"),
        # Spring Festival 2026: Sat Feb 14 a make-up day, Feb 15-23 off
        ("2026-02-13T17:00", 900, "2026-02-24T17:00"),
        ("2026-02-14T17:00", 90, "2026-02-24T09:30"),
    ],
)
def test_working_time_due(start, minutes, due):
    got = working(start, minutes)
    assert got == at(due)
    assert got.tzinfo is CITY_TZ
    assert working_minutes_between(at(start), got, hours=HOURS) == minutes


def test_zero_minutes_is_the_start():
    assert working("2025-10-03T10:00", 0) == at("2025-10-03T10:00")


def test_other_working_hours():
    hours = WorkHours.parse("08:30-12:00, 14:00-17:30")
    assert hours.minutes_per_day == 420 and str(hours) == "08:30-12:00,14:00-17:30"
    assert working("2025-09-30T17:00", 90, hours) == at("2025-10-09T09:30")
    nights = WorkHours.parse("00:00-24:00")
    assert working("2025-09-30T23:00", 120, nights) == at("2025-10-09T01:00")


def test_time_zones_in_and_out():
    # 09:00 UTC is 17:00 in the city; a naive time is city time
    utc = due_at(dt.datetime(2025, 9, 30, 9, 0, tzinfo=UTC), minutes=90, working=True, hours=HOURS)
    naive = due_at(dt.datetime(2025, 9, 30, 17, 0), minutes=90, working=True, hours=HOURS)
    assert utc == naive == at("2025-10-09T09:30")
    assert utc.isoformat() == "2025-10-09T09:30:00+08:00"
    late = due_at(
        dt.datetime(2025, 9, 30, 16, 0, tzinfo=UTC), minutes=10, working=False, hours=HOURS
    )
    assert late.isoformat() == "2025-10-01T00:10:00+08:00"


def test_calendar_time_counts_every_minute():
    holiday = at("2025-10-01T10:00")
    assert due_at(holiday, minutes=240, working=False, hours=HOURS) == at("2025-10-01T14:00")
    assert due_at(at("2025-09-30T23:50"), minutes=10, working=False, hours=HOURS) == at(
        "2025-10-01T00:00"
    )
    assert due_at(at("2026-02-14T20:00"), minutes=24 * 60 * 3, working=False, hours=HOURS) == at(
        "2026-02-17T20:00"
    )


def test_working_minutes_between():
    a, b = at("2025-09-30T17:00"), at("2025-10-09T09:30")
    assert working_minutes_between(a, b, hours=HOURS) == 90.0
    assert working_minutes_between(b, a, hours=HOURS) == -90.0
    assert working_minutes_between(at("2025-10-01T00:00"), at("2025-10-08T23:59"), hours=HOURS) == 0
    seconds = working_minutes_between(
        at("2025-09-22T11:59:30"), at("2025-09-22T13:30:15"), hours=HOURS
    )
    assert seconds == 0.75
    # the make-up Sunday counts, the weekend before it does not
    week = working_minutes_between(at("2025-09-26T00:00"), at("2025-09-29T00:00"), hours=HOURS)
    assert week == 900


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 12, 1)),
    minutes=st.integers(min_value=0, max_value=20_000),
)
def test_due_and_between_are_inverses(start, minutes):
    due = due_at(start, minutes=minutes, working=True, hours=HOURS)
    assert working_minutes_between(start, due, hours=HOURS) == pytest.approx(minutes, abs=1e-6)
    if minutes:  # the earliest such moment: working time ran up to it
        just_before = due - dt.timedelta(seconds=1)
        assert working_minutes_between(start, just_before, hours=HOURS) < minutes


def test_bad_minutes_and_out_of_range():
    with pytest.raises(InvalidInput, match="minutes must be a whole number of 0 or more, got -1"):
        due_at(at("2025-09-30T17:00"), minutes=-1, working=True, hours=HOURS)
    with pytest.raises(InvalidInput, match="lies beyond the year 9999"):
        due_at(dt.datetime(9999, 12, 31, 17, 0), minutes=900, working=True, hours=HOURS)
    with pytest.raises(InvalidInput, match="lies beyond the year 9999"):
        due_at(dt.datetime(9999, 12, 31, 23, 0), minutes=120, working=False, hours=HOURS)
    with pytest.raises(InvalidInput, match="start must be a date-time, got '2025-09-30'"):
        due_at("2025-09-30", minutes=1, working=True, hours=HOURS)


# -- work hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9-12", "YIZHAN_WORK_HOURS: '9-12': period '9-12' is not HH:MM-HH:MM"),
        ("", "YIZHAN_WORK_HOURS: '': period '' is not HH:MM-HH:MM"),
        ("09:00-12:00,", "period '' is not HH:MM-HH:MM"),
        ("09:00-25:00", "'09:00-25:00' is not a time of day"),
        ("09:60-12:00", "'09:60-12:00' is not a time of day"),
        ("12:00-09:00", "periods must each start before they end, in order, without overlap"),
        ("13:00-18:00,09:00-12:00", "in order, without overlapping"),
        ("09:00-13:00,12:00-18:00", "in order, without overlapping"),
    ],
)
def test_bad_work_hours_name_the_setting(text, message):
    with pytest.raises(InvalidInput, match="^YIZHAN_WORK_HOURS: ") as info:
        WorkHours.parse(text)
    assert message in str(info.value)


def test_work_hours_parse():
    assert HOURS.minutes_per_day == 450
    assert HOURS.periods[1] == (dt.timedelta(hours=13, minutes=30), dt.timedelta(hours=18))
    assert str(HOURS) == "09:00-12:00,13:30-18:00"
    assert WorkHours.parse("9:00-12:00") == WorkHours.parse("09:00 - 12:00")


# -- the SLA table ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sla():
    from geo.pack.readers import shipped

    frame = pd.read_csv(shipped("sla.csv"), dtype={"category": str})
    return SlaTable(frame)


def test_shipped_limits(sla):
    assert sla.limit(step="handle", category="04", urgency="normal") == SlaLimit(120, "04")
    assert sla.limit(step="handle", category="06", urgency="normal") == SlaLimit(900, "*")
    assert sla.limit(step="handle", category=None, urgency="urgent") == SlaLimit(240, "*")
    assert sla.limit(step="register", category="04", urgency="urgent") == SlaLimit(10, "*")
    with pytest.raises(
        InvalidInput, match="step must be one of register, dispatch, handle, verify"
    ):
        sla.limit(step="close", category=None, urgency="normal")


def test_step_due_normal_is_working_time_urgent_is_calendar_time(sla):
    start = at("2025-09-30T17:00")
    normal = step_deadline(
        sla, step="handle", category="04", urgency="normal", start=start, hours=HOURS
    )
    assert (normal.due_at, normal.minutes, normal.clock, normal.row_category) == (
        at("2025-10-09T10:00"),
        120,
        "working",
        "04",
    )
    urgent = step_due(sla, step="handle", category="04", urgency="urgent", start=start, hours=HOURS)
    assert urgent == at("2025-09-30T18:00")
    default = step_due(
        sla, step="handle", category="13", urgency="normal", start=start, hours=HOURS
    )
    assert default == at("2025-10-10T17:00")  # the * row: 900 minutes, two working days
    verify = step_due(
        sla,
        step="verify",
        category="13",
        urgency="urgent",
        start=at("2025-10-01T23:45"),
        hours=HOURS,
    )
    assert verify == at("2025-10-02T00:15")


def test_a_table_needs_every_default_row():
    frame = pd.DataFrame(
        {"step": ["handle"], "category": ["*"], "urgency": ["normal"], "minutes": [900]}
    )
    with pytest.raises(InvalidInput, match=r"no \* row for register/normal, register/urgent"):
        SlaTable(frame)
