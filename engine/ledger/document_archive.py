"""Reading and writing the archive of issued documents (``document_archive``, migration 0018):
insert-only, never updated (GoBD). What is archived and when: engine/documents/archive.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from engine.ledger.tables import credit_notes, document_archive, invoices

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
_CHUNK = 500


@dataclass(frozen=True)
class ArchivedFile:
    """One format of an archived document: its bytes and SHA-256, or why it cannot be made."""

    kind: str  # INVOICE or CREDIT_NOTE
    number: str
    format: str  # pdf, or an e-invoice format (xrechnung-cii, xrechnung-ubl, factur-x)
    filename: str
    media_type: str
    document_format: str  # what the file is: pdf, factur-x-en16931 (a PDF), xrechnung-cii, ...
    content: bytes | None
    sha256: str | None
    unavailable: str | None
    archived_at: str


def files_of(connection: Connection, kind: str, number: str) -> dict[str, ArchivedFile]:
    """The archived files of one document by format; empty when it is not archived."""
    query = select(document_archive).where(
        document_archive.c.kind == kind, document_archive.c.number == number
    )
    return {row.format: _file(row) for row in connection.execute(query)}


def archived_file(connection: Connection, kind: str, number: str, fmt: str) -> ArchivedFile | None:
    """One format of an archived document; None when the document is not archived."""
    query = select(document_archive).where(
        document_archive.c.kind == kind,
        document_archive.c.number == number,
        document_archive.c.format == fmt,
    )
    row = connection.execute(query).one_or_none()
    return _file(row) if row is not None else None


def archived_numbers(connection: Connection, kind: str, numbers: Iterable[str]) -> set[str]:
    """Which of these documents are archived."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(numbers))):
        query = (
            select(document_archive.c.number)
            .where(document_archive.c.kind == kind, document_archive.c.number.in_(chunk))
            .distinct()
        )
        found.update(connection.execute(query).scalars())
    return found


def unarchived(connection: Connection, kind: str) -> list[str]:
    """The numbers of the issued documents of ``kind`` not archived yet, in number order."""
    table = invoices if kind == INVOICE else credit_notes
    archived = select(document_archive.c.number).where(document_archive.c.kind == kind)
    query = select(table.c.number).where(table.c.number.not_in(archived)).order_by(table.c.number)
    return list(connection.execute(query).scalars())


def write(connection: Connection, files: Iterable[ArchivedFile]) -> None:
    """Insert archived files (an existing row is never rewritten: the key refuses it)."""
    rows = [vars(file) for file in files]
    if rows:
        connection.execute(insert(document_archive), rows)


def every_file(connection: Connection) -> Iterator[ArchivedFile]:
    """Every archived file, document by document (for ``billing documents verify``)."""
    query = select(document_archive).order_by(
        document_archive.c.kind, document_archive.c.number, document_archive.c.format
    )
    for row in connection.execute(query.execution_options(yield_per=100)):
        yield _file(row)


def _file(row) -> ArchivedFile:
    content = row.content
    return ArchivedFile(
        kind=row.kind,
        number=row.number,
        format=row.format,
        filename=row.filename,
        media_type=row.media_type,
        document_format=row.document_format,
        content=bytes(content) if content is not None else None,
        sha256=row.sha256,
        unavailable=row.unavailable,
        archived_at=row.archived_at,
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
