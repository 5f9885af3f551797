"""Credit note downloads (Platform: credit-notes): the same roles as invoice downloads."""

from __future__ import annotations

import re

from flask import Flask, Response, request

CREDIT_NOTE_NUMBER = re.compile(r"[A-Z]{1,8}-[0-9]{4}-[0-9]{6,12}")


def register_credit_note_routes(app: Flask) -> None:
    from api.app import (
        ApiError,
        _authorise,
        _known_account_id,
        get_engine,
        json_response,
        pdf_response,
    )

    def find(number: str):
        from engine.ledger import credit_note_store

        if not CREDIT_NOTE_NUMBER.fullmatch(number):
            raise ApiError(404, f"There is no credit note {number!r}.")
        with get_engine().store.unit(commit=False) as unit:
            note = credit_note_store.credit_note(unit.connection, number)
        if note is None:
            raise ApiError(404, f"There is no credit note {number!r}.")
        return note

    @app.get("/api/v1/accounts/<account>/credit-notes")
    def account_credit_notes(account: str):
        _authorise("accounts:read")
        _known_account_id(account)
        from engine.ledger import credit_note_store

        with get_engine().store.unit(commit=False) as unit:
            if unit.account(account) is None:
                raise ApiError(404, f"There is no account {account!r}.")
            notes = credit_note_store.credit_notes_of(unit.connection, account)
        return json_response({"credit_notes": [credit_note_json(n) for n in notes]})

    @app.get("/api/v1/credit-notes/<number>.pdf")
    def credit_note_pdf(number: str):
        _authorise("accounts:read")
        from engine.documents.credit_note_pdf import render_credit_note

        note = find(number)
        return pdf_response(render_credit_note(note), f"Gutschrift-{note.number}.pdf")

    @app.get("/api/v1/credit-notes/<number>.xml")
    def credit_note_xml(number: str):
        _authorise("accounts:read")
        from engine.documents.credit_note_einvoice import build_credit_note_einvoice, filename
        from engine.documents.einvoice import FORMATS, XRECHNUNG_CII, EInvoiceUnavailable

        fmt = request.args.get("format", XRECHNUNG_CII)
        if fmt not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}.", "format")
        note = find(number)
        try:
            document = build_credit_note_einvoice(note, fmt)
        except EInvoiceUnavailable as exc:
            raise ApiError(409, f"No e-invoice for credit note {number}: {exc}.") from None
        return Response(
            document,
            mimetype="application/xml",
            headers={"Content-Disposition": f'inline; filename="{filename(number, fmt)}"'},
        )

    @app.get("/api/v1/credit-notes/<number>")
    def credit_note_json_route(number: str):
        _authorise("accounts:read")
        return json_response(credit_note_json(find(number)))


def credit_note_json(note) -> dict:
    from engine.core.money import format_amount, from_cents

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
