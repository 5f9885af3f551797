"""Signed invoices for customers entitled to deduct input tax (AGB 4.3.2), with pyHanko.

The certificate is a PKCS#12 file named by ``BILLING_SIGNING_P12`` (its passphrase in
``BILLING_SIGNING_PASSPHRASE``). AGB 4.3.2 asks for a *qualified* electronic signature: that
needs a qualified certificate from a trust service provider; the platform signs with whatever
certificate is configured. Without one, such an invoice goes out unsigned, and says nothing
about it: how the platform is configured is no business of the customer's. The operator is
told instead (:func:`unsigned_warning`): in the log, by ``billing invoices run`` and
``billing invoices pdf`` on stderr, and on the admin UI's customer page.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from datetime import date

from engine.billing.einvoice_duty import FACTUR_X
from engine.catalog import Catalog
from engine.core.state import Invoice
from engine.documents.einvoice import embed_in_pdf
from engine.documents.hanko import IncrementalPdfFileWriter, signers
from engine.documents.invoice_pdf import render_invoice as render_plain_invoice

SIGNED = "Diese Rechnung ist elektronisch signiert (AGB 4.3.2)."
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningKey:
    path: str
    passphrase: bytes | None

    @classmethod
    def from_environment(cls) -> SigningKey | None:
        path = os.environ.get("BILLING_SIGNING_P12")
        if not path:
            return None
        passphrase = os.environ.get("BILLING_SIGNING_PASSPHRASE")
        return cls(path, passphrase.encode() if passphrase is not None else None)


def render_invoice(invoice: Invoice, signed_note: str | None = None) -> bytes:
    """The invoice's PDF: a ZUGFeRD / Factur-X (EN 16931) PDF/A-3 with its XML embedded where
    the invoice was issued as an e-invoice (``detail["einvoice"]``, UStG § 14), else plain."""
    pdf = render_plain_invoice(invoice, signed_note=signed_note)
    if invoice.detail.get("einvoice", {}).get("format") == FACTUR_X:
        pdf = embed_in_pdf(pdf, invoice)
    return pdf


def needs_signature(invoice: Invoice, catalog: Catalog) -> bool:
    entitled = bool(invoice.detail.get("customer", {}).get("input_tax_deduction"))
    clause = catalog.at(date.fromisoformat(invoice.issued_on)).clause("AGB 4.3.2")
    return entitled and clause["signed_for_input_tax_deduction"]


def is_signed(pdf: bytes) -> bool:
    """Whether the PDF carries a signature (its signature dictionary's /ByteRange)."""
    return b"/ByteRange" in pdf


def unsigned_warning(
    invoice: Invoice, catalog: Catalog, pdf: bytes | None = None, key: SigningKey | None = None
) -> str | None:
    """The operator's warning for an invoice AGB 4.3.2 wants signed that is not, or None.

    ``pdf``: the document as issued (archived); without it, whether it will be signed is
    whether a certificate (``key``) is configured. Never printed on the customer's document.
    """
    if not needs_signature(invoice, catalog):
        return None
    if is_signed(pdf) if pdf is not None else key is not None:
        return None
    return (
        f"invoice {invoice.number} (account {invoice.account}) is not signed, although its "
        "customer is entitled to deduct input tax (AGB 4.3.2): no signing certificate is "
        "configured (BILLING_SIGNING_P12)"
    )


def invoice_document(invoice: Invoice, catalog: Catalog, key: SigningKey | None) -> bytes:
    """The invoice's PDF, signed where AGB 4.3.2 asks for it and a certificate is configured."""
    if not needs_signature(invoice, catalog):
        return render_invoice(invoice)
    if key is None:
        log.warning("%s", unsigned_warning(invoice, catalog))
        return render_invoice(invoice)
    pdf = render_invoice(invoice, signed_note=SIGNED)
    signer = signers.SimpleSigner.load_pkcs12(key.path, passphrase=key.passphrase)
    if signer is None:
        raise ValueError(f"cannot load the signing certificate {key.path}")
    metadata = signers.PdfSignatureMetadata(
        field_name="Signatur", reason=f"Rechnung {invoice.number} (AGB 4.3.2)"
    )
    signed = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), metadata, signer=signer)
    return signed.getvalue()
