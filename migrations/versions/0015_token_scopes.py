"""Scoped tokens and subscriptions (issue 25, items 3 and 6): accounts a token is bound to, and
the token that owns a webhook subscription.

Revision ID: 0015
Revises: 0014

``api_tokens.accounts`` holds the accounts a token may read as a JSON list; NULL (every row
written before) is a token that reads every account, as before.

``webhook_subscriptions.owner_token`` names the API token that made a subscription and alone
manages it over the API; NULL is the operator's (``billing webhooks add``), managed only on the
command line. Existing rows: the API always recorded its subscriptions' ``created_by`` as
``token:NAME``, and a token's name is never given to another token (``api_tokens.name`` is the
primary key, and a revoked token keeps its row), so a row whose ``created_by`` is
``token:NAME`` of a token in ``api_tokens`` gets that owner. Every other row (``cli``,
``cli:USER``, anything else, or a ``token:`` whose token cannot be found, so whose maker cannot
be known) becomes the operator's: no token can see or remove it any more, the command line
still can. The downgrade drops both columns (the ownership is then lost, as before it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TOKEN_PREFIX = "token:"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("accounts", sa.Text, nullable=True))
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("owner_token", sa.String(64), nullable=True))
    connection = op.get_bind()
    tokens = sa.table("api_tokens", sa.column("name", sa.String))
    subscriptions = sa.table(
        "webhook_subscriptions",
        sa.column("id", sa.BigInteger),
        sa.column("created_by", sa.String),
        sa.column("owner_token", sa.String),
    )
    names = set(connection.execute(sa.select(tokens.c.name)).scalars())
    owners = [
        {"b_id": row.id, "b_owner": row.created_by.removeprefix(_TOKEN_PREFIX)}
        for row in connection.execute(sa.select(subscriptions.c.id, subscriptions.c.created_by))
        if row.created_by.startswith(_TOKEN_PREFIX)
        and row.created_by.removeprefix(_TOKEN_PREFIX) in names
    ]
    if owners:
        connection.execute(
            sa.update(subscriptions)
            .where(subscriptions.c.id == sa.bindparam("b_id"))
            .values(owner_token=sa.bindparam("b_owner")),
            owners,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("owner_token")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("accounts")
