"""Cookies, security headers and login throttling for the whole application (UI and API).

Configuration (environment, read when the application is made; the Flask config keys of the
same name override it, e.g. in tests):

- ``BILLING_HTTPS=1``: the server is reached over HTTPS only; the session cookie is ``Secure``
  and responses carry ``Strict-Transport-Security``.
- ``BILLING_LOGIN_LIMIT_ACCOUNT`` (default ``5 per minute;30 per hour``) and
  ``BILLING_LOGIN_LIMIT_ADDRESS`` (default ``20 per minute;200 per hour``): failed logins allowed
  per e-mail address and per client address (Flask-Limiter's notation, read with ``limits``);
  more answer 429 with ``Retry-After``.

Failed logins are counted in the database every server process uses (table
``login_attempts``, migration 0016), so the limits hold for any number of workers and hosts.
An attempt is written under both its keys before the password is checked, so guesses sent at
the same time count against each other; it is deleted again unless the login failed (401): a
successful login and a refused one (429) do not count. Rows older than the longest window are
deleted by the next attempt. A login request is an edge of the platform: it reads the clock
(``BILLING_NOW`` in tests, else the wall clock).
"""

from __future__ import annotations

import functools
import math
import os
from datetime import UTC, datetime, timedelta

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.engine import Engine as SqlEngine
from werkzeug.exceptions import TooManyRequests

from engine.ledger.tables import login_attempts
from web.http import get_engine

DEFAULT_LIMIT_ACCOUNT = "5 per minute;30 per hour"
DEFAULT_LIMIT_ADDRESS = "20 per minute;200 per hour"

# The admin UI's templates use only /admin/static/admin.css: no inline script or style.
ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# JSON and PDF answers are never a page that loads anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SECOND = 1_000_000  # microseconds
_MAX_EMAIL = 254  # longer is no e-mail address of anyone; such keys may share a count
_RETRY_AFTER = "billing_login_retry_after"  # on flask.g: the 429's Retry-After, in seconds


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def configure(app: Flask) -> None:
    """Cookie flags, headers on every response, and the limits of failed logins."""
    https = _flag("BILLING_HTTPS")
    app.config.setdefault("BILLING_HTTPS", https)
    # Flask defines these keys already (SameSite None): setdefault would keep Flask's values.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = https
    app.config.setdefault(
        "BILLING_LOGIN_LIMIT_ACCOUNT",
        os.environ.get("BILLING_LOGIN_LIMIT_ACCOUNT", DEFAULT_LIMIT_ACCOUNT),
    )
    app.config.setdefault(
        "BILLING_LOGIN_LIMIT_ADDRESS",
        os.environ.get("BILLING_LOGIN_LIMIT_ADDRESS", DEFAULT_LIMIT_ADDRESS),
    )
    for name in ("BILLING_LOGIN_LIMIT_ACCOUNT", "BILLING_LOGIN_LIMIT_ADDRESS"):
        _limits(app.config[name])  # a misspelt limit stops the start, not the first login
    app.after_request(_headers)


def throttle_login(app: Flask, endpoint: str) -> None:
    """Limit failed logins per e-mail address and per client address (after registration)."""
    view = app.view_functions[endpoint]

    @functools.wraps(view)
    def throttled(*args, **kwargs):
        if request.method != "POST":
            return view(*args, **kwargs)
        return _counted(view, args, kwargs)

    app.view_functions[endpoint] = throttled


def _counted(view, args: tuple, kwargs: dict) -> Response:
    """The login, refused with 429 when a key is over its limit; counted when it fails."""
    config = current_app.config
    limits = {
        _address(): _limits(config["BILLING_LOGIN_LIMIT_ADDRESS"]),
        _account(): _limits(config["BILLING_LOGIN_LIMIT_ACCOUNT"]),
    }
    now = (_now() - _EPOCH) // _MICROSECOND
    db = get_engine().store.db
    ours = _record_attempt(db, limits, now)
    failed = False
    try:
        with db.connect() as connection:
            refusal = _over_limit(connection, limits, now)
        if refusal is not None:
            limit, retry_after = refusal
            setattr(g, _RETRY_AFTER, retry_after)
            raise TooManyRequests(description=str(limit), retry_after=retry_after)
        response = current_app.make_response(view(*args, **kwargs))
        failed = response.status_code == 401
        return response
    finally:
        if not failed:
            with db.begin() as connection:
                connection.execute(delete(login_attempts).where(login_attempts.c.id.in_(ours)))


def _record_attempt(
    db: SqlEngine, limits: dict[str, tuple[RateLimitItem, ...]], now: int
) -> list[int]:
    """Write the attempt under each key (committed, so every worker counts it at once) and
    delete the rows no window reaches any more; the new rows' ids."""
    longest = max(limit.get_expiry() for items in limits.values() for limit in items)
    with db.begin() as connection:
        connection.execute(
            delete(login_attempts).where(login_attempts.c.at <= now - longest * _SECOND)
        )
        ids = []
        for key in limits:
            written = connection.execute(insert(login_attempts).values(key=key, at=now))
            ids.append(written.inserted_primary_key[0])
    return ids


def _over_limit(
    connection: Connection, limits: dict[str, tuple[RateLimitItem, ...]], now: int
) -> tuple[RateLimitItem, int] | None:
    """The limit broken (with the longest wait) and the seconds until an attempt may pass
    again; None when every key is within its limits. The attempt itself is counted."""
    worst: tuple[RateLimitItem, int] | None = None
    for key, items in limits.items():
        longest = max(limit.get_expiry() for limit in items) * _SECOND
        instants = (
            connection.execute(
                select(login_attempts.c.at)
                .where(login_attempts.c.key == key, login_attempts.c.at > now - longest)
                .order_by(login_attempts.c.at)
            )
            .scalars()
            .all()
        )
        for limit in items:
            window = limit.get_expiry() * _SECOND
            recent = [at for at in instants if at > now - window]
            if len(recent) <= limit.amount:
                continue
            # Passes again once all but ``amount`` of them (this one included) left the window.
            leaves = recent[len(recent) - limit.amount - 1] + window
            wait = max(1, math.ceil((leaves - now) / _SECOND))
            if worst is None or wait > worst[1]:
                worst = (limit, wait)
    return worst


@functools.lru_cache(maxsize=16)
def _limits(text: str) -> tuple[RateLimitItem, ...]:
    """``5 per minute;30 per hour`` as ``limits`` items (ValueError when it is not that)."""
    items = tuple(parse_many(text))
    if not items:
        raise ValueError(f"no login limit in {text!r}")
    return items


def _now() -> datetime:
    """The instant of the request: ``BILLING_NOW`` (tests), else the wall clock (an edge)."""
    clock = current_app.config.get("BILLING_NOW")
    return clock() if clock else datetime.now(UTC)


def _address() -> str:
    return "address:" + (request.remote_addr or "127.0.0.1")


def _account() -> str:
    return "account:" + request.form.get("email", "").strip().lower()[:_MAX_EMAIL]


def _headers(response: Response) -> Response:
    headers = response.headers
    if response.mimetype == "application/pdf":
        # Browsers show PDFs with a built-in viewer that a stricter policy would block.
        headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    else:
        page = request.blueprint == "admin" and response.mimetype == "text/html"
        headers.setdefault("Content-Security-Policy", ADMIN_CSP if page else API_CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    retry_after = g.get(_RETRY_AFTER)
    if retry_after is not None and response.status_code == 429:
        headers.setdefault("Retry-After", str(retry_after))  # the login page drops the 429's own
    return response
