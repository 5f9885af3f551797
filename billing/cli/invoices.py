"""``billing invoices run|pdf|xml``: issue a month's invoices, write one as PDF or e-invoice."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from billing.cli.common import document_refused, terms_of
from billing.cli.invoice_list import add_list_command
from engine.core.deadlines import last_day_of_month
from engine.engine import Engine
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``invoices`` command and its actions, added to the ``billing`` parser."""
    invoices = commands.add_parser("invoices", help="monthly invoices")
    invoice_commands = invoices.add_subparsers(dest="invoices_command", required=True)
    run = invoice_commands.add_parser("run", help="issue the invoices of a month (idempotent)")
    run.add_argument("--month", required=True, help="YYYY-MM")
    run.add_argument("--db", help="database URL")
    run.set_defaults(handler=cmd_invoices_run)
    pdf = invoice_commands.add_parser("pdf", help="write one invoice as PDF")
    pdf.add_argument("number")
    pdf.add_argument("--out", help="file to write (default: Rechnung-NUMBER.pdf)")
    pdf.add_argument("--db", help="database URL")
    pdf.set_defaults(handler=cmd_invoices_pdf)
    xml = invoice_commands.add_parser(
        "xml", help="write one invoice as a structured e-invoice (EN 16931, XRechnung 3.0)"
    )
    xml.add_argument("number")
    xml.add_argument(
        "--format",
        default="xrechnung-cii",
        choices=["xrechnung-cii", "xrechnung-ubl", "factur-x"],
        help="xrechnung-cii (XRechnung 3.0, UN/CEFACT CII; default), xrechnung-ubl (XRechnung "
        "3.0, UBL 2.1) or factur-x (the XML a ZUGFeRD / Factur-X EN 16931 PDF embeds)",
    )
    xml.add_argument("--out", help="file to write (default: Rechnung-NUMBER.xrechnung.xml)")
    xml.add_argument("--db", help="database URL")
    xml.set_defaults(handler=cmd_invoices_xml)
    add_list_command(invoice_commands)  # billing/cli/invoice_list.py (issue 28)


def cmd_invoices_run(args: argparse.Namespace) -> int:
    """The month's invoices come with the clock passing the month's end (Platform: invoicing)."""
    try:
        year, month = map(int, args.month.split("-"))
        first_after = last_day_of_month(year, month) + timedelta(days=1)
    except ValueError:
        print(f"error: {args.month!r} is not a month (YYYY-MM)", file=sys.stderr)
        return 2
    engine = Engine(args.db)
    try:
        until = datetime.combine(first_after, time.min, ZoneInfo("Europe/Berlin"))
        results = engine.advance(until)
        issued = [
            e
            for r in results
            for e in r["effects"]
            if e["kind"] == "invoice_issued" and e.get("period") == args.month
        ]
        unsigned = unsigned_of(engine, [e["invoice"] for e in issued])
    finally:
        engine.close()
    print(f"{len(issued)} invoices issued for {args.month} ({len(results)} accounts advanced)")
    for warning in unsigned:  # AGB 4.3.2: the operator's business, not the customer's
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def unsigned_of(engine: Engine, numbers: list[str]) -> list[str]:
    """The warnings for invoices AGB 4.3.2 wants signed that are not (none without invoices)."""
    if not numbers:
        return []
    from engine.services import signatures  # here, not at the top: see cmd_invoices_pdf

    return signatures.unsigned_invoices(engine.store, engine.catalog, numbers)


def cmd_invoices_pdf(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the document service loads the PDF, signing and
    # e-invoice libraries (fpdf2, pyHanko, factur-x), about half a second that every other
    # command, and every shell completion, would otherwise pay at startup.
    from engine.services import documents, signatures

    with Store(args.db) as store:
        try:
            # The number is looked up before the terms are loaded: an unknown invoice is
            # exit 2 whatever state the catalog is in, and costs no catalog load.
            documents.find_invoice(store, args.number)
            catalog = terms_of(args)
            document = documents.invoice_pdf(store, number=args.number, catalog=catalog)
        except documents.DocumentNotFound as refused:
            return document_refused(refused)
        unsigned = signatures.unsigned_invoices(store, catalog, [args.number])
    out = Path(args.out or document.filename)
    out.write_bytes(document.content)
    for warning in unsigned:  # AGB 4.3.2: the operator's business, not the customer's
        print(f"warning: {warning}", file=sys.stderr)
    einvoice = document.format != "pdf"
    print(f"wrote {out}" + (" (ZUGFeRD / Factur-X EN 16931)" if einvoice else ""))
    return 0


def cmd_invoices_xml(args: argparse.Namespace) -> int:
    from engine.services import documents  # here, not at the top: see cmd_invoices_pdf

    with Store(args.db) as store:
        try:
            document = documents.invoice_xml(store, args.number, args.format)
        except (documents.DocumentNotFound, documents.DocumentUnavailable) as refused:
            return document_refused(refused)
    out = Path(args.out or document.filename)
    out.write_bytes(document.content)
    print(f"wrote {out}")
    return 0
