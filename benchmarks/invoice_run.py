"""Benchmark: the monthly invoice run for 10,000 accounts, and PDF rendering.

    .venv/bin/python benchmarks/invoice_run.py [--accounts 10000] [--calls 50000]

Setup (not measured): a generated November with ``--accounts`` accounts of both plans is
replayed into a fresh SQLite database. Measured in a child process, so its peak RSS is its
own: ``billing invoices run --month 2026-11``, that is the clock passing 1 December for every
account, which issues the invoices (items, VAT, credit, numbers) and also charges December's
base prices. Then PDF rendering: invoices read back and rendered (unsigned) one after another.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def child_run(database: str) -> None:
    from datetime import datetime

    from engine.engine import Engine

    engine = Engine(database)
    started, cpu = time.perf_counter(), time.process_time()
    results = engine.advance(datetime.fromisoformat("2026-12-01T00:00:00+01:00"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    issued = sum(1 for r in results for e in r["effects"] if e["kind"] == "invoice_issued")
    print(
        json.dumps({"seconds": seconds, "cpu": cpu, "accounts": len(results), "invoices": issued})
    )


def child_pdf(database: str, count: int) -> None:
    from sqlalchemy import select

    from engine.documents.invoice_pdf import render_invoice
    from engine.ledger.store import Store
    from engine.ledger.tables import invoices

    store = Store(database)
    with store.unit(commit=False) as unit:
        numbers = [
            r.number
            for r in unit.connection.execute(
                select(invoices.c.number).where(invoices.c.kind == "monthly").limit(count)
            )
        ]
        loaded = [unit.invoice(n) for n in numbers]
    started, cpu = time.perf_counter(), time.process_time()
    size = sum(len(render_invoice(invoice)) for invoice in loaded)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "pdfs": len(loaded), "bytes": size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--pdfs", type=int, default=500)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "run":
            child_run(args.child[1])
        else:
            child_pdf(args.child[1], int(args.child[2]))
        return

    from billing.demo import month_of_events
    from engine.engine import Engine

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    for leftover in out.glob("invoices.sqlite*"):
        leftover.unlink()
    database = f"sqlite:///{out / 'invoices.sqlite'}"
    engine = Engine(database)
    started = time.perf_counter()
    batch: list = []
    for event in month_of_events("2026-11", args.accounts, args.calls, seed=11):
        batch.append(event)
        if len(batch) == 5000:
            engine.handle_many(batch)
            batch.clear()
    if batch:
        engine.handle_many(batch)
    engine.close()
    setup = time.perf_counter() - started

    run = subprocess.run(
        [sys.executable, __file__, "--child", "run", database],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    pdf = subprocess.run(
        [sys.executable, __file__, "--child", "pdf", database, str(args.pdfs)],
        capture_output=True,
        text=True,
        check=True,
    )
    rendered = json.loads(pdf.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "accounts": args.accounts,
                "setup_seconds": round(setup, 1),
                "invoice_run_seconds": round(measured["seconds"], 2),
                "invoice_run_cpu_seconds": round(measured["cpu"], 2),
                "invoices_issued": measured["invoices"],
                "invoice_run_peak_rss_mb": round(peak, 1),
                "pdf_per_second": round(rendered["pdfs"] / rendered["seconds"], 1),
                "pdf_per_cpu_second": round(rendered["pdfs"] / rendered["cpu"], 1),
                "load_average": [round(x, 1) for x in os.getloadavg()],
                "pdfs_rendered": rendered["pdfs"],
                "average_pdf_kb": round(rendered["bytes"] / max(rendered["pdfs"], 1) / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
