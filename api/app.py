"""The Flask application: the billing-service API under /api/v1, and /health.

Every error is JSON a person can act on (``{"error": {"message", "field", "index"}}``); no
stack trace reaches a client. The engine (and so durable-rules' host) is created on the first
request in each process, after a server forks its workers.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from datetime import date, datetime
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from api.openapi import openapi_document
from engine.access.tokens import authenticate
from engine.catalog import NotInForce
from engine.catalog.values import value_to_json
from engine.engine import BatchInvalid, Engine, EventConflict
from engine.events import (
    FIRST_YEAR,
    LAST_YEAR,
    PLATFORM_ONLY_TYPES,
    EventInvalid,
    parse_event,
    refuse_repeated_keys,
)

log = logging.getLogger("billing.api")

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_BATCH = 10_000
MAX_DEPTH = 16
# Path segments that name stored things; anything else cannot exist (404 before the database).
ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
INVOICE_NUMBER = re.compile(r"[0-9]{4}-[0-9]{6,12}")
MONTH = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` in every URL of the app (the admin UI's draft ids too): ASCII digits up to
    the largest database key, so ``/admin/drafts/99999999999999999999999`` is a 404, not an
    overflow in the database driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, field: str | None = None, index: int | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.field, self.index = status, message, field, index


def create_app(database_url: str | None = None, engine: Engine | None = None) -> Flask:
    """The application; ``engine`` may be given (tests), else one is made per process."""
    app = Flask(__name__)
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["BILLING_DATABASE_URL"] = database_url or os.environ.get("DATABASE_URL")
    app.extensions["billing.engine"] = engine
    app.extensions["billing.lock"] = threading.Lock()
    _register_errors(app)
    _register_routes(app)
    from api.webhooks import register as register_webhooks

    register_webhooks(app)

    from api.credit_notes import register_credit_note_routes

    register_credit_note_routes(app)
    from admin_ui import init_admin

    init_admin(app)
    return app


def get_engine() -> Engine:
    engine = current_app.extensions.get("billing.engine")
    if engine is None:
        with current_app.extensions["billing.lock"]:
            engine = current_app.extensions.get("billing.engine")
            if engine is None:
                engine = Engine(current_app.config["BILLING_DATABASE_URL"])
                current_app.extensions["billing.engine"] = engine
    return engine


def json_response(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status=status, mimetype="application/json")


def pdf_response(document: bytes, filename: str, *, attachment: bool = False) -> Response:
    """A PDF that the browser shows (``inline``) or saves (``attachment``) as ``filename``."""
    disposition = f'{"attachment" if attachment else "inline"}; filename="{filename}"'
    return Response(
        document, mimetype="application/pdf", headers={"Content-Disposition": disposition}
    )


def _error_response(error: ApiError) -> Response:
    body = {"error": {"message": error.message, "field": error.field, "index": error.index}}
    response = json_response(body, error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="billing"'
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return _error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            404: "There is nothing at this address; the API is under /api/v1 "
            "(see /api/v1/openapi.json).",
            405: f"{request.method} is not allowed here.",
            413: f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB; "
            "send smaller batches.",
        }
        message = messages.get(error.code or 500, error.description or error.name)
        response = _error_response(ApiError(error.code or 500, message))
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        reference = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s", reference)
        return _error_response(
            ApiError(500, f"An unexpected error occurred; quote {reference} to the operators.")
        )


def _authorise(capability: str) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "Send a token: Authorization: Bearer <token> (billing token create).")
    token = authenticate(get_engine().store, secret.strip())
    if token is None:
        raise ApiError(401, "The token is unknown or revoked.")
    if not token.may(capability):
        raise ApiError(403, f"A {token.role} token may not do this ({capability}).")
    g.token = token


def _depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _json_body() -> Any:
    """The body as JSON: strictly (orjson), at most MAX_DEPTH deep, every key once."""
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, "Send the body as JSON with Content-Type: application/json.")
    data = request.get_data(cache=False)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc.msg}.") from None
    if _depth(document) > MAX_DEPTH:
        raise ApiError(400, f"The JSON is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(document, (dict, list)):
        try:
            refuse_repeated_keys(data)
        except EventInvalid as exc:
            index = _batch_index(document, exc.field)
            raise ApiError(
                400, f"The body is not accepted: {exc.message}.", exc.field, index
            ) from None
    return document


def _batch_index(document: Any, pointer: str) -> int | None:
    """The index of the batch's event that ``pointer`` (``/events/3/...``) points into."""
    parts = pointer.split("/")
    if isinstance(document, dict) and len(parts) > 2 and parts[1] == "events":
        return int(parts[2]) if parts[2].isascii() and parts[2].isdigit() else None
    return None


