"""Cookies, security headers and login throttling for the whole application (UI and API).

Configuration (environment, read when the application is made; the Flask config keys of the
same name override it, e.g. in tests):

- ``BILLING_HTTPS=1``: the server is reached over HTTPS only; the session cookie is ``Secure``
  and responses carry ``Strict-Transport-Security``.
- ``BILLING_LOGIN_LIMIT_ACCOUNT`` (default ``5 per minute;30 per hour``) and
  ``BILLING_LOGIN_LIMIT_ADDRESS`` (default ``20 per minute;200 per hour``): failed logins allowed
  per e-mail address and per client address (Flask-Limiter notation); more answer 429.
- ``BILLING_RATELIMIT_STORAGE_URI`` (default ``memory://``: counted per server process); e.g.
  ``redis://host:6379`` to count across the workers.
"""

from __future__ import annotations

import os

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

DEFAULT_LIMIT_ACCOUNT = "5 per minute;30 per hour"
DEFAULT_LIMIT_ADDRESS = "20 per minute;200 per hour"

# The admin UI's templates use only /admin/static/admin.css: no inline script or style.
ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# JSON and PDF answers are never a page that loads anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def configure(app: Flask) -> None:
    """Cookie flags, headers on every response, and the login limiter."""
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
    app.after_request(_headers)
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=os.environ.get("BILLING_RATELIMIT_STORAGE_URI", "memory://"),
        headers_enabled=True,
    )
    app.extensions["billing.limiter"] = limiter


def throttle_login(app: Flask, endpoint: str) -> None:
    """Limit failed logins per e-mail address and per client address (after registration)."""
    limiter: Limiter = app.extensions["billing.limiter"]
    view = app.view_functions[endpoint]
    failed = _failed
    per_address = limiter.limit(
        lambda: current_app.config["BILLING_LOGIN_LIMIT_ADDRESS"],
        methods=["POST"],
        deduct_when=failed,
        scope="login-address",
    )
    per_account = limiter.limit(
        lambda: current_app.config["BILLING_LOGIN_LIMIT_ACCOUNT"],
        key_func=_account,
        methods=["POST"],
        deduct_when=failed,
        scope="login-account",
    )
    app.view_functions[endpoint] = per_account(per_address(view))


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _account() -> str:
    return "account:" + request.form.get("email", "").strip().lower()


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
    return response
