"""The case loop: a case per tip, its actions, staff, an outbox of events, reporters' "me too".

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Every tip is a case (``cases``, one row per tip, made in the transaction that stores the tip).
Each action on it is a row of ``case_actions`` and, in the same transaction, an event in
``outbox`` for the webhook. ``staff`` holds the accounts (a token's SHA-256, never the token);
``confirmations`` one "me too" per reporter and tip; ``store_secrets`` the key that signs
reporters' receipts, made here at random so that every process of a deployment shares it.

The tips already stored become cases: ``reported`` with no deadline (none was kept for them),
or ``closed`` for a tip whose status was ``closed``.
"""

import secrets

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False, server_default=sa.text("0"))


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    when = postgresql.TIMESTAMP(timezone=True) if pg else sa.Text()
    tip_ref = sa.Text(collation="C") if pg else sa.Text()
    op.create_table(
        "cases",
        sa.Column(
            "tip_id", tip_ref, sa.ForeignKey("tips.tip_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("state", sa.Text, nullable=False, server_default=sa.text("'reported'")),
        sa.Column("urgency", sa.Text, nullable=False, server_default=sa.text("'normal'")),
        sa.Column("source", sa.Text, nullable=False, server_default=sa.text("'courier'")),
        sa.Column("external_id", sa.Text),  # an imported case's id in its source
        sa.Column("unit_id", sa.Text),
        sa.Column("duplicate_of", sa.Text),
        sa.Column("step", sa.Text),
        sa.Column("due_at", when),
        sa.Column("handle_due_at", when),
        sa.Column("suspended_from", sa.Text),
        _count("rework_count"),
        _count("return_count"),
        _count("reopen_count"),
        _count("confirmations"),
        sa.Column("satisfaction", sa.Text),
        sa.Column("registered_at", when),
        sa.Column("dispatched_at", when),
        sa.Column("handled_at", when),
        sa.Column("closed_at", when),
        sa.Column("updated_at", when),
        _count("version"),
        sa.UniqueConstraint("source", "external_id", name="cases_external"),
    )
    op.create_index("cases_queue", "cases", ["state", "due_at"])
    op.create_index("cases_unit", "cases", ["unit_id"])
    op.create_table(
        "case_actions",
        sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tip_id", tip_ref, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text, nullable=False),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("at", when, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("unit_id", sa.Text),
        sa.Column("staff_id", sa.Text),
        sa.Column("note", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("public_note", sa.Text, nullable=False, server_default=sa.text("''")),
    )
    op.create_index("case_actions_tip", "case_actions", ["tip_id", "action_id"])
    op.create_table(
        "staff",
        sa.Column("staff_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("unit_id", sa.Text),
        sa.Column("subdistricts", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("revoked_at", when),
    )
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tip_id", tip_ref, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", when, nullable=False),
        _count("attempts"),
        sa.Column("next_attempt_at", when),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", when),
    )
    op.create_index("outbox_pending", "outbox", ["delivered_at", "event_id"])
    op.create_table(
        "confirmations",
        sa.Column("tip_id", tip_ref, primary_key=True),
        sa.Column("reporter_id", sa.Text, primary_key=True),
        sa.Column("at", when, nullable=False),
    )
    secrets_table = op.create_table(
        "store_secrets",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(secrets_table, [{"name": "receipt_key", "value": secrets.token_hex(32)}])
    op.execute(
        "INSERT INTO cases (tip_id, state, closed_at, updated_at) "
        "SELECT tip_id, CASE WHEN status = 'closed' THEN 'closed' ELSE 'reported' END, "
        "CASE WHEN status = 'closed' THEN reported_at END, reported_at FROM tips "
        "WHERE tip_id IS NOT NULL"
    )
