"""Stored results and call details are compact and read back exactly as built (issue 13)."""

from __future__ import annotations

from sqlalchemy import select

from engine.engine import Engine
from engine.ledger.compact import Shapes
from engine.ledger.tables import effect_shapes, events, ledger_entries
from tests.sample_events import ACME_OPENED as OPENED


def test_an_effect_with_a_nested_value_round_trips():
    shapes, used = Shapes(), set()
    effects = [
        {"kind": "charge", "clause": "AGB 3.4", "terms_version": "2026-01-01", "amount": "0.04"},
        {"kind": "invoice_issued", "clause": "AGB 4.3.1", "zone": {"not": "a string"}},
        {"kind": "charge", "clause": "AGB 3.4", "rate": 3, "items": [1, 2]},
    ]
    for effect in effects:
        stored = shapes.compact_effect(effect, used)
        assert shapes.render_effect(stored) == dict(sorted(effect.items()))
    # the first and the last have other keys: three shapes
    assert len(used) == 3


def test_a_template_stores_a_call_of_the_same_shape_as_compact_effect_does():
    shapes = Shapes()
    payload = {"user": "u1", "to": "+4930123", "duration_s": 61}
    first = {"kind": "charge", "clause": "AGB 3.4", "amount": "0.04", "zone": "DE landline"}
    first.update(payload)
    code, number, keys = shapes.template(first, payload)
    assert keys == ("amount",)  # the user, number and duration are read from the event
    second = {**first, "amount": "0.08"}
    used = set()
    assert [code, *[second[key] for key in keys]] == shapes.compact_effect(second, used, payload)
    assert used == {number}


def test_a_call_is_stored_compact_and_shown_as_booked(tmp_path):
    engine = Engine(f"sqlite:///{tmp_path}/c.sqlite")
    at = "2026-11-02T10:00:00+01:00"
    try:
        engine.handle(OPENED)
        engine.handle(
            {"id": "u1", "type": "user.added", "account": "acme", "at": at, "user": "anna"}
        )
        engine.handle(
            {"id": "t1", "type": "credit.topped_up", "account": "acme", "at": at, "amount": "20.00"}
        )
        call = {"id": "c1", "type": "call", "account": "acme", "at": at, "user": "anna"}
        result = engine.handle(call | {"to": "+12125550100", "duration_s": 61})
        charge = result["effects"][-1]
        assert charge["zone"] == "world" and charge["kind"] == "charge"
        # the result as returned is the result as stored, and the ledger shows the call's detail
        with engine.store.unit(commit=False) as unit:
            assert unit.event_result("c1") == result
            stored = unit.connection.execute(
                select(events.c.result).where(events.c.id == "c1")
            ).scalar_one()
            detail = unit.connection.execute(
                select(ledger_entries.c.detail).where(ledger_entries.c.event_id == "c1")
            ).scalar_one()
            assert unit.connection.execute(select(effect_shapes)).all()
        assert stored.startswith("[[") and len(stored) < 160
        assert detail.startswith("[")
        shown = engine.ledger("acme")[-1]
        assert shown["kind"] == "call" and shown["amount"] == "-" + charge["amount"]
        assert shown["detail"] == {k: charge[k] for k in shown["detail"]}
        assert set(shown["detail"]) >= {"user", "to", "zone", "duration_s", "rate", "tariff"}
    finally:
        engine.close()
