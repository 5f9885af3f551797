"""Notices delivered and received (issue 26): the outbox records when a message was sent.

The windows of AGB 8 and TKG § 57 run from receipt (Platform: receipt); the delivery step
(``billing outbox send``) stores the instant it sent each message and posts a
``notice.delivered`` event with it, so replay computes the same windows.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sent_at", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_at")
