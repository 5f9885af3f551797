"""SEPA direct debit files and their collections (issue 12).

Revision ID: 0009
Revises: 0008

``sepa_batches`` holds each pain.008 file as written, one per collection date and scheme;
``sepa_collections`` one row per collected invoice (its primary key), so an invoice is never
collected twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sepa_batches",
        sa.Column("message_id", sa.String(35), primary_key=True),
        sa.Column("collection_date", sa.String(10), nullable=False),
        sa.Column("scheme", sa.String(4), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("xml", sa.Text, nullable=False),
        sa.UniqueConstraint("collection_date", "scheme", name="uq_sepa_batches_date_scheme"),
    )
    op.create_table(
        "sepa_collections",
        sa.Column("invoice", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(35), nullable=False),
        sa.Column("collection_date", sa.String(10), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=False),
        sa.Column("mandate_reference", sa.String(35), nullable=False),
        sa.Column("sequence_type", sa.String(4), nullable=False),
    )
    op.create_index("ix_sepa_collections_message_id", "sepa_collections", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_sepa_collections_message_id", table_name="sepa_collections")
    op.drop_table("sepa_collections")
    op.drop_table("sepa_batches")
