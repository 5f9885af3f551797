"""The e-mail that carries an issued invoice or credit note (AGB 2.3, 4.3.1; UStG § 14).

Queued once per document, in the transaction that archives it (engine/documents/archive.py),
to the customer's e-mail address on file (AGB 2.3); without one it is ``no_address`` and stays
visible in the outbox. The German text repeats what the document prints (amount, payable by,
the SEPA pre-notification, the hint of AGB 4.5.3 on objections); the attachment is one
archived file of the document, the bytes the customer received ever after (GoBD):

- ``xrechnung-cii`` / ``xrechnung-ubl``: a business customer who chose XRechnung
  (``customer.einvoice_format``), or a public-sector buyer with a Leitweg-ID, who receives
  XRechnung (E-Rechnungsverordnung; CII unless UBL was chosen);
- ``pdf`` otherwise: the ZUGFeRD / Factur-X PDF where the document was issued as an e-invoice
  (its format decision, engine/billing/einvoice_duty.py), the plain PDF for consumers.

An XML the archive could not make (its file records why) falls back to the PDF. docs/mail.md
says the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy import Connection, insert, select

from engine.billing.einvoice_duty import FACTUR_X
from engine.core.state import CreditNote, Invoice
from engine.documents.german import euro_amount, long_date, numeric_date
from engine.ledger.document_archive import CREDIT_NOTE, INVOICE, ArchivedFile
from engine.ledger.tables import accounts, outbox

PDF = "pdf"
XRECHNUNG_CII = "xrechnung-cii"
XRECHNUNG_UBL = "xrechnung-ubl"
XML_CHOICES = (XRECHNUNG_CII, XRECHNUNG_UBL)
QUEUED, NO_ADDRESS, FAILED = "queued", "no_address", "failed"
_NOUN = {INVOICE: "Rechnung", CREDIT_NOTE: "Gutschrift"}
_XML_NAMES = {XRECHNUNG_CII: "UN/CEFACT CII", XRECHNUNG_UBL: "UBL"}


def attachment_for(customer_type: str, customer: Mapping, files: Mapping[str, ArchivedFile]) -> str:
    """Which archived file the e-mail carries (UStG § 14; the module's text says when)."""
    if customer_type == "business":
        choice = customer.get("einvoice_format")
        wanted = choice if choice in XML_CHOICES else None
        if wanted is None and customer.get("leitweg_id"):
            wanted = XRECHNUNG_CII  # a public-sector buyer receives XRechnung
        found = files.get(wanted) if wanted else None
        if found is not None and found.content is not None:
            return wanted
    return PDF


def attachment_text(kind: str, attachment: str, einvoice_format: str | None) -> str:
    """The sentence naming what is attached and why."""
    noun = _NOUN[kind]
    if attachment in XML_CHOICES:
        return (
            f"Die {noun} liegt als elektronische Rechnung im Format XRechnung "
            f"({_XML_NAMES[attachment]}) bei (UStG § 14)."
        )
    if einvoice_format == FACTUR_X:
        return (
            f"Die {noun} liegt als PDF-Datei im Format ZUGFeRD / Factur-X bei: eine "
            "elektronische Rechnung (UStG § 14), deren Daten in die PDF-Datei eingebettet sind."
        )
    return f"Die {noun} liegt als PDF-Datei bei (AGB 4.3.1)."


def invoice_mail(invoice: Invoice, name: str | None, attachment: str) -> tuple[str, str]:
    """Subject and body of an invoice's e-mail, in German, from what the invoice prints."""
    # Imported here: the PDF module loads fpdf2, which only archiving (this caller) needs.
    from engine.documents.invoice_pdf import payable_line, prenotification_text

    detail = invoice.detail
    issued = long_date(date.fromisoformat(invoice.issued_on))
    subject = f"Ihre Rechnung {invoice.number} vom {issued}"
    opening = f"anbei erhalten Sie Ihre Rechnung {invoice.number} vom {issued}"
    if detail.get("period_start") and detail.get("period_end"):
        opening += (
            f" für den Leistungszeitraum {numeric_date(detail['period_start'])} bis "
            f"{numeric_date(detail['period_end'])}"
        )
    lines = [f"Rechnungsbetrag: {euro_amount(detail['gross'])}"]
    label, amount = payable_line(detail)
    lines.append(f"{label}: {euro_amount(amount)}" if amount is not None else f"{label}.")
    paragraphs = [f"{opening}.", "\n".join(lines)]
    prenotification = prenotification_text(detail)
    if prenotification:
        paragraphs.append(prenotification)
    paragraphs += [p for p in (detail.get("hint"), detail.get("default_hint")) if p]
    paragraphs.append(
        attachment_text(INVOICE, attachment, _format(detail))
        + " Den Einzelverbindungsnachweis enthält sie nicht; Sie können ihn separat abrufen "
        "(AGB 4.3.3)."
    )
    return subject, _letter(name, invoice.account, paragraphs, detail)


def credit_note_mail(note: CreditNote, name: str | None, attachment: str) -> tuple[str, str]:
    """Subject and body of a credit note's e-mail, in German, from what the credit note prints."""
    from engine.documents.credit_note_einvoice import payment_text, title

    detail = note.detail
    issued = long_date(date.fromisoformat(note.issued_on))
    subject = f"Ihre Gutschrift {note.number} vom {issued}"
    paragraphs = [
        f"anbei erhalten Sie Ihre Gutschrift {note.number} vom {issued}: {title(note)}.",
        f"Gutschriftbetrag: {euro_amount(detail['gross'])}\n{payment_text(note)[1]}",
        attachment_text(CREDIT_NOTE, attachment, _format(detail)),
    ]
    return subject, _letter(name, note.account, paragraphs, detail)


def queue_document_mails(
    connection: Connection,
    documents: Iterable[tuple[str, Invoice | CreditNote, list[ArchivedFile]]],
    at: str,
) -> int:
    """Queue the e-mail of each newly archived document, in the archiving transaction; a
    document with a row already (queued, sent or ``skipped`` by migration 0021) is left as it
    is: one document, one e-mail. Returns how many were added."""
    wanted = list(documents)
    if not wanted:
        return 0
    existing = {
        (row.kind, row.document)
        for row in connection.execute(
            select(outbox.c.kind, outbox.c.document).where(
                outbox.c.document.in_([document.number for _, document, _ in wanted])
            )
        )
    }
    owners = _accounts(connection, {document.account for _, document, _ in wanted})
    rows = []
    for kind, document, files in wanted:
        if (kind, document.number) in existing or document.account not in owners:
            continue
        existing.add((kind, document.number))
        customer_type, customer = owners[document.account]
        recipient = customer.get("email")  # the address on file (AGB 2.3)
        row = {
            "publication": None,
            "account": document.account,
            "channel": "email",
            "recipient": recipient,
            "status": QUEUED if recipient else NO_ADDRESS,
            "created_at": at,
            "kind": kind,
            "document": document.number,
            "attempts": 0,
        }
        try:
            row |= _composed(kind, document, customer_type, customer, files)
        except Exception as exc:  # never costs the archive: the message shows why, unsent
            row |= {"subject": f"{_NOUN[kind]} {document.number}", "body": "", "status": FAILED}
            row["error"] = f"e-mail not composed: {type(exc).__name__}: {exc}"
        rows.append(row)
    if rows:
        connection.execute(insert(outbox), rows)
    return len(rows)


def _composed(kind: str, document, customer_type: str, customer: dict, files) -> dict:
    attachment = attachment_for(customer_type, customer, {f.format: f for f in files})
    name = customer.get("name") or (document.detail.get("customer") or {}).get("name")
    if kind == INVOICE:
        subject, body = invoice_mail(document, name, attachment)
    else:
        subject, body = credit_note_mail(document, name, attachment)
    return {"subject": subject, "body": body, "attachment": attachment}


def _accounts(connection: Connection, ids: set[str]) -> dict[str, tuple[str, dict]]:
    query = select(accounts.c.id, accounts.c.customer_type, accounts.c.customer).where(
        accounts.c.id.in_(sorted(ids))
    )
    return {
        row.id: (row.customer_type, json.loads(row.customer or "{}"))
        for row in connection.execute(query)
    }


def _format(detail: dict) -> str | None:
    return (detail.get("einvoice") or {}).get("format")


def _letter(name: str | None, account: str, paragraphs: list[str], detail: dict) -> str:
    # Headed as the notices are (engine/contract/notices.py): name, customer number, salutation.
    head = f"{name}\n\nKundennummer: {account}" if name else f"Kundennummer: {account}"
    greeting = f"{head}\n\nSehr geehrte Kundin, sehr geehrter Kunde,"
    provider = (detail.get("provider") or {}).get("name", "")
    closing = "Mit freundlichen Grüßen" + (f"\n{provider}" if provider else "")
    return "\n\n".join([greeting, *paragraphs, closing]) + "\n"
