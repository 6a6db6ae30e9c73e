"""The tip store in PostgreSQL + PostGIS, for several API processes or machines on one database.

Same contract as :class:`api.store.SQLiteStore`: a tip is committed before :meth:`add_tip`
returns, an idempotency key stores a tip once (race-safe across processes through the unique
index), listings are newest first with ties broken by ``tip_id`` in byte order, and
``reported_at`` comes back as an ISO 8601 string in city time (+08:00).

Each process keeps its own small pool of connections (psycopg 3). The table ``tips`` is created
at open, in the first schema of the connection's ``search_path``, with a GIST index on ``geom``.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit

from api.store import TIP_COLUMNS, IdempotencyConflict, Store, TipQuery, _check_keys
from geo.errors import InvalidInput
from geo.hours import CITY_TZ

try:
    import psycopg
    from psycopg import conninfo as pg_conninfo
    from psycopg.pq import TransactionStatus
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - depends on the installation
    psycopg = None

FLOAT_COLUMNS = ("lon", "lat", "street_distance_m", "station_distance_m")
_SELECT = ", ".join((*TIP_COLUMNS, "fingerprint"))
_INSERT = (
    f"INSERT INTO tips ({', '.join(TIP_COLUMNS)}, idempotency_key, fingerprint, geom) VALUES ("
    + ", ".join(f"%({c})s" for c in TIP_COLUMNS)
    + ", %(idempotency_key)s, %(fingerprint)s,"
    " ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))"
)
# tip_id order as SQLite's (bytes), whatever the database's collation.
_ORDER = 'ORDER BY reported_at DESC, tip_id COLLATE "C"'
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tips (
    tip_id text PRIMARY KEY,
    reported_at timestamptz NOT NULL,
    category text NOT NULL,
    description text NOT NULL DEFAULT '',
    reporter_id text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'open',
    lon double precision NOT NULL,
    lat double precision NOT NULL,
    grid_code text,
    subdistrict_code text,
    street_name text,
    street_distance_m double precision,
    nearest_station_id text,
    station_distance_m double precision,
    outside_city boolean NOT NULL DEFAULT false,
    idempotency_key text UNIQUE,
    fingerprint text NOT NULL DEFAULT '',
    geom geometry(Point, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS tips_time ON tips (reported_at DESC, tip_id COLLATE "C");
CREATE INDEX IF NOT EXISTS tips_geom ON tips USING gist (geom);
CREATE INDEX IF NOT EXISTS tips_grid ON tips (grid_code);
CREATE INDEX IF NOT EXISTS tips_sub ON tips (subdistrict_code);
"""
_DDL_LOCK = 0x59495A48414E  # "YIZHAN": one process at a time creates the extension and table
_SCHEMES = ("postgresql", "postgres", "postgis", "postgresql+psycopg")


