"""Effect shapes: compact storage of event results and call details (issue 13).

Revision ID: 0013
Revises: 0012

An applied event's result and a call's ledger detail are stored as ``[[shape, value, ...]]``;
``effect_shapes`` holds each shape (keys and repeating values) once (engine/ledger/compact.py).
Rows written before stay JSON and are read as before.
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


def downgrade() -> None:
    op.drop_table("effect_shapes")