_ISO_TEXT = re.compile(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})?)?")


def _instant(text_value: str | None, field: str) -> date | datetime:
    """A date (YYYY-MM-DD) or an instant with offset, in the years the catalog covers."""
    if not text_value:
        raise ApiError(
            400, f"{field} is required: a date (YYYY-MM-DD) or an instant with offset.", field
        )
    if not _ISO_TEXT.fullmatch(text_value):
        raise ApiError(
            400,
            f"{text_value!r} is not a date (YYYY-MM-DD) or an instant with offset in the years "
            f"{FIRST_YEAR} to {LAST_YEAR}.",
            field,
        )
    try:
        if len(text_value) == 10:
            return date.fromisoformat(text_value)
        instant = datetime.fromisoformat(text_value)
    except ValueError:
        raise ApiError(
            400, f"{text_value!r} is not a date or an instant with offset.", field
        ) from None
    if instant.tzinfo is None:
        raise ApiError(400, f"{text_value!r} needs a UTC offset, e.g. +01:00 or Z.", field)
    return instant


def _refuse_platform_only(document: Any, index: int | None = None) -> None:
    """403 for an event type that only the platform itself emits (``PLATFORM_ONLY_TYPES``)."""
    kind = document.get("type") if isinstance(document, dict) else None
    if isinstance(kind, str) and kind in PLATFORM_ONLY_TYPES:
        where = "" if index is None else f"Event {index}: "
        pointer = "/type" if index is None else f"/events/{index}/type"
        raise ApiError(
            403,
            f"{where}{kind} events are not accepted from outside: {PLATFORM_ONLY_TYPES[kind]}"
            + ("; nothing was applied." if index is not None else "."),
            pointer,
            index,
        )


def _conflict(exc: EventConflict, batch: bool) -> ApiError:
    if batch:
        return ApiError(
            409,
            f"Event {exc.index}: {exc.message}; nothing was applied.",
            f"/events/{exc.index}/id",
            exc.index,
        )
    return ApiError(409, exc.message[0].upper() + exc.message[1:] + ".", "/id")


QUERY_PARAMETERS = {
    "ledger": {"after", "limit"},
    "terms": {"at"},
    "itemised_bill_json": {"month"},
    "itemised_bill_pdf": {"month"},
    "invoice_xml": {"format"},
    "credit_note_xml": {"format"},
    "sepa_collections": {"date", "scheme", "created_at"},
}


