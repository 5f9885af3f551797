"""The golden month of issue 13: a small generated month and a compact digest of its outcome.

The digest was recorded from the replay before the hot path's redesign
(``tests/fixtures/replay_golden.json``); ``tests/test_replay_equivalence.py`` replays the same
month with the current code and compares. Rebuild the fixture only when the semantics change on
purpose::

    .venv/bin/python -m tests.replay_golden      # writes tests/fixtures/replay_golden.json
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import orjson

from billing.demo import month_of_events
from engine.engine import Engine

FIXTURE = Path(__file__).parent / "fixtures" / "replay_golden.json"
ACCOUNTS = 200
CALLS = 20_000
# The clock passing 1 December issues November's invoices (AGB 4.4.1) and charges December's
# base prices; 21 December fires what the invoices scheduled for the 20th.
CLOCKS = ("2026-12-01T06:00:00+01:00", "2026-12-21T06:00:00+01:00")


def golden_events() -> list[dict]:
    """November 2026 for 200 accounts and 20,000 calls, then the clocks of December."""
    events = list(month_of_events("2026-11", ACCOUNTS, CALLS, seed=7))
    names = sorted({e["account"] for e in events})
    for instant in CLOCKS:
        events.extend(
            {
                "id": f"golden-clock-{name}-{instant}",
                "type": "clock",
                "account": name,
                "at": instant,
            }
            for name in names
        )
    return events


def replay_lines(engine: Engine, events: list[dict], batch_size: int = 2000) -> list[bytes]:
    """Replay ``events`` as ``billing replay`` does; the result lines it prints."""
    from billing.replay import replay

    source = io.StringIO("".join(orjson.dumps(e).decode() + "\n" for e in events))
    out = io.StringIO()
    replay(engine, source, out, batch_size=batch_size)
    return [line.encode() for line in out.getvalue().splitlines()]


def outcome(engine: Engine, accounts: list[str]) -> dict[str, Any]:
    """Per account: balance, ledger entries, invoices (numbers, amounts, items)."""
    result: dict[str, Any] = {}
    with engine.store.unit(commit=False) as unit:
        for name in accounts:
            state = unit.account(name)
            rows = unit.ledger_of(name, 0, 1_000_000)
            invoices = unit.load_invoices([name]).get(name, [])
            result[name] = {
                "balance_cents": state.balance_cents if state else None,
                "ledger": [
                    [r.kind, r.amount_cents, r.clause, r.terms_version, shown["detail"]]
                    for r, shown in zip(rows, engine.ledger(name, 0, 1_000_000), strict=True)
                ],
                "invoices": [
                    [i.number, i.kind, i.amount_cents, i.open_cents, i.status, i.detail]
                    for i in invoices
                ],
                "deadlines": [
                    [d["kind"], d["date"], d["status"], d["created_by"], d["settled_by"]]
                    for d in unit.deadlines_of(name)
                ],
            }
    for name in accounts:
        result[name]["view"] = engine.account(name)
        result[name]["period_charges"] = _period_charges(engine, name)
    return result


def _period_charges(engine: Engine, name: str) -> dict:
    with engine.store.unit(commit=False) as unit:
        state = unit.account(name)
    return state.period_charges if state else {}


def digest(engine: Engine, events: list[dict], lines: list[bytes]) -> dict[str, Any]:
    """The compact digest stored in the fixture: hashes per account, one for the result lines."""
    accounts = sorted({e["account"] for e in events})
    per_account = {
        name: hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
        for name, value in outcome(engine, accounts).items()
    }
    with engine.store.unit(commit=False) as unit:
        balances = {name: unit.account(name).balance_cents for name in accounts}
    return {
        "events": len(events),
        "results_sha256": hashlib.sha256(b"\n".join(lines)).hexdigest(),
        "statuses": _statuses(lines),
        "balances": balances,
        "accounts": per_account,
    }


def _statuses(lines: list[bytes]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        status = orjson.loads(line)["status"]
        counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items()))


def build(database_url: str, batch_size: int = 2000) -> dict[str, Any]:
    engine = Engine(database_url)
    try:
        events = golden_events()
        return digest(engine, events, replay_lines(engine, events, batch_size))
    finally:
        engine.close()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        recorded = build(f"sqlite:///{folder}/golden.sqlite")
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}: {recorded['statuses']}")
