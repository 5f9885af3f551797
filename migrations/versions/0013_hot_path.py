"""The replay hot path (issue 13): effect shapes, and a version per account.

Revision ID: 0013
Revises: 0012

An applied event's result and a call's ledger detail are stored as ``[[shape, value, ...]]``;
``effect_shapes`` holds each shape (keys and repeating values) once (engine/ledger/compact.py).
Rows written before stay JSON and are read as before. ``accounts.version`` is raised by every
write of an account, so a process that keeps account state between batches
(engine/ledger/account_cache.py) sees when another writer changed it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "effect_shapes",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("shape", sa.Text, nullable=False),
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("version")
    op.drop_table("effect_shapes")
