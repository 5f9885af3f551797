"""Events, accounts, ledger entries and deadlines.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", _ID, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False, unique=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("at_utc", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index("ix_events_account_seq", "events", ["account", "seq"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("customer_type", sa.String(16), nullable=False),
        sa.Column("billing_method", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("area_code", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.String(40), nullable=False),
        sa.Column("balance_cents", sa.BigInteger, nullable=False),
        sa.Column("autoprepay_threshold_cents", sa.BigInteger, nullable=True),
        sa.Column("autoprepay_amount_cents", sa.BigInteger, nullable=True),
        sa.Column("topup_pending", sa.Boolean, nullable=False),
        sa.Column("free_month", sa.String(7), nullable=True),
        sa.Column("free_seconds_used", sa.Integer, nullable=False),
        sa.Column("users", sa.Text, nullable=False),
        sa.Column("evn", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("clause", sa.String(64), nullable=False),
        sa.Column("terms_version", sa.String(10), nullable=False),
        sa.Column("booked_at", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_entries_account_id", "ledger_entries", ["account", "id"])
    op.create_table(
        "deadlines",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("clause", sa.String(64), nullable=False),
        sa.Column("terms_version", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settled_by", sa.String(128), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_deadlines_status_due", "deadlines", ["status", "due"])
    op.create_index("ix_deadlines_account_status", "deadlines", ["account", "status"])


def downgrade() -> None:
    op.drop_table("deadlines")
    op.drop_table("ledger_entries")
    op.drop_table("accounts")
    op.drop_table("events")
