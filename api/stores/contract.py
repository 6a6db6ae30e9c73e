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
# What the case rates may group on: the tip's subdistrict, the case's unit, the tip's category,
# the local month it was reported in (YYYY-MM), the case's source.
METRIC_KEYS = ("subdistrict", "unit", "category", "month", "source")
# The counts behind the rates, per group (see MetricsQuery)
METRIC_COUNTS = (
    "cases",  # reported in the period
    "registered",  # registered_at is set
    "closed",  # state closed
    "closed_on_time",  # closed, and its last handled_at not after handle_due_at
    "due",  # with a handling deadline that has passed, or closed; suspended ones left out
    "reworked",  # rework_count > 0
    "handled",  # handled_at is set
    "satisfied",  # satisfaction 'yes'
    "rated",  # satisfaction 'yes' or 'no'
)


# a case's own columns (the table ``cases``)
CASE_COLUMNS = (
    "tip_id",
    "state",
    "urgency",
    "source",
    "external_id",
    "unit_id",
    "duplicate_of",
    "step",
    "due_at",
    "handle_due_at",
    "suspended_from",
    "rework_count",
    "return_count",
    "reopen_count",
    "confirmations",
    "satisfaction",
    "registered_at",
    "dispatched_at",
    "handled_at",
    "closed_at",
    "updated_at",
    "version",
)


class IdempotencyConflict(Conflict):
    """An idempotency key reused for a different tip."""


class CaseConflict(Conflict):
    """A case changed between reading it and acting on it (or a repeated "me too")."""


class AlreadyConfirmed(CaseConflict):
    """A reporter's "me too" on a case they confirmed before: nothing changed."""


@dataclass
class CaseQuery:
    """Filters and paging for the case queue; ``subdistricts`` None means every one (a staff
    scope passes its own), ``overdue`` compares ``due_at`` with ``now``."""

    now: dt.datetime
    states: tuple[str, ...] = ()
    subdistricts: tuple[str, ...] | None = None
    unit_id: str | None = None
    categories: tuple[str, ...] = ()
    source: str | None = None
    overdue: bool | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100
    offset: int = 0


@dataclass
class NearbyQuery:
    """Open cases of one category near a WGS84 point: within ``radius_m`` (measured in
    ``metric_crs``), reported at or after ``since``, at most ``limit`` of them."""

    lon: float
    lat: float
    radius_m: float
    metric_crs: str
    category: str
    since: dt.datetime
    limit: int = 20


@dataclass
class MetricsQuery:
    """Which cases the rates count and how they are grouped: cases reported in ``[since,
    until)`` (open bounds when None), within a staff scope (``subdistricts`` None means every
    one, ``unit_id`` one unit's cases), grouped by a key of :data:`METRIC_KEYS`; an open case
    whose handling deadline is before ``now`` is overdue."""

    now: dt.datetime
    group_by: str
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    subdistricts: tuple[str, ...] | None = None
    unit_id: str | None = None


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
        self,
        tip: dict,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        case: dict | None = None,
    ) -> tuple[dict, bool]:
        """Store ``tip`` durably, with its case (``case``: ``step``, ``due_at``, ``source``,
        ``urgency``; by default ``reported`` with no deadline); return it and whether it is new.

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
        """Store tips whose ``tip_id`` is not stored yet, each with its case (a tip's ``case``
        dict of case columns; by default ``reported``, or ``closed`` for a closed tip), in one
        transaction; return how many."""

    @abstractmethod
    def nearby_cases(self, query: NearbyQuery) -> list[dict]:
        """The open cases (not closed, not rejected) that ``query`` asks for, nearest first
        (ties by ``tip_id`` in byte order): each with ``tip_id``, ``reported_at``, ``category``,
        ``description``, ``street_name``, ``lon``, ``lat``, ``state``, ``confirmations`` and
        ``distance_m`` (exact, in metres); never the reporter."""

    # the case loop (api.stores.cases)

    @abstractmethod
    def get_case(self, tip_id: str) -> dict | None:
        """A case with what it shows of its tip, or None."""

    @abstractmethod
    def case_history(self, tip_id: str) -> list[dict]:
        """A case's actions, oldest first."""

    @abstractmethod
    def list_cases(self, query: CaseQuery) -> tuple[list[dict], int]:
        """Cases matching ``query``, soonest deadline first, and how many match in all."""

    @abstractmethod
    def apply_action(
        self,
        tip_id: str,
        *,
        version: int,
        changes: dict,
        action: dict,
        event: dict,
        confirm: dict | None = None,
    ) -> dict:
        """Change a case still at ``version``, add ``action`` to its history and ``event`` to
        the outbox, in one transaction; return the case. :class:`CaseConflict` if it moved."""

    @abstractmethod
    def import_history(self, cases: list[dict], actions: list[dict]) -> None:
        """Set cases' columns (each dict has every case column) and add their past actions,
        in one transaction, with no outbox events (a pack's history, replayed)."""

    @abstractmethod
    def case_metrics(self, query: MetricsQuery) -> tuple[list[dict], dict]:
        """The counts behind the case rates, aggregated in the database: one dict per group of
        ``query.group_by`` (its ``key``, None for cases without one) and one for all the cases
        together (``key`` None), each with the counts of :data:`METRIC_COUNTS` and
        ``median_hours_to_close`` (over closed cases, None without any)."""

    @abstractmethod
    def add_staff(self, staff: dict) -> None:
        """Add a staff account (with its token's hash)."""

    @abstractmethod
    def staff_by_token_hash(self, token_hash: str) -> dict | None:
        """The account whose token hashes to ``token_hash``, unless revoked."""

    @abstractmethod
    def list_staff(self) -> list[dict]:
        """Every account, revoked ones too."""

    @abstractmethod
    def revoke_staff(self, staff_id: str, at: dt.datetime) -> bool:
        """Revoke an account; False if there is no such live account."""

    @abstractmethod
    def secret(self, name: str) -> str:
        """A secret the store made when it was created (``receipt_key``)."""

    @abstractmethod
    def pending_events(self, now: dt.datetime, limit: int) -> list[dict]:
        """Outbox events to deliver now: each case's oldest undelivered one, oldest first."""

    @abstractmethod
    def claim_event(self, event_id: int, *, now: dt.datetime, until: dt.datetime) -> bool:
        """Hold an event for one delivery attempt: move its next attempt to ``until``, only if
        it is undelivered and due at ``now``; whether this call claimed it. Two deliverers that
        read the same pending event both try, and one of them gets it."""

    @abstractmethod
    def mark_event(
        self,
        event_id: int,
        *,
        delivered_at: dt.datetime | None = None,
        retry_at: dt.datetime | None = None,
        error: str = "",
    ) -> None:
        """Record an attempt at an event: delivered, or to retry at ``retry_at``."""

    @abstractmethod
    def count_events(self, *, delivered: bool | None = None) -> int:
        """How many outbox events there are (delivered, undelivered, or all)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
