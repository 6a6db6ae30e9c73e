"""Tips counted per local month, category and cell, kept by triggers: planning reads counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Coverage demand and the heatmap count tips per grid cell, category and local month; with a
million tips that is a million rows to group on every request (about 4 s on SQLite). The table
``tip_months`` holds those counts (and, for tips outside every cell, per 0.001-degree square, as
the heatmap places them). Triggers on ``tips`` keep it in the same transaction as every insert,
delete and change of a counted column, whichever path writes the tip; the month and the square
are the same SQL expressions the store groups raw tips by, so both ways count alike. The counts
are filled from the tips already stored.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# the key of a tip's count (``{t}`` is NEW or OLD), per dialect
KEY = {
    "sqlite": (
        "substr({t}.reported_at, 1, 7)",
        "{t}.category",
        "coalesce({t}.grid_code, '')",
        "{t}.outside_city",
        "CASE WHEN {t}.outside_city THEN round({t}.lon, 3) ELSE 0 END",
        "CASE WHEN {t}.outside_city THEN round({t}.lat, 3) ELSE 0 END",
    ),
    "postgresql": (
        "to_char(timezone('Asia/Shanghai', {t}.reported_at), 'YYYY-MM')",
        "{t}.category",
        "coalesce({t}.grid_code, '')",
        "{t}.outside_city",
        "CASE WHEN {t}.outside_city THEN round({t}.lon::numeric, 3)::float8 ELSE 0 END",
        "CASE WHEN {t}.outside_city THEN round({t}.lat::numeric, 3)::float8 ELSE 0 END",
    ),
}
COLUMNS = "month, category, grid_code, outside_city, lon3, lat3"
# a change to any of these moves the tip to another count
COUNTED = "reported_at, category, grid_code, outside_city, lon, lat"


def _add(dialect: str, t: str, n: str) -> str:
    key = ", ".join(k.format(t=t) for k in KEY[dialect])
    return (
        f"INSERT INTO tip_months ({COLUMNS}, n) VALUES ({key}, {n}) "
        f"ON CONFLICT ({COLUMNS}) DO UPDATE SET n = tip_months.n + excluded.n"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    pg = dialect == "postgresql"
    real, flag = ("double precision", "boolean") if pg else ("REAL", "INTEGER")
    op.execute(
        f"""CREATE TABLE tip_months (
            month TEXT NOT NULL,
            category TEXT NOT NULL,
            grid_code TEXT NOT NULL,
            outside_city {flag} NOT NULL,
            lon3 {real} NOT NULL,
            lat3 {real} NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY ({COLUMNS})
        )"""
    )
    key = ", ".join(k.format(t="tips") for k in KEY[dialect])
    op.execute(
        f"INSERT INTO tip_months ({COLUMNS}, n) SELECT {key}, count(*) FROM tips "
        "GROUP BY 1, 2, 3, 4, 5, 6"
    )
    if pg:
        op.execute(
            f"""CREATE FUNCTION yizhan_count_tip() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('DELETE', 'UPDATE') THEN {_add(dialect, "OLD", "-1")}; END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN {_add(dialect, "NEW", "1")}; END IF;
                RETURN NULL;
            END $$"""
        )
        op.execute(
            "CREATE TRIGGER tips_count_insert AFTER INSERT OR DELETE ON tips "
            "FOR EACH ROW EXECUTE FUNCTION yizhan_count_tip()"
        )
        op.execute(
            f"CREATE TRIGGER tips_count_update AFTER UPDATE OF {COUNTED} ON tips "
            "FOR EACH ROW EXECUTE FUNCTION yizhan_count_tip()"
        )
        return
    new, old = _add(dialect, "NEW", "1"), _add(dialect, "OLD", "-1")
    op.execute(f"CREATE TRIGGER tips_count_insert AFTER INSERT ON tips BEGIN {new}; END")
    op.execute(f"CREATE TRIGGER tips_count_delete AFTER DELETE ON tips BEGIN {old}; END")
    op.execute(
        f"CREATE TRIGGER tips_count_update AFTER UPDATE OF {COUNTED} ON tips BEGIN "
        f"{old}; {new}; END"
    )
