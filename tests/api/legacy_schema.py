"""The schema of release 0.1.0 and the INSERT it stored a tip with, frozen here as it was.

They are copied from that release's ``api/store.py`` (SQLite) and ``api/store_postgis.py``
(PostGIS), so that the migration tests build the stores that release made and upgrade them.
Never change them: they are the past that the migrations must keep upgrading.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from zoneinfo import ZoneInfo

SQLITE_DDL = """
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

POSTGIS_DDL = """
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

# 0.1.0's TIP_COLUMNS
COLUMNS = (
    "tip_id",
    "reported_at",
    "category",
    "description",
    "reporter_id",
    "status",
    "lon",
    "lat",
    "grid_code",
    "subdistrict_code",
    "street_name",
    "street_distance_m",
    "nearest_station_id",
    "station_distance_m",
    "outside_city",
)
SQLITE_INSERT = (
    f"INSERT INTO tips ({', '.join(COLUMNS)}, reported_ts, idempotency_key, fingerprint) "
    f"VALUES ({', '.join(f':{c}' for c in COLUMNS)}, :reported_ts, :idempotency_key, "
    ":fingerprint)"
)
POSTGIS_INSERT = (
    f"INSERT INTO tips ({', '.join(COLUMNS)}, idempotency_key, fingerprint, geom) VALUES ("
    + ", ".join(f"%({c})s" for c in COLUMNS)
    + ", %(idempotency_key)s, %(fingerprint)s,"
    " ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))"
)


def sqlite_row(tip: dict, key: str | None, fingerprint: str) -> dict:
    """The parameters 0.1.0's SQLite store bound: the text as given, its epoch seconds."""
    row = {c: tip.get(c) for c in COLUMNS}
    row["outside_city"] = int(bool(row["outside_city"]))
    row["reported_ts"] = dt.datetime.fromisoformat(row["reported_at"]).timestamp()
    row["idempotency_key"] = key
    row["fingerprint"] = fingerprint
    return row


def postgis_row(tip: dict, key: str | None, fingerprint: str) -> dict:
    """The parameters 0.1.0's PostGIS store bound: an aware datetime (naive: city time)."""
    row = {c: tip.get(c) for c in COLUMNS}
    at = dt.datetime.fromisoformat(row["reported_at"])
    row["reported_at"] = at.replace(tzinfo=ZoneInfo("Asia/Shanghai")) if at.tzinfo is None else at
    row["outside_city"] = bool(row["outside_city"])
    row["idempotency_key"] = key
    row["fingerprint"] = fingerprint
    return row


def make_release_0_1_0_store(url: str, tips: list[tuple[dict, str | None, str]]) -> None:
    """Create the store 0.1.0 made at ``url`` and add ``(tip, key, fingerprint)`` as it did."""
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SQLITE_DDL)
            for tip, key, fingerprint in tips:
                db.execute("BEGIN IMMEDIATE")
                db.execute(SQLITE_INSERT, sqlite_row(tip, key, fingerprint))
                db.execute("COMMIT")
        finally:
            db.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(POSTGIS_DDL)
        for tip, key, fingerprint in tips:
            with db.transaction():
                db.execute(POSTGIS_INSERT, postgis_row(tip, key, fingerprint))
