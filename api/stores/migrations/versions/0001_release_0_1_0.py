"""The schema of release 0.1.0, as its stores created it.

Revision ID: 0001
Revises:
Create Date: 2026-05-01

A store made by release 0.1.0 has this table and no ``alembic_version``; opening it stamps it
with this revision, without running it. The DDL is that release's, word for word, less its
``IF NOT EXISTS``.
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQLITE = (
    """
    CREATE TABLE tips (
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
    )
    """,
    "CREATE INDEX tips_time ON tips (reported_ts DESC, tip_id)",
    "CREATE INDEX tips_grid ON tips (grid_code)",
    "CREATE INDEX tips_sub ON tips (subdistrict_code)",
    "CREATE INDEX tips_lat_lon ON tips (lat, lon)",
)

POSTGIS = (
    """
    CREATE TABLE tips (
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
    )
    """,
    'CREATE INDEX tips_time ON tips (reported_at DESC, tip_id COLLATE "C")',
    "CREATE INDEX tips_geom ON tips USING gist (geom)",
    "CREATE INDEX tips_grid ON tips (grid_code)",
    "CREATE INDEX tips_sub ON tips (subdistrict_code)",
)

# What a table named tips must hold to be taken for this revision when it has no version.
COLUMNS = {
    "sqlite": {
        "tip_id", "reported_at", "reported_ts", "category", "description", "reporter_id",
        "status", "lon", "lat", "grid_code", "subdistrict_code", "street_name",
        "street_distance_m", "nearest_station_id", "station_distance_m", "outside_city",
        "idempotency_key", "fingerprint",
    },
    "postgis": {
        "tip_id", "reported_at", "category", "description", "reporter_id", "status", "lon",
        "lat", "grid_code", "subdistrict_code", "street_name", "street_distance_m",
        "nearest_station_id", "station_distance_m", "outside_city", "idempotency_key",
        "fingerprint", "geom",
    },
}  # fmt: skip


def upgrade() -> None:
    ddl = POSTGIS if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in ddl:
        op.execute(statement)
