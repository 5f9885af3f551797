"""Fewer bytes per event, the same ledger (issue 13, round 3; migration 0014).

A call's result and ledger detail no longer repeat the call's user, number and duration (they
are read from the event), the call's payload is a list of values, the instant in UTC is an
integer, no digest is stored, and on SQLite the text id has no index of its own (its 64-bit key
has). Rows written before the migration are converted and read as before.
"""

from __future__ import annotations

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from engine.catalog import PROJECT_ROOT
from engine.engine import Engine
from engine.events import canonical_bytes, content_digest
from engine.ledger.compact import _number_of
from engine.ledger.store import Store
from engine.ledger.tables import epoch_microseconds, event_key, events, ledger_entries
from tests.sample_events import ACME_OPENED, ANNA_ADDED

AT = "2026-11-02T10:00:00+01:00"
TOPUP = {"id": "t1", "type": "credit.topped_up", "account": "acme", "at": AT, "amount": "20.00"}
CALL = {
    "id": "c1",
    "type": "call",
    "account": "acme",
    "at": AT,
    "user": "anna",
    "to": "+12125550100",
    "duration_s": 61,
}


def test_a_call_stores_only_what_its_event_does_not_hold(tmp_path):
    engine = Engine(f"sqlite:///{tmp_path}/c.sqlite")
    try:
        for event in (ACME_OPENED, ANNA_ADDED, TOPUP):
            engine.handle(event)
        result = engine.handle(CALL)
        charge = result["effects"][-1]
        # 61 s to the USA (zone world, 0.29 EUR/min, billed per minute): 120 s, 0.58 EUR
        assert charge["user"] == "anna" and charge["duration_s"] == 61
        assert charge["billed_seconds"] == 120 and charge["amount"] == "0.58"
        with engine.store.unit(commit=False) as unit:
            row = unit.connection.execute(
                select(events.c.payload, events.c.result, events.c.at_utc, events.c.digest).where(
                    events.c.id == "c1"
                )
            ).one()
            detail = unit.connection.execute(
                select(ledger_entries.c.detail).where(ledger_entries.c.event_id == "c1")
            ).scalar_one()
            shown_result = unit.event_result("c1")
        # the payload is the values of duration, number and user; the result and the detail
        # keep only the amount and seconds of their own
        assert row.payload == '[61,"+12125550100","anna"]'
        for stored in (row.result, detail):
            assert "anna" not in stored and "+1212" not in stored
        # 09:00 UTC on 2 November 2026, in microseconds since 1970
        assert row.at_utc == 1_793_610_000_000_000 and bytes(row.digest) == b""
        # shown exactly as built: the result, the ledger's detail, a resend is a duplicate
        assert shown_result == result
        shown = engine.ledger("acme")[-1]
        assert shown["detail"] == {k: charge[k] for k in shown["detail"]}
        assert {"user", "to", "duration_s", "zone", "rate"} <= set(shown["detail"])
        assert engine.handle(CALL)["status"] == "duplicate"
        assert engine.handle(CALL | {"duration_s": 62})["status"] == "conflict"
    finally:
        engine.close()


