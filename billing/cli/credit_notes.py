"""``billing credit-notes list|pdf|xml``: the credit notes as issued (Platform: credit-notes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from billing.cli.common import document_refused
from engine.core.money import format_amount, from_cents
from engine.documents.einvoice import FORMATS, XRECHNUNG_CII
from engine.ledger import credit_note_store
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``credit-notes`` subcommands, added to the ``billing`` parser."""
    parser = commands.add_parser("credit-notes", help="credit notes (Rechnungskorrekturen)")
    sub = parser.add_subparsers(dest="credit_notes_command", required=True)
    listing = sub.add_parser("list", help="every credit note, or one account's")
    listing.add_argument("--account", help="only this account's")
    listing.add_argument("--db", help="database URL")
    listing.set_defaults(handler=cmd_list)
    pdf = sub.add_parser("pdf", help="write one credit note as PDF (Factur-X where applicable)")
    pdf.add_argument("number")
    pdf.add_argument("--out", help="file to write (default: Gutschrift-NUMBER.pdf)")
    pdf.add_argument("--db", help="database URL")
    pdf.set_defaults(handler=cmd_pdf)
    xml = sub.add_parser("xml", help="write one credit note as an e-invoice (EN 16931, type 381)")
    xml.add_argument("number")
    xml.add_argument(
        "--format",
        default=XRECHNUNG_CII,
        choices=list(FORMATS),
        help="xrechnung-cii (default), xrechnung-ubl (UBL 2.1 CreditNote) or factur-x",
    )
    xml.add_argument("--out", help="file to write (default: Gutschrift-NUMBER.xrechnung.xml)")
    xml.add_argument("--db", help="database URL")
    xml.set_defaults(handler=cmd_xml)


def cmd_list(args: argparse.Namespace) -> int:
    with Store(args.db) as store, store.unit(commit=False) as unit:
        notes = credit_note_store.credit_notes_of(unit.connection, args.account)
    for note in notes:
        print(
            f"{note.number}  {note.issued_on}  {note.account:<20} "
            f"{format_amount(from_cents(note.amount_cents)):>10} EUR  {note.clause:<10} "
            f"{note.reason:<18} {note.invoice or '-'}"
        )
    print(f"{len(notes)} credit notes", file=sys.stderr)
    return 0


def cmd_xml(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the document service loads the PDF, signing and
    # e-invoice libraries (fpdf2, pyHanko, factur-x), about half a second that every other
    # command, and every shell completion, would otherwise pay at startup.
    from engine.services import documents

    with Store(args.db) as store:
        try:
            document = documents.credit_note_xml(store, args.number, args.format)
        except (documents.DocumentNotFound, documents.DocumentUnavailable) as refused:
            return document_refused(refused)
    out = Path(args.out or document.filename)
    out.write_bytes(document.content)
    print(f"wrote {out}")
    return 0


def cmd_pdf(args: argparse.Namespace) -> int:
    from engine.services import documents  # here, not at the top: see cmd_xml

    with Store(args.db) as store:
        try:
            document = documents.credit_note_pdf(store, args.number)
        except documents.DocumentNotFound as refused:
            return document_refused(refused)
    out = Path(args.out or document.filename)
    out.write_bytes(document.content)
    print(f"wrote {out}")
    return 0
