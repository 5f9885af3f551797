"""``billing credit-notes list|pdf|xml``: the credit notes as issued (Platform: credit-notes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.core.money import format_amount, from_cents
from engine.documents.einvoice import FORMATS, XRECHNUNG_CII


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


def _stored(args: argparse.Namespace):
    from engine.ledger import credit_note_store
    from engine.ledger.store import Store

    with Store(args.db) as store, store.unit(commit=False) as unit:
        note = credit_note_store.credit_note(unit.connection, args.number)
    if note is None:
        print(f"error: no credit note {args.number!r}", file=sys.stderr)
    return note


def cmd_list(args: argparse.Namespace) -> int:
    from engine.ledger import credit_note_store
    from engine.ledger.store import Store

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
    from engine.documents.credit_note_einvoice import build_credit_note_einvoice, filename
    from engine.documents.einvoice import EInvoiceUnavailable

    note = _stored(args)
    if note is None:
        return 2
    try:
        document = build_credit_note_einvoice(note, args.format)
    except EInvoiceUnavailable as exc:
        print(f"error: no e-invoice for credit note {note.number}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out or filename(note.number, args.format))
    out.write_bytes(document)
    print(f"wrote {out}")
    return 0


def cmd_pdf(args: argparse.Namespace) -> int:
    from engine.documents.credit_note_pdf import render_credit_note

    note = _stored(args)
    if note is None:
        return 2
    out = Path(args.out or f"Gutschrift-{note.number}.pdf")
    out.write_bytes(render_credit_note(note))
    print(f"wrote {out}")
    return 0
