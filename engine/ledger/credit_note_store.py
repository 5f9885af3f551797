"""Reading and writing credit notes (engine/billing/credit_notes.py): insert-only, never updated
(GoBD)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Connection, insert, select, update

from engine.core.state import CreditNote
from engine.ledger.tables import credit_note_counters, credit_notes

_COLUMNS = (
    "number",
    "account",
    "invoice",
    "issued_on",
    "amount_cents",
    "reason",
    "clause",
    "terms_version",
)


def lock_counter(connection: Connection, year: int) -> int:
    """The last credit note number of ``year``, locked until the transaction ends."""
    row = connection.execute(
        select(credit_note_counters.c.last)
        .where(credit_note_counters.c.year == year)
        .with_for_update()
    ).one_or_none()
    if row is None:
        connection.execute(insert(credit_note_counters), [{"year": year, "last": 0}])
        return 0
    return int(row.last)


def write(connection: Connection, notes: Iterable[CreditNote], numbers: dict[int, int]) -> None:
    """Insert new credit notes and advance the counters; an existing note is never rewritten."""
    rows = [_row(note) for note in notes]
    if rows:
        connection.execute(insert(credit_notes), rows)
    for year, last in numbers.items():
        connection.execute(
            update(credit_note_counters)
            .where(credit_note_counters.c.year == year)
            .values(last=last)
        )


def credit_note(connection: Connection, number: str) -> CreditNote | None:
    row = connection.execute(
        select(credit_notes).where(credit_notes.c.number == number)
    ).one_or_none()
    return _from_row(row) if row else None


def credit_notes_of(connection: Connection, account: str | None = None) -> list[CreditNote]:
    """The credit notes of an account (or all), in number order."""
    query = select(credit_notes).order_by(credit_notes.c.number)
    if account is not None:
        query = query.where(credit_notes.c.account == account)
    return [_from_row(row) for row in connection.execute(query)]


def credit_notes_issued_between(connection: Connection, first: str, last: str) -> list[CreditNote]:
    """The credit notes issued from ``first`` to ``last`` (ISO dates, both included)."""
    query = (
        select(credit_notes)
        .where(credit_notes.c.issued_on >= first, credit_notes.c.issued_on <= last)
        .order_by(credit_notes.c.issued_on, credit_notes.c.number)
    )
    return [_from_row(row) for row in connection.execute(query)]


def _row(note: CreditNote) -> dict:
    fields = dict(vars(note))
    row = {name: fields.pop(name) for name in _COLUMNS}
    row["state"] = json.dumps(fields, sort_keys=True)
    return row


def _from_row(row) -> CreditNote:
    return CreditNote(**{name: getattr(row, name) for name in _COLUMNS}, **json.loads(row.state))
