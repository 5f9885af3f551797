"""How an event's JSON is kept in ``events.payload`` (issue 13, round 2).

The id, account, type and instant (as received) have columns of their own, so the payload
stores only the rest: the fields of the event's type, canonical (keys sorted, no spaces). The
event as received is rebuilt from the columns and the payload; its canonical form, and so the
digest computed from it when the event arrived, is the same. Rows written before keep the
whole event in the payload (they name an ``id``) and read as before.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.events import Event

COLUMN_FIELDS = ("id", "account", "type", "at")


def stored_payload(event: Event) -> str:
    """The payload column of an event: its fields without the ones that have columns."""
    return orjson.dumps(event.data, option=orjson.OPT_SORT_KEYS).decode()


def event_document(event_id: str, account: str, type_: str, at: str, payload: str) -> dict:
    """The event as received, from its row's columns and payload (old or new form)."""
    document: dict[str, Any] = orjson.loads(payload)
    if "id" not in document:  # a type's fields never include the id
        document.update(id=event_id, account=account, type=type_, at=at)
    return document


def canonical_text(event_id: str, account: str, type_: str, at: str, payload: str) -> str:
    """The canonical JSON of a stored event, as it was when it arrived (and was digested)."""
    document = event_document(event_id, account, type_, at, payload)
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()
