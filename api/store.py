"""Tip storage behind one small interface: SQLite (embedded, the default) or PostGIS.

A tip is committed before :meth:`Store.add_tip` returns, so the API answers 201 only for a durable
tip. An idempotency key makes a retried POST return the tip it already stored.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

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
# Never leaves the service on a public endpoint.
PRIVATE_COLUMNS = ("reporter_id",)


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
        """Tips matching ``query``, newest first, and how many match in all."""

    @abstractmethod
    def count_by(self, query: TipQuery, by: tuple[str, ...]) -> list[dict]:
        """Tip counts grouped by ``by`` (keys of ``GROUP_KEYS``), for tips matching ``query``
        (its paging is ignored): one dict per group with those keys and ``count``."""

    @abstractmethod
    def count_tips(self) -> int:
        """How many tips are stored."""

    @abstractmethod
    def import_tips(self, tips: list[dict]) -> int:
        """Store tips whose ``tip_id`` is not stored yet (one transaction); return how many."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


def open_store(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///path.db`` or ``postgresql://...``."""
    scheme = urlparse(url).scheme.lower()
    if scheme == "sqlite":
        return SQLiteStore(_sqlite_path(url))
    if scheme in ("postgresql", "postgres", "postgis", "postgresql+psycopg"):
        from api.store_postgis import PostGISStore

        return PostGISStore(url)
    raise InvalidInput(
        f"db URL {url!r} is not supported; use sqlite:///path.db or postgresql://user@host/db"
    )


def _sqlite_path(url: str) -> str:
    # sqlite:///relative.db, sqlite:////absolute.db, sqlite:///:memory:
    rest = url.split(":", 1)[1]
    if not rest.startswith("///"):
        raise InvalidInput(f"db URL {url!r}: write sqlite:///path/to/file.db")
    path = unquote(rest[3:])
    if path != ":memory:":
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise InvalidInput(f"db URL {url!r}: folder {str(parent)!r} does not exist")
    return path


def _check_keys(by: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [k for k in by if k not in GROUP_KEYS]
    if unknown or not by:
        raise InvalidInput(
            f"count_by: group keys must be among {', '.join(GROUP_KEYS)}, got {by!r}"
        )
    return tuple(by)


def _epoch(value: str | dt.datetime) -> float:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.timestamp()


class SQLiteStore(Store):
    """Tips in one SQLite file (WAL journal, synchronous=FULL: durable at commit)."""

    backend = "sqlite"

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._create()
        except sqlite3.Error as exc:
            raise InvalidInput(f"db: cannot open the SQLite file {path!r} ({exc})") from None

    def _create(self) -> None:
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS tips (
                tip_id TEXT PRIMARY KEY,
                reported_at TEXT NOT NULL,
                reported_ts REAL NOT NULL,
                category TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                reporter_id TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'open',
                lon REAL NOT NULL,
                lat REAL NOT NULL,
                grid_code TEXT,
                subdistrict_code TEXT,
                street_name TEXT,
                street_distance_m REAL,
                nearest_station_id TEXT,
                station_distance_m REAL,
                outside_city INTEGER NOT NULL DEFAULT 0,
                idempotency_key TEXT UNIQUE,
                fingerprint TEXT NOT NULL DEFAULT ''
            );
            CREATE INDEX IF NOT EXISTS tips_time ON tips (reported_ts DESC, tip_id);
            CREATE INDEX IF NOT EXISTS tips_grid ON tips (grid_code);
            CREATE INDEX IF NOT EXISTS tips_sub ON tips (subdistrict_code);
            CREATE INDEX IF NOT EXISTS tips_lat_lon ON tips (lat, lon);
            """
        )

    def add_tip(self, tip, *, idempotency_key=None, fingerprint=""):
        row = {c: tip.get(c) for c in TIP_COLUMNS}
        row["outside_city"] = int(bool(row["outside_city"]))
        row["reported_ts"] = _epoch(row["reported_at"])
        row["idempotency_key"] = idempotency_key
        row["fingerprint"] = fingerprint
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock:
            if idempotency_key is not None:
                found = self._by_key(idempotency_key)
                if found is not None:
                    return self._replay(found, fingerprint), False
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(f"INSERT INTO tips ({names}) VALUES ({marks})", row)
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                found = self._by_key(idempotency_key) if idempotency_key else None
                if found is None:
                    raise
                return self._replay(found, fingerprint), False
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return self._tip(row), True

    def replay(self, idempotency_key, fingerprint):
        with self._lock:
            found = self._by_key(idempotency_key)
        return None if found is None else self._replay(found, fingerprint)

    def get_tip(self, tip_id):
        with self._lock:
            found = self._db.execute("SELECT * FROM tips WHERE tip_id = ?", (tip_id,)).fetchone()
        return None if found is None else self._tip(found)

    def list_tips(self, query):
        clause, args = self._where(query)
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM tips {clause}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM tips {clause} ORDER BY reported_ts DESC, tip_id LIMIT ? OFFSET ?",
                [*args, query.limit, query.offset],
            ).fetchall()
        return [self._tip(r) for r in rows], int(total)

    def count_by(self, query, by):
        exprs = {
            "grid_code": ["grid_code"],
            "category": ["category"],
            "month": ["substr(reported_at, 1, 7) AS month"],
            "lonlat3": ["round(lon, 3) AS lon3", "round(lat, 3) AS lat3"],
        }
        cols = [e for key in _check_keys(by) for e in exprs[key]]
        names = [c.split(" AS ")[-1] for c in cols]
        clause, args = self._where(query)
        sql = (
            f"SELECT {', '.join(cols)}, count(*) AS count FROM tips {clause} "
            f"GROUP BY {', '.join(names)} ORDER BY {', '.join(names)}"
        )
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [dict(r) for r in rows]

    @staticmethod
    def _where(query) -> tuple[str, list]:
        where, args = [], []
        if query.bbox is not None:
            minx, miny, maxx, maxy = query.bbox
            where.append("lat BETWEEN ? AND ? AND lon BETWEEN ? AND ?")
            args += [miny, maxy, minx, maxx]
        if query.categories:
            where.append(f"category IN ({', '.join('?' * len(query.categories))})")
            args += list(query.categories)
        if query.since is not None:
            where.append("reported_ts >= ?")
            args.append(query.since.timestamp())
        if query.until is not None:
            where.append("reported_ts < ?")
            args.append(query.until.timestamp())
        for column in ("grid_code", "subdistrict_code", "status"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.outside_city is not None:
            where.append("outside_city = ?")
            args.append(int(query.outside_city))
        return (f"WHERE {' AND '.join(where)}" if where else ""), args

    def count_tips(self):
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM tips").fetchone()[0])

    def import_tips(self, tips):
        rows = []
        for tip in tips:
            row = {c: tip.get(c) for c in TIP_COLUMNS}
            row["outside_city"] = int(bool(row["outside_city"]))
            row["reported_ts"] = _epoch(row["reported_at"])
            rows.append(row)
        if not rows:
            return 0
        names = ", ".join(rows[0])
        marks = ", ".join(f":{k}" for k in rows[0])
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(f"INSERT OR IGNORE INTO tips ({names}) VALUES ({marks})", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._db.total_changes - before

    def close(self):
        with self._lock:
            self._db.close()

    def _by_key(self, key):
        return self._db.execute("SELECT * FROM tips WHERE idempotency_key = ?", (key,)).fetchone()

    def _replay(self, found, fingerprint):
        if found["fingerprint"] != fingerprint:
            raise IdempotencyConflict(
                "Idempotency-Key was already used for a different tip; use a new key"
            )
        return self._tip(found)

    @staticmethod
    def _tip(row) -> dict:
        tip = {c: row[c] for c in TIP_COLUMNS}
        tip["outside_city"] = bool(tip["outside_city"])
        return tip
