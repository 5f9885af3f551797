"""Credits from bank statements (issue 28): camt.053 statements and camt.054 credit
notifications imported by ``billing bank import`` and the admin UI.

Revision ID: 0020
Revises: 0019

``bank_credits`` holds one row per credit entry the bank reported, keyed by the bank's entry
reference (``AcctSvcrRef``), so a statement imported twice adds nothing: ``booked`` when the
remittance information named an invoice or customer number and a ``payment.received`` event
was applied (``event_id``), ``queued`` when nothing matched (finance assigns it in the admin
UI), ``assigned`` once a person booked it to an account. Amounts in integer cents.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bank_credits",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("entry_reference", sa.String(200), nullable=False, unique=True),
        sa.Column("message", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("booked_on", sa.String(10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("debtor", sa.Text, nullable=True),
        sa.Column("remittance", sa.Text, nullable=True),
        sa.Column("end_to_end_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("invoice", sa.String(32), nullable=True),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("imported_at", sa.String(40), nullable=False),
        sa.Column("imported_by", sa.String(254), nullable=False),
        sa.Column("assigned_by", sa.String(254), nullable=True),
        sa.Column("assigned_at", sa.String(40), nullable=True),
    )
    op.create_index("ix_bank_credits_status", "bank_credits", ["status", "id"])
    op.create_index("ix_bank_credits_account", "bank_credits", ["account"])


def downgrade() -> None:
    op.drop_index("ix_bank_credits_account", table_name="bank_credits")
    op.drop_index("ix_bank_credits_status", table_name="bank_credits")
    op.drop_table("bank_credits")
