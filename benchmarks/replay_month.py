"""Benchmark: replay a generated month into SQLite, against a plain-Python floor.

    .venv/bin/python benchmarks/replay_month.py                      # 10,000 accounts, 1M calls
    .venv/bin/python benchmarks/replay_month.py --accounts 1000 --calls 100000
    .venv/bin/python benchmarks/replay_month.py --accounts 1000 --calls 100000 --postgres \
        --workers 1,2                                 # billing replay --workers N on PostgreSQL

The month (both plans, all zones, top-ups, payments, clocks) is generated once into
benchmarks/out/. The replay runs in a child process, so its peak RSS is its own; it streams the
file exactly as ``billing replay`` does. The floor reads the same file in this process and does
only what any rater must: decode each line, find the call's zone by longest prefix, and price
it with Decimal. Both are measured in the same run; the ratio is end-to-end time over floor time.
The lean ceiling (benchmarks/lean_ceiling.py: the minimal pipeline of issue 30) then applies the
same file in a child process of its own; the platform is reported as a ratio to it too, and
both totals of call charges are printed, so that a reader sees the same pricing work was done.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent


def month_file(out: Path, accounts: int, calls: int) -> Path:
    """The generated month's file, named after the generator's source (billing/demo.py): a
    changed generator gives a new file, never a stale one."""
    import hashlib

    source = (HERE.parent / "billing" / "demo.py").read_bytes()
    return out / f"month-{accounts}-{calls}-{hashlib.sha256(source).hexdigest()[:10]}.jsonl"


def generate(path: Path, accounts: int, calls: int) -> None:
    from billing.demo import month_of_events

    started = time.perf_counter()
    with path.open("wb") as out:
        for event in month_of_events("2026-11", accounts, calls, seed=1):
            out.write(orjson.dumps(event) + b"\n")
    print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def floor(path: Path) -> tuple[int, float, float]:
    """Decode, zone lookup and Decimal pricing only: what no rater can avoid."""
    from engine.billing.rating import billed_seconds, price
    from engine.catalog import load_catalog

    terms = load_catalog().at(date(2026, 11, 15))
    zones, rates, money = terms.zones, terms.rates("sipgate-team"), terms.money
    rate_of = {zone: rates[zone] for zone in terms.clause("Price list: zones").file.parameters}
    first, following = rates["first_increment"], rates["next_increment"]
    calls = 0
    total = Decimal(0)
    started, cpu_started = time.perf_counter(), time.process_time()
    with path.open("rb") as source:
        for line in source:
            event = orjson.loads(line)
            if event["type"] != "call":
                continue
            zone = zones.zone_of(event["to"])
            seconds = billed_seconds(event["duration_s"], first, following)
            total += price(seconds, rate_of[zone], money)
            calls += 1
    return calls, time.perf_counter() - started, time.process_time() - cpu_started


def child(path: Path, database: Path, batch: int) -> None:
    """Runs in the child process: the replay itself, timed without start-up."""
    from billing.replay import replay
    from engine.engine import Engine

    engine = Engine(f"sqlite:///{database}")
    started, cpu_started = time.perf_counter(), time.process_time()
    with path.open(encoding="utf-8") as source, open("/dev/null", "w") as sink:
        summary = replay(engine, source, sink, batch_size=batch)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    engine.close()
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "cpu_at_start": cpu_started,
                "lines": summary.lines,
                "summary": summary.describe(),
                "applied": summary.applied,
                "rejected": summary.rejected,
                "invalid": summary.invalid,
            }
        )
    )


def run_child(args: list[str]) -> tuple[dict, float, float]:
    """Run a child to its end: the JSON of its last line, its peak RSS in MB and its CPU
    seconds, both with the processes it started and waited for (wait4 on this one process:
    RUSAGE_CHILDREN would be the largest of all children so far)."""
    with tempfile.TemporaryFile("w+") as errors:  # its warnings, shown only if it fails
        process = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=errors, text=True
        )
        with process.stdout:
            output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            sys.exit(f"{errors.read()}{args[0]} failed with exit code {process.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024, cpu


def compare_calls(database: Path, lean_database: Path) -> tuple[int, int]:
    """The platform's call charges in cents, and how many calls the two ledgers charge
    differently (a row in one and not the other, or another amount)."""
    platform = sqlite3.connect(f"file:{database}?immutable=1", uri=True)  # both are closed
    platform.execute("ATTACH DATABASE ? AS lean", (f"file:{lean_database}?immutable=1",))
    ours = "SELECT event_id, amount_cents FROM ledger_entries WHERE kind = 'call'"
    theirs = "SELECT event_id, amount_cents FROM lean.ledger WHERE kind = 'call'"
    total = platform.execute(f"SELECT -sum(amount_cents) FROM ({ours})").fetchone()[0]
    differ = platform.execute(
        f"SELECT count(DISTINCT event_id) FROM (SELECT * FROM ({ours} EXCEPT {theirs})"
        f" UNION ALL SELECT * FROM ({theirs} EXCEPT {ours}))"
    ).fetchone()[0]
    platform.close()
    return total, differ


def postgres_scaling(month: Path, workers: list[int], batch: int) -> list[dict]:
    """The month replayed into a fresh PostgreSQL database per worker count (its own server,
    fsync off as in the tests): 1 is the plain single-process replay, N > 1 is
    ``billing replay --workers N``. CPU seconds are the replay's processes and the server's."""
    import os

    from sqlalchemy import create_engine, text

    sys.path.insert(0, str(HERE.parent))
    from api_load import _tree_cpu_seconds

    from billing.replay import replay
    from billing.replay_workers import replay_parallel
    from engine.engine import Engine
    from engine.ledger.store import Store
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    admin_url = server.start()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    reports = []
    try:
        for count in workers:
            name = f"replay_{count}"
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name}"))
            url = admin_url.rsplit("/", 1)[0] + f"/{name}"
            Store(url).close()
            load = os.getloadavg()[0]
            cpu = _tree_cpu_seconds([os.getpid(), postmaster])
            # the time is the replay's own (summary.seconds): without starting the engines
            with month.open(encoding="utf-8") as source, open("/dev/null", "w") as sink:
                if count == 1:
                    engine = Engine(url)
                    summary = replay(engine, source, sink, batch_size=batch)
                    engine.close()
                else:
                    summary = replay_parallel(url, source, sink, workers=count, batch_size=batch)
            seconds = summary.seconds
            cpu = _tree_cpu_seconds([os.getpid(), postmaster]) - cpu
            with admin.connect() as connection:
                size = connection.execute(text(f"SELECT pg_database_size('{name}')")).scalar_one()
            reports.append(
                {
                    "workers": count,
                    "replay": summary.describe(),
                    "seconds": round(seconds, 2),
                    "events_per_second": round(summary.lines / seconds),
                    "cpu_seconds_replay_and_database": round(cpu, 1),
                    "database_mb": round(size / 2**20, 1),
                    "database_bytes_per_event": round(size / summary.lines),
                    "load_average_1min_at_start": round(load, 2),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2),
                }
            )
    finally:
        admin.dispose()
        server.stop()
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument(
        "--batch",
        type=int,
        help="lines per transaction of the replay (default: billing replay's; the lean "
        "ceiling takes 5,000 events, as issue 30 describes it)",
    )
    parser.add_argument("--postgres", action="store_true", help="replay into PostgreSQL")
    parser.add_argument("--workers", default="1,2", help="worker counts with --postgres")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="month and databases")
    parser.add_argument("--child", nargs=2, metavar=("FILE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from billing.replay import BATCH

        child(Path(args.child[0]), Path(args.child[1]), args.batch or BATCH)
        return

    out = args.out
    out.mkdir(exist_ok=True)
    month = month_file(out, args.accounts, args.calls)
    if not month.exists():
        generate(month, args.accounts, args.calls)
    if args.postgres:
        counts = [int(n) for n in args.workers.split(",")]
        print(json.dumps(postgres_scaling(month, counts, args.batch or 5000), indent=2))
        return
    database = out / "replay.sqlite"
    for leftover in out.glob("replay.sqlite*"):
        leftover.unlink()

    load_at_start = os.getloadavg()[0]
    calls, floor_seconds, floor_cpu = floor(month)
    batch = ["--batch", str(args.batch)] if args.batch else []
    measured, peak_rss_mb, tree_cpu = run_child(
        [__file__, *batch, "--child", str(month), str(database)]
    )
    if measured["invalid"]:
        # A generated month must pass the event checks, or the figures measure refusals.
        sys.exit(f"{measured['invalid']} generated events are invalid: {measured['summary']}")
    seconds = measured["seconds"]
    # WAL checkpointed at close: the file holds everything (events, results, ledger, state)
    size = sum(f.stat().st_size for f in out.glob("replay.sqlite*"))
    lean_file, lean_database = str(HERE / "lean_ceiling.py"), out / "lean.sqlite"
    lean, lean_rss_mb, lean_tree_cpu = run_child(
        [lean_file, "--batch", str(args.batch or 5000), str(month), str(lean_database)]
    )
    platform_call_cents, calls_priced_differently = compare_calls(database, lean_database)
    if calls_priced_differently or lean["invalid"]:
        print("the lean ceiling priced differently, see lean_* in the report", file=sys.stderr)
    report = {
        "accounts": args.accounts,
        "calls": calls,
        "events": measured["lines"],
        "replay": measured["summary"],
        "applied": measured["applied"],
        "rejected": measured["rejected"],
        "end_to_end_seconds": round(seconds, 2),
        "end_to_end_calls_per_second": round(calls / seconds),
        "end_to_end_events_per_second": round(measured["lines"] / seconds),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "floor_seconds": round(floor_seconds, 2),
        "floor_calls_per_second": round(calls / floor_seconds),
        "ratio_to_floor": round(seconds / floor_seconds, 1),
        # CPU time (the child's and the floor's): comparable when other processes share the cores
        "cpu_seconds": round(measured["cpu_seconds"], 2),
        "cpu_calls_per_second": round(calls / measured["cpu_seconds"]),
        "cpu_ratio_to_floor": round(measured["cpu_seconds"] / floor_cpu, 1),
        "database_mb": round(size / 2**20, 1),
        "database_bytes_per_event": round(size / measured["lines"]),
        # the lean ceiling (benchmarks/lean_ceiling.py), a child of its own after the replay
        "lean_seconds": round(lean["seconds"], 2),
        "lean_calls_per_second": round(calls / lean["seconds"]),
        "lean_cpu_seconds": round(lean["cpu_seconds"], 2),
        "lean_peak_rss_mb": round(lean_rss_mb, 1),
        "lean_ratio_to_floor": round(lean["seconds"] / floor_seconds, 1),
        "ratio_to_lean": round(seconds / lean["seconds"], 1),
        "cpu_ratio_to_lean": round(measured["cpu_seconds"] / lean["cpu_seconds"], 1),
        # CPU after start-up with the processes a child starts (the replay archives beside it)
        "cpu_seconds_with_helpers": round(tree_cpu - measured["cpu_at_start"], 2),
        "lean_cpu_seconds_with_helpers": round(lean_tree_cpu - lean["cpu_at_start"], 2),
        "cpu_ratio_to_lean_with_helpers": round(
            (tree_cpu - measured["cpu_at_start"]) / (lean_tree_cpu - lean["cpu_at_start"]), 1
        ),
        "lean_applied_rejected_invalid": [lean[k] for k in ("applied", "rejected", "invalid")],
        # the same pricing work: calls charged in cents, by the platform's ledger and the lean one
        "platform_call_charges_cents": platform_call_cents,
        "lean_call_charges_cents": lean["call_charges_cents"],
        "calls_priced_differently": calls_priced_differently,
        "load_average_1min_at_start": round(load_at_start, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
