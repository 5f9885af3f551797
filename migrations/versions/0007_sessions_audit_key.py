"""Revocable admin sessions (a per-person session epoch, disabled people) and keyed audit entries.

Existing audit entries keep their plain SHA-256 hashes and are marked ``sha256`` (unkeyed
legacy); every entry written from now on is chained with an HMAC (``hmac-sha256``) whose key
lives outside the database (see docs/security.md). Nothing is re-keyed.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("disabled_at", sa.String(40), nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column("scheme", sa.String(16), nullable=False, server_default="sha256")
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("scheme")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("session_epoch")
