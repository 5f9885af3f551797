"""Properties of the ledger under any sequence of events (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.engine import Engine
from engine.ledger.tables import accounts, ledger_entries

START = datetime.fromisoformat("2026-10-28T08:00:00+01:00")
NUMBERS = [
    "+4921112345678",
    "+4917612345678",
    "+33612345678",
    "+12125550100",
    "112",
    "+49800123456",
]


@st.composite
def event_streams(draw):
    """Two accounts opened, then a random mix of their calls, payments, users, plan changes
    and clocks."""
    plans = draw(st.lists(st.sampled_from(["clinq", "clinq-premium"]), min_size=2, max_size=2))
    methods = draw(
        st.lists(st.sampled_from(["prepay", "autoprepay", "postpay"]), min_size=2, max_size=2)
    )
    ids = itertools.count(1)
    events = []
    for index, (plan, method) in enumerate(zip(plans, methods, strict=True)):
        opened = {
            "id": f"e{next(ids)}",
            "type": "account.opened",
            "account": f"a{index}",
            "at": START.isoformat(),
            "plan": plan,
            "customer_type": "business",
            "billing_method": method,
            "country": "DE",
            "area_code": "0211",
        }
        if method == "autoprepay":
            opened["autoprepay"] = {"threshold": "5.00", "amount": "20.00"}
        events.append(opened)
        events.append(
            {
                "id": f"e{next(ids)}",
                "type": "user.added",
                "account": f"a{index}",
                "at": START.isoformat(),
                "user": "u0",
            }
        )
    at = START
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        at += timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 4)))
        account = f"a{draw(st.integers(min_value=0, max_value=1))}"
        kind = draw(
            st.sampled_from(["call", "call", "call", "payment", "topup", "user", "clock", "plan"])
        )
        base = {"id": f"e{next(ids)}", "account": account, "at": at.isoformat()}
        if kind == "call":
            events.append(
                {
                    **base,
                    "type": "call",
                    "user": "u0",
                    "to": draw(st.sampled_from(NUMBERS)),
                    "duration_s": draw(st.integers(min_value=0, max_value=7200)),
                }
            )
        elif kind == "payment":
            events.append(
                {
                    **base,
                    "type": "payment.received",
                    "method": "direct_debit",
                    "amount": f"{draw(st.integers(min_value=1, max_value=5000)) / 100:.2f}",
                }
            )
        elif kind == "topup":
            events.append({**base, "type": "credit.topped_up", "amount": "10.00"})
        elif kind == "user":
            events.append({**base, "type": "user.added", "user": f"u{draw(st.integers(1, 3))}"})
        elif kind == "plan":  # an upgrade, a downgrade, or a refused change to the same plan
            plan = draw(st.sampled_from(["clinq", "clinq-premium"]))
            events.append({**base, "type": "plan.changed", "plan": plan})
        else:
            events.append({**base, "type": "clock"})
        if draw(st.booleans()) and len(events) > 3:
            events.append(draw(st.sampled_from(events)))  # a resent event
    return events


def ledger_of(engine: Engine) -> list[tuple]:
    with engine.store.unit(commit=False) as unit:
        rows = unit.connection.execute(select(ledger_entries).order_by(ledger_entries.c.id)).all()
    return [
        (r.account, r.event_id, r.kind, r.amount_cents, r.clause, r.terms_version, r.detail)
        for r in rows
    ]


def balances_of(engine: Engine) -> dict[str, int]:
    with engine.store.unit(commit=False) as unit:
        rows = unit.connection.execute(select(accounts.c.id, accounts.c.balance_cents)).all()
    return dict(rows)


PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(events=event_streams())
def test_every_balance_is_the_sum_of_its_ledger_entries(tmp_path_factory, catalog, decider, events):
    engine = Engine(f"sqlite:///{tmp_path_factory.mktemp('p') / 'l.sqlite'}", catalog, decider)
    try:
        engine.handle_many(events)
        sums: dict[str, int] = {}
        for account, _event, _kind, amount, *_ in ledger_of(engine):
            sums[account] = sums.get(account, 0) + amount
        assert {a: sums.get(a, 0) for a in balances_of(engine)} == balances_of(engine)
    finally:
        engine.close()


@PROPERTY_SETTINGS
@given(events=event_streams())
def test_sending_everything_again_changes_nothing(tmp_path_factory, catalog, decider, events):
    engine = Engine(f"sqlite:///{tmp_path_factory.mktemp('p') / 'l.sqlite'}", catalog, decider)
    try:
        engine.handle_many(events)
        ledger = ledger_of(engine)
        again = engine.handle_many(events)
        assert {r["status"] for r in again} == {"duplicate"}
        for event in events[:5]:
            assert engine.handle(event)["status"] == "duplicate"
        assert ledger_of(engine) == ledger
    finally:
        engine.close()


@PROPERTY_SETTINGS
@given(events=event_streams(), split=st.integers(min_value=1, max_value=40))
def test_replaying_into_a_fresh_database_gives_the_same_ledger(
    tmp_path_factory, catalog, decider, events, split
):
    directory = tmp_path_factory.mktemp("p")
    first = Engine(f"sqlite:///{directory / 'a.sqlite'}", catalog, decider)
    second = Engine(f"sqlite:///{directory / 'b.sqlite'}", catalog, decider)
    try:
        results = first.handle_many(events)
        # The replay arrives in other batch sizes, one event at a time at the end.
        replayed = second.handle_many(events[:split])
        replayed += [second.handle(event) for event in events[split:]]
        assert replayed == results
        assert ledger_of(second) == ledger_of(first)
        assert balances_of(second) == balances_of(first)
    finally:
        first.close()
        second.close()
