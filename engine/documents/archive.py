"""Issued documents archived once (GoBD, § 14b UStG): rendered when issued, served as issued.

An invoice or a credit note is a document: what the customer received is what the platform
shows ever after. Each is rendered once, right after the transaction that issued it commits
(``Engine.handle_events`` calls :func:`archive_issued`, outside the transaction, so applying
events never waits for a PDF), in every format the platform serves: the PDF (ZUGFeRD / Factur-X
where it was issued as an e-invoice, signed where AGB 4.3.2 asks for it) and the e-invoice XML
in XRechnung CII, XRechnung UBL and Factur-X. The files are stored with their SHA-256 in
``document_archive`` (engine/ledger/document_archive.py) and the audit chain gets one
``document_archived`` entry per document holding those hashes, in the same transaction.

A document not archived yet (the process ended between the commit and the archive; a database
from before migration 0018) is archived by :func:`archive_missing` (``billing documents
archive``) or on its first request, from the invoice or credit note as stored: the engine never
changes what a document prints after issuing it (a later collection date goes to
``detail["direct_debit"]``, not to the pre-notification the invoice printed). Rendering is
deterministic (PDF dates are the issue date, the file id derives from the content), so a
document archived again, in a replay into a fresh database, has the same bytes; a signed PDF
differs by its signature time and file id.

The one wall-clock reading is :func:`archive_instant`: the instant recorded with the files and
their audit entry; a signed PDF is signed at that moment (pyHanko reads the clock itself).

Archiving a document also queues its e-mail to the customer, once, in the same transaction
(engine/documents/document_mail.py, docs/mail.md): a document archived late is still mailed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection

from engine.catalog import Catalog
from engine.core.state import CreditNote, Invoice
from engine.documents import invoice_filename
from engine.documents.document_mail import queue_document_mails
from engine.ledger import audit, credit_note_store
from engine.ledger import document_archive as table
from engine.ledger.document_archive import CREDIT_NOTE, INVOICE, ArchivedFile
from engine.ledger.store import Store

ACTION = "document_archived"
ACTOR = "billing (document archive)"
PDF = "application/pdf"
XML = "application/xml"
PDF_FORMAT = "pdf"
_CHUNK = 50  # documents rendered, then written in one transaction

log = logging.getLogger(__name__)


def archive_instant() -> datetime:
    """Now: when documents are archived. The archive's one wall-clock reading (an edge, as the
    API's platform clock is): it dates the archived files and their audit entries, never a
    computation of the contract."""
    return datetime.now(UTC)


@dataclass
class ArchiveReport:
    """What one archiving did: the numbers archived now, by kind, and what could not be."""

    archived: dict[str, list[str]] = field(default_factory=lambda: {INVOICE: [], CREDIT_NOTE: []})
    failed: dict[tuple[str, str], str] = field(default_factory=dict)


def render_invoice_files(invoice: Invoice, catalog: Catalog, key, at: str) -> list[ArchivedFile]:
    """Every format of an invoice as it is archived; ``key`` signs where AGB 4.3.2 asks."""
    # Imported here: the renderers load fpdf2, pyHanko and factur-x, which the engine's
    # callers (every command line start) should not pay for unless they archive.
    from engine.documents import einvoice
    from engine.documents.signing import invoice_document

    number = invoice.number
    kind = invoice.detail.get("einvoice", {}).get("format", PDF_FORMAT)
    with einvoice.built_once():  # the same CII for the PDF and the files, built once
        pdf = invoice_document(invoice, catalog, key)
        files = [_file(INVOICE, number, PDF_FORMAT, invoice_filename(number), PDF, kind, pdf, at)]
        for fmt in einvoice.FORMATS:
            name = einvoice.filename(number, fmt)
            files.append(
                _einvoice_file(INVOICE, number, fmt, name, at, einvoice.build_einvoice, invoice)
            )
    return files


def render_credit_note_files(note: CreditNote, at: str) -> list[ArchivedFile]:
    """Every format of a credit note as it is archived."""
    from engine.documents import credit_note_einvoice, einvoice
    from engine.documents.credit_note_pdf import render_credit_note

    number = note.number
    with einvoice.built_once():  # the PDF's Factur-X and the Factur-X file, built once
        pdf = render_credit_note(note)
        name = f"Gutschrift-{number}.pdf"
        files = [_file(CREDIT_NOTE, number, PDF_FORMAT, name, PDF, PDF_FORMAT, pdf, at)]
        build = credit_note_einvoice.build_credit_note_einvoice
        for fmt in einvoice.FORMATS:
            name = credit_note_einvoice.filename(number, fmt)
            files.append(_einvoice_file(CREDIT_NOTE, number, fmt, name, at, build, note))
    return files


def _einvoice_file(kind, number, fmt, filename, at, build, document) -> ArchivedFile:
    """The document's e-invoice in ``fmt`` as archived, or why it cannot have one."""
    from engine.documents.einvoice import EInvoiceUnavailable

    try:
        content = build(document, fmt)
    except EInvoiceUnavailable as exc:
        return _refused(kind, number, fmt, filename, str(exc), at)
    return _file(kind, number, fmt, filename, XML, fmt, content, at)


