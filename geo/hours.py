"""Opening hours in OSM ``opening_hours`` syntax, evaluated in the city's local time.

:class:`HoursTable` holds the hours of many stations: they share a handful of distinct texts, so
each distinct text is parsed once and evaluated at most once per minute (a busy server asks for
the same minute thousands of times).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
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
    # ParserError is missing from the stubs opening-hours-py ships
    except (oh.ParserError, SyntaxError, ValueError) as exc:  # type: ignore[attr-defined]
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


_NOW: tuple[int, ZoneInfo | None, dt.datetime] = (0, None, dt.datetime.min)  # (second, tz, now)


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


# the open state of one distinct text in a minute: not evaluated yet, open, closed
UNKNOWN, OPEN, CLOSED = 0, 1, 2
_MINUTE = dt.timedelta(minutes=1)


class HoursTable:
    """The opening hours of many stations (by row), evaluated per distinct text and minute.

    ``ids[row]`` is the distinct text of a row; :meth:`states` gives, for the minute of a time,
    one byte per distinct text (``UNKNOWN``, ``OPEN``, ``CLOSED``), filled in on demand by
    :meth:`evaluate`. Only the current minute is kept.

    Raises
    ------
    InvalidInput
        If a text does not parse, naming it.
    """

    def __init__(self, texts: Iterable[object]) -> None:
        distinct: dict[str, int] = {}
        self.ids: list[int] = [distinct.setdefault(str(t).strip(), len(distinct)) for t in texts]
        self.ids_array: npt.NDArray[np.int64] = np.asarray(self.ids, dtype=np.int64)
        self.texts: list[str] = list(distinct)
        self.hours: list[oh.OpeningHours] = [parse_hours(t) for t in self.texts]
        self._minute: tuple[dt.datetime | None, dt.datetime | None, bytearray] = (
            None,
            None,
            bytearray(),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def states(self, at: dt.datetime) -> bytearray:
        """The states of the distinct texts for the minute of ``at`` (naive local time)."""
        start, end, states = self._minute
        if start is not None and end is not None and start <= at < end:
            return states
        start = at.replace(second=0, microsecond=0)
        states = bytearray(len(self.hours))
        self._minute = (start, start + _MINUTE, states)
        return states

    def evaluate(self, text_id: int, at: dt.datetime) -> int:
        """Evaluate distinct text ``text_id`` at the minute of ``at``: ``OPEN`` or ``CLOSED``."""
        states = self.states(at)
        minute = self._minute[0]
        assert minute is not None
        states[text_id] = OPEN if is_open(self.hours[text_id], minute) else CLOSED
        return states[text_id]

    def is_open(self, row: int, at: dt.datetime) -> bool:
        """Whether station ``row``'s hours are open at the naive local time ``at``."""
        h = self.ids[row]
        return (self.states(at)[h] or self.evaluate(h, at)) == OPEN

    def open_rows(self, rows: npt.NDArray[np.int64], at: dt.datetime) -> npt.NDArray[np.bool_]:
        """Whether each of ``rows`` is open at ``at``; ``False`` for a row of -1."""
        out = np.zeros(rows.shape, dtype=bool)
        valid = rows >= 0
        ids = self.ids_array[rows[valid]]
        for h in np.unique(ids).tolist():
            if not self.states(at)[h]:
                self.evaluate(h, at)
        states = np.frombuffer(bytes(self.states(at)), dtype=np.uint8)
        out[valid] = states[ids] == OPEN
        return out
