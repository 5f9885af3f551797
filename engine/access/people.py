"""People who use the admin UI: product managers, legal, finance, operators, viewers (hashed
passwords).

Product drafts plans and tariffs, legal drafts anything and publishes (AGB 8); finance sees
everything money-related, imports bank statements and assigns payments, and never publishes
terms; operators (the platform's administrators) manage API tokens and webhook subscriptions;
viewers read.

A session remembers the person's ``session_epoch``; logout, a new role or password and
disabling raise it, so every session of that person ends at its next request (as it does when
the person is deleted). Every change is in the audit log with who made it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from engine.ledger import audit
from engine.ledger.tables import users

ROLES = ("product", "legal", "viewer", "finance", "operator")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 12
# werkzeug's hash method; None is werkzeug's default (scrypt). Tests set a cheap one.
PASSWORD_METHOD: str | None = None


class PersonError(ValueError):
    pass


@dataclass(frozen=True)
class Person:
    email: str
    role: str
    session_epoch: int = 0

    def may_draft(self, kind: str) -> bool:
        """Product managers edit plans and tariffs; legal edits everything."""
        return self.role == "legal" or (
            self.role == "product" and kind in ("plan", "rates", "zones")
        )

    @property
    def may_publish(self) -> bool:
        return self.role == "legal"

    @property
    def may_book_money(self) -> bool:
        """Import bank statements and assign their credits (issue 28): finance only."""
        return self.role == "finance"

    @property
    def may_manage_access(self) -> bool:
        """Create and revoke API tokens, add and remove webhook subscriptions: operators only."""
        return self.role == "operator"


def _hash(password: str) -> str:
    if PASSWORD_METHOD is None:
        return generate_password_hash(password)
    return generate_password_hash(password, method=PASSWORD_METHOD)


@functools.cache
def _dummy_hash(method: str | None) -> str:
    """A hash to check unknown e-mails against, so they take as long as known ones."""
    return _hash("not anybody's password, only for equal timing")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PersonError(f"a password has at least {MIN_PASSWORD} characters")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise PersonError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def create_person(
    connection: Connection,
    email: str,
    role: str,
    password: str,
    *,
    actor: str = "billing user create",
) -> None:
    if not _EMAIL.match(email):
        raise PersonError(f"{email!r} is not an e-mail address")
    _check_role(role)
    _check_password(password)
    try:
        connection.execute(
            insert(users),
            [
                {
                    "email": email,
                    "role": role,
                    "password_hash": _hash(password),
                    "created_at": _now(),
                    "session_epoch": 0,
                }
            ],
        )
    except IntegrityError:
        raise PersonError(f"{email} already has an account") from None
    audit.record(
        connection,
        actor,
        "user_created",
        at=datetime.now(UTC),
        email=email,
        role=role,
    )


def check_login(connection: Connection, email: str, password: str) -> Person | None:
    """The person, if the password is right and the account is enabled.

    The password is checked against a dummy hash for an unknown e-mail, and checked for a
    disabled person too, so the answer takes the same time whether the address exists or not.
    """
    row = connection.execute(select(users).where(users.c.email == email)).one_or_none()
    stored = row.password_hash if row is not None else _dummy_hash(PASSWORD_METHOD)
    matches = check_password_hash(stored, password)
    if row is None or not matches or row.disabled_at is not None:
        return None
    return Person(row.email, row.role, row.session_epoch)


def current(connection: Connection, email: str, epoch: object) -> Person | None:
    """The person behind a session, or None when the session has ended.

    It has ended when the person was deleted or disabled, or the epoch changed since login
    (logout, a new role or password).
    """
    row = connection.execute(select(users).where(users.c.email == email)).one_or_none()
    if row is None or row.disabled_at is not None or row.session_epoch != epoch:
        return None
    return Person(row.email, row.role, row.session_epoch)


def end_sessions(connection: Connection, email: str) -> None:
    """Every session of the person ends at its next request."""
    connection.execute(
        update(users).where(users.c.email == email).values(session_epoch=users.c.session_epoch + 1)
    )


def _change(connection: Connection, email: str, actor: str, action: str, values: dict, **detail):
    result = connection.execute(
        update(users)
        .where(users.c.email == email)
        .values(session_epoch=users.c.session_epoch + 1, **values)
    )
    if result.rowcount != 1:
        raise PersonError(f"there is no person {email!r}")
    audit.record(connection, actor, action, at=datetime.now(UTC), email=email, **detail)


def disable_person(connection: Connection, email: str, *, actor: str) -> None:
    """The person can no longer log in; their sessions end."""
    _change(connection, email, actor, "user_disabled", {"disabled_at": _now()})


def enable_person(connection: Connection, email: str, *, actor: str) -> None:
    _change(connection, email, actor, "user_enabled", {"disabled_at": None})


def set_role(connection: Connection, email: str, role: str, *, actor: str) -> None:
    _check_role(role)
    _change(connection, email, actor, "user_role_changed", {"role": role}, role=role)


def set_password(connection: Connection, email: str, password: str, *, actor: str) -> None:
    _check_password(password)
    values = {"password_hash": _hash(password)}
    _change(connection, email, actor, "user_password_changed", values)


def list_people(connection: Connection) -> list[dict]:
    """Everyone, without their password hashes."""
    rows = connection.execute(select(users).order_by(users.c.email))
    return [
        {
            "email": row.email,
            "role": row.role,
            "created_at": row.created_at,
            "disabled_at": row.disabled_at,
        }
        for row in rows
    ]
