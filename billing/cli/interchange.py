"""``billing zm|oss|sepa|datev``: files for the tax office, the bank and the accountant."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from billing.cli.common import OptionError, instant_option, terms_of, write_output
from engine.core.money import from_cents
from engine.engine import Engine
from engine.interchange import datev, eu_sales_list, oss_return, sepa_export, sepa_returns
from engine.ledger.credit_note_store import credit_notes_issued_between
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``zm``, ``oss``, ``sepa`` and ``datev`` commands and their actions, added to
    ``billing``."""
    zm = commands.add_parser("zm", help="EU sales list (Zusammenfassende Meldung, § 18a UStG)")
    zm_commands = zm.add_subparsers(dest="zm_command", required=True)
    zm_export = zm_commands.add_parser(
        "export", help="write a quarter's reverse-charge services per VAT id as ELSTER CSV"
    )
    zm_export.add_argument("--quarter", required=True, help="YYYY-Qn, e.g. 2026-Q4")
    zm_export.add_argument("--out", help="file to write (default: stdout)")
    zm_export.add_argument("--db", help="database URL")
    zm_export.set_defaults(handler=cmd_zm_export)

    oss = commands.add_parser("oss", help="One-Stop-Shop return (§ 18j UStG)")
    oss_commands = oss.add_subparsers(dest="oss_command", required=True)
    oss_export = oss_commands.add_parser(
        "export", help="write a quarter's consumer VAT per member state and rate as CSV"
    )
    oss_export.add_argument("--quarter", required=True, help="YYYY-Qn, e.g. 2027-Q1")
    oss_export.add_argument("--output", "--out", dest="out", help="file (default: stdout)")
    oss_export.add_argument("--db", help="database URL")
    oss_export.set_defaults(handler=cmd_oss_export)

    _add_sepa(commands)

    datev_parser = commands.add_parser("datev", help="bookings for the accountant (DATEV)")
    datev_commands = datev_parser.add_subparsers(dest="datev_command", required=True)
    datev_export = datev_commands.add_parser(
        "export", help="the month's DATEV Buchungsstapel (EXTF 700, format version 13)"
    )
    datev_export.add_argument("--month", required=True, help="YYYY-MM")
    datev_export.add_argument(
        "--created-at", help="the header's creation instant (default: the start of next month)"
    )
    datev_export.add_argument("--out", help="file to write (default: stdout)")
    datev_export.add_argument("--db", help="database URL")
    datev_export.set_defaults(handler=cmd_datev_export)


def _add_sepa(commands) -> None:
    sepa = commands.add_parser("sepa", help="SEPA direct debits")
    sepa_commands = sepa.add_subparsers(dest="sepa_command", required=True)
    debits = sepa_commands.add_parser(
        "export", help="write the pain.008 file of a collection date (exactly once)"
    )
    debits.add_argument("--collection-date", required=True, help="YYYY-MM-DD")
    debits.add_argument("--scheme", default="CORE", help="CORE (default) or B2B")
    debits.add_argument(
        "--created-at",
        help="the file's creation instant (default: the start of the last submission day)",
    )
    debits.add_argument("--out", help="file to write (default: stdout)")
    debits.add_argument("--db", help="database URL")
    debits.set_defaults(handler=cmd_sepa_export)
    returns = sepa_commands.add_parser(
        "import",
        help="apply the returns and rejects of a bank file (camt.054 or pain.002), once",
    )
    returns.add_argument("file", help="the camt.054 or pain.002 XML file from the bank")
    returns.add_argument("--db", help="database URL")
    returns.add_argument("--json", action="store_true", help="print the report as JSON")
    returns.set_defaults(handler=cmd_sepa_import)