def _register_routes(app: Flask) -> None:
    @app.before_request
    def refuse_unknown_query_parameters():
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

    @app.get("/health")
    def health():
        try:
            with get_engine().store.db.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any failure means "not healthy"
            log.exception("health check failed")
            raise ApiError(503, "The database is not reachable.") from None
        return json_response({"status": "ok", "database": "ok"})

    @app.get("/api/v1/openapi.json")
    def openapi():
        _authorise("terms:read")
        return json_response(openapi_document())

    @app.post("/api/v1/events")
    def post_events():
        _authorise("events:write")
        document = _json_body()
        engine = get_engine()
        if isinstance(document, dict) and "events" in document and "type" not in document:
            events = document["events"]
            if set(document) != {"events"}:
                raise ApiError(400, 'A batch is {"events": [...]} and nothing else.', "")
            if not isinstance(events, list) or not events:
                raise ApiError(400, "events must be a non-empty list of events.", "/events")
            if len(events) > MAX_BATCH:
                raise ApiError(
                    400, f"At most {MAX_BATCH} events per batch, not {len(events)}.", "/events"
                )
            for index, event in enumerate(events):
                _refuse_platform_only(event, index)
            try:
                return json_response({"results": engine.handle_many(events, refuse_conflicts=True)})
            except BatchInvalid as exc:
                raise ApiError(
                    400,
                    f"Event {exc.index}: {exc.message}; nothing was applied.",
                    f"/events/{exc.index}{exc.field}",
                    exc.index,
                ) from None
            except EventConflict as exc:
                raise _conflict(exc, batch=True) from None
        _refuse_platform_only(document)
        try:
            return json_response(engine.handle(document, refuse_conflicts=True))
        except EventInvalid as exc:
            raise ApiError(400, exc.message, exc.field) from None
        except EventConflict as exc:
            raise _conflict(exc, batch=False) from None

    @app.post("/api/v1/quote")
    def quote():
        _authorise("events:write")
        document = _json_body()
        _refuse_platform_only(document)
        try:
            return json_response(get_engine().quote(document, refuse_conflicts=True))
        except EventInvalid as exc:
            raise ApiError(400, exc.message, exc.field) from None
        except EventConflict as exc:
            raise _conflict(exc, batch=False) from None

    @app.post("/api/v1/clock")
    def clock():
        _authorise("events:write")
        document = _json_body()
        if not isinstance(document, dict):
            raise ApiError(400, 'Send {"until": "<instant>"} and optionally "account".', "")
        unknown = set(document) - {"until", "account"}
        if unknown:
            raise ApiError(400, f"Unknown field {sorted(unknown)[0]!r}.", f"/{sorted(unknown)[0]}")
        until = document.get("until")
        if not isinstance(until, str):
            raise ApiError(400, "until is required: an instant with offset.", "/until")
        instant = _instant(until, "/until")
        if not isinstance(instant, datetime):
            raise ApiError(400, "until must be an instant with offset, not a date.", "/until")
        account = document.get("account")
        if "account" in document and not isinstance(account, str):
            raise ApiError(400, "account must be a string.", "/account")
        try:
            parse_event(
                {
                    "id": "x",
                    "type": "clock",
                    "account": "x" if account is None else account,
                    "at": until,
                }
            )
        except EventInvalid as exc:
            field = "/until" if exc.field == "/at" else exc.field
            raise ApiError(400, exc.message, field) from None
        return json_response({"results": get_engine().advance(instant, account)})

    @app.get("/api/v1/accounts/<account>")
    def account(account: str):
        _authorise("accounts:read")
        _known_account_id(account)
        found = get_engine().account(account)
        if found is None:
            raise ApiError(404, f"There is no account {account!r}.")
        return json_response(found)

    @app.get("/api/v1/accounts/<account>/ledger")
    def ledger(account: str):
        _authorise("accounts:read")
        _known_account_id(account)
        after = _int_arg("after", 0, 0, 2**62)
        limit = _int_arg("limit", 100, 1, 1000)
        engine = get_engine()
        if engine.account(account) is None:
            raise ApiError(404, f"There is no account {account!r}.")
        entries = engine.ledger(account, after, limit)
        next_after = entries[-1]["id"] if len(entries) == limit else None
        return json_response({"entries": entries, "next_after": next_after})

    @app.get("/api/v1/accounts/<account>/deadlines")
    def deadlines(account: str):
        _authorise("accounts:read")
        _known_account_id(account)
        engine = get_engine()
        if engine.account(account) is None:
            raise ApiError(404, f"There is no account {account!r}.")
        with engine.store.unit(commit=False) as unit:
            return json_response({"deadlines": unit.deadlines_of(account)})

    @app.get("/api/v1/accounts/<account>/invoices")
    def account_invoices(account: str):
        _authorise("accounts:read")
        _known_account_id(account)
        engine = get_engine()
        with engine.store.unit(commit=False) as unit:
            if unit.account(account) is None:
                raise ApiError(404, f"There is no account {account!r}.")
            found = unit.load_invoices([account]).get(account, [])
        return json_response({"invoices": [_invoice_json(i) for i in found]})

    @app.get("/api/v1/invoices/<number>.pdf")
    def invoice_pdf(number: str):
        _authorise("accounts:read")
        invoice = _find_invoice(number)
        from engine.documents import invoice_filename
        from engine.documents.signing import SigningKey, invoice_document

        document = invoice_document(invoice, get_engine().catalog, SigningKey.from_environment())
        return pdf_response(document, invoice_filename(invoice.number))

    @app.get("/api/v1/invoices/<number>.xml")
    def invoice_xml(number: str):
        _authorise("accounts:read")
        from engine.documents.einvoice import (
            FORMATS,
            XRECHNUNG_CII,
            EInvoiceUnavailable,
            build_einvoice,
            filename,
        )

        fmt = request.args.get("format", XRECHNUNG_CII)
        if fmt not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}.", "format")
        invoice = _find_invoice(number)
        try:
            document = build_einvoice(invoice, fmt)
        except EInvoiceUnavailable as exc:
            raise ApiError(409, f"No e-invoice for invoice {number}: {exc}.") from None
        return Response(
            document,
            mimetype="application/xml",
            headers={"Content-Disposition": f'inline; filename="{filename(number, fmt)}"'},
        )

    @app.get("/api/v1/sepa/collections")
    def sepa_collections():
        """The pain.008 file of a collection date: recorded on first fetch, the same after."""
        _authorise("sepa:export")
        from engine.interchange.sepa_export import ExportRefused, export

        text_value = request.args.get("date")
        day = _instant(text_value, "date")
        if not isinstance(day, date) or isinstance(day, datetime):
            raise ApiError(400, f"{text_value!r} is not a date (YYYY-MM-DD).", "date")
        scheme = request.args.get("scheme", "CORE")
        if scheme not in ("CORE", "B2B"):
            raise ApiError(400, f"{scheme!r} is not a SEPA scheme (CORE, B2B).", "scheme")
        created = None
        if "created_at" in request.args:
            created = _instant(request.args["created_at"], "created_at")
            if not isinstance(created, datetime):
                raise ApiError(400, "created_at is an instant with its UTC offset.", "created_at")
        try:
            result = export(get_engine().store, _current_catalog(), day, scheme, created)
        except ExportRefused as refused:
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

    @app.get("/api/v1/invoices/<number>")
    def invoice_json(number: str):
        _authorise("accounts:read")
        return json_response(_invoice_json(_find_invoice(number)))

    @app.get("/api/v1/accounts/<account>/evn")
    def itemised_bill_json(account: str):
        _authorise("accounts:read")
        return json_response(_itemised_bill(account))

    @app.get("/api/v1/accounts/<account>/evn.pdf")
    def itemised_bill_pdf(account: str):
        _authorise("accounts:read")
        from engine.documents import itemised_bill_filename
        from engine.documents.itemised_bill import render_itemised_bill

        bill = _itemised_bill(account)
        filename = itemised_bill_filename(account, bill["month"])
        return pdf_response(render_itemised_bill(bill), filename)

    @app.get("/api/v1/terms")
    def terms():
        _authorise("terms:read")
        at = _instant(request.args.get("at"), "at")
        catalog = _current_catalog()
        try:
            in_force = catalog.at(at)
        except NotInForce as exc:
            raise ApiError(404, str(exc)) from None
        return json_response(
            {
                "terms_version": in_force.version,
                "date": catalog.local_date(at).isoformat(),
                "clauses": [
                    {
                        "clause": item.citation,
                        "title": item.file.title,
                        "file": item.file.path,
                        "effective_from": item.effective_from.isoformat(),
                        "parameters": {
                            name: value_to_json(spec.type, item[name])
                            for name, spec in item.file.parameters.items()
                        },
                    }
                    for item in in_force.in_force()
                ],
            }
        )

    @app.get("/api/v1/terms/<path:clause>")
    def clause_history(clause: str):
        _authorise("terms:read")
        catalog = _current_catalog()
        citation = catalog.plan_citation(clause) if clause in catalog.plans else clause
        try:
            terms_file = catalog.file(citation)
        except NotInForce:
            raise ApiError(404, f"There is no clause {clause!r} (cite like 'AGB 4.2.3').") from None
        return json_response(
            {
                "clause": terms_file.citation,
                "title": terms_file.title,
                "file": terms_file.path,
                "versions": [
                    {
                        "effective_from": version.effective_from.isoformat(),
                        "origin": version.origin,
                        "note": version.note,
                        "values": {
                            name: {
                                "value": value_to_json(terms_file.parameters[name].type, pv.value),
                                "source": pv.source,
                            }
                            for name, pv in version.values.items()
                        },
                    }
                    for version in terms_file.versions
                ],
            }
        )


