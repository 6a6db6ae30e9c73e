"""The tip store on SQLAlchemy Core: one implementation for SQLite and for PostGIS.

A tip is committed before :meth:`SQLStore.add_tip` returns (SQLite: WAL with
``synchronous=FULL``; PostgreSQL: ``synchronous_commit=on``), so the API answers 201 only for a
durable tip. An idempotency key stores a tip once, race-safe across threads and processes: the
insert does nothing on a key already stored (``ON CONFLICT (idempotency_key) DO NOTHING``, which
waits for a concurrent insert of the same key), and the stored tip is read back. Listings are
newest first, ties by ``tip_id`` in byte order.

SQLite write transactions begin with ``BEGIN IMMEDIATE`` and, within one process, queue on a
lock rather than on SQLite's busy handler, which polls. ``:memory:`` has one connection, used
by one thread at a time. On PostgreSQL the insert of a tip is one statement in autocommit,
committed when it returns.

Everything runs through SQLAlchemy Core but the two statements of tip intake, which run on the
driver with SQL that SQLAlchemy compiled from the schema (:class:`_DriverStatement`).
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from api.stores.cases import CaseTables
from api.stores.contract import (
    TIP_COLUMNS,
    IdempotencyConflict,
    Store,
    TipQuery,
    check_keys,
)
from api.stores.engines import Target, sqlite_transaction
from api.stores.metrics import CaseMetrics
from api.stores.nearby import NearbyCases
from api.stores.schema import CITY_OFFSET, CityTime, months_table, tips_table, to_instant
from geo.errors import InvalidInput

FLOAT_COLUMNS = ("lon", "lat", "street_distance_m", "station_distance_m")


class SQLStore(CaseTables, NearbyCases, CaseMetrics, Store):
    """Tips in the table ``tips`` of a SQLite file or a PostgreSQL database with PostGIS, their
    cases (:mod:`api.stores.cases`), the open cases near a point (:mod:`api.stores.nearby`) and
    the rates of cases (:mod:`api.stores.metrics`)."""

    def __init__(self, target: Target):
        self.backend = target.backend
        self.engine = target.engine
        self._pg = target.backend == "postgis"
        self._tips = tips_table(target.backend)
        self._months = months_table(target.backend)
        t = self._tips
        self._columns = [t.c[name] for name in (*TIP_COLUMNS, "fingerprint")]
        dialect_insert = postgresql.insert if self._pg else sqlite.insert
        insert = dialect_insert(t)
        if self._pg:
            point = sa.func.ST_MakePoint(sa.bindparam("geom_lon"), sa.bindparam("geom_lat"))
            insert = insert.values(geom=sa.func.ST_SetSRID(point, sa.literal_column("4326")))
        self._insert_keyed = insert.on_conflict_do_nothing(
            index_elements=[t.c.idempotency_key]
        ).returning(*self._columns)
        self._insert_new = insert.on_conflict_do_nothing(index_elements=[t.c.tip_id]).returning(
            t.c.tip_id
        )
        self._order = (t.c.reported_at.desc(), t.c.tip_id)  # tip_id: byte order on both
        self._select_by_id = sa.select(*self._columns).where(t.c.tip_id == sa.bindparam("id"))
        select_by_key = sa.select(*self._columns).where(t.c.idempotency_key == sa.bindparam("key"))
        written = [c.name for c in t.columns if c.name != "geom"]
        self._driver_insert = _DriverStatement(self._insert_keyed, self.engine.dialect, written)
        self._driver_by_key = _DriverStatement(select_by_key, self.engine.dialect)
        self._reported_at = CityTime()
        self._init_cases()
        # a new tip's case, written with it: on SQLite in its transaction, on PostgreSQL in the
        # same statement (a data-modifying WITH), so that a tip never exists without its case
        new_case = ["tip_id", "state", "step", "due_at", "source", "urgency", "updated_at"]
        self._driver_case = _DriverStatement(
            dialect_insert(self._cases), self.engine.dialect, new_case
        )
        if self._pg:
            self._driver_insert.sql = (
                f"WITH t AS ({self._driver_insert.sql}), c AS (INSERT INTO cases "
                f"({', '.join(new_case)}) SELECT tip_id, 'reported', %(case_step)s, "
                "%(case_due_at)s, %(case_source)s, %(case_urgency)s, reported_at FROM t) "
                "SELECT * FROM t"
            )
        # SQLite: one writer per process at a time, and :memory: one user at a time
        memory = target.memory
        self._serial = threading.RLock() if memory else nullcontext()
        self._writer = threading.Lock() if target.backend == "sqlite" and not memory else None

    # -- connections ---------------------------------------------------------------------------

    @contextmanager
    def _reading(self, *, snapshot: bool = False):
        """A connection for reads; ``snapshot``: all of them in one consistent transaction."""
        with self._serial, self.engine.connect() as conn:
            if not snapshot:
                yield conn  # each statement its own transaction
            elif self._pg:
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                with conn.begin():
                    yield conn
            else:
                with sqlite_transaction(conn, "DEFERRED"):
                    yield conn

    @contextmanager
    def _writing(self):
        """A connection in a write transaction, committed at the end of the block."""
        with self._serial, self._writer or nullcontext(), self.engine.connect() as conn:
            if self._pg:
                conn = conn.execution_options(isolation_level="READ COMMITTED")
                with conn.begin():
                    yield conn
            else:
                with sqlite_transaction(conn, "IMMEDIATE"):
                    yield conn

    # -- the Store interface -------------------------------------------------------------------

    def add_tip(self, tip, *, idempotency_key=None, fingerprint="", case=None):
        row = self._row(tip)
        row["idempotency_key"] = idempotency_key
        row["fingerprint"] = fingerprint
        row["reported_at"] = self._reported_at.process_bind_param(
            row["reported_at"], self.engine.dialect
        )
        case = case or {}
        due = case.get("due_at")
        case_row = {
            "tip_id": row["tip_id"],
            "state": "reported",
            "step": case.get("step"),
            "due_at": None
            if due is None
            else self._reported_at.process_bind_param(due, self.engine.dialect),
            "source": case.get("source", "courier"),
            "urgency": case.get("urgency", "normal"),
            "updated_at": row["reported_at"],
        }
        row.update({f"case_{k}": v for k, v in case_row.items()})
        key = {"key": idempotency_key}
        while True:
            with self._serial, self._writer or nullcontext(), self._driver() as db:
                # PostgreSQL: in autocommit, the insert is its own transaction
                if not self._pg:
                    db.execute("BEGIN IMMEDIATE")
                try:
                    stored = self._driver_insert.first(db, row)
                    if stored is not None and not self._pg:
                        self._driver_case.first(db, case_row)
                    # else the key is stored already (a concurrent insert of it was waited for)
                    found = None if stored is not None else self._driver_by_key.first(db, key)
                    db.commit()
                except BaseException:
                    db.rollback()
                    raise
            if stored is not None:
                return _tip(self._driver_row(stored)), True
            if found is not None:
                return _replay(self._driver_row(found), fingerprint), False

    def replay(self, idempotency_key, fingerprint):
        with self._serial, self._driver() as db:
            found = self._driver_by_key.first(db, {"key": idempotency_key})
        return None if found is None else _replay(self._driver_row(found), fingerprint)

    def get_tip(self, tip_id):
        with self._reading() as conn:
            found = conn.execute(self._select_by_id, {"id": tip_id}).mappings().first()
        return None if found is None else _tip(found)

    def list_tips(self, query: TipQuery):
        where = self._where(query)
        count = sa.select(sa.func.count()).select_from(self._tips).where(*where)
        page = (
            sa.select(*self._columns)
            .where(*where)
            .order_by(*self._order)
            .limit(int(query.limit))
            .offset(int(query.offset))
        )
        with self._reading(snapshot=True) as conn:
            total = conn.execute(count).scalar_one()
            rows = conn.execute(page).mappings().all()
        return [_tip(r) for r in rows], int(total)

    def count_table(self, query: TipQuery, by):
        keys = check_keys(by)
        months = _month_range(query)
        if months is not None and _countable(query, keys):
            statement = self._count_months(query, keys, months)
        else:
            statement = self._count_tips(query, keys)
        with self._reading() as conn:
            result = conn.execute(statement)
            try:
                # the driver's rows as they are (text, numbers, integer counts): SQLAlchemy's
                # own rows cost more than the query for the 100,000 counts of a heatmap
                names = tuple(result.keys())
                rows = result.cursor.fetchall() if result.cursor is not None else []
            finally:
                result.close()
        return names, rows

    def _count_months(
        self, query: TipQuery, keys: tuple[str, ...], months: tuple[str | None, str | None]
    ) -> sa.Select[Any]:
        """Tip counts read from the counts the triggers keep (``tip_months``): the same answer
        as grouping the tips themselves, from at most cells x categories x months rows."""
        m = self._months
        exprs: dict[str, list[Any]] = {
            "grid_code": [sa.func.nullif(m.c.grid_code, "").label("grid_code")],
            "category": [m.c.category],
            "month": [m.c.month],
            "lonlat3": [m.c.lon3, m.c.lat3],
        }
        cols: list[Any] = [e for key in keys for e in exprs[key]]
        since, until = months
        where: list[sa.ColumnElement[bool]] = [m.c.n > 0]
        if since is not None:
            where.append(m.c.month >= since)
        if until is not None:
            where.append(m.c.month < until)
        if query.categories:
            where.append(m.c.category.in_([str(c) for c in query.categories]))
        if query.outside_city is not None:
            where.append(m.c.outside_city == bool(query.outside_city))
        # a count row is one group already when the keys and the filter fix its whole key:
        # inside the city (lon3, lat3 are 0) by cell, category and month; outside (no cell)
        # by square, category and month
        whole = {"month", "category"} <= set(keys) and (
            (query.outside_city is False and "grid_code" in keys)
            or (query.outside_city is True and "lonlat3" in keys)
        )
        if whole:
            return sa.select(*cols, m.c.n.label("count")).where(*where)
        names: list[Any] = [sa.literal_column(c.name) for c in cols]
        return (
            sa.select(*cols, sa.func.sum(m.c.n).label("count"))
            .where(*where)
            .group_by(*names)
            .order_by(*names)
        )

    def _count_tips(self, query: TipQuery, keys: tuple[str, ...]) -> sa.Select[Any]:
        """Tip counts by grouping the tips themselves."""
        t = self._tips
        if self._pg:
            local = sa.func.timezone(sa.literal_column("'Asia/Shanghai'"), t.c.reported_at)
            month = sa.func.to_char(local, sa.literal_column("'YYYY-MM'"), type_=sa.Text)

            def round3(c):
                return sa.cast(sa.func.round(sa.cast(c, sa.Numeric), 3), sa.Double)
        else:
            month = sa.func.substr(t.c.reported_at, 1, 7, type_=sa.Text)

            def round3(c):
                return sa.func.round(c, 3, type_=sa.Double)

        exprs: dict[str, list[Any]] = {
            "grid_code": [t.c.grid_code],
            "category": [t.c.category],
            "month": [month.label("month")],
            "lonlat3": [round3(t.c.lon).label("lon3"), round3(t.c.lat).label("lat3")],
        }
        cols: list[Any] = [e for key in keys for e in exprs[key]]
        names: list[Any] = [sa.literal_column(c.name) for c in cols]  # by the output names
        sql = (
            sa.select(*cols, sa.func.count().label("count"))
            .where(*self._where(query))
            .group_by(*names)
            .order_by(*names)
        )
        return sql

    def count_tips(self):
        with self._reading() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(self._tips)).scalar_one()
            )

    def import_tips(self, tips):
        rows = []
        for tip in tips:
            row = self._row(tip)
            row.update(idempotency_key=None, fingerprint="")
            rows.append(row)
        if not rows:
            return 0
        with self._writing() as conn:
            added = {r.tip_id for r in conn.execute(self._insert_new, rows).all()}
            cases = [
                _new_case(tip, row)
                for tip, row in zip(tips, rows, strict=True)
                if row["tip_id"] in added
            ]
            if cases:
                conn.execute(sa.insert(self._cases), cases)
            return len(added)

    def close(self):
        self.engine.dispose()

    # -- rows ------------------------------------------------------------------------------

    @contextmanager
    def _driver(self):
        """The driver's connection of a pooled connection (see :class:`_DriverStatement`)."""
        pooled = self.engine.raw_connection()
        try:
            yield pooled.driver_connection
        finally:
            pooled.close()  # back to the pool

    def _driver_row(self, found: dict | None) -> dict | None:
        """A row from the driver with reported_at as Core would read it."""
        if found is not None:
            value = found["reported_at"]
            found["reported_at"] = self._reported_at.process_result_value(
                value, self.engine.dialect
            )
        return found

    def _where(self, query: TipQuery) -> list[sa.ColumnElement[bool]]:
        t = self._tips
        where: list[sa.ColumnElement[bool]] = []
        if query.bbox is not None:
            minx, miny, maxx, maxy = (float(v) for v in query.bbox)
            if self._pg:
                # && finds candidates through the GIST index (float4 boxes, slightly larger);
                # the exact test on lon/lat keeps the edges inclusive.
                box = sa.func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
                where.append(t.c.geom.op("&&")(box))
            where += [t.c.lat.between(miny, maxy), t.c.lon.between(minx, maxx)]
        if query.categories:
            where.append(t.c.category.in_([str(c) for c in query.categories]))
        if query.since is not None:
            where.append(t.c.reported_at >= query.since)
        if query.until is not None:
            where.append(t.c.reported_at < query.until)
        for column in ("grid_code", "subdistrict_code", "status"):
            value = getattr(query, column)
            if value is not None:
                where.append(t.c[column] == value)
        if query.outside_city is not None:
            where.append(t.c.outside_city == bool(query.outside_city))
        return where

    def _row(self, tip: dict) -> dict:
        """One tip as statement parameters: NaN stored as NULL, types made plain."""
        row = {}
        for column in TIP_COLUMNS:
            value = tip.get(column)
            if isinstance(value, float) and math.isnan(value):
                value = None
            if column == "reported_at":
                value = None if value is None else to_instant(value)
            elif column == "outside_city":
                value = bool(value)
            elif value is not None and column in FLOAT_COLUMNS:
                value = float(value)
                value = None if math.isnan(value) else value
            elif isinstance(value, str | int | float):  # as SQLite's TEXT affinity; numpy str too
                value = str(value)
                if "\x00" in value:
                    raise InvalidInput(f"{column}: contains a NUL character (\\u0000)")
            row[column] = value
        if self._pg:
            row["geom_lon"], row["geom_lat"] = row["lon"], row["lat"]
        return row


