"""Unsigned invoices the operator must hear of (AGB 4.3.2), for the CLI, the admin UI and the log.

An invoice of a customer entitled to deduct input tax is signed where a certificate is
configured (engine/documents/signing.py). Without one it goes out unsigned and does not say why
(no configuration on a customer's document): these functions tell the operator instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from engine.catalog import Catalog
from engine.documents.archive import PDF_FORMAT
from engine.ledger import document_archive
from engine.ledger.document_archive import INVOICE
from engine.ledger.store import Store

if TYPE_CHECKING:
    from engine.documents.signing import SigningKey


def unsigned_invoices(
    store: Store, catalog: Catalog, numbers: Iterable[str], key: SigningKey | None = None
) -> list[str]:
    """The warnings for those of ``numbers`` that AGB 4.3.2 wants signed and are not: as
    archived, or, not archived yet, as they will be with ``key`` (default the configured
    certificate). The log has them from when each was rendered (engine/documents/signing.py)."""
    # Imported here: signing loads pyHanko and fpdf2, which a command line start should not pay.
    from engine.documents.signing import SigningKey, unsigned_warning

    key = key if key is not None else SigningKey.from_environment()
    warnings = []
    with store.unit(commit=False) as unit:
        for number in numbers:
            invoice = unit.invoice(number)
            if invoice is None or not invoice.detail:
                continue
            archived = document_archive.archived_file(unit.connection, INVOICE, number, PDF_FORMAT)
            pdf = archived.content if archived is not None else None
            if warning := unsigned_warning(invoice, catalog, pdf, key):
                warnings.append(warning)
    return warnings
