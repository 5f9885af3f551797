"""How an event's JSON is kept in ``events.payload``.

The id, account, type and instant (as received) have columns of their own, so the payload
stores only the rest: the fields of the event's type, canonical (keys sorted, no spaces). The
event as received is rebuilt from the columns and the payload; its canonical form, and so the
digest computed from it when the event arrived, is the same. Older rows keep the whole event
in the payload (they name an ``id``); it is read as it is.

An event whose fields are exactly one of the :data:`VALUE_LISTS` of its type (a call:
duration, number, user) stores only the values, as a JSON list in that order (``[61,"+49...",
"anna"]`` instead of ``{"duration_s":61,"to":"+49...","user":"anna"}``); a payload starting
with ``[`` is such a list, with ``{`` an object.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.events import Event
from engine.ledger.tables import events, received_at

COLUMN_FIELDS = ("id", "account", "type", "at")

# The fields of a type stored as a plain list of values, keys sorted. Rows are stored by these
# lists: never change or reorder one (an event with other fields is stored as an object).
VALUE_LISTS: dict[str, tuple[str, ...]] = {"call": ("duration_s", "to", "user")}
_VALUE_SETS = {type_: frozenset(keys) for type_, keys in VALUE_LISTS.items()}


def stored_payload(event: Event) -> str:
    """The payload column of an event: its fields without the ones that have columns."""
    data = event.data
    keys = _VALUE_SETS.get(event.type)
    if keys is not None and data.keys() == keys:
        return orjson.dumps([data[key] for key in VALUE_LISTS[event.type]]).decode()
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def payload_fields(type_: str, payload: str | None) -> dict[str, Any] | None:
    """The fields a stored payload holds (a list of values or an object); None for None."""
    if payload is None:
        return None
    value = orjson.loads(payload)
    if isinstance(value, list):
        return dict(zip(VALUE_LISTS[type_], value, strict=True))
    return value


def event_document(event_id: str, account: str, type_: str, at: str, payload: str) -> dict:
    """The event as received, from its row's columns and payload (old or new form)."""
    document: dict[str, Any] = payload_fields(type_, payload)
    if "id" not in document:  # a type's fields never include the id
        document.update(id=event_id, account=account, type=type_, at=at)
    return document


def canonical_text(event_id: str, account: str, type_: str, at: str, payload: str) -> str:
    """The canonical JSON of a stored event, as it was when it arrived (and was digested)."""
    document = event_document(event_id, account, type_, at, payload)
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


# The columns :func:`stored_document` and :func:`stored_canonical_text` read.
DOCUMENT_COLUMNS = (
    events.c.id,
    events.c.account,
    events.c.type,
    events.c.at,
    events.c.at_utc,
    events.c.payload,
)


def stored_document(row) -> dict:
    """The event as received, from a row of :data:`DOCUMENT_COLUMNS`."""
    at = received_at(row.at, row.at_utc)
    return event_document(row.id, row.account, row.type, at, row.payload)


def stored_canonical_text(row) -> str:
    """The canonical JSON of the event of a row of :data:`DOCUMENT_COLUMNS`."""
    at = received_at(row.at, row.at_utc)
    return canonical_text(row.id, row.account, row.type, at, row.payload)