def archive(
    store: Store,
    catalog: Catalog | None,
    *,
    invoices: Iterable[str] = (),
    credit_notes: Iterable[str] = (),
    key=None,
    actor: str = ACTOR,
    raise_errors: bool = False,
) -> ArchiveReport:
    """Archive each of these issued documents that is not archived yet, in chunks: rendered
    outside any transaction, then its files and its audit entry written in one. A document
    another process archived meanwhile is kept as that one archived it.

    ``catalog`` says which invoices AGB 4.3.2 has signed (credit notes need none); ``key`` (a
    :class:`~engine.documents.signing.SigningKey`) signs them, default the configured
    certificate. A document that cannot be rendered is
    reported in :attr:`ArchiveReport.failed` (with ``raise_errors``, its error is raised).
    """
    from engine.documents.signing import SigningKey

    signing_key = key if key is not None else SigningKey.from_environment()
    wanted = [(INVOICE, n) for n in invoices] + [(CREDIT_NOTE, n) for n in credit_notes]
    if catalog is None and any(kind == INVOICE for kind, _ in wanted):
        raise ValueError("archiving invoices needs the terms catalog (AGB 4.3.2)")
    report = ArchiveReport()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        _archive_chunk(store, catalog, chunk, signing_key, actor, raise_errors, report)
    return report


def _archive_chunk(store, catalog, chunk, key, actor, raise_errors, report) -> None:
    with store.unit(commit=False) as unit:
        found = _unarchived_documents(unit, chunk)
    if not found:
        return
    at = archive_instant().isoformat(timespec="seconds")
    rendered: list[tuple[str, str, list[ArchivedFile]]] = []
    for kind, document in found:
        try:
            if kind == INVOICE:
                files = render_invoice_files(document, catalog, key, at)
            else:
                files = render_credit_note_files(document, at)
        except Exception as exc:
            if raise_errors:
                raise
            report.failed[(kind, document.number)] = f"{type(exc).__name__}: {exc}"
            continue
        rendered.append((kind, document.number, files))
    if not rendered:
        return
    with store.unit() as unit:
        connection = unit.connection
        audit.lock_chain(connection)  # and, on SQLite, the write lock: one archiver at a time
        rendered = _still_unarchived(connection, rendered)
        table.write(connection, [f for _, _, files in rendered for f in files])
        # The customer's e-mail of each document, queued once with its archiving (docs/mail.md)
        issued = {(kind, document.number): document for kind, document in found}
        queue_document_mails(
            connection, [(k, issued[(k, n)], files) for k, n, files in rendered], at
        )
        audit.record_many(
            connection,
            actor,
            ACTION,
            at=datetime.fromisoformat(at),
            details=[_audit_detail(kind, number, files) for kind, number, files in rendered],
        )
    for kind, number, _ in rendered:
        report.archived[kind].append(number)


def _unarchived_documents(unit, chunk) -> list[tuple[str, Invoice | CreditNote]]:
    """The invoices and credit notes of ``chunk`` that exist and are not archived yet."""
    connection = unit.connection
    done = {
        kind: table.archived_numbers(connection, kind, [n for k, n in chunk if k == kind])
        for kind in (INVOICE, CREDIT_NOTE)
    }
    found: list[tuple[str, Invoice | CreditNote]] = []
    for kind, number in chunk:
        if number in done[kind]:
            continue
        if kind == INVOICE:
            invoice = unit.invoice(number)
            if invoice is not None and invoice.detail:  # an invoice without detail prints nothing
                found.append((kind, invoice))
        else:
            note = credit_note_store.credit_note(connection, number)
            if note is not None:
                found.append((kind, note))
        done[kind].add(number)  # a number twice in one call is archived once
    return found


