"""A bulk replay applies a transaction of many events in slices (issue 30): each slice's events
and ledger entries are written when it is applied, the accounts once per transaction
(``Engine.apply_in_slices``, billing/replay.py). Nothing of a transaction counts until it
commits: no result line is printed before, none twice when it is tried again."""

from __future__ import annotations

import io

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from billing import replay as replay_module
from billing.demo import month_of_events
from engine.engine import RETRIES, Engine
from engine.ledger.tables import events as events_table


@pytest.fixture
def sliced(monkeypatch):
    """Slices of 50 events: a month of 200 events is one transaction of four slices."""
    monkeypatch.setattr(replay_module, "SLICE", 50)


def month(count: int = 200) -> list[dict]:
    return list(month_of_events("2026-11", 5, count))[:count]


def replayed(engine: Engine, lines: list[str]) -> tuple[list[dict], replay_module.ReplaySummary]:
    out = io.StringIO()
    summary = replay_module.replay(engine, io.StringIO("\n".join(lines) + "\n"), out)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], summary


def stored_events(engine: Engine) -> int:
    with engine.store.unit(commit=False) as unit:
        return unit.connection.execute(select(func.count()).select_from(events_table)).scalar()


def failing_in_the_third_slice(engine: Engine, times: int) -> list[int]:
    """Make the engine lose its connection while applying the third slice, ``times`` times."""
    apply_all, calls, failed = engine._apply_all, [], []

    def apply_or_fail(unit, batch, events, refuse_conflicts=False):
        calls.append(len(events))
        if len(calls) % 4 == 3 and len(failed) < times:
            failed.append(len(calls))
            raise OperationalError("INSERT", {}, Exception("connection lost"))
        return apply_all(unit, batch, events, refuse_conflicts)

    engine._apply_all = apply_or_fail
    return failed


def test_a_transaction_tried_again_prints_each_result_once(sliced):
    events = month()
    reference = Engine("sqlite://")
    engine = Engine("sqlite://")
    try:
        expected, _ = replayed(reference, [orjson.dumps(e).decode() for e in events])
        failed = failing_in_the_third_slice(engine, times=1)
        results, summary = replayed(engine, [orjson.dumps(e).decode() for e in events])
        assert failed == [3]  # the first attempt failed after two slices were written
        assert results == expected  # the second attempt's lines only, in order
        assert summary.lines == len(events) == summary.applied + summary.rejected
        assert stored_events(engine) == len(events)  # the first attempt's rows rolled back
    finally:
        reference.close()
        engine.close()


def test_a_transaction_that_cannot_commit_stores_and_prints_nothing(sliced):
    events = month()
    engine = Engine("sqlite://")
    out = io.StringIO()
    try:
        failing_in_the_third_slice(engine, times=RETRIES)
        source = io.StringIO("".join(orjson.dumps(e).decode() + "\n" for e in events))
        with pytest.raises(OperationalError):
            replay_module.replay(engine, source, out)
        assert out.getvalue() == ""
        assert stored_events(engine) == 0
        assert len(engine.accounts) == 0  # nothing kept of accounts never committed
    finally:
        engine.close()


def test_an_id_sent_again_in_a_later_slice_of_the_transaction_is_found(sliced):
    events = month(120)
    again = dict(events[10])  # in the first slice; sent again in the third
    changed = {**events[20], "id": events[11]["id"]}  # a first slice's id, other content
    lines = [orjson.dumps(e).decode() for e in [*events, again, changed]]
    engine = Engine("sqlite://")
    try:
        results, summary = replayed(engine, lines)
    finally:
        engine.close()
    assert results[-2] == {"id": again["id"], "status": "duplicate", "effects": []}
    assert results[-1]["status"] == "conflict"
    assert (summary.duplicate, summary.conflict) == (1, 1)


def test_the_results_wait_for_the_commit(sliced, monkeypatch):
    # The result lines of a transaction are printed after it committed, all of them.
    events = month()
    engine = Engine("sqlite://")
    out = io.StringIO()
    printed_at_commit = []
    apply_in_slices = engine.apply_in_slices

    def watching(slices, take, **options):
        applied = apply_in_slices(slices, take, **options)
        printed_at_commit.append(out.getvalue())
        return applied

    monkeypatch.setattr(engine, "apply_in_slices", watching)
    try:
        source = io.StringIO("".join(orjson.dumps(e).decode() + "\n" for e in events))
        replay_module.replay(engine, source, out)
    finally:
        engine.close()
    assert printed_at_commit == [""]
    assert len(out.getvalue().splitlines()) == len(events)


def test_a_transaction_ends_after_the_slice_that_issued_invoices(sliced, monkeypatch):
    # The month's clocks of the 20th issue invoices (lines 227-231 of 340): the transaction
    # commits after that slice, so the archive starts on them while the rest is applied.
    events = list(month_of_events("2026-11", 5, 300))
    reference = Engine("sqlite://")
    engine = Engine("sqlite://")
    applied = []
    apply_in_slices = engine.apply_in_slices

    def counting(slices, take, **options):
        applied.append(apply_in_slices(slices, take, **options))
        return applied[-1]

    monkeypatch.setattr(engine, "apply_in_slices", counting)
    try:
        lines = [orjson.dumps(e).decode() for e in events]
        expected = [reference.handle(e) for e in events]
        results, summary = replayed(engine, lines)
        issued = [
            index
            for index, result in enumerate(results)
            if any(effect["kind"] == "invoice_issued" for effect in result["effects"])
        ]
    finally:
        reference.close()
        engine.close()
    assert results == expected
    assert summary.lines == len(events) == 340
    assert issued and 200 <= issued[0] < 250  # in the fifth slice
    assert applied == [5, 2]  # 250 lines, then the other 90 in two slices
