"""Failed admin logins counted in the database (issue 25, item 5): the login limit holds
across every worker and host, not once per server process.

Revision ID: 0016
Revises: 0015

``login_attempts`` holds one row per login attempt and key (``address:IP`` and
``account:e-mail``), with its instant in microseconds since 1970-01-01 UTC. The admin UI
(``admin_ui/security.py``) writes the rows before it checks the password, keeps them only when
the login failed, counts them within the limits' windows and deletes rows older than the
longest window. Nothing to convert: the counts were kept in each process's memory before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_attempts_key_at", "login_attempts", ["key", "at"])
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_key_at", table_name="login_attempts")
    op.drop_table("login_attempts")