class _DriverStatement:
    """A Core statement compiled once for the dialect and run on the driver's connection.

    Tip intake runs two statements per tip: the lookup of its idempotency key and the insert.
    Through SQLAlchemy's execution one of them took 70 us (SQLite) to 150 us (psycopg, which
    then builds a cursor description of 16 columns) against 15-40 us on the driver, and made
    the store 3-4 times slower per tip than release 0.1.0: 270 against 80 us of CPU per tip
    with SQLite, 820 against 340 us with PostGIS (replay then add_tip, on the development
    machine). On the driver they take 150 us with SQLite and 290-450 us with PostGIS (0.1.0:
    80 and 390 us). Their SQL is still SQLAlchemy's, compiled from the schema, and reported_at
    is converted by its type (:class:`CityTime`).
    """

    def __init__(self, statement, dialect, columns: list[str] | None = None):
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        self.sql = str(compiled)
        self.params = list(compiled.positiontup) if compiled.positional else None
        self.names = [c.name for c in statement.exported_columns]  # SELECT or RETURNING

    def first(self, db, values: dict) -> dict | None:
        """The first row the statement returns on driver connection ``db``, or None."""
        params = values if self.params is None else [values[n] for n in self.params]
        cursor = db.cursor()
        try:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else dict(zip(self.names, row, strict=True))


