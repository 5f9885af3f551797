"""Credit note downloads on the admin UI's account page (Platform: credit-notes).

Routes of the admin blueprint, so the same login guard holds as for invoice downloads.
"""

from __future__ import annotations

from flask import Response
from werkzeug.exceptions import Conflict, NotFound

from admin_ui.views import _engine, bp
from api.app import pdf_response


def credit_notes_of(account: str) -> list:
    """The account's credit notes, in number order (for the account page)."""
    from engine.ledger import credit_note_store

    with _engine().store.unit(commit=False) as unit:
        return credit_note_store.credit_notes_of(unit.connection, account)


def _stored(number: str):
    from engine.ledger import credit_note_store

    with _engine().store.unit(commit=False) as unit:
        note = credit_note_store.credit_note(unit.connection, number)
    if note is None:
        raise NotFound(f"There is no credit note {number!r}.")
    return note


@bp.get("/credit-notes/<number>.pdf")
def credit_note_download(number: str):
    from engine.documents.credit_note_pdf import render_credit_note

    note = _stored(number)
    return pdf_response(render_credit_note(note), f"Gutschrift-{number}.pdf", attachment=True)


@bp.get("/credit-notes/<number>.xml")
def credit_note_xml_download(number: str):
    """The credit note as XRechnung 3.0 (CII, type 381)."""
    from engine.documents.credit_note_einvoice import build_credit_note_einvoice, filename
    from engine.documents.einvoice import XRECHNUNG_CII, EInvoiceUnavailable

    note = _stored(number)
    try:
        document = build_credit_note_einvoice(note, XRECHNUNG_CII)
    except EInvoiceUnavailable as exc:
        raise Conflict(f"No e-invoice for credit note {number}: {exc}.") from None
    name = filename(number, XRECHNUNG_CII)
    return Response(
        document,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.app_context_processor
def credit_note_context():
    return {"credit_notes_of": credit_notes_of}
