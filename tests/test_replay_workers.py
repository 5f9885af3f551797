"""``billing replay --workers N`` gives what one worker gives: the same results line for line,
balances, ledger entries, deadlines and gapless invoice numbers (AGB 4.3.1, § 14 UStG)."""

from __future__ import annotations

import io

import orjson
import pytest
from sqlalchemy import create_engine, select

from billing.cli.main import main
from billing.demo import month_of_events
from billing.replay import replay
from billing.replay_workers import (
    OrderedStateTouched,
    WorkersNeedPostgres,
    check_database,
    partition_of,
    replay_parallel,
)
from engine.engine import Engine
from engine.ledger.tables import (
    accounts,
    deadlines,
    events,
    invoice_counters,
    invoices,
    ledger_entries,
)


def _month_file() -> str:
    """A generated November (30 accounts, 1,500 calls, clocks on the 20th and the 30th) with
    what makes order matter across accounts: a line that is not JSON, an event sent twice, and
    an id reused by another account with other content (a conflict, wherever it lands)."""
    lines = [orjson.dumps(e).decode() for e in month_of_events("2026-11", 30, 1500, seed=5)]
    call = next(orjson.loads(line) for line in lines[200:] if '"type":"call"' in line)
    other = next(
        orjson.loads(line)
        for line in lines[200:]
        if '"type":"call"' in line and orjson.loads(line)["account"] != call["account"]
    )
    reused = {**other, "id": call["id"]}  # same id, another account: a conflict
    lines[400:400] = ["{not json", orjson.dumps(call).decode(), orjson.dumps(reused).decode()]
    return "\n".join(lines) + "\n"


def _tables(url: str) -> dict[str, list]:
    """What must be identical, without surrogate keys whose order depends on interleaving."""
    db = create_engine(url)
    with db.connect() as connection:

        def rows(query) -> list[tuple]:
            return [tuple(row) for row in connection.execute(query)]

        found = {
            # the version counts writes (the account cache's check), not what was billed
            "accounts": sorted(rows(select(*[c for c in accounts.c if c.name != "version"]))),
            "invoices": rows(select(invoices).order_by(invoices.c.number)),
            "invoice_counters": sorted(rows(select(invoice_counters))),
            "events": sorted(
                rows(select(events.c.id, events.c.account, events.c.status, events.c.result))
            ),
            # per account in booking order (the ledger id orders an account's own entries)
            "ledger": rows(
                select(*[c for c in ledger_entries.c if c.name != "id"]).order_by(
                    ledger_entries.c.account, ledger_entries.c.id
                )
            ),
            "deadlines": sorted(
                rows(select(*[c for c in deadlines.c if c.name != "id"])), key=repr
            ),
        }
    db.dispose()
    return found


@pytest.mark.postgresql
def test_two_workers_give_what_one_worker_gives(postgres, catalog, decider):
    month = _month_file()
    single_url, parallel_url = postgres(), postgres()

    engine = Engine(single_url, catalog=catalog, decider=decider)
    single_out = io.StringIO()
    single = replay(engine, io.StringIO(month), single_out, batch_size=200)
    engine.close()

    parallel_out = io.StringIO()
    # small rounds and batches: many cuts, many transactions, the same answers
    parallel = replay_parallel(
        parallel_url, io.StringIO(month), parallel_out, workers=2, batch_size=150, round_size=400
    )

    assert parallel_out.getvalue() == single_out.getvalue()
    assert (parallel.lines, parallel.applied, parallel.duplicate) == (
        single.lines,
        single.applied,
        single.duplicate,
    )
    # the not-JSON line, and the reused id (a conflict for whichever account comes second)
    assert (single.invalid, single.conflict, single.duplicate) == (1, 1, 1)
    expected, got = _tables(single_url), _tables(parallel_url)
    assert got["invoices"], "the month must issue invoices for the test to mean something"
    for table in expected:
        assert got[table] == expected[table], table
    # gapless: 2026-000001 .. 2026-0000NN, the counter at NN
    numbers = [row[0] for row in got["invoices"]]
    assert numbers == [f"2026-{n:06d}" for n in range(1, len(numbers) + 1)]
    assert got["invoice_counters"] == [(2026, len(numbers))]


@pytest.mark.postgresql
def test_a_global_number_drawn_in_a_parallel_round_stops_the_replay(postgres):
    """If clock events (which number invoices) were applied in parallel, the numbers would
    follow the workers' timing: the guard refuses the counter and the replay stops."""
    month = _month_file()
    with pytest.raises(OrderedStateTouched, match="invoice_counters"):
        replay_parallel(postgres(), io.StringIO(month), io.StringIO(), workers=2, ordered_types=())


def test_accounts_are_split_by_a_stable_hash():
    # BLAKE2b, not Python's salted hash(): the same split in every process and every run
    assert [partition_of(f"acct-{i:06d}", 2) for i in range(8)] == [0, 0, 1, 1, 0, 0, 0, 0]
    assert {partition_of(f"acct-{i:06d}", 4) for i in range(200)} == {0, 1, 2, 3}


def test_sqlite_refuses_more_than_one_worker(tmp_path, capsys):
    with pytest.raises(WorkersNeedPostgres, match="single writer"):
        check_database(f"sqlite:///{tmp_path / 'x.sqlite'}", 2)
    source = tmp_path / "events.jsonl"
    source.write_text("", encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["replay", str(source), "--db", database, "--workers", "2"]) == 2
    assert "--workers needs PostgreSQL" in capsys.readouterr().err
