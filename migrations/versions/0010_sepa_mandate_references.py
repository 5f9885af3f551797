"""SEPA mandate references, unique per creditor (issue 12).

Revision ID: 0010
Revises: 0009

``sepa_mandate_references`` holds each mandate reference ever granted with the account it
belongs to (its primary key), so ``mandate.granted`` can refuse a reference of another account
(SEPA rulebook: the reference identifies one mandate of the creditor). Filled from the applied
``mandate.granted`` events already stored, the first account of a reference keeping it.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "sepa_mandate_references",
        sa.Column("reference", sa.String(35), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
    )
    events = sa.table(
        "events",
        sa.column("seq", sa.BigInteger),
        sa.column("id", sa.String),
        sa.column("account", sa.String),
        sa.column("type", sa.String),
        sa.column("status", sa.String),
        sa.column("payload", sa.Text),
    )
    rows = op.get_bind().execute(
        sa.select(events.c.id, events.c.account, events.c.payload)
        .where(events.c.type == "mandate.granted", events.c.status == "applied")
        .order_by(events.c.seq)
    )
    owners: dict[str, dict] = {}
    for row in rows:
        reference = json.loads(row.payload).get("reference")
        if reference is not None and reference not in owners:
            owners[reference] = {"reference": reference, "account": row.account, "event_id": row.id}
    if owners:
        op.bulk_insert(table, list(owners.values()))


def downgrade() -> None:
    op.drop_table("sepa_mandate_references")
