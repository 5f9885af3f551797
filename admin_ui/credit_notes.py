"""Credit note downloads on the admin UI's account page (Platform: credit-notes).

Routes of the admin blueprint, so the same login guard holds as for invoice downloads.
"""

from __future__ import annotations

from admin_ui.views import _engine, bp, served
from engine.ledger import credit_note_store
from engine.services import documents
from web.http import document_response


def credit_notes_of(account: str) -> list:
    """The account's credit notes, in number order (for the account page)."""
    with _engine().store.unit(commit=False) as unit:
        return credit_note_store.credit_notes_of(unit.connection, account)


@bp.get("/credit-notes/<number>.pdf")
def credit_note_download(number: str):
    return document_response(
        served(documents.credit_note_pdf, _engine().store, number), attachment=True
    )


@bp.get("/credit-notes/<number>.xml")
def credit_note_xml_download(number: str):
    """The credit note as XRechnung 3.0 (CII, type 381)."""
    return document_response(
        served(documents.credit_note_xml, _engine().store, number), attachment=True
    )


@bp.app_context_processor
def credit_note_context():
    return {"credit_notes_of": credit_notes_of}