def redact(url: str) -> str:
    """``url`` without its password (in the user part or a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = f"{user.split(':', 1)[0]}@{host}"
        query = urlencode(
            [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"],
            safe="/,:",
        )
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    except ValueError:
        return "<unparsable URL>"


def _one_line(error: BaseException, secret: str | None) -> str:
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if secret:
        text = text.replace(secret, "***")
    return text or type(error).__name__


class _Pool:
    """At most ``size`` connections, reused last-in first-out; broken ones are dropped."""

    def __init__(self, connect, size: int, timeout: float, ping_after: float = 5.0):
        self._connect = connect
        self._idle: list[tuple[object, float]] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._timeout = timeout
        self._ping_after = ping_after
        self._closed = False

    @contextmanager
    def connection(self):
        if self._closed:
            raise RuntimeError("the PostGIS store is closed")
        if not self._slots.acquire(timeout=self._timeout):
            raise TimeoutError(f"no free database connection after {self._timeout:g} s")
        try:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give(conn)
        finally:
            self._slots.release()

    def _take(self):
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if time.monotonic() - since < self._ping_after:
                return conn
            try:  # idle for a while: the server may have gone away since
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error:
                conn.close()
        return self._connect()

    def _give(self, conn) -> None:
        usable = (
            not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        with self._lock:
            if usable and not self._closed:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


class PostGISStore(Store):
    """Tips in the table ``tips`` of a PostgreSQL database with PostGIS."""

    backend = "postgis"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        pool_timeout: float = 30.0,
        connect_timeout: int = 10,
    ):
        self.url = redact(url)
        if psycopg is None:
            raise InvalidInput(
                f"db URL {self.url!r}: PostGIS needs psycopg 3; pip install 'yizhan[postgis]'"
            )
        scheme, rest = url.split(":", 1) if ":" in url else ("", url)
        if scheme.lower() not in _SCHEMES:
            raise InvalidInput(f"db URL {self.url!r}: write postgresql://user@host:port/database")
        self._conninfo = "postgresql:" + rest
        try:
            params = pg_conninfo.conninfo_to_dict(self._conninfo)
        except psycopg.Error as e:
            raise InvalidInput(f"db URL {self.url!r}: {_one_line(e, None)}") from None
        self._secret = params.get("password") or None
        self._extra = {}
        if "connect_timeout" not in params:
            self._extra["connect_timeout"] = connect_timeout
        if "application_name" not in params:
            self._extra["application_name"] = "yizhan"
        try:  # fails here, with one line, if the URL is no good
            first = self._connect()
        except psycopg.Error as e:
            raise InvalidInput(
                f"db URL {self.url!r}: cannot connect to PostgreSQL: {_one_line(e, self._secret)}"
            ) from None
        try:
            self._create_schema(first)
        except BaseException:
            first.close()
            raise
        self._pool = _Pool(self._connect, pool_size, pool_timeout)
        self._pool._give(first)

    # -- connections -------------------------------------------------------------------------

    def _connect(self):
        # Later (server gone, say) the psycopg error itself propagates: it is no bad input.
        conn = psycopg.connect(self._conninfo, autocommit=True, row_factory=dict_row, **self._extra)
        # durable at commit, whatever the server's default
        conn.execute("SET synchronous_commit TO on")
        return conn

    def _create_schema(self, conn) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                except psycopg.Error as e:
                    raise InvalidInput(
                        f"db URL {self.url!r}: cannot enable PostGIS "
                        f"({_one_line(e, self._secret)}); as a superuser run "
                        "CREATE EXTENSION postgis in that database"
                    ) from None
            conn.execute(_SCHEMA)

    # -- the Store interface -----------------------------------------------------------------

    def add_tip(self, tip, *, idempotency_key=None, fingerprint=""):
        row = _row(tip)
        row["idempotency_key"] = idempotency_key
        row["fingerprint"] = fingerprint
        with self._pool.connection() as conn:
            if idempotency_key is None:
                with conn.transaction():
                    stored = conn.execute(f"{_INSERT} RETURNING {_SELECT}", row).fetchone()
                return _tip(stored), True
            while True:
                found = self._by_key(conn, idempotency_key)
                if found is not None:
                    return _replay(found, fingerprint), False
                # Another process may insert the same key meanwhile: the unique index makes
                # this wait for it and then insert nothing; the stored tip is read again.
                with conn.transaction():
                    stored = conn.execute(
                        f"{_INSERT} ON CONFLICT (idempotency_key) DO NOTHING RETURNING {_SELECT}",
                        row,
                    ).fetchone()
                if stored is not None:
                    return _tip(stored), True

    def replay(self, idempotency_key, fingerprint):
        with self._pool.connection() as conn:
            found = self._by_key(conn, idempotency_key)
        return None if found is None else _replay(found, fingerprint)

    def get_tip(self, tip_id):
        with self._pool.connection() as conn:
            found = conn.execute(
                f"SELECT {_SELECT} FROM tips WHERE tip_id = %s", (tip_id,)
            ).fetchone()
        return None if found is None else _tip(found)

    def list_tips(self, query: TipQuery):
        clause, args = _where(query)
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            total = conn.execute(f"SELECT count(*) AS n FROM tips {clause}", args).fetchone()["n"]
            rows = conn.execute(
                f"SELECT {_SELECT} FROM tips {clause} {_ORDER} LIMIT %(limit)s OFFSET %(offset)s",
                {**args, "limit": int(query.limit), "offset": int(query.offset)},
            ).fetchall()
        return [_tip(r) for r in rows], int(total)

    def count_by(self, query: TipQuery, by):
        exprs = {
            "grid_code": ["grid_code"],
            "category": ["category"],
            "month": ["to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month"],
            "lonlat3": [
                "round(lon::numeric, 3)::float8 AS lon3",
                "round(lat::numeric, 3)::float8 AS lat3",
            ],
        }
        cols = [e for key in _check_keys(by) for e in exprs[key]]
        names = [c.split(" AS ")[-1] for c in cols]
        clause, args = _where(query)
        sql = (
            f"SELECT {', '.join(cols)}, count(*) AS count FROM tips {clause} "
            f"GROUP BY {', '.join(names)} ORDER BY {', '.join(names)}"
        )
        with self._pool.connection() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [{**r, "count": int(r["count"])} for r in rows]

    def count_tips(self):
        with self._pool.connection() as conn:
            return int(conn.execute("SELECT count(*) AS n FROM tips").fetchone()["n"])

    def import_tips(self, tips):
        rows = []
        for tip in tips:
            row = _row(tip)
            row.update(idempotency_key=None, fingerprint="")
            rows.append(row)
        if not rows:
            return 0
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(f"{_INSERT} ON CONFLICT (tip_id) DO NOTHING", rows)
            return int(cur.rowcount)  # summed over the rows by psycopg >= 3.1

    def close(self):
        self._pool.close()

    @staticmethod
    def _by_key(conn, key):
        return conn.execute(
            f"SELECT {_SELECT} FROM tips WHERE idempotency_key = %s", (key,)
        ).fetchone()


def _where(query: TipQuery) -> tuple[str, dict]:
    where, args = [], {}
    if query.bbox is not None:
        minx, miny, maxx, maxy = (float(v) for v in query.bbox)
        # && finds candidates through the GIST index (float4 boxes, slightly larger);
        # the exact test on lon/lat keeps SQLite's inclusive edges.
        where.append(
            "geom && ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326)"
            " AND lon BETWEEN %(minx)s AND %(maxx)s AND lat BETWEEN %(miny)s AND %(maxy)s"
        )
        args.update(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
    if query.categories:
        where.append("category = ANY(%(categories)s)")
        args["categories"] = [str(c) for c in query.categories]
    if query.since is not None:
        where.append("reported_at >= %(since)s")
        args["since"] = _aware(query.since)
    if query.until is not None:
        where.append("reported_at < %(until)s")
        args["until"] = _aware(query.until)
    for column in ("grid_code", "subdistrict_code", "status"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"{column} = %({column})s")
            args[column] = value
    if query.outside_city is not None:
        where.append("outside_city = %(outside_city)s")
        args["outside_city"] = bool(query.outside_city)
    return (f"WHERE {' AND '.join(where)}" if where else ""), args


def _aware(value: str | dt.datetime) -> dt.datetime:
    """A time zone aware datetime; a naive one is city time (as the API reads it)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"reported_at: {value!r} is not an ISO 8601 date-time") from None
    return value.replace(tzinfo=CITY_TZ) if value.tzinfo is None else value


def _row(tip: dict) -> dict:
    """One tip as query parameters: NaN stored as NULL (as SQLite does), types made plain."""
    row = {}
    for column in TIP_COLUMNS:
        value = tip.get(column)
        if isinstance(value, float) and math.isnan(value):
            value = None
        if column == "reported_at":
            value = None if value is None else _aware(value)
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
    return row


def _tip(row) -> dict:
    tip = {c: row[c] for c in TIP_COLUMNS}
    tip["reported_at"] = row["reported_at"].astimezone(CITY_TZ).isoformat()
    tip["outside_city"] = bool(tip["outside_city"])
    return tip


def _replay(found, fingerprint: str) -> dict:
    if found["fingerprint"] != fingerprint:
        raise IdempotencyConflict(
            "Idempotency-Key was already used for a different tip; use a new key"
        )
    return _tip(found)
