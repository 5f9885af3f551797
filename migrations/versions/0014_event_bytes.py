"""Fewer bytes per event (issue 13, round 3): the instant in UTC as an integer, and the text
id's unique index replaced by an index on a 64-bit key of the id (on SQLite).

Revision ID: 0014
Revises: 0013

``events.at_utc`` becomes the instant in microseconds since 1970-01-01 UTC (an integer of 6
bytes instead of 25 characters; the instant as received stays in ``at``). ``events.id_key`` is
the first 8 bytes of the id's MD5 as a signed integer (``engine.ledger.tables.event_key``):
reading an event by id looks up the key's index and compares the id. SQLite serialises its
writers (``BEGIN IMMEDIATE``), so the id checked before the insert stays unique without the
58-byte index on the text; PostgreSQL, whose writers run concurrently, keeps its unique
constraint on the id as well. Rows written before are converted here.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_CHUNK = 2000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _key(event_id: str) -> int:
    # engine.ledger.tables.event_key, frozen here as the rows are converted by it
    return int.from_bytes(hashlib.md5(event_id.encode("utf-8")).digest()[:8], "big", signed=True)


def _epoch_microseconds(text: str) -> int:
    return (datetime.fromisoformat(text) - _EPOCH) // _MICROSECOND


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("id_key", sa.BigInteger, nullable=True))
    connection = op.get_bind()
    events = sa.table(
        "events",
        sa.column("seq", sa.BigInteger),
        sa.column("id", sa.String),
        sa.column("at_utc", sa.String),
        sa.column("id_key", sa.BigInteger),
    )
    update = (
        sa.update(events)
        .where(events.c.seq == sa.bindparam("b_seq"))
        .values(id_key=sa.bindparam("b_key"), at_utc=sa.bindparam("b_at"))
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.seq, events.c.id, events.c.at_utc)
            .where(events.c.seq > last)
            .order_by(events.c.seq)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        connection.execute(
            update,
            [
                # the integer as text for now: the column's type changes below (CAST)
                {"b_seq": r.seq, "b_key": _key(r.id), "b_at": str(_epoch_microseconds(r.at_utc))}
                for r in rows
            ],
        )
        last = rows[-1].seq
    with op.batch_alter_table(
        "events", recreate="always" if sqlite else "auto", naming_convention=_NAMES
    ) as batch:
        batch.alter_column(
            "at_utc",
            existing_type=sa.String(32),
            type_=sa.BigInteger,
            existing_nullable=False,
            postgresql_using="at_utc::bigint",
        )
        batch.alter_column("id_key", existing_type=sa.BigInteger, nullable=False)
        if sqlite:
            batch.drop_constraint("uq_events_id", type_="unique")
    op.create_index("ix_events_id_key", "events", ["id_key"])


def downgrade() -> None:
    op.drop_index("ix_events_id_key", "events")
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "at_utc",
            existing_type=sa.BigInteger,
            type_=sa.String(32),
            existing_nullable=False,
        )
    events = sa.table("events", sa.column("seq", sa.BigInteger), sa.column("at_utc", sa.String))
    rows = connection.execute(sa.select(events.c.seq, events.c.at_utc)).all()
    for row in rows:
        instant = (_EPOCH + int(row.at_utc) * _MICROSECOND).isoformat()
        connection.execute(sa.update(events).where(events.c.seq == row.seq).values(at_utc=instant))
    with op.batch_alter_table("events", recreate="always" if sqlite else "auto") as batch:
        batch.drop_column("id_key")
        if sqlite:
            batch.create_unique_constraint("uq_events_id", ["id"])
