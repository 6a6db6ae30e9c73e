"""The one schema of the tip store, for SQLite and for PostGIS (SQLAlchemy Core).

:func:`metadata_for` builds the tables of the migrations' head revision for one backend. The two
differ only where the databases do: PostGIS adds ``geom geometry(Point, 4326)`` with a GIST index
(GeoAlchemy2) and gives ``tip_id`` the collation ``"C"`` (byte order, SQLite's own order of
text); SQLite has no geometry column (no SpatiaLite needed) and a ``(lat, lon)`` index for boxes.

``reported_at`` is a :class:`CityTime` on both: ``timestamptz`` on PostGIS, and on SQLite
fixed-width ISO 8601 text at +08:00 (``2026-05-01T08:00:00.000000+08:00``), so that text order
is time order and the local month is ``substr(reported_at, 1, 7)``. Both keep the microsecond;
an input with finer digits is refused, not cut. Both read it back as ISO 8601 in city time.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from geo.errors import InvalidInput
from geo.hours import CITY_TZ

BACKENDS = ("sqlite", "postgis")
# China Standard Time. SQLite's text is written at this fixed offset, whatever the zone's
# history (Asia/Shanghai kept summer time in 1986-1991), so that its width never changes.
CITY_OFFSET = dt.timezone(dt.timedelta(hours=8))
_FRACTION = re.compile(r"[.,](\d{7,})")


def to_instant(value: str | dt.datetime) -> dt.datetime:
    """An aware datetime for ``value`` (ISO 8601 text or datetime; naive means city time)."""
    if isinstance(value, str):
        finer = _FRACTION.search(value)
        if finer and finer.group(1)[6:].strip("0"):
            raise InvalidInput(
                f"reported_at: {value!r} is finer than a microsecond, which the store keeps"
            )
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"reported_at: {value!r} is not an ISO 8601 date-time") from None
    elif not isinstance(value, dt.datetime):
        raise InvalidInput(f"reported_at: {value!r} is not a date-time")
    elif getattr(value, "nanosecond", 0):  # a pandas Timestamp
        raise InvalidInput(f"reported_at: {value} is finer than a microsecond")
    if value.tzinfo is None:
        value = value.replace(tzinfo=CITY_TZ)
    try:
        value.astimezone(CITY_OFFSET)
    except OverflowError:
        raise InvalidInput(f"reported_at: {value.isoformat()!r} is out of range") from None
    return value


def city_text(instant: dt.datetime) -> str:
    """The SQLite form of an aware datetime: fixed-width ISO 8601 at +08:00."""
    return instant.astimezone(CITY_OFFSET).isoformat(timespec="microseconds")


class CityTime(TypeDecorator):
    """An instant, read back as ISO 8601 text in city time (``2026-05-01T08:00:00+08:00``)."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        instant = to_instant(value)
        return instant if dialect.name == "postgresql" else city_text(instant)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.astimezone(CITY_TZ).isoformat()


