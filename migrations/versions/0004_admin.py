"""People, drafts, publications, the customer outbox and the hash-chained audit log.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("email", sa.String(254), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "drafts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("file", sa.String(200), nullable=False),
        sa.Column("author", sa.String(254), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "publications",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("file", sa.String(200), nullable=False),
        sa.Column("citation", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("effective_from", sa.String(10), nullable=False),
        sa.Column("notified_on", sa.String(10), nullable=False),
        sa.Column("published_by", sa.String(254), nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("ground", sa.String(48), nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("publication", sa.BigInteger, nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_outbox_publication", "outbox", ["publication"])
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "outbox", "publications", "drafts", "users"):
        op.drop_table(table)
