"""Issued documents as every face serves them: find one, render it, or say why not.

The HTTP API, the admin UI and the command line call these functions and nothing below them
(as Lago's ``Invoices::GeneratePdfService`` serves its API, admin and jobs). Each face maps
:class:`DocumentNotFound` and :class:`DocumentUnavailable` to its own answer: 404 or 409 JSON,
the admin UI's error page, an exit status. Invoices are AGB 4.3 (signed where AGB 4.3.2 asks
for it), credit notes Platform: credit-notes; e-invoices are EN 16931 (UStG § 14).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.catalog import Catalog
from engine.core.state import CreditNote, Invoice
from engine.documents import credit_note_einvoice, einvoice, invoice_filename
from engine.documents.credit_note_pdf import render_credit_note
from engine.documents.signing import SigningKey, invoice_document
from engine.ledger import credit_note_store
from engine.ledger.store import Store

PDF = "application/pdf"
XML = "application/xml"
E_INVOICE_FORMATS = einvoice.FORMATS
DEFAULT_E_INVOICE_FORMAT = einvoice.XRECHNUNG_CII
# The forms numbers are issued in: anything else cannot exist (no database query for it).
INVOICE_NUMBER = re.compile(r"[0-9]{4}-[0-9]{6,12}")
CREDIT_NOTE_NUMBER = re.compile(r"[A-Z]{1,8}-[0-9]{4}-[0-9]{6,12}")


@dataclass(frozen=True)
class Document:
    """A document's bytes as issued, the file name it is saved as, and its media type."""

    content: bytes
    filename: str
    media_type: str
    format: str = "pdf"  # or the e-invoice format: zugferd (a PDF with XML), xrechnung-cii, …


class DocumentNotFound(LookupError):
    """No ``kind`` (``invoice``, ``credit note``) of this number was issued."""

    def __init__(self, kind: str, number: str):
        super().__init__(f"there is no {kind} {number!r}")
        self.kind, self.number = kind, number


class DocumentUnavailable(Exception):
    """The document exists but not in the form asked for; ``reason`` says why."""

    def __init__(self, kind: str, number: str, reason: str):
        super().__init__(f"no e-invoice for {kind} {number}: {reason}")
        self.kind, self.number, self.reason = kind, number, reason


def find_invoice(store: Store, number: str) -> Invoice:
    """The issued invoice of this number."""
    if INVOICE_NUMBER.fullmatch(number):
        with store.unit(commit=False) as unit:
            invoice = unit.invoice(number)
        if invoice is not None and invoice.detail:
            return invoice
    raise DocumentNotFound("invoice", number)


def find_credit_note(store: Store, number: str) -> CreditNote:
    """The issued credit note of this number."""
    if CREDIT_NOTE_NUMBER.fullmatch(number):
        with store.unit(commit=False) as unit:
            note = credit_note_store.credit_note(unit.connection, number)
        if note is not None:
            return note
    raise DocumentNotFound("credit note", number)


def invoice_pdf(
    store: Store, number: str, catalog: Catalog, key: SigningKey | None = None
) -> Document:
    """The invoice's PDF (ZUGFeRD where it was issued as an e-invoice), signed with ``key``
    where AGB 4.3.2 asks for it; ``key`` defaults to the configured certificate."""
    invoice = find_invoice(store, number)
    signing_key = key if key is not None else SigningKey.from_environment()
    content = invoice_document(invoice, catalog, signing_key)
    kind = invoice.detail.get("einvoice", {}).get("format", "pdf")
    return Document(content, invoice_filename(invoice.number), PDF, kind)


def invoice_xml(store: Store, number: str, fmt: str = DEFAULT_E_INVOICE_FORMAT) -> Document:
    """The invoice as an EN 16931 e-invoice in ``fmt`` (one of :data:`E_INVOICE_FORMATS`)."""
    invoice = find_invoice(store, number)
    try:
        content = einvoice.build_einvoice(invoice, fmt)
    except einvoice.EInvoiceUnavailable as exc:
        raise DocumentUnavailable("invoice", number, str(exc)) from None
    return Document(content, einvoice.filename(number, fmt), XML, fmt)


def credit_note_pdf(store: Store, number: str) -> Document:
    """The credit note's PDF (Factur-X where its customer gets e-invoices)."""
    note = find_credit_note(store, number)
    return Document(render_credit_note(note), f"Gutschrift-{note.number}.pdf", PDF)


def credit_note_xml(store: Store, number: str, fmt: str = DEFAULT_E_INVOICE_FORMAT) -> Document:
    """The credit note as an EN 16931 e-invoice (type 381) in ``fmt``."""
    note = find_credit_note(store, number)
    try:
        content = credit_note_einvoice.build_credit_note_einvoice(note, fmt)
    except einvoice.EInvoiceUnavailable as exc:
        raise DocumentUnavailable("credit note", number, str(exc)) from None
    return Document(content, credit_note_einvoice.filename(number, fmt), XML, fmt)