def cmd_zm_export(args: argparse.Namespace) -> int:
    """The EU sales list of a quarter (§ 18a UStG) from the issued invoices, as CSV."""
    try:
        quarter = eu_sales_list.Quarter.parse(args.quarter)
    except ValueError as error:
        print(f"error: --quarter: {error}", file=sys.stderr)
        return 2
    rounding = terms_of(args).at(quarter.last_day).money.rounding
    with Store(args.db) as store, store.unit(commit=False) as unit:
        documents = unit.invoices_issued_between(*eu_sales_list.issued_window(quarter))
        notes = credit_notes_issued_between(
            unit.connection, quarter.first_day.isoformat(), quarter.last_day.isoformat()
        )
    lines = eu_sales_list.sales_list(documents, quarter, notes)
    text = eu_sales_list.to_csv(lines, rounding)
    write_output(args.out, text.encode("utf-8"))
    print(
        f"EU sales list {quarter}: {len(lines)} VAT ids, "
        f"{from_cents(sum(line.net_cents for line in lines))} EUR net"
        + (f", {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def cmd_oss_export(args: argparse.Namespace) -> int:
    """The One-Stop-Shop return of a quarter (§ 18j UStG) from the issued documents, as CSV."""
    try:
        quarter = eu_sales_list.Quarter.parse(args.quarter)
    except ValueError as error:
        print(f"error: --quarter: {error}", file=sys.stderr)
        return 2
    with Store(args.db) as store:
        text, result = oss_return.export(store, quarter)
    write_output(args.out, text.encode("utf-8"))
    print(
        f"OSS return {quarter}: {len(result.lines)} lines, {len(result.corrections)} "
        f"corrections, {from_cents(result.vat_cents)} EUR VAT"
        + (f", {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def cmd_sepa_export(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.collection_date)
    except ValueError:
        print(f"error: --collection-date: {args.collection_date!r} is not a date", file=sys.stderr)
        return 2
    try:
        created = instant_option("--created-at", args.created_at, "2026-11-27T08:00:00+01:00")
    except OptionError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    catalog = terms_of(args)
    with Store(args.db) as store:
        try:
            result = sepa_export.export(store, catalog, day, args.scheme, created)
        except sepa_export.ExportRefused as refused:
            print(f"error: {refused.field}: {refused.message}", file=sys.stderr)
            return 1
    write_output(args.out, result.xml)
    state = "written" if result.created else "as recorded before"
    print(
        f"{result.scheme} {result.collection_date}: {result.count} debits, "
        f"{from_cents(result.total_cents)} EUR, message {result.message_id} ({state})"
        + (f", {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def cmd_sepa_import(args: argparse.Namespace) -> int:
    """Exit 0 whatever was matched; 1 only for a file that cannot be read as a bank file."""
    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        print(f"error: {args.file}: {error.strerror or error}", file=sys.stderr)
        return 1
    engine = Engine(args.db)
    try:
        report = sepa_returns.import_returns(engine, data)
    except sepa_returns.ReturnFileInvalid as refused:
        print(f"error: {args.file}: {refused.field}: {refused.message}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(
        f"{report.message} {report.message_id}: {report.count('applied')} applied, "
        f"{report.count('already_imported')} already imported, "
        f"{report.count('unmatched')} unmatched, {report.count('rejected')} rejected"
        + (f", {report.other} not returns" if report.other else "")
    )
    for outcome in report.outcomes:
        tx = outcome.transaction
        line = f"  {outcome.status}: {tx.end_to_end_id} {tx.amount} EUR {tx.reason_code}"
        if outcome.event is not None:
            line += f" account {outcome.event['account']} event {outcome.event['id']}"
        if outcome.status == "applied":
            fees = [e for e in outcome.effects if e.get("item") == "returned_debit_fee"]
            line += f", fee {fees[0]['amount']} EUR" if fees else ", no fee"
        if outcome.reason:
            line += f": {outcome.reason}"
        print(line)
    for batch in report.rejected_batches:
        print(f"  rejected batch: {batch}, nothing was collected, nothing to reverse")
    return 0


def cmd_datev_export(args: argparse.Namespace) -> int:
    try:
        datev.parse_month(args.month)
    except datev.DatevRefused as refused:
        print(f"error: --month: {refused.message}", file=sys.stderr)
        return 2
    try:
        created = instant_option("--created-at", args.created_at, "2026-12-01T00:00:00+01:00")
    except OptionError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    catalog = terms_of(args)
    with Store(args.db) as store:
        try:
            data, batch = datev.export(store, catalog, args.month, created)
        except datev.DatevRefused as refused:
            print(f"error: {refused.field}: {refused.message}", file=sys.stderr)
            return 1
    write_output(args.out, data)
    print(
        f"DATEV {args.month}: {len(batch.postings)} bookings"
        + (f", {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0
