"""Contract lifecycle per account; invoices with gapless numbers per year.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("contract", sa.Text, nullable=False, server_default="{}"))
    op.create_table(
        "invoices",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("issued_on", sa.String(10), nullable=False),
        sa.Column("due_on", sa.String(10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("open_cents", sa.BigInteger, nullable=False),
        sa.Column("clause", sa.String(64), nullable=False),
        sa.Column("terms_version", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_index("ix_invoices_account", "invoices", ["account"])
    op.create_table(
        "invoice_counters",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("invoice_counters")
    op.drop_table("invoices")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("contract")
