"""The replay hot path changes speed, never results (issue 13).

A generated month of 200 accounts and 20,000 calls, with the clocks that issue November's
invoices, replayed with the current code gives exactly what the code before the redesign gave
(the golden digest in tests/fixtures/replay_golden.json: every result line, every ledger
entry, balance, invoice and deadline). Applying the same events one per transaction gives the
same as applying them in batches, and as one transaction applied in slices (issue 30).
"""

from __future__ import annotations

import json

import pytest

from engine.engine import Engine
from tests.replay_golden import FIXTURE, build, golden_events, outcome, replay_lines


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_the_golden_month_replays_to_the_recorded_digest(tmp_path, golden):
    replayed = build(f"sqlite:///{tmp_path}/replay.sqlite")
    # 22,218 events: 200 openings, users, top-ups, 20,000 calls, payments and the clocks
    assert replayed["events"] == golden["events"]
    assert replayed["statuses"] == golden["statuses"]
    assert replayed["balances"] == golden["balances"]
    different = [a for a in golden["accounts"] if replayed["accounts"][a] != golden["accounts"][a]]
    assert different == []
    assert replayed["results_sha256"] == golden["results_sha256"]


@pytest.mark.parametrize("batch_size", [50_000, 5_000])
def test_transactions_applied_in_slices_replay_to_the_recorded_digest(
    tmp_path, golden, monkeypatch, batch_size
):
    # The whole month in one transaction (or five), applied and written 997 events at a time:
    # accounts, deadlines and invoices carried from slice to slice give what the golden gave.
    from billing import replay

    monkeypatch.setattr(replay, "SLICE", 997)
    replayed = build(f"sqlite:///{tmp_path}/replay.sqlite", batch_size)
    assert replayed == golden


def test_one_event_per_transaction_equals_batches(tmp_path):
    # A slice of the golden month keeps the per-event run short: the first 30 accounts only.
    events = [e for e in golden_events() if int(e["account"].rsplit("-", 1)[1]) < 30]
    accounts = sorted({e["account"] for e in events})
    single = Engine(f"sqlite:///{tmp_path}/single.sqlite")
    batched = Engine(f"sqlite:///{tmp_path}/batched.sqlite")
    try:
        one_by_one = [json.dumps(single.handle(e), sort_keys=True) for e in events]
        in_batches = [
            json.dumps(json.loads(line), sort_keys=True)
            for line in replay_lines(batched, events, 500)
        ]
        assert one_by_one == in_batches
        assert outcome(single, accounts) == outcome(batched, accounts)
    finally:
        single.close()
        batched.close()


def top_up_by_another_writer(at: str) -> dict:
    return {
        "id": "other-writer-payment",
        "type": "payment.received",
        "account": "acct-000001",
        "at": at,
        "amount": "100.00",
        "method": "credit_card",
    }


def test_a_change_by_another_writer_between_batches_is_seen(tmp_path):
    # The replaying engine keeps acct-000001 in memory between its batches; another writer
    # (the API, the admin UI) books a payment of 100.00 in between. The next batch must book on
    # the new balance (the account's version moved on), never on the kept copy.
    events = [e for e in golden_events() if e["account"] == "acct-000001"]
    url = f"sqlite:///{tmp_path}/shared.sqlite"
    replaying, other = Engine(url), Engine(url)
    reference = Engine(f"sqlite:///{tmp_path}/reference.sqlite")
    try:
        done = 0
        while "acct-000001" not in replaying.accounts._kept:  # a batch without new deadlines
            replaying.handle_many(events[done : done + 10])
            reference.handle_many(events[done : done + 10])
            done += 10
        assert done < len(events) // 2
        payment = top_up_by_another_writer(events[done]["at"])
        other.handle(payment)
        reference.handle(payment)
        replaying.handle_many(events[done:])
        reference.handle_many(events[done:])
        assert outcome(replaying, ["acct-000001"]) == outcome(reference, ["acct-000001"])
        # the kept copy was refused once, for its old version
        assert replaying.accounts.misses >= 1
    finally:
        replaying.close()
        other.close()
        reference.close()
