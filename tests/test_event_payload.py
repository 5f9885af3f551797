"""An event is stored without the fields its columns hold, and read back as received
(issue 13, round 2): the same canonical form, so the digest still identifies its content."""

from __future__ import annotations

import orjson
from sqlalchemy import insert, select

from engine.engine import Engine
from engine.events import canonical_bytes, content_digest
from engine.ledger.event_payload import (
    DOCUMENT_COLUMNS,
    canonical_text,
    event_document,
    stored_canonical_text,
    stored_document,
)
from engine.ledger.store import Store
from engine.ledger.tables import event_key, events
from tests.sample_events import ACME_OPENED as OPENED

TOPUP = {
    "id": "t1",
    "type": "credit.topped_up",
    "account": "acme",
    "at": "2026-11-02T10:00:00+01:00",
    "amount": "20.00",
}


def test_a_top_up_is_stored_with_its_amount_only_and_read_back_whole(tmp_path):
    engine = Engine(f"sqlite:///{tmp_path}/p.sqlite")
    try:
        engine.handle(OPENED)
        engine.handle(TOPUP)
        with engine.store.unit(commit=False) as unit:
            row = unit.connection.execute(
                select(*DOCUMENT_COLUMNS).where(events.c.id == "t1")
            ).one()
            digest = unit.connection.execute(
                select(events.c.digest).where(events.c.id == "t1")
            ).scalar_one()
        # 18 bytes instead of the whole event's 104: id, account, type and instant have columns
        assert row.payload == '{"amount":"20.00"}'
        # the instant is stored once (round 3): 09:00 UTC, and of the text only its offset, +60 min
        assert (row.at, row.at_utc) == ("60", 1_793_610_000_000_000)
        assert stored_document(row) == TOPUP
        canonical = stored_canonical_text(row)
        assert canonical == canonical_bytes(TOPUP).decode()
        # no digest is stored (round 3): the one a repeated id is checked against is the digest
        # of this canonical form, rebuilt from the row
        assert bytes(digest) == b""
        with engine.store.unit(commit=False) as unit:
            rebuilt = unit.existing_event_digests(["t1"])
        assert rebuilt == {"t1": content_digest(canonical.encode())}
        # the same id with the same content is still the same event; other content a conflict
        assert engine.handle(TOPUP)["status"] == "duplicate"
        assert engine.handle(TOPUP | {"amount": "900.00"})["status"] == "conflict"
    finally:
        engine.close()


def test_a_row_written_before_keeps_its_whole_event_and_reads_as_before(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/old.sqlite")
    try:
        whole = canonical_bytes(TOPUP).decode()
        with store.db.begin() as connection:
            connection.execute(
                insert(events),
                [
                    {
                        "id": "t1",
                        "id_key": event_key("t1"),
                        "account": "acme",
                        "type": "credit.topped_up",
                        "at": TOPUP["at"],
                        "at_utc": 1_793_610_000_000_000,  # 2026-11-02T09:00:00Z (migration 0014)
                        "payload": whole,
                        "status": "applied",
                        "result": "{}",
                        "digest": content_digest(whole.encode()),
                    }
                ],
            )
            row = connection.execute(
                select(events.c.id, events.c.account, events.c.type, events.c.at, events.c.payload)
            ).one()
        assert event_document(*row) == orjson.loads(whole)
        assert canonical_text(*row) == whole
    finally:
        store.close()
