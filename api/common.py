"""What every route of the API shares: errors as JSON a person can act on
(``{"error": {"message", "field", "index"}}``, never a stack trace; a 400 also lists every
fault of the request in ``errors``), the token check, the strict JSON body, and the checks of
path and query values.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from engine.access.tokens import authenticate
from engine.engine import EventConflict
from engine.events import (
    FIRST_YEAR,
    LAST_YEAR,
    PLATFORM_ONLY_TYPES,
    EventInvalid,
    refuse_repeated_keys,
)
from web.http import get_engine, json_response

log = logging.getLogger("billing.api")

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_BATCH = 10_000
MAX_DEPTH = 16
# Path segments that name stored things; anything else cannot exist (404 before the database).
ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MONTH = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")


# app.config key of a callable that returns the platform's clock (an aware datetime); tests
# set it, a server leaves it unset and the server's own clock is read (platform_now).
NOW_CONFIG = "PLATFORM_NOW"


def platform_now() -> datetime:
    """The platform's clock: the server's, read here, at the API's edge, and nowhere else.

    Time comes from events; the API reads the clock only to refuse an instant too far ahead of
    it (api/events.py, Platform: clock). ``app.config[NOW_CONFIG]``, a callable, replaces the
    server's clock (tests)."""
    clock: Callable[[], datetime] | None = current_app.config.get(NOW_CONFIG)
    return clock() if clock is not None else datetime.now(UTC)


# At most this many faults of one body are listed (a batch of 10,000 bad events: the first).
MAX_FAULTS = 100


class ApiError(Exception):
    """An answer other than 2xx: ``message`` and ``field`` say what is wrong and where (the
    first fault); ``errors`` (a 400) every fault found, each ``{"field", "message"}`` and, in a
    batch, ``index``."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        index: int | None = None,
        errors: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.field, self.index = status, message, field, index
        self.errors = errors


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {
        "error": {"message": error.message, "field": error.field, "index": error.index}
    }
    if error.status == 400:
        # every fault of the request at once; a fault without a list of its own is the one
        one: dict[str, Any] = {"field": error.field, "message": error.message}
        if error.index is not None:
            one["index"] = error.index
        body["error"]["errors"] = error.errors or [one]
    response = json_response(body, error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="billing"'
    return response


def register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return error_response(error)

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
        response = error_response(ApiError(error.code or 500, message))
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        reference = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s", reference)
        return error_response(
            ApiError(500, f"An unexpected error occurred; quote {reference} to the operators.")
        )


def authorise(capability: str) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "Send a token: Authorization: Bearer <token> (billing token create).")
    token = authenticate(get_engine().store, secret.strip())
    if token is None:
        raise ApiError(401, "The token is unknown or revoked.")
    if not token.may(capability):
        bound = " bound to accounts" if token.accounts is not None else ""
        raise ApiError(403, f"A {token.role} token{bound} may not do this ({capability}).")
    g.token = token


def authorise_account(account: str) -> None:
    """``accounts:read`` of ``account``. A token bound to other accounts gets the 404 of an
    account that does not exist: it learns nothing of the accounts it may not read."""
    authorise("accounts:read")
    hide_unless_readable(account, f"There is no account {account!r}.")


def hide_unless_readable(account: str, not_found: str) -> None:
    """404 with ``not_found`` (the answer for something that does not exist) unless the
    authorised token may read ``account`` (every account, if the token is unbound)."""
    if not g.token.reads(account):
        raise ApiError(404, not_found)


def json_depth(document: Any) -> int:
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


def json_body() -> Any:
    """The body as JSON: strictly (orjson), at most MAX_DEPTH deep, every key once."""
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, "Send the body as JSON with Content-Type: application/json.")
    data = request.get_data(cache=False)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc.msg}.") from None
    if json_depth(document) > MAX_DEPTH:
        raise ApiError(400, f"The JSON is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(document, (dict, list)):
        try:
            refuse_repeated_keys(data)
        except EventInvalid as exc:
            index = batch_index(document, exc.field)
            raise ApiError(
                400, f"The body is not accepted: {exc.message}.", exc.field, index
            ) from None
    return document


def batch_index(document: Any, pointer: str) -> int | None:
    """The index of the batch's event that ``pointer`` (``/events/3/...``) points into."""
    parts = pointer.split("/")
    if isinstance(document, dict) and len(parts) > 2 and parts[1] == "events":
        return int(parts[2]) if parts[2].isascii() and parts[2].isdigit() else None
    return None


_ISO_TEXT = re.compile(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})?)?")


def instant_arg(text_value: str | None, field: str) -> date | datetime:
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


def invalid_event(exc: EventInvalid) -> ApiError:
    """400 for a single event that does not fit the schema: its first fault as ``message`` and
    ``field``, and all of them (EventInvalid.faults) in ``errors``."""
    errors = [{"field": f.field, "message": f.message} for f in exc.faults[:MAX_FAULTS]]
    return ApiError(400, exc.message, exc.field, errors=errors)


def refuse_platform_only(document: Any, index: int | None = None) -> None:
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


def conflict(exc: EventConflict, batch: bool) -> ApiError:
    if batch:
        return ApiError(
            409,
            f"Event {exc.index}: {exc.message}; nothing was applied.",
            f"/events/{exc.index}/id",
            exc.index,
        )
    return ApiError(409, exc.message[0].upper() + exc.message[1:] + ".", "/id")


def current_catalog():
    """The engine's catalog with every publication stored so far (another process may publish)."""
    engine = get_engine()
    with engine.store.unit(commit=False) as unit:
        engine.refresh_catalog(unit)
    return engine.catalog


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """A whole number in ASCII digits (not ``²`` or ``٣``) from ``low`` to ``high``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,20}", raw) or not low <= int(raw) <= high:
        raise ApiError(
            400, f"{name} must be a whole number (digits 0-9) from {low} to {high}.", name
        )
    return int(raw)


def known_account_id(account: str) -> None:
    if not ACCOUNT_ID.fullmatch(account):
        raise ApiError(404, f"There is no account {account!r}.")
