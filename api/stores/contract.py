"""What the API needs from a tip store: the columns, the query, the interface and its errors."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from geo.assign import ASSIGNMENT_COLUMNS
from geo.errors import Conflict, InvalidInput

TIP_COLUMNS = (
    "tip_id",
    "reported_at",
    "category",
    "description",
    "reporter_id",
    "status",
    "lon",
    "lat",
    *ASSIGNMENT_COLUMNS,
)
# What count_by may group on: the grid cell, the category, the local month (YYYY-MM), and the
# position rounded to 0.001 degree (about 100 m; for tips outside every cell).
GROUP_KEYS = ("grid_code", "category", "month", "lonlat3")


class IdempotencyConflict(Conflict):
    """An idempotency key reused for a different tip."""


@dataclass
class TipQuery:
    """Filters and paging for listing tips; all optional."""

    bbox: tuple[float, float, float, float] | None = None
    categories: list[str] = field(default_factory=list)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    grid_code: str | None = None
    subdistrict_code: str | None = None
    status: str | None = None
    outside_city: bool | None = None
    limit: int = 100
    offset: int = 0


def check_keys(by: tuple[str, ...]) -> tuple[str, ...]:
    """``by`` if it names only keys of :data:`GROUP_KEYS` (at least one)."""
    unknown = [k for k in by if k not in GROUP_KEYS]
    if unknown or not by:
        raise InvalidInput(
            f"count_by: group keys must be among {', '.join(GROUP_KEYS)}, got {by!r}"
        )
    return tuple(by)


class Store(ABC):
    """What the API needs from a database."""

    backend: str

    @abstractmethod
    def add_tip(
        self, tip: dict, *, idempotency_key: str | None = None, fingerprint: str = ""
    ) -> tuple[dict, bool]:
        """Store ``tip`` durably; return it and whether it is new.

        With an ``idempotency_key`` already used for the same ``fingerprint``, return the stored
        tip and ``False``; for a different fingerprint, raise :class:`IdempotencyConflict`.
        """

    @abstractmethod
    def replay(self, idempotency_key: str, fingerprint: str) -> dict | None:
        """The tip stored under ``idempotency_key``, or None; a different fingerprint raises
        :class:`IdempotencyConflict`."""

    @abstractmethod
    def get_tip(self, tip_id: str) -> dict | None:
        """One tip by id, or None."""

    @abstractmethod
    def list_tips(self, query: TipQuery) -> tuple[list[dict], int]:
        """Tips matching ``query``, newest first (ties by ``tip_id`` in byte order), and how many
        match in all."""

    def count_by(self, query: TipQuery, by: tuple[str, ...]) -> list[dict]:
        """Tip counts grouped by ``by`` (keys of ``GROUP_KEYS``), for tips matching ``query``
        (its paging is ignored): one dict per group with those keys and ``count``."""
        columns, rows = self.count_table(query, by)
        return [dict(zip(columns, row, strict=True)) for row in rows]

    @abstractmethod
    def count_table(
        self, query: TipQuery, by: tuple[str, ...]
    ) -> tuple[tuple[str, ...], list[tuple]]:
        """:meth:`count_by` as a table: the column names (the keys, ``lonlat3`` as ``lon3`` and
        ``lat3``, then ``count``) and one tuple per group, for callers that want columns."""

    @abstractmethod
    def count_tips(self) -> int:
        """How many tips are stored."""

    @abstractmethod
    def import_tips(self, tips: list[dict]) -> int:
        """Store tips whose ``tip_id`` is not stored yet (one transaction); return how many."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
