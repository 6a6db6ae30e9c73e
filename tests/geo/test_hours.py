import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from geo import hours
from geo.errors import InvalidInput
from geo.hours import CITY_TZ, local_time


def test_now_is_local_wall_clock_to_the_second(monkeypatch):
    clock = [1_780_000_000.25]  # 2026-05-28 20:26:40 UTC
    monkeypatch.setattr(hours.time, "time", lambda: clock[0])
    first = local_time()
    assert first == dt.datetime(2026, 5, 29, 4, 26, 40)  # Shanghai is UTC+8
    assert first.tzinfo is None
    clock[0] += 0.5  # same second: the same answer
    assert local_time() == first
    clock[0] += 0.5  # next second: the clock moves on
    assert local_time() == dt.datetime(2026, 5, 29, 4, 26, 41)
    # another zone is not served from the city's cached answer
    assert local_time(tz=ZoneInfo("Europe/Berlin")) == dt.datetime(2026, 5, 28, 22, 26, 41)
    assert local_time() == dt.datetime(2026, 5, 29, 4, 26, 41)


def test_now_follows_the_real_clock():
    before = dt.datetime.now(CITY_TZ).replace(tzinfo=None, microsecond=0)
    now = local_time()
    after = dt.datetime.now(CITY_TZ).replace(tzinfo=None)
    assert before <= now <= after


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-06-01T22:30", dt.datetime(2026, 6, 1, 22, 30)),
        ("2026-06-01T14:30+00:00", dt.datetime(2026, 6, 1, 22, 30)),
        (dt.datetime(2026, 6, 1, 22, 30), dt.datetime(2026, 6, 1, 22, 30)),
    ],
)
def test_given_times(given, expected):
    assert local_time(given) == expected


def test_bad_time_is_refused_by_name():
    with pytest.raises(InvalidInput, match="open_at must be an ISO 8601"):
        local_time("tonight")
