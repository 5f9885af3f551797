"""An account as billing services read it: the account, its ledger, deadlines, invoice and
credit-note lists, and the itemised bill of a month (``accounts:read``).

Every view starts with :func:`api.common.authorise_account`: a token bound to other accounts
gets the 404 of an account that does not exist.
"""

from __future__ import annotations

from flask import request

from api.common import MONTH, ApiError, authorise_account, int_arg, known_account_id
from api.documents import describe_credit_note, describe_invoice
from engine.catalog import NotInForce
from engine.documents import itemised_bill_filename
from engine.documents.itemised_bill import (
    ItemisedBillRefused,
    itemised_bill,
    render_itemised_bill,
)
from engine.events import FIRST_YEAR, LAST_YEAR
from engine.ledger import credit_note_store
from web.http import get_engine, json_response, pdf_response


def account(account: str):
    authorise_account(account)
    known_account_id(account)
    found = get_engine().account(account)
    if found is None:
        raise ApiError(404, f"There is no account {account!r}.")
    return json_response(found)


def ledger(account: str):
    authorise_account(account)
    known_account_id(account)
    after = int_arg("after", 0, 0, 2**62)
    limit = int_arg("limit", 100, 1, 1000)
    engine = get_engine()
    if engine.account(account) is None:
        raise ApiError(404, f"There is no account {account!r}.")
    entries = engine.ledger(account, after, limit)
    next_after = entries[-1]["id"] if len(entries) == limit else None
    return json_response({"entries": entries, "next_after": next_after})


def deadlines(account: str):
    authorise_account(account)
    known_account_id(account)
    engine = get_engine()
    if engine.account(account) is None:
        raise ApiError(404, f"There is no account {account!r}.")
    with engine.store.unit(commit=False) as unit:
        return json_response({"deadlines": unit.deadlines_of(account)})


def account_invoices(account: str):
    authorise_account(account)
    known_account_id(account)
    engine = get_engine()
    with engine.store.unit(commit=False) as unit:
        if unit.account(account) is None:
            raise ApiError(404, f"There is no account {account!r}.")
        found = unit.load_invoices([account]).get(account, [])
    return json_response({"invoices": [describe_invoice(i) for i in found]})


def account_credit_notes(account: str):
    authorise_account(account)
    known_account_id(account)
    with get_engine().store.unit(commit=False) as unit:
        if unit.account(account) is None:
            raise ApiError(404, f"There is no account {account!r}.")
        notes = credit_note_store.credit_notes_of(unit.connection, account)
    return json_response({"credit_notes": [describe_credit_note(n) for n in notes]})


def itemised_bill_json(account: str):
    authorise_account(account)
    return json_response(_itemised_bill(account))


def itemised_bill_pdf(account: str):
    authorise_account(account)
    bill = _itemised_bill(account)
    filename = itemised_bill_filename(account, bill["month"])
    return pdf_response(render_itemised_bill(bill), filename)


def _itemised_bill(account: str) -> dict:
    """The itemised bill of the ``month`` query parameter: 409 where the account has none
    (not CLINQ Premium, or deactivated), 404 for no account or no terms in force."""
    month = request.args.get("month", "")
    if not MONTH.fullmatch(month):
        raise ApiError(
            400, f"month is required as YYYY-MM, from {FIRST_YEAR}-01 to {LAST_YEAR}-12.", "month"
        )
    known_account_id(account)
    try:
        bill = itemised_bill(get_engine(), account, month)
    except ItemisedBillRefused as refusal:
        raise ApiError(409, f"{refusal.reason} ({refusal.clause})") from None
    except NotInForce as exc:
        raise ApiError(404, str(exc)) from None
    if bill is None:
        raise ApiError(404, f"There is no account {account!r}.")
    return bill
