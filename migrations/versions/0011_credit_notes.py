"""Credit notes (Rechnungskorrekturen, issue 16) and their own gapless counter per year.

Revision ID: 0011
Revises: 0009

``credit_notes`` is insert-only: the engine never updates a row (GoBD); the invoice a credit
note corrects keeps its row as issued, only its settlement state (open amount, what was
credited) changes. ``credit_note_counters`` numbers them per year like ``invoice_counters``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_notes",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("invoice", sa.String(32), nullable=True),
        sa.Column("issued_on", sa.String(10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("clause", sa.String(64), nullable=False),
        sa.Column("terms_version", sa.String(10), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_index("ix_credit_notes_account", "credit_notes", ["account"])
    op.create_index("ix_credit_notes_invoice", "credit_notes", ["invoice"])
    op.create_table(
        "credit_note_counters",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credit_note_counters")
    op.drop_index("ix_credit_notes_invoice", table_name="credit_notes")
    op.drop_index("ix_credit_notes_account", table_name="credit_notes")
    op.drop_table("credit_notes")
