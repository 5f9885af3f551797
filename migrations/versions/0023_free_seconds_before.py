"""Free minutes of earlier months kept for calls reported late (CLINQ SD 2.1).

Revision ID: 0023
Revises: 0022

``accounts.free_month`` and ``free_seconds_used`` hold the current month's pool. A call
reported late into an earlier month used to reset them to that month, so it found the month's
whole pool again and the current month's use was lost. ``free_seconds_before`` keeps, as JSON
``{"2026-11": 3600}``, the seconds used in the twelve months before the current pool: a late
call counts against its own month's pool and leaves the current one as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("free_seconds_before", sa.Text(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("free_seconds_before")
