"""The Flask application: the billing-service API under /api/v1, its browsable reference at
/api/v1/docs (/docs leads there), and /health.

Every error is JSON a person can act on (``{"error": {"message", "field", "index"}}``); no
stack trace reaches a client. The engine (and so durable-rules' host) is created on the first
request in each process, after a server forks its workers.

The views live in one module per resource; :data:`ROUTES` is the whole API at a glance. A
view's endpoint is its function name, which :data:`QUERY_PARAMETERS` keys on.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request
from sqlalchemy import text

import api.accounts as accounts
import api.docs as docs
import api.documents as documents
import api.events as events
import api.invoices as invoices
import api.sepa as sepa
import api.terms as terms
import api.webhooks as webhooks
from api.common import MAX_BODY_BYTES, ApiError, log, register_errors
from web.http import get_engine, json_response

# The query parameters each endpoint takes; any other is refused (400) before the view runs.
QUERY_PARAMETERS = {
    "ledger": {"after", "limit"},
    "terms": {"at"},
    "itemised_bill_json": {"month"},
    "itemised_bill_pdf": {"month"},
    "invoice_xml": {"format"},
    "credit_note_xml": {"format"},
    "sepa_collections": {"date", "scheme", "created_at"},
    "invoices_list": {"status", "month", "account", "after", "limit", "sort"},
}


def register_api(app: Flask) -> None:
    """The billing-service API on ``app`` (whose engine :func:`web.http.init_engine` set)."""
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    register_errors(app)
    app.before_request(refuse_unknown_query_parameters)
    for method, rule, view in ROUTES:
        app.add_url_rule(rule, view_func=view, methods=[method])


def refuse_unknown_query_parameters() -> None:
    if "\x00" in request.path or any(
        "\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)
    ):
        # No database stores NUL in text (PostgreSQL refuses it): nothing can be found so.
        raise ApiError(400, "The address or a query parameter holds a NUL character.")
    if request.routing_exception is not None or not (
        request.path.startswith("/api/") or request.path == "/health"
    ):
        return  # 404 or 405: routing says what is wrong; the admin UI has its own forms
    allowed = QUERY_PARAMETERS.get(request.endpoint or "", set())
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(
            400,
            f"Unknown query parameter {unknown[0]!r}"
            + (f"; this address takes {', '.join(sorted(allowed))}." if allowed else "."),
            unknown[0],
        )


def health():
    try:
        with get_engine().store.db.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not healthy"
        log.exception("health check failed")
        raise ApiError(503, "The database is not reachable.") from None
    return json_response({"status": "ok", "database": "ok"})


ROUTES: tuple[tuple[str, str, Callable], ...] = (
    ("GET", "/health", health),
    ("GET", "/api/v1/openapi.json", docs.openapi_json),
    ("GET", "/api/v1/docs", docs.docs_page),
    ("GET", "/api/v1/docs/", docs.docs_slash),
    ("GET", "/api/v1/docs/<name>", docs.docs_asset),
    ("GET", "/docs", docs.to_docs),
    ("POST", "/api/v1/events", events.post_events),
    ("POST", "/api/v1/quote", events.quote),
    ("POST", "/api/v1/clock", events.clock),
    ("GET", "/api/v1/accounts/<account>", accounts.account),
    ("GET", "/api/v1/accounts/<account>/ledger", accounts.ledger),
    ("GET", "/api/v1/accounts/<account>/deadlines", accounts.deadlines),
    ("GET", "/api/v1/accounts/<account>/invoices", accounts.account_invoices),
    ("GET", "/api/v1/invoices/<number>.pdf", documents.invoice_pdf),
    ("GET", "/api/v1/invoices/<number>.xml", documents.invoice_xml),
    ("GET", "/api/v1/sepa/collections", sepa.sepa_collections),
    ("GET", "/api/v1/invoices", invoices.invoices_list),
    ("GET", "/api/v1/invoices/<number>", documents.invoice_json),
    ("GET", "/api/v1/accounts/<account>/evn", accounts.itemised_bill_json),
    ("GET", "/api/v1/accounts/<account>/evn.pdf", accounts.itemised_bill_pdf),
    ("GET", "/api/v1/terms", terms.terms),
    ("GET", "/api/v1/terms/<path:clause>", terms.clause_history),
    ("GET", "/api/v1/webhooks", webhooks.webhooks_list),
    ("POST", "/api/v1/webhooks", webhooks.webhooks_add),
    ("DELETE", "/api/v1/webhooks/<int:subscription>", webhooks.webhooks_remove),
    ("GET", "/api/v1/accounts/<account>/credit-notes", accounts.account_credit_notes),
    ("GET", "/api/v1/credit-notes/<number>.pdf", documents.credit_note_pdf),
    ("GET", "/api/v1/credit-notes/<number>.xml", documents.credit_note_xml),
    ("GET", "/api/v1/credit-notes/<number>", documents.credit_note_json_route),
)
"""Every route of the API in registration order: (method, URL rule, view). The endpoint
name is the view's function name."""
