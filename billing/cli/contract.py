"""``billing liability|availability``: contract clauses computed on demand (AGB 6.1, SD 2.3)."""

from __future__ import annotations

import argparse
import csv
import sys

from billing.cli.common import DB_HELP, parse_instant, terms_of
from engine.contract.availability import availability
from engine.contract.liability import cap_claims
from engine.core.money import format_amount, parse_amount
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``liability`` and ``availability`` commands, added to the ``billing`` parser."""
    liability = commands.add_parser("liability", help="cap the claims of one damaging event")
    liability.add_argument("claims", help="CSV file: customer,claim (EUR, e.g. 20000.00)")
    liability.add_argument("--at", required=True, type=parse_instant, help="date of the event")
    liability.add_argument(
        "--intent", action="store_true", help="the damage was caused intentionally"
    )
    liability.add_argument("--db", help=DB_HELP)
    liability.set_defaults(handler=cmd_liability)

    availability_parser = commands.add_parser(
        "availability", help="yearly availability from outages"
    )
    availability_parser.add_argument("--year", type=int, required=True)
    availability_parser.add_argument("--db", help="database URL")
    availability_parser.set_defaults(handler=cmd_availability)


def cmd_liability(args: argparse.Namespace) -> int:
    """AGB 6.1: 12,500 EUR per customer, 10 million EUR per event, proportional reduction."""
    claims = {}
    with open(args.claims, encoding="utf-8", newline="") as source:
        for number, row in enumerate(csv.reader(source), start=1):
            if not row or row[0].strip().lower() == "customer":
                continue
            try:
                claims[row[0].strip()] = parse_amount(row[1].strip())
            except (IndexError, ValueError) as exc:
                print(f"error: {args.claims}:{number}: {exc}", file=sys.stderr)
                return 1
    catalog = terms_of(args)
    paid = cap_claims(claims, catalog.at(args.at), intentional=args.intent)
    print("customer,claim,paid")
    for name, claim in claims.items():
        print(f"{name},{format_amount(claim)},{format_amount(paid[name])}")
    total = sum(paid.values())
    print(f"total,{format_amount(sum(claims.values()))},{format_amount(total)}", file=sys.stderr)
    return 0


def cmd_availability(args: argparse.Namespace) -> int:
    """CLINQ SD 2.3: the year's average availability, maintenance excluded, against 99 %."""
    with Store(args.db) as store, store.unit(commit=False) as unit:
        outages = unit.outage_payloads()
    report = availability(outages, args.year, terms_of(args))
    print(report.describe())
    return 0 if report.met else 1
