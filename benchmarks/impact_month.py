"""Benchmark: the impact of a draft on the 10,000-account demo month (issue 14).

    .venv/bin/python benchmarks/impact_month.py [--accounts 10000] [--calls 50000]

Setup (not measured): the generated November of billing/demo.py (the month the invoice-run
benchmark uses) is replayed once into benchmarks/out/impact-<accounts>-<calls>.sqlite, with one
returned direct debit per 100 accounts paying by autoprepay or postpay added on 25 November
(the demo has none). Measured: the
whole of ``billing terms impact`` for three drafts, in this process, reading that database:

- the returned-debit fee (AGB 4.2.3) at 12.00 EUR instead of 9.80: one full replay under the
  terms in force (its accounts split over two processes) watches which accounts read the fee,
  and only those are replayed with the draft;
- the same draft replayed in full twice (``exhaustive``), side by side in two processes;
- the world rate of the rate table at 0.35 EUR/min instead of 0.29: watched the same way, so
  only the accounts that called the rest of the world are replayed with the draft.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def setup(path: Path, accounts: int, calls: int) -> None:
    from sqlalchemy import select

    from billing.demo import month_of_events
    from engine.engine import Engine
    from engine.ledger.tables import accounts as accounts_table

    started = time.perf_counter()
    engine = Engine(f"sqlite:///{path}")
    batch: list = []
    for event in month_of_events("2026-11", accounts, calls, seed=1):
        batch.append(event)
        if len(batch) == 5000:
            engine.handle_many(batch)
            batch.clear()
    engine.handle_many(batch)
    with engine.store.db.connect() as connection:
        debited = connection.execute(
            select(accounts_table.c.id)
            .where(accounts_table.c.billing_method.in_(["autoprepay", "postpay"]))
            .order_by(accounts_table.c.id)
        ).scalars()
        names = list(debited)[::100]
    engine.handle_many(
        {
            "id": f"bench-return-{name}",
            "type": "direct_debit.returned",
            "account": name,
            "at": "2026-11-25T10:00:00+01:00",
            "amount": "25.00",
        }
        for name in names
    )
    engine.close()
    print(f"set up {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def rates_draft(world: str) -> str:
    from admin_ui.views import _latest_version_text
    from engine.catalog import PROJECT_ROOT

    text = _latest_version_text(PROJECT_ROOT, {}, "tariffs/rates/sipgate-team.yaml")
    text = text.replace('world: "0.2900 EUR/min"', f'world: "{world}"')
    return "effective_from: 2027-02-01\n" + text.split("\n", 1)[1]


FEE = (
    'effective_from: 2027-01-01\nvalues:\n  flat_fee: "12.00 EUR"\n'
    "  lower_damage_provable: true\n  itemised_higher_costs_chargeable: true\n"
)


def _cpu() -> float:
    """User and system CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(url: str) -> None:
    from engine.catalog import PROJECT_ROOT
    from engine.drafting.impact import Period, counts, draft_impact
    from engine.ledger.store import Store

    november = Period(date(2026, 11, 1), date(2026, 11, 30))
    runs = (
        ("returned-debit fee 9.80 -> 12.00", "rules/agb/4.2.3-returned-direct-debit.yaml", FEE, {}),
        (
            "the same, two full replays",
            "rules/agb/4.2.3-returned-direct-debit.yaml",
            FEE,
            {"exhaustive": True},
        ),
        (
            "world rate 0.29 -> 0.35 EUR/min",
            "tariffs/rates/sipgate-team.yaml",
            rates_draft("0.3500 EUR/min"),
            {},
        ),
    )
    print(
        "| draft | accounts replayed | events | with the draft | affected | delta | seconds "
        "| CPU seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with Store(url) as store, store.db.connect() as connection:
        before = counts(connection)
        for name, file, text, options in runs:
            started, cpu = time.perf_counter(), _cpu()
            impact = draft_impact(connection, PROJECT_ROOT, file, text, november, **options)
            seconds, cpu = time.perf_counter() - started, _cpu() - cpu
            print(
                f"| {name} | {impact.accounts_replayed:,} | {impact.events_replayed:,} | "
                f"{impact.replayed_with_draft:,} | "
                f"{impact.accounts_affected['total']:,} | {impact.revenue_delta} EUR | "
                f"{seconds:.1f} | {cpu:.1f} |",
                flush=True,
            )
        assert counts(connection) == before, "an impact run wrote to the database"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / f"impact-{args.accounts}-{args.calls}.sqlite"
    if not path.exists():
        setup(path, args.accounts, args.calls)
    measure(f"sqlite:///{path}")


if __name__ == "__main__":
    main()
