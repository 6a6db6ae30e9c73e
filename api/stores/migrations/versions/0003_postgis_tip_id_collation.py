"""PostgreSQL orders tip_id in byte order by its column collation, not per index and query.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-20

Release 0.1.0 wrote ``COLLATE "C"`` into the index ``tips_time`` and into every listing query,
so that ties went by ``tip_id`` in byte order as on SQLite. The column itself now has the
collation ``"C"``: plain ``ORDER BY tip_id`` is byte order, and the schema says so where a
reader (and Alembic) can see it. Equality does not change (both collations are deterministic).
PostgreSQL rebuilds the primary key and ``tips_time``; the table itself is not rewritten.

SQLite orders text by bytes already: nothing changes there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("tips_time", table_name="tips")
    op.execute('ALTER TABLE tips ALTER COLUMN tip_id TYPE text COLLATE "C"')
    op.create_index("tips_time", "tips", [sa.text("reported_at DESC"), "tip_id"])
