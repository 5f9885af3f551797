"""API tokens in the admin UI (issue 28): operators create and revoke them; everyone reads them.

The same service functions as ``billing token create|revoke`` (engine/access/tokens.py): only
a hash is stored, the secret is shown once on the page that answers the creation (never put in
the session or a redirect), and each change is in the audit log with the operator's e-mail.
"""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for

from admin_ui.views import _engine, _person, bp
from engine.access.tokens import (
    BINDABLE_ROLES,
    ROLES,
    TokenError,
    create_token,
    list_tokens,
    revoke_token,
)


def _tokens_page(secret: str | None = None, created: str | None = None, status: int = 200):
    engine = _engine()
    return (
        render_template(
            "tokens.html",
            tokens=list_tokens(engine.store),
            roles=tuple(ROLES),
            bindable=BINDABLE_ROLES,
            may_manage=_person().may_manage_access,
            secret=secret,
            created=created,
        ),
        status,
    )


@bp.get("/tokens")
def tokens_view():
    return _tokens_page()


@bp.post("/tokens")
def token_create():
    person = _person()
    if not person.may_manage_access:
        flash(f"A {person.role} may not create API tokens; an operator does.", "error")
        return _tokens_page(status=403)
    name = request.form.get("name", "").strip()
    role = request.form.get("role", "")
    bound = [a for a in re.split(r"[\s,]+", request.form.get("accounts", "")) if a]
    try:
        secret = create_token(
            _engine().store, name, role, actor=person.email, accounts=bound or None
        )
    except TokenError as refused:
        flash(f"No token was created: {refused}.", "error")
        return _tokens_page(status=400)
    flash(f"Token {name} ({role}) created. Copy its secret now: it is never shown again.", "info")
    response = _tokens_page(secret=secret, created=name)
    return response[0], 201, {"Cache-Control": "no-store"}


@bp.post("/tokens/<name>/revoke")
def token_revoke(name: str):
    person = _person()
    if not person.may_manage_access:
        flash(f"A {person.role} may not revoke API tokens; an operator does.", "error")
        return _tokens_page(status=403)
    try:
        revoke_token(_engine().store, name, actor=person.email)
    except TokenError as refused:
        flash(f"Nothing was revoked: {refused}.", "error")
        return _tokens_page(status=409)
    flash(f"Token {name} revoked: the API refuses it within seconds.", "info")
    return redirect(url_for("admin.tokens_view")), 303