def _current_catalog():
    """The engine's catalog with every publication stored so far (another process may publish)."""
    engine = get_engine()
    with engine.store.unit(commit=False) as unit:
        engine.refresh_catalog(unit)
    return engine.catalog


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    """A whole number in ASCII digits (not ``²`` or ``٣``) from ``low`` to ``high``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,20}", raw) or not low <= int(raw) <= high:
        raise ApiError(
            400, f"{name} must be a whole number (digits 0-9) from {low} to {high}.", name
        )
    return int(raw)


def _known_account_id(account: str) -> None:
    if not ACCOUNT_ID.fullmatch(account):
        raise ApiError(404, f"There is no account {account!r}.")


def _find_invoice(number: str):
    if not INVOICE_NUMBER.fullmatch(number):
        raise ApiError(404, f"There is no invoice {number!r}.")
    with get_engine().store.unit(commit=False) as unit:
        invoice = unit.invoice(number)
    if invoice is None or not invoice.detail:
        raise ApiError(404, f"There is no invoice {number!r}.")
    return invoice


def _invoice_json(invoice) -> dict:
    return {
        "number": invoice.number,
        "account": invoice.account,
        "kind": invoice.kind,
        "period": invoice.period,
        "issued_on": invoice.issued_on,
        "due_on": invoice.due_on,
        "amount": f"{invoice.amount_cents // 100}.{invoice.amount_cents % 100:02d}",
        "open": f"{invoice.open_cents // 100}.{invoice.open_cents % 100:02d}",
        "status": invoice.status,
        "approved": invoice.approved,
        "objection": invoice.objection,
        "traffic_data_deleted_on": invoice.traffic_data_deleted_on,
        "clause": invoice.clause,
        "terms_version": invoice.terms_version,
        "detail": invoice.detail,
    }


def _itemised_bill(account: str) -> dict:
    from engine.documents.itemised_bill import ItemisedBillRefused, itemised_bill

    month = request.args.get("month", "")
    if not MONTH.fullmatch(month):
        raise ApiError(
            400, f"month is required as YYYY-MM, from {FIRST_YEAR}-01 to {LAST_YEAR}-12.", "month"
        )
    _known_account_id(account)
    try:
        bill = itemised_bill(get_engine(), account, month)
    except ItemisedBillRefused as refusal:
        raise ApiError(409, f"{refusal.reason} ({refusal.clause})") from None
    except NotInForce as exc:
        raise ApiError(404, str(exc)) from None
    if bill is None:
        raise ApiError(404, f"There is no account {account!r}.")
    return bill
