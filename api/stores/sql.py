"""The tip store on SQLAlchemy Core: one implementation for SQLite and for PostGIS.

A tip is committed before :meth:`SQLStore.add_tip` returns (SQLite: WAL with
``synchronous=FULL``; PostgreSQL: ``synchronous_commit=on``), so the API answers 201 only for a
durable tip. An idempotency key stores a tip once, race-safe across threads and processes: the
insert does nothing on a key already stored (``ON CONFLICT (idempotency_key) DO NOTHING``, which
waits for a concurrent insert of the same key), and the stored tip is read back. Listings are
newest first, ties by ``tip_id`` in byte order.

SQLite write transactions begin with ``BEGIN IMMEDIATE`` and, within one process, queue on a
lock rather than on SQLite's busy handler, which polls. ``:memory:`` has one connection, used
by one thread at a time.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager, nullcontext

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from api.stores.contract import (
    TIP_COLUMNS,
    IdempotencyConflict,
    Store,
    TipQuery,
    check_keys,
)
from api.stores.engines import Target
from api.stores.schema import tips_table, to_instant
from geo.errors import InvalidInput

FLOAT_COLUMNS = ("lon", "lat", "street_distance_m", "station_distance_m")


class SQLStore(Store):
    """Tips in the table ``tips`` of a SQLite file or a PostgreSQL database with PostGIS."""

    def __init__(self, target: Target):
        self.backend = target.backend
        self.engine = target.engine
        self._pg = target.backend == "postgis"
        self._tips = tips_table(target.backend)
        t = self._tips
        self._columns = [t.c[name] for name in (*TIP_COLUMNS, "fingerprint")]
        dialect_insert = postgresql.insert if self._pg else sqlite.insert
        insert = dialect_insert(t)
        if self._pg:
            point = sa.func.ST_MakePoint(sa.bindparam("geom_lon"), sa.bindparam("geom_lat"))
            insert = insert.values(geom=sa.func.ST_SetSRID(point, 4326))
        self._insert_keyed = insert.on_conflict_do_nothing(
            index_elements=[t.c.idempotency_key]
        ).returning(*self._columns)
        self._insert_new = insert.on_conflict_do_nothing(index_elements=[t.c.tip_id]).returning(
            t.c.tip_id
        )
        self._order = (t.c.reported_at.desc(), t.c.tip_id)  # tip_id: byte order on both
        # SQLite: one writer per process at a time, and :memory: one user at a time
        memory = target.memory
        self._serial = threading.RLock() if memory else nullcontext()
        self._writer = threading.Lock() if target.backend == "sqlite" and not memory else None

    # -- connections ---------------------------------------------------------------------------

    @contextmanager
    def _reading(self, *, snapshot: bool = False):
        """A connection for reads; ``snapshot``: all of them in one consistent transaction."""
        with self._serial, self.engine.connect() as conn:
            if snapshot and self._pg:
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            yield conn

    @contextmanager
    def _writing(self, *, one_statement: bool = False):
        """A connection in a write transaction, committed at the end of the block.

        ``one_statement``: the block runs one write, atomic and committed by itself, and
        perhaps reads after it; PostgreSQL then needs no BEGIN and COMMIT around it."""
        with self._serial, self._writer or nullcontext(), self.engine.connect() as conn:
            if self._pg and one_statement:  # in autocommit
                yield conn
                return
            if self._pg:
                conn = conn.execution_options(isolation_level="READ COMMITTED")
            else:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    # -- the Store interface -------------------------------------------------------------------

    def add_tip(self, tip, *, idempotency_key=None, fingerprint=""):
        row = self._row(tip)
        row["idempotency_key"] = idempotency_key
        row["fingerprint"] = fingerprint
        while True:
            with self._writing(one_statement=True) as conn:
                stored = conn.execute(self._insert_keyed, row).mappings().first()
                if stored is not None:
                    return _tip(stored), True
                # The key is stored already (a concurrent insert of it was waited for).
                found = self._by_key(conn, idempotency_key)
            if found is not None:
                return _replay(found, fingerprint), False

    def replay(self, idempotency_key, fingerprint):
        with self._reading() as conn:
            found = self._by_key(conn, idempotency_key)
        return None if found is None else _replay(found, fingerprint)

    def get_tip(self, tip_id):
        t = self._tips
        with self._reading() as conn:
            found = (
                conn.execute(sa.select(*self._columns).where(t.c.tip_id == tip_id))
                .mappings()
                .first()
            )
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

    def count_by(self, query: TipQuery, by):
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

        exprs = {
            "grid_code": [t.c.grid_code],
            "category": [t.c.category],
            "month": [month.label("month")],
            "lonlat3": [round3(t.c.lon).label("lon3"), round3(t.c.lat).label("lat3")],
        }
        cols = [e for key in check_keys(by) for e in exprs[key]]
        names = [sa.literal_column(c.name) for c in cols]  # grouped by the output names
        sql = (
            sa.select(*cols, sa.func.count().label("count"))
            .where(*self._where(query))
            .group_by(*names)
            .order_by(*names)
        )
        with self._reading() as conn:
            rows = conn.execute(sql).mappings().all()
        return [{**r, "count": int(r["count"])} for r in rows]

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
            return len(conn.execute(self._insert_new, rows).all())

    def close(self):
        self.engine.dispose()

    # -- rows ------------------------------------------------------------------------------

    def _by_key(self, conn, key):
        t = self._tips
        return (
            conn.execute(sa.select(*self._columns).where(t.c.idempotency_key == key))
            .mappings()
            .first()
        )

    def _where(self, query: TipQuery) -> list:
        t = self._tips
        where = []
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
