"""``/api/v1/sepa/collections``: the SEPA direct debit file of a collection date for a
finance token (``sepa:export``).
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Response, request

from api.common import ApiError, authorise, current_catalog, instant_arg
from engine.interchange.sepa_export import ExportRefused, export
from web.http import get_engine


def sepa_collections():
    """The pain.008 file of a collection date: recorded on first fetch, the same after."""
    authorise("sepa:export")
    text_value = request.args.get("date")
    day = instant_arg(text_value, "date")
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ApiError(400, f"{text_value!r} is not a date (YYYY-MM-DD).", "date")
    scheme = request.args.get("scheme", "CORE")
    if scheme not in ("CORE", "B2B"):
        raise ApiError(400, f"{scheme!r} is not a SEPA scheme (CORE, B2B).", "scheme")
    created = None
    if "created_at" in request.args:
        created = instant_arg(request.args["created_at"], "created_at")
        if not isinstance(created, datetime):
            raise ApiError(400, "created_at is an instant with its UTC offset.", "created_at")
    try:
        result = export(get_engine().store, current_catalog(), day, scheme, created)
    except ExportRefused as refused:
        # "no direct debits due" is a missing file; every other refusal is a conflict.
        status = 404 if refused.message.startswith("no ") else 409
        raise ApiError(status, refused.message, refused.field) from None
    name = f"pain.008-{result.scheme}-{result.collection_date}.xml"
    return Response(
        result.xml,
        mimetype="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-SEPA-Message-Id": result.message_id,
        },
    )