def _still_unarchived(connection: Connection, rendered: list) -> list:
    done = {
        kind: table.archived_numbers(connection, kind, [n for k, n, _ in rendered if k == kind])
        for kind in (INVOICE, CREDIT_NOTE)
    }
    return [item for item in rendered if item[1] not in done[item[0]]]


def _audit_detail(kind: str, number: str, files: list[ArchivedFile]) -> dict:
    detail: dict = {
        "kind": kind,
        "number": number,
        "sha256": {f.format: f.sha256 for f in files if f.sha256 is not None},
    }
    refused = {f.format: f.unavailable for f in files if f.unavailable is not None}
    if refused:
        detail["unavailable"] = refused
    return detail


def archive_issued(
    store: Store, catalog: Catalog, invoices: Iterable[str], credit_notes: Iterable[str]
) -> None:
    """The engine's step after a commit that issued documents: archive them now. A failure is
    logged, never raised: the events are committed, and the document is archived by
    ``billing documents archive`` or on its first request."""
    invoices, credit_notes = list(invoices), list(credit_notes)
    if not invoices and not credit_notes:
        return
    try:
        report = archive(store, catalog, invoices=invoices, credit_notes=credit_notes)
    except Exception:
        log.exception("issued documents not archived (billing documents archive does it)")
        return
    for (kind, number), error in report.failed.items():
        log.error("%s %s not archived: %s (billing documents archive)", kind, number, error)


def archive_missing(store: Store, catalog: Catalog, *, key=None, actor: str = ACTOR):
    """Archive every issued document not archived yet (``billing documents archive``: after
    the upgrade to migration 0018, and after a crash between issuing and archiving)."""
    with store.unit(commit=False) as unit:
        invoices = table.unarchived(unit.connection, INVOICE)
        credit_notes = table.unarchived(unit.connection, CREDIT_NOTE)
    return archive(
        store, catalog, invoices=invoices, credit_notes=credit_notes, key=key, actor=actor
    )


def verify(connection: Connection) -> Iterator[str]:
    """Every archived file whose bytes do not match its SHA-256 or the hash its audit entry
    holds, and every archived document without an audit entry, as a sentence."""
    recorded: dict[tuple[str, str], dict] = {}
    for detail in audit.details_of(connection, ACTION):
        recorded[(detail.get("kind"), detail.get("number"))] = detail.get("sha256") or {}
    seen: set[tuple[str, str]] = set()
    for file in table.every_file(connection):
        seen.add((file.kind, file.number))
        name = f"{file.kind.replace('_', ' ')} {file.number} ({file.format})"
        hashes = recorded.get((file.kind, file.number))
        if hashes is None:
            yield f"{name}: no audit entry holds its hash"
            continue
        if file.content is None:
            if file.format in hashes:
                yield f"{name}: its content is missing, but the audit entry holds a hash"
            continue
        digest = hashlib.sha256(file.content).hexdigest()
        if digest != file.sha256:
            yield f"{name}: its bytes do not match the SHA-256 stored with them (changed)"
        elif hashes.get(file.format) != digest:
            yield f"{name}: its SHA-256 is not the one its audit entry holds (changed)"
    for kind, number in sorted(recorded.keys() - seen, key=str):
        yield f"{kind} {number}: its audit entry says archived, but its files are gone"


def _file(kind, number, fmt, filename, media_type, document_format, content, at) -> ArchivedFile:
    return ArchivedFile(
        kind=kind,
        number=number,
        format=fmt,
        filename=filename,
        media_type=media_type,
        document_format=document_format,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        unavailable=None,
        archived_at=at,
    )


def _refused(kind, number, fmt, filename, reason, at) -> ArchivedFile:
    return ArchivedFile(
        kind=kind,
        number=number,
        format=fmt,
        filename=filename,
        media_type=XML,
        document_format=fmt,
        content=None,
        sha256=None,
        unavailable=reason,
        archived_at=at,
    )
