"""SQLite keeps reported_at as fixed-width city-time text and drops reported_ts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-20

Release 0.1.0 kept on SQLite the ISO text each tip came with (any offset) and its epoch seconds
in ``reported_ts`` for ordering. Every ``reported_at`` becomes the same instant written at
+08:00 with microseconds (``2026-05-01T08:00:00.000000+08:00``): text order is then time order,
and ``tips_time`` indexes it. A text without an offset is city time, as the API reads one. Text
finer than a microsecond (0.1.0 kept what it was given) is cut to the microsecond, with a
warning that names how many tips. A NULL ``tip_id`` (which 0.1.0's SQLite table allowed)
becomes ``T-rowid-<rowid>``, and ``tip_id`` is NOT NULL from here on.

PostgreSQL already had a ``timestamptz``: nothing changes there.
"""

import datetime as dt
import logging
import re

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CITY_OFFSET = dt.timezone(dt.timedelta(hours=8))
CITY_TZ = "Asia/Shanghai"
FINER = re.compile(r"[.,]\d{6}\d*[1-9]")

log = logging.getLogger("yizhan")


def city_text(value: str) -> str:
    from zoneinfo import ZoneInfo

    instant = dt.datetime.fromisoformat(value)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=ZoneInfo(CITY_TZ))
    return instant.astimezone(CITY_OFFSET).isoformat(timespec="microseconds")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    seven_digits = "*[.,]" + "[0-9]" * 7 + "*"
    candidates = bind.exec_driver_sql(
        "SELECT tip_id, reported_at FROM tips WHERE reported_at GLOB ?", (seven_digits,)
    )
    finer = [tip_id for tip_id, text in candidates if FINER.search(text)]
    if finer:
        log.warning(
            "reported_at of %d tips cut to the microsecond (first: %s)", len(finer), finer[0]
        )
    driver = bind.connection.driver_connection
    assert driver is not None
    driver.create_function("yizhan_city_time", 1, city_text, deterministic=True)
    op.execute("UPDATE tips SET reported_at = yizhan_city_time(reported_at)")
    op.execute("UPDATE tips SET tip_id = 'T-rowid-' || rowid WHERE tip_id IS NULL")
    op.drop_index("tips_time", table_name="tips")
    with op.batch_alter_table("tips", recreate="always") as batch:
        batch.drop_column("reported_ts")
        batch.alter_column("tip_id", existing_type=sa.Text(), nullable=False)
    op.create_index("tips_time", "tips", [sa.text("reported_at DESC"), "tip_id"])
