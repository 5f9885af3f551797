"""``GET /api/v1/invoices``: every account's invoices, filtered, paged by cursor, with totals
(``accounts:read``; a token bound to accounts sees only theirs). Issue 28."""

from __future__ import annotations

from flask import g, request

from api.common import ApiError, authorise, current_catalog, platform_now
from engine.services.invoice_list import (
    InvoiceCursorUnknown,
    InvoiceQueryInvalid,
    list_invoices,
    parse_query,
)
from web.http import get_engine, json_response


def invoices_list():
    """The page after ``after`` of the invoices the filters select (status, month, account)."""
    authorise("accounts:read")
    args = request.args
    for name, value in args.items():
        if value == "":  # present but empty: a client's mistake, not "no filter"
            raise ApiError(400, f"{name} is empty; leave it out or give a value.", name)
    try:
        query = parse_query(
            status=args.get("status"),
            month=args.get("month"),
            account=args.get("account"),
            after=args.get("after"),
            limit=args.get("limit"),
            sort=args.get("sort"),
            accounts_allowed=g.token.accounts,
        )
        today = current_catalog().local_date(platform_now())
        page = list_invoices(get_engine().store, query, today)
    except InvoiceCursorUnknown as unknown:
        raise ApiError(404, f"There is no invoice {args.get('after')!r}.", unknown.field) from None
    except InvoiceQueryInvalid as refused:
        raise ApiError(400, f"{refused.field} {refused.message}.", refused.field) from None
    return json_response(page.to_json())
