"""One collection is returned once (issue 24, item 2): the returned collections with a unique
key, so that a direct debit the bank returned is never reversed and charged for twice.

Revision ID: 0017
Revises: 0016

``direct_debit_returns`` holds one row per returned collection, keyed by the invoice and the
collection's number (1 for the invoice's first collection; an invoice collected again after a
return is its collection 2), with the account, the ``direct_debit.returned`` event that
returned it, the end-to-end id and, for a collection of the platform's pain.008 files, its
collection date. The engine writes the row in the transaction of the event; the key refuses a
second return of one collection between concurrent transactions (the engine's own rule, the
invoice's ``returns``, refuses it otherwise).

Converted: the applied ``direct_debit.returned`` events with an invoice, oldest first, become
the rows and each invoice's ``returns`` (its state), as the engine would have written them.
Returns a database took twice before (the defect) count as two collections: the history is
kept as it was booked.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "direct_debit_returns",
        sa.Column("invoice", sa.String(32), nullable=False),
        sa.Column("collection", sa.Integer, nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=True),
        sa.Column("collection_date", sa.String(10), nullable=True),
        sa.PrimaryKeyConstraint("invoice", "collection", name="pk_direct_debit_returns"),
    )
    fill(op.get_bind())


def fill(connection: Any) -> None:
    """The rows and the invoices' ``returns`` from the applied returns (see the docstring)."""
    events = sa.table(
        "events",
        sa.column("seq"),
        sa.column("id"),
        sa.column("account"),
        sa.column("type"),
        sa.column("status"),
        sa.column("payload"),
    )
    invoices = sa.table("invoices", sa.column("number"), sa.column("state"))
    returns = sa.table(
        "direct_debit_returns",
        sa.column("invoice"),
        sa.column("collection"),
        sa.column("account"),
        sa.column("event_id"),
        sa.column("end_to_end_id"),
        sa.column("collection_date"),
    )
    found = connection.execute(
        sa.select(events.c.id, events.c.account, events.c.payload)
        .where(events.c.type == "direct_debit.returned", events.c.status == "applied")
        .order_by(events.c.seq)
    ).all()
    states: dict[str, dict] = {}
    rows = []
    for event in found:
        payload = json.loads(event.payload)
        number = payload.get("invoice")
        if number is None:
            continue  # a return without an invoice names no collection
        if number not in states:
            row = connection.execute(
                sa.select(invoices.c.state).where(invoices.c.number == number)
            ).first()
            if row is None:
                continue
            states[number] = json.loads(row.state)
            states[number]["returns"] = []
        state = states[number]
        entry = _entry(state, event.id, payload.get("end_to_end_id"))
        state["returns"] = [*state["returns"], entry]
        rows.append({"invoice": number, "account": event.account, **_row(entry)})
    if rows:
        connection.execute(sa.insert(returns), rows)
    for number, state in states.items():
        connection.execute(
            sa.update(invoices)
            .where(invoices.c.number == number)
            .values(state=json.dumps(state, sort_keys=True))
        )


def _entry(state: dict, event_id: str, end_to_end_id: str | None) -> dict:
    """As engine/payments/payment_terms.py ``returned_collection`` records a return."""
    platform = (state.get("detail") or {}).get("direct_debit")
    earlier = state["returns"]
    date = None
    if platform is not None:
        taken = any(r["collection_date"] == platform["collection_date"] for r in earlier)
        if end_to_end_id == platform["end_to_end_id"] or (end_to_end_id is None and not taken):
            date = platform["collection_date"]
    return {
        "event": event_id,
        "collection": len(earlier) + 1,
        "end_to_end_id": end_to_end_id,
        "collection_date": date,
    }


def _row(entry: dict) -> dict:
    return {
        "collection": entry["collection"],
        "event_id": entry["event"],
        "end_to_end_id": entry["end_to_end_id"],
        "collection_date": entry["collection_date"],
    }


def downgrade() -> None:
    op.drop_table("direct_debit_returns")