def _month_start(value) -> str | None | bool:
    """``YYYY-MM`` when ``value`` is the first instant of a month in city time, None for no
    bound, False for any other instant."""
    if value is None:
        return None
    local = to_instant(value).astimezone(CITY_OFFSET)
    if (local.day, local.hour, local.minute, local.second, local.microsecond) != (1, 0, 0, 0, 0):
        return False
    return f"{local:%Y-%m}"


def _month_range(query: TipQuery) -> tuple[str | None, str | None] | None:
    """The months ``[since, until)`` of a query whose bounds are whole months (or absent), else
    None."""
    since, until = _month_start(query.since), _month_start(query.until)
    if since is False or until is False:
        return None
    return since, until  # type: ignore[return-value]


def _countable(query: TipQuery, keys: tuple[str, ...]) -> bool:
    """Whether the monthly counts answer the query: filtered by categories, whole months and
    inside or outside the city only; and grouped by square only outside every cell, the one
    place the counts keep it."""
    return (
        query.bbox is None
        and query.grid_code is None
        and query.subdistrict_code is None
        and query.status is None
        and ("lonlat3" not in keys or query.outside_city is True)
    )


def _new_case(tip: dict, row: dict) -> dict:
    """The case of an imported tip: the tip's ``case`` columns, else ``reported`` (``closed``
    for a closed tip) with no deadline."""
    closed = row.get("status") == "closed"
    case = {
        "tip_id": row["tip_id"],
        "state": "closed" if closed else "reported",
        "closed_at": row["reported_at"] if closed else None,
        "updated_at": row["reported_at"],
        **(tip.get("case") or {}),
    }
    case["tip_id"] = row["tip_id"]
    return case


def _tip(row) -> dict:
    tip = {c: row[c] for c in TIP_COLUMNS}
    tip["outside_city"] = bool(tip["outside_city"])
    return tip


def _replay(found, fingerprint: str) -> dict:
    if found["fingerprint"] != fingerprint:
        raise IdempotencyConflict(
            "Idempotency-Key was already used for a different tip; use a new key"
        )
    return _tip(found)