def _downgrade(store: Store, revision: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with store.db.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _old_shape(constants: list, keys: list) -> tuple[int, str]:
    shape = orjson.dumps([constants, keys]).decode()
    return _number_of(shape), shape


def test_rows_written_before_migration_0014_read_as_before(database_url):
    # A database at revision 0013 with what the code of then wrote: acme opened (the whole
    # event as payload), a top-up and a charged call (their type's fields; compact result and
    # detail that still hold user, number and duration).
    store = Store(database_url)
    _downgrade(store, "0013")
    charge_shape = _old_shape(
        [["kind", "charge"], ["clause", "AGB 3.4"], ["terms_version", "2026-01-01"]],
        ["amount", "user", "to", "duration_s"],
    )
    detail_shape = _old_shape([["zone", "world"]], ["user", "to", "duration_s", "billed_seconds"])
    whole = canonical_bytes(ACME_OPENED).decode()
    rows = [
        ("o1", "account.opened", ACME_OPENED["at"], "2026-11-02T08:00:00+00:00", whole, "{}"),
        ("t1", "credit.topped_up", AT, "2026-11-02T09:00:00+00:00", '{"amount":"20.00"}', "{}"),
        (
            "c1",
            "call",
            AT,
            "2026-11-02T09:00:00+00:00",
            '{"duration_s":61,"to":"+12125550100","user":"anna"}',
            f'[[{charge_shape[0]},"0.58","anna","+12125550100",61]]',
        ),
    ]
    with store.db.begin() as connection:
        for event_id, type_, at, at_utc, payload, result in rows:
            document = orjson.loads(payload)
            if "id" not in document:
                document.update(id=event_id, account="acme", type=type_, at=at)
            connection.execute(
                text(
                    "INSERT INTO events (id, account, type, at, at_utc, payload, status, result,"
                    " digest) VALUES (:id, 'acme', :type, :at, :at_utc, :payload, 'applied',"
                    " :result, :digest)"
                ),
                {
                    "id": event_id,
                    "type": type_,
                    "at": at,
                    "at_utc": at_utc,
                    "payload": payload,
                    "result": result,
                    "digest": content_digest(canonical_bytes(document)),
                },
            )
        connection.execute(
            text("INSERT INTO effect_shapes (id, shape) VALUES (:id, :shape)"),
            [{"id": n, "shape": s} for n, s in (charge_shape, detail_shape)],
        )
        connection.execute(
            text(
                "INSERT INTO ledger_entries (account, event_id, kind, amount_cents, clause,"
                " terms_version, booked_at, detail) VALUES ('acme', 'c1', 'call', -58,"
                " 'AGB 3.4', '2026-01-01', :at, :detail)"
            ),
            {"at": AT, "detail": f'[{detail_shape[0]},"anna","+12125550100",61,120]'},
        )
    store.close()

    engine = Engine(database_url)  # upgrades to the head: 0014 converts the rows
    try:
        with engine.store.unit(commit=False) as unit:
            stored = unit.connection.execute(
                select(events.c.id, events.c.id_key, events.c.at_utc).order_by(events.c.seq)
            ).all()
            assert unit.event_result("c1") == {
                "effects": [
                    {
                        "amount": "0.58",
                        "clause": "AGB 3.4",
                        "duration_s": 61,
                        "kind": "charge",
                        "terms_version": "2026-01-01",
                        "to": "+12125550100",
                        "user": "anna",
                    }
                ],
                "id": "c1",
                "status": "applied",
            }
        assert [(r.id, r.id_key) for r in stored] == [(i, event_key(i)) for i in ("o1", "t1", "c1")]
        # 08:00 and 09:00 UTC on 2 November 2026, in microseconds since 1970
        assert [r.at_utc for r in stored] == [1_793_606_400_000_000] + [1_793_610_000_000_000] * 2
        assert engine.ledger("acme")[0]["detail"] == {
            "billed_seconds": 120,
            "duration_s": 61,
            "to": "+12125550100",
            "user": "anna",
            "zone": "world",
        }
        # the digests stored before still decide: the same call again is a duplicate, other
        # content under its id a conflict; the whole event of before, too
        assert engine.handle(CALL)["status"] == "duplicate"
        assert engine.handle(CALL | {"to": "+4930123"})["status"] == "conflict"
        assert engine.handle(ACME_OPENED)["status"] == "duplicate"
    finally:
        engine.close()


def test_the_utc_column_orders_instants_of_any_offset():
    from datetime import datetime

    summer = datetime.fromisoformat("2026-03-29T03:00:00+02:00")  # 01:00 UTC
    winter = datetime.fromisoformat("2026-03-29T01:59:59.5+01:00")  # 00:59:59.5 UTC
    assert epoch_microseconds(winter) + 500_000 == epoch_microseconds(summer)


def test_an_instant_is_kept_as_received_when_its_offset_does_not_give_it_back():
    from datetime import datetime

    from engine.ledger.tables import received_at, stored_at

    for received, kept in [
        ("2026-11-02T10:00:00+01:00", "60"),  # the usual form: only the offset is kept
        ("2026-07-02T10:00:00.250000+02:00", "120"),
        ("2026-11-02T09:00:00Z", "2026-11-02T09:00:00Z"),  # Z is not what isoformat writes
        ("2026-11-02T10:00:00.25+01:00", "2026-11-02T10:00:00.25+01:00"),
        ("2026-11-02T04:00:00-05:00", "-300"),
    ]:
        instant = datetime.fromisoformat(received)
        assert stored_at(received, instant) == kept
        assert received_at(kept, epoch_microseconds(instant)) == received
