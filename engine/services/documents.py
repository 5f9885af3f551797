"""Issued documents as every face serves them: find one, serve it as archived, or say why not.

The HTTP API, the admin UI and the command line call these functions and nothing below them
(as Lago's ``Invoices::GeneratePdfService`` serves its API, admin and jobs). Each face maps
:class:`DocumentNotFound` and :class:`DocumentUnavailable` to its own answer: 404 or 409 JSON,
the admin UI's error page, an exit status. Invoices are AGB 4.3 (signed where AGB 4.3.2 asks
for it), credit notes Platform: credit-notes; e-invoices are EN 16931 (UStG § 14).

Every document is served from the archive of issued documents (engine/documents/archive.py,
GoBD, § 14b UStG): the bytes rendered once when it was issued, never rendered again. One not
archived yet is archived on this first request, from the invoice or credit note as stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.catalog import Catalog
from engine.contract.publications import terms_catalog
from engine.core.state import CreditNote, Invoice
from engine.documents import archive, einvoice
from engine.ledger import credit_note_store, document_archive
from engine.ledger.document_archive import CREDIT_NOTE, INVOICE, ArchivedFile
from engine.ledger.store import Store

if TYPE_CHECKING:
    from engine.documents.signing import SigningKey

PDF = archive.PDF
XML = archive.XML
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
    """The invoice's PDF as issued (ZUGFeRD where it was issued as an e-invoice, signed where
    AGB 4.3.2 asks for it). ``key`` overrides the configured certificate (``BILLING_SIGNING_P12``)
    for an invoice this call archives; an archived invoice is served as archived."""
    return _served(store, INVOICE, number, archive.PDF_FORMAT, catalog, key)


def invoice_xml(
    store: Store,
    number: str,
    fmt: str = DEFAULT_E_INVOICE_FORMAT,
    catalog: Catalog | None = None,
) -> Document:
    """The invoice as an EN 16931 e-invoice in ``fmt`` (one of :data:`E_INVOICE_FORMATS`), as
    issued. ``catalog``: the terms (AGB 4.3.2) for archiving an invoice not archived yet;
    default the project's catalog with the database's publications."""
    return _served(store, INVOICE, number, _e_invoice_format(fmt), catalog)


def credit_note_pdf(store: Store, number: str) -> Document:
    """The credit note's PDF as issued (Factur-X where its customer gets e-invoices)."""
    return _served(store, CREDIT_NOTE, number, archive.PDF_FORMAT)


def credit_note_xml(store: Store, number: str, fmt: str = DEFAULT_E_INVOICE_FORMAT) -> Document:
    """The credit note as an EN 16931 e-invoice (type 381) in ``fmt``, as issued."""
    return _served(store, CREDIT_NOTE, number, _e_invoice_format(fmt))


def _e_invoice_format(fmt: str) -> str:
    if fmt not in E_INVOICE_FORMATS:
        raise ValueError(f"unknown e-invoice format {fmt!r}; one of {', '.join(E_INVOICE_FORMATS)}")
    return fmt


_LABELS = {INVOICE: "invoice", CREDIT_NOTE: "credit note"}


def _served(
    store: Store,
    kind: str,
    number: str,
    fmt: str,
    catalog: Catalog | None = None,
    key: SigningKey | None = None,
) -> Document:
    """One format of an issued document from the archive, archiving it first if need be."""
    label = _LABELS[kind]
    pattern = INVOICE_NUMBER if kind == INVOICE else CREDIT_NOTE_NUMBER
    if not pattern.fullmatch(number):
        raise DocumentNotFound(label, number)
    file = _archived(store, kind, number, fmt)
    if file is None:
        if kind == INVOICE:
            find_invoice(store, number)
            terms = catalog if catalog is not None else _terms(store)
            archive.archive(store, terms, invoices=[number], key=key, raise_errors=True)
        else:
            find_credit_note(store, number)
            archive.archive(store, None, credit_notes=[number], raise_errors=True)
        file = _archived(store, kind, number, fmt)
    if file is None:  # archived before this format was served
        raise DocumentUnavailable(label, number, f"it was archived without the {fmt} format")
    if file.content is None:
        raise DocumentUnavailable(label, number, file.unavailable or "not available")
    return Document(file.content, file.filename, file.media_type, file.document_format)


def _archived(store: Store, kind: str, number: str, fmt: str) -> ArchivedFile | None:
    with store.unit(commit=False) as unit:
        return document_archive.archived_file(unit.connection, kind, number, fmt)


def _terms(store: Store) -> Catalog:
    """The terms every reader sees (the files and the database's publications)."""
    with store.db.connect() as connection:
        return terms_catalog(connection)
