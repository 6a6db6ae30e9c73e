"""Opening hours in OSM ``opening_hours`` syntax, evaluated in the city's local time."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import opening_hours as oh

from geo.errors import InvalidInput

CITY_TZ = ZoneInfo("Asia/Shanghai")


def parse_hours(text: str) -> oh.OpeningHours:
    """Parse an ``opening_hours`` string (``24/7``, ``Mo-Fr 08:00-20:00; Sa,Su off``, ...).

    Raises
    ------
    InvalidInput
        If the string does not parse, naming it.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"opening_hours must be a non-empty string, got {text!r}")
    try:
        return oh.OpeningHours(text.strip())
    except (oh.ParserError, SyntaxError, ValueError) as exc:
        first = str(exc).strip().splitlines()[-1].strip(" =") if str(exc).strip() else ""
        raise InvalidInput(f"opening_hours {text!r} does not parse ({first})") from None


def local_time(at: dt.datetime | str | None = None, *, tz: ZoneInfo = CITY_TZ) -> dt.datetime:
    """The naive local wall-clock time for ``at``.

    An aware datetime is converted to ``tz``; a naive one is taken as already local; a string is
    parsed as ISO 8601; ``None`` means now.
    """
    if at is None:
        return _now(tz)
    if isinstance(at, str):
        try:
            at = dt.datetime.fromisoformat(at.strip())
        except ValueError:
            raise InvalidInput(
                f"open_at must be an ISO 8601 date-time like 2026-06-01T22:30, got {at!r}"
            ) from None
    if not isinstance(at, dt.datetime):
        raise InvalidInput(f"open_at must be a date-time, got {at!r}")
    if at.tzinfo is not None:
        at = at.astimezone(tz).replace(tzinfo=None)
    return at


_NOW: tuple[int, ZoneInfo | None, dt.datetime | None] = (0, None, None)


def _now(tz: ZoneInfo) -> dt.datetime:
    """The current naive local time to the second; made once a second (a busy server asks on
    every request, and the time zone lookup is the costly part)."""
    global _NOW
    second = int(time.time())
    cached_second, cached_tz, cached = _NOW
    if cached_second == second and cached_tz is tz:
        return cached
    now = dt.datetime.fromtimestamp(second, tz).replace(tzinfo=None)
    _NOW = (second, tz, now)
    return now


def is_open(hours: oh.OpeningHours, at: dt.datetime) -> bool:
    """Whether ``hours`` is open at the naive local time ``at`` (unknown counts as closed)."""
    return bool(hours.is_open(at))
