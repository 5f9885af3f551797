"""Invoice and credit-note downloads: JSON, PDF and EN 16931 e-invoice XML, all read-only
(``accounts:read``) and all served by :mod:`engine.services.documents`, as archived when
issued (docs/documents.md).

A token bound to accounts gets a document of another account answered as one never issued
(404, the same message): :func:`authorise_document` looks the document's account up first.
"""

from __future__ import annotations

from flask import g, request

from api.common import ApiError, authorise, hide_unless_readable
from engine.core.money import format_amount, from_cents
from engine.services import documents
from web.http import document_response, get_engine, json_response


def invoice_json(number: str):
    authorise("accounts:read")
    invoice = served(documents.find_invoice, number)
    hide_unless_readable(invoice.account, f"There is no invoice {number!r}.")
    return json_response(describe_invoice(invoice))


def invoice_pdf(number: str):
    authorise_document(documents.find_invoice, "invoice", number)
    return document_response(served(documents.invoice_pdf, number, get_engine().catalog))


def invoice_xml(number: str):
    authorise_document(documents.find_invoice, "invoice", number)
    fmt = e_invoice_format()
    return document_response(served(documents.invoice_xml, number, fmt, get_engine().catalog))


def credit_note_json_route(number: str):
    authorise("accounts:read")
    note = served(documents.find_credit_note, number)
    hide_unless_readable(note.account, f"There is no credit note {number!r}.")
    return json_response(describe_credit_note(note))


def credit_note_pdf(number: str):
    authorise_document(documents.find_credit_note, "credit note", number)
    return document_response(served(documents.credit_note_pdf, number))


def credit_note_xml(number: str):
    authorise_document(documents.find_credit_note, "credit note", number)
    fmt = e_invoice_format()
    return document_response(served(documents.credit_note_xml, number, fmt))


def authorise_document(find, kind: str, number: str) -> None:
    """``accounts:read`` of the ``kind`` of document ``find`` finds: for a token bound to
    accounts, 404 (as for a document never issued) unless it belongs to one of them. An unbound
    token reads every document, without this extra lookup."""
    authorise("accounts:read")
    if g.token.accounts is None:
        return
    found = served(find, number)
    hide_unless_readable(found.account, f"There is no {kind} {number!r}.")


def e_invoice_format() -> str:
    """The ``format`` query parameter of an e-invoice download (default XRechnung CII)."""
    fmt = request.args.get("format", documents.DEFAULT_E_INVOICE_FORMAT)
    if fmt not in documents.E_INVOICE_FORMATS:
        raise ApiError(
            400, f"format must be one of {', '.join(documents.E_INVOICE_FORMATS)}.", "format"
        )
    return fmt


def served(service, number: str, *args):
    """What a document service returns for ``number`` from this process's database; 404 for a
    document never issued, 409 for one not available in the form asked for."""
    try:
        return service(get_engine().store, number, *args)
    except documents.DocumentNotFound as missing:
        raise ApiError(404, f"There is no {missing.kind} {number!r}.") from None
    except documents.DocumentUnavailable as refused:
        raise ApiError(
            409, f"No e-invoice for {refused.kind} {number}: {refused.reason}."
        ) from None


def describe_invoice(invoice) -> dict:
    """An invoice as the API shows it (schema ``Invoice``): amounts as decimal strings."""
    return {
        "number": invoice.number,
        "account": invoice.account,
        "kind": invoice.kind,
        "period": invoice.period,
        "issued_on": invoice.issued_on,
        "due_on": invoice.due_on,
        "amount": format_amount(from_cents(invoice.amount_cents)),
        "open": format_amount(from_cents(invoice.open_cents)),
        "status": invoice.status,
        "approved": invoice.approved,
        "objection": invoice.objection,
        "traffic_data_deleted_on": invoice.traffic_data_deleted_on,
        "clause": invoice.clause,
        "terms_version": invoice.terms_version,
        "detail": invoice.detail,
    }


def describe_credit_note(note) -> dict:
    """A credit note as the API shows it (schema ``CreditNote``)."""
    return {
        "number": note.number,
        "account": note.account,
        "issued_on": note.issued_on,
        "amount": format_amount(from_cents(note.amount_cents)),
        "reason": note.reason,
        "invoice": note.invoice,
        "invoice_issued_on": note.invoice_issued_on,
        "clause": note.clause,
        "terms_version": note.terms_version,
        "detail": note.detail,
    }
