"""A digest of each event's content: one event id, one content (issue 11).

Revision ID: 0008
Revises: 0007

The digest is BLAKE2b-128 of the canonical JSON the ``payload`` column already holds (keys
sorted, no spaces, UTF-8), so existing rows get theirs from their payload.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("digest", sa.LargeBinary(16), nullable=True))
    connection = op.get_bind()
    events = sa.table(
        "events",
        sa.column("seq", sa.BigInteger),
        sa.column("payload", sa.Text),
        sa.column("digest", sa.LargeBinary(16)),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.seq, events.c.payload)
            .where(events.c.seq > last)
            .order_by(events.c.seq)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        for row in rows:
            digest = hashlib.blake2b(row.payload.encode("utf-8"), digest_size=16).digest()
            connection.execute(
                sa.update(events).where(events.c.seq == row.seq).values(digest=digest)
            )
        last = rows[-1].seq
    with op.batch_alter_table("events") as batch:
        batch.alter_column("digest", existing_type=sa.LargeBinary(16), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("digest")