def metadata_for(backend: str) -> sa.MetaData:
    """The tables at the head revision, as ``backend`` (``sqlite`` or ``postgis``) holds them."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    pg = backend == "postgis"
    real: sa.types.TypeEngine[float] = postgresql.DOUBLE_PRECISION() if pg else sqlite.REAL()
    flag = sa.Boolean() if pg else sa.Integer()  # SQLite: 0 or 1
    metadata = sa.MetaData()
    columns = [
        # ties in a listing go by tip_id in byte order on both
        sa.Column("tip_id", sa.Text(collation="C") if pg else sa.Text(), primary_key=True),
        sa.Column("reported_at", CityTime, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("reporter_id", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'open'")),
        sa.Column("lon", real, nullable=False),
        sa.Column("lat", real, nullable=False),
        sa.Column("grid_code", sa.Text),
        sa.Column("subdistrict_code", sa.Text),
        sa.Column("street_name", sa.Text),
        sa.Column("street_distance_m", real),
        sa.Column("nearest_station_id", sa.Text),
        sa.Column("station_distance_m", real),
        sa.Column(
            "outside_city", flag, nullable=False, server_default=sa.text("false" if pg else "0")
        ),
        sa.Column("idempotency_key", sa.Text, unique=True),
        sa.Column("fingerprint", sa.Text, nullable=False, server_default=sa.text("''")),
    ]
    if pg:
        from geoalchemy2 import Geometry

        columns.append(
            sa.Column(
                "geom",
                Geometry("POINT", srid=4326, spatial_index=False),
                nullable=False,
            )
        )
    tips = sa.Table("tips", metadata, *columns)
    sa.Index("tips_time", tips.c.reported_at.desc(), tips.c.tip_id)  # newest first
    sa.Index("tips_grid", tips.c.grid_code)
    sa.Index("tips_sub", tips.c.subdistrict_code)
    if pg:
        sa.Index("tips_geom", tips.c.geom, postgresql_using="gist")
    else:
        sa.Index("tips_lat_lon", tips.c.lat, tips.c.lon)
    # Tips counted per local month, category and grid cell (and, outside every cell, per
    # 0.001-degree square), kept by triggers on tips in the same transaction as each change
    # (migration 0004): coverage demand and the heatmap read these counts, not every tip.
    sa.Table(
        "tip_months",
        metadata,
        sa.Column("month", sa.Text, primary_key=True),  # YYYY-MM, city time
        sa.Column("category", sa.Text, primary_key=True),
        sa.Column("grid_code", sa.Text, primary_key=True),  # '' for a tip in no cell
        sa.Column("outside_city", flag, primary_key=True),
        sa.Column("lon3", real, primary_key=True),  # round(lon, 3) outside every cell, else 0
        sa.Column("lat3", real, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    _case_tables(metadata, pg=pg)
    return metadata


def _case_tables(metadata: sa.MetaData, *, pg: bool) -> None:
    """The case loop's tables (migration 0005): a case per tip, its actions, staff, the outbox
    of events, reporters' "me too", and the store's own secrets."""
    tip_ref = sa.Text(collation="C") if pg else sa.Text()
    cases = sa.Table(
        "cases",
        metadata,
        sa.Column(
            "tip_id", tip_ref, sa.ForeignKey("tips.tip_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("state", sa.Text, nullable=False, server_default=sa.text("'reported'")),
        sa.Column("urgency", sa.Text, nullable=False, server_default=sa.text("'normal'")),
        sa.Column("source", sa.Text, nullable=False, server_default=sa.text("'courier'")),
        sa.Column("external_id", sa.Text),  # an imported case's id in its source
        sa.Column("unit_id", sa.Text),
        sa.Column("duplicate_of", sa.Text),
        sa.Column("step", sa.Text),  # the step whose clock runs, None when none does
        sa.Column("due_at", CityTime),  # that step's deadline
        sa.Column("handle_due_at", CityTime),  # the handling deadline, for the on-time rate
        sa.Column("suspended_from", sa.Text),
        sa.Column("rework_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("return_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("confirmations", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("satisfaction", sa.Text),  # the reporter's last answer: yes, no, unknown
        sa.Column("registered_at", CityTime),
        sa.Column("dispatched_at", CityTime),
        sa.Column("handled_at", CityTime),
        sa.Column("closed_at", CityTime),
        sa.Column("updated_at", CityTime),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    sa.UniqueConstraint(cases.c.source, cases.c.external_id, name="cases_external")
    sa.Index("cases_queue", cases.c.state, cases.c.due_at)
    sa.Index("cases_unit", cases.c.unit_id)
    actions = sa.Table(
        "case_actions",
        metadata,
        sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tip_id", tip_ref, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text, nullable=False),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("at", CityTime, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("unit_id", sa.Text),
        sa.Column("staff_id", sa.Text),  # who, for the staff's eyes only
        sa.Column("note", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("public_note", sa.Text, nullable=False, server_default=sa.text("''")),
    )
    sa.Index("case_actions_tip", actions.c.tip_id, actions.c.action_id)
    sa.Table(
        "staff",
        metadata,
        sa.Column("staff_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("unit_id", sa.Text),
        sa.Column("subdistricts", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", CityTime, nullable=False),
        sa.Column("revoked_at", CityTime),
    )
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tip_id", tip_ref, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),  # JSON
        sa.Column("created_at", CityTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", CityTime),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", CityTime),
    )
    sa.Index("outbox_pending", outbox.c.delivered_at, outbox.c.event_id)
    sa.Table(
        "confirmations",
        metadata,
        sa.Column("tip_id", tip_ref, primary_key=True),
        sa.Column("reporter_id", sa.Text, primary_key=True),
        sa.Column("at", CityTime, nullable=False),
    )
    sa.Table(
        "store_secrets",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def tips_table(backend: str) -> sa.Table:
    """The ``tips`` table of :func:`metadata_for` ``(backend)``."""
    return metadata_for(backend).tables["tips"]


def table(backend: str, name: str) -> sa.Table:
    """The table ``name`` of :func:`metadata_for` ``(backend)``."""
    return metadata_for(backend).tables[name]


def months_table(backend: str) -> sa.Table:
    """The ``tip_months`` table of :func:`metadata_for` ``(backend)``."""
    return metadata_for(backend).tables["tip_months"]
