"""The case loop's part of the SQL store: cases, their actions and outbox events, staff, "me too".

A case action is one transaction: the case row changes only if it is still at the version the
caller read (``version``, raised by one on every change), the action is added to its history and
its event to the outbox. Two staff acting at once on one case: the second finds the version
moved and gets :class:`CaseConflict`, and nothing of its action is written.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from api.stores.contract import CASE_COLUMNS, AlreadyConfirmed, CaseConflict, CaseQuery
from api.stores.schema import table

# what a case read shows of its tip
CASE_TIP_COLUMNS = (
    "tip_id",
    "reported_at",
    "category",
    "description",
    "lon",
    "lat",
    "grid_code",
    "subdistrict_code",
    "street_name",
    "nearest_station_id",
    "outside_city",
)
HISTORY_COLUMNS = (
    "action_id",
    "action",
    "from_state",
    "to_state",
    "at",
    "role",
    "unit_id",
    "staff_id",
    "note",
    "public_note",
)
STAFF_COLUMNS = ("staff_id", "name", "role", "unit_id", "subdistricts", "created_at", "revoked_at")
OUTBOX_COLUMNS = ("event_id", "tip_id", "payload", "created_at", "attempts", "next_attempt_at")
# states in which no clock runs
RESTING_STATES = ("rejected", "closed", "suspended")


class CaseTables:
    """Mixed into :class:`api.stores.sql.SQLStore`, which provides the connections."""

    backend: str
    engine: sa.Engine
    _pg: bool

    def _init_cases(self) -> None:
        b = self.backend
        self._tips_t = table(b, "tips")
        self._cases = table(b, "cases")
        self._actions = table(b, "case_actions")
        self._staff = table(b, "staff")
        self._outbox = table(b, "outbox")
        self._confirm = table(b, "confirmations")
        self._secrets = table(b, "store_secrets")
        self._dialect_insert = postgresql.insert if self._pg else sqlite.insert
        self._secret_values: dict[str, str] = {}  # made once with the store, never changed
        t, c = self._tips_t, self._cases
        self._case_select = sa.select(
            *[t.c[n] for n in CASE_TIP_COLUMNS], *[c.c[n] for n in CASE_COLUMNS if n != "tip_id"]
        ).select_from(c.join(t, t.c.tip_id == c.c.tip_id))

    # -- cases --------------------------------------------------------------------------------

    def get_case(self, tip_id: str) -> dict | None:
        with self._reading() as conn:  # type: ignore[attr-defined]
            row = (
                conn.execute(self._case_select.where(self._cases.c.tip_id == tip_id))
                .mappings()
                .first()
            )
        return None if row is None else _case(row)

    def case_history(self, tip_id: str) -> list[dict]:
        a = self._actions
        with self._reading() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                sa.select(*[a.c[n] for n in HISTORY_COLUMNS])
                .where(a.c.tip_id == tip_id)
                .order_by(a.c.action_id)
            ).mappings()
            return [dict(r) for r in rows]

    def list_cases(self, query: CaseQuery) -> tuple[list[dict], int]:
        c, t = self._cases, self._tips_t
        where: list[sa.ColumnElement[bool]] = []
        if query.states:
            where.append(c.c.state.in_(list(query.states)))
        if query.subdistricts is not None:
            where.append(t.c.subdistrict_code.in_(list(query.subdistricts)))
        if query.unit_id is not None:
            where.append(c.c.unit_id == query.unit_id)
        if query.categories:
            where.append(t.c.category.in_(list(query.categories)))
        if query.source is not None:
            where.append(c.c.source == query.source)
        if query.since is not None:
            where.append(t.c.reported_at >= query.since)
        if query.until is not None:
            where.append(t.c.reported_at < query.until)
        if query.overdue is not None:
            late = sa.and_(
                c.c.due_at.is_not(None),
                c.c.due_at < query.now,
                c.c.state.not_in(RESTING_STATES),
            )
            where.append(late if query.overdue else sa.not_(late))
        count = (
            sa.select(sa.func.count())
            .select_from(c.join(t, t.c.tip_id == c.c.tip_id))
            .where(*where)
        )
        # the queue: soonest (so the overdue) first, cases with no deadline last
        page = (
            self._case_select.where(*where)
            .order_by(c.c.due_at.is_(None), c.c.due_at, t.c.reported_at.desc(), c.c.tip_id)
            .limit(int(query.limit))
            .offset(int(query.offset))
        )
        with self._reading(snapshot=True) as conn:  # type: ignore[attr-defined]
            total = conn.execute(count).scalar_one()
            rows = conn.execute(page).mappings().all()
        return [_case(r) for r in rows], int(total)

    def apply_action(
        self,
        tip_id: str,
        *,
        version: int,
        changes: dict[str, Any],
        action: dict[str, Any],
        event: dict[str, Any],
        confirm: dict[str, Any] | None = None,
    ) -> dict:
        c = self._cases
        at = action["at"]
        with self._writing() as conn:  # type: ignore[attr-defined]
            if confirm is not None:  # "me too": once per reporter, or nothing changes
                added = conn.execute(
                    self._dialect_insert(self._confirm)
                    .values(**confirm)
                    .on_conflict_do_nothing()
                    .returning(self._confirm.c.tip_id)
                ).first()
                if added is None:
                    raise AlreadyConfirmed(f"tip_id: {tip_id!r} was confirmed by this reporter")
            done = conn.execute(
                sa.update(c)
                .where(c.c.tip_id == tip_id, c.c.version == version)
                .values(**changes, updated_at=at, version=c.c.version + 1)
            )
            if done.rowcount != 1:
                raise CaseConflict(
                    f"tip_id: case {tip_id!r} changed while this action was made; "
                    "read it again and retry"
                )
            if "state" in changes:  # the tip's own status: Open311's open or closed
                conn.execute(
                    sa.update(self._tips_t)
                    .where(self._tips_t.c.tip_id == tip_id)
                    .values(status=_status(changes["state"]))
                )
            conn.execute(sa.insert(self._actions).values(tip_id=tip_id, **action))
            conn.execute(
                sa.insert(self._outbox).values(
                    tip_id=tip_id,
                    payload=json.dumps(event, ensure_ascii=False, sort_keys=True),
                    created_at=at,
                    next_attempt_at=at,
                )
            )
            row = conn.execute(self._case_select.where(c.c.tip_id == tip_id)).mappings().one()
        return _case(row)

    def import_history(self, cases: list[dict], actions: list[dict]) -> None:
        c, t = self._cases, self._tips_t
        columns = [n for n in CASE_COLUMNS if n != "tip_id"]
        rows = [{"b_tip_id": case["tip_id"], **{n: case[n] for n in columns}} for case in cases]
        statuses = [
            {"b_tip_id": case["tip_id"], "status": _status(case["state"])} for case in cases
        ]
        with self._writing() as conn:  # type: ignore[attr-defined]
            if rows:
                conn.execute(sa.update(c).where(c.c.tip_id == sa.bindparam("b_tip_id")), rows)
                conn.execute(sa.update(t).where(t.c.tip_id == sa.bindparam("b_tip_id")), statuses)
            if actions:
                conn.execute(sa.insert(self._actions), actions)

    # -- staff --------------------------------------------------------------------------------

    def add_staff(self, staff: dict[str, Any]) -> None:
        with self._writing() as conn:  # type: ignore[attr-defined]
            conn.execute(sa.insert(self._staff).values(**staff))

    def staff_by_token_hash(self, token_hash: str) -> dict | None:
        s = self._staff
        with self._reading() as conn:  # type: ignore[attr-defined]
            row = (
                conn.execute(
                    sa.select(*[s.c[n] for n in STAFF_COLUMNS]).where(
                        s.c.token_hash == token_hash, s.c.revoked_at.is_(None)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    def list_staff(self) -> list[dict]:
        s = self._staff
        with self._reading() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                sa.select(*[s.c[n] for n in STAFF_COLUMNS]).order_by(s.c.created_at, s.c.staff_id)
            ).mappings()
            return [dict(r) for r in rows]

    def revoke_staff(self, staff_id: str, at: dt.datetime) -> bool:
        s = self._staff
        with self._writing() as conn:  # type: ignore[attr-defined]
            done = conn.execute(
                sa.update(s)
                .where(s.c.staff_id == staff_id, s.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return done.rowcount == 1

    # -- secrets and the outbox ---------------------------------------------------------------

    def secret(self, name: str) -> str:
        if name not in self._secret_values:  # read once: every new tip's receipt needs it
            s = self._secrets
            with self._reading() as conn:  # type: ignore[attr-defined]
                value = conn.execute(sa.select(s.c.value).where(s.c.name == name)).scalar_one()
            self._secret_values[name] = str(value)
        return self._secret_values[name]

    def pending_events(self, now: dt.datetime, limit: int) -> list[dict]:
        """Undelivered events due for an attempt, oldest first, and only each case's oldest
        undelivered one (events of one case go out in order)."""
        o = self._outbox
        oldest = (
            sa.select(sa.func.min(o.c.event_id))
            .where(o.c.delivered_at.is_(None))
            .group_by(o.c.tip_id)
            .scalar_subquery()
        )
        with self._reading() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                sa.select(*[o.c[n] for n in OUTBOX_COLUMNS])
                .where(o.c.event_id.in_(oldest), o.c.next_attempt_at <= now)
                .order_by(o.c.event_id)
                .limit(int(limit))
            ).mappings()
            return [dict(r) for r in rows]

    def claim_event(self, event_id: int, *, now: dt.datetime, until: dt.datetime) -> bool:
        """One conditional UPDATE: on PostgreSQL a concurrent claim of the same row waits for
        the first to commit and then finds the event no longer due; SQLite serialises writers."""
        o = self._outbox
        with self._writing() as conn:  # type: ignore[attr-defined]
            done = conn.execute(
                sa.update(o)
                .where(
                    o.c.event_id == event_id,
                    o.c.delivered_at.is_(None),
                    o.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=until)
            )
            return done.rowcount == 1

    def mark_event(
        self,
        event_id: int,
        *,
        delivered_at: dt.datetime | None = None,
        retry_at: dt.datetime | None = None,
        error: str = "",
    ) -> None:
        o = self._outbox
        values: dict[str, Any] = {"attempts": o.c.attempts + 1, "last_error": error or None}
        if delivered_at is not None:
            values["delivered_at"] = delivered_at
        else:
            values["next_attempt_at"] = retry_at
        with self._writing() as conn:  # type: ignore[attr-defined]
            conn.execute(sa.update(o).where(o.c.event_id == event_id).values(**values))

    def count_events(self, *, delivered: bool | None = None) -> int:
        o = self._outbox
        where = []
        if delivered is not None:
            where.append(o.c.delivered_at.is_not(None) if delivered else o.c.delivered_at.is_(None))
        with self._reading() as conn:  # type: ignore[attr-defined]
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(o).where(*where)).scalar_one()
            )


def _status(state: str) -> str:
    """A tip's status for its case's state: Open311's open or closed."""
    return "closed" if state in ("closed", "rejected") else "open"


def _case(row) -> dict:
    case = dict(row)
    case["outside_city"] = bool(case["outside_city"])
    return case
