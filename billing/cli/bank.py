"""``billing bank import|queue|assign``: money in from bank statements (camt.053, camt.054).

Credits that name an invoice or customer number are booked as ``payment.received``; the rest
wait in the queue for finance (:mod:`engine.interchange.bank_statements`). Issue 28.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from billing.cli.common import cli_actor, now_for_query
from engine.core.money import format_amount, from_cents
from engine.engine import Engine
from engine.interchange import bank_statements
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``bank`` command and its actions, added to the ``billing`` parser."""
    bank = commands.add_parser("bank", help="bank statements: credits in, the assignment queue")
    bank_commands = bank.add_subparsers(dest="bank_command", required=True)
    imported = bank_commands.add_parser(
        "import", help="book the credits of a camt.053 statement or camt.054 notification, once"
    )
    imported.add_argument("file", help="the camt.053 or camt.054 XML file from the bank")
    imported.add_argument("--db", help="database URL")
    imported.add_argument("--json", action="store_true", help="print the report as JSON")
    imported.set_defaults(handler=cmd_bank_import)
    queue = bank_commands.add_parser("queue", help="the credits that matched no customer")
    queue.add_argument("--db", help="database URL")
    queue.set_defaults(handler=cmd_bank_queue)
    assign = bank_commands.add_parser("assign", help="book a queued credit to an account")
    assign.add_argument("credit", type=int, help="the credit's number in the queue")
    assign.add_argument("--account", required=True, help="the account (customer number)")
    assign.add_argument("--invoice", help="the invoice it pays (of that account)")
    assign.add_argument("--db", help="database URL")
    assign.set_defaults(handler=cmd_bank_assign)


def cmd_bank_import(args: argparse.Namespace) -> int:
    """Exit 0 whatever was matched; 1 only for a file that cannot be read as a statement."""
    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        print(f"error: {args.file}: {error.strerror or error}", file=sys.stderr)
        return 1
    engine = Engine(args.db)
    try:
        report = bank_statements.import_statement(
            engine, data, actor=cli_actor(), at=now_for_query()
        )
    except bank_statements.StatementInvalid as refused:
        print(f"error: {args.file}: {refused.field}: {refused.message}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(
        f"{report.message} {report.message_id}: {report.count('booked')} booked, "
        f"{report.count('queued')} queued, {report.count('already_imported')} already imported"
        + (f", {report.other} not credits" if report.other else "")
    )
    for outcome in report.outcomes:
        shown = outcome.to_json()
        line = f"  {outcome.status}: {shown['entry_reference']} {shown['amount']} EUR"
        if outcome.account:
            line += f" account {outcome.account}"
        if outcome.invoice:
            line += f" invoice {outcome.invoice}"
        if outcome.reason:
            line += f": {outcome.reason}"
        print(line)
    return 0


def cmd_bank_queue(args: argparse.Namespace) -> int:
    with Store(args.db) as store, store.db.connect() as connection:
        rows = bank_statements.credits(connection, "queued")
    for row in rows:
        print(
            f"{row.id}  {row.booked_on}  {format_amount(from_cents(row.amount_cents)):>10} EUR  "
            f"{row.debtor or ''}  {row.remittance or ''}  ({row.reason})"
        )
    print(f"{len(rows)} queued")
    return 0


def cmd_bank_assign(args: argparse.Namespace) -> int:
    engine = Engine(args.db)
    try:
        result = bank_statements.assign(
            engine, args.credit, args.account, args.invoice, actor=cli_actor(), at=now_for_query()
        )
    except bank_statements.AssignmentRefused as refused:
        print(f"error: {refused.field}: {refused.message}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    print(f"credit {args.credit} booked to {args.account}: event {result['event']}")
    return 0
