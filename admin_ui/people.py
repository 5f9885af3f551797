"""People who use the admin UI: product managers, legal, viewers (hashed passwords)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from engine import audit
from engine.ledger.tables import users

ROLES = ("product", "legal", "viewer")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 12


class PersonError(ValueError):
    pass


@dataclass(frozen=True)
class Person:
    email: str
    role: str

    def may_draft(self, kind: str) -> bool:
        """Product managers edit plans and tariffs; legal edits everything."""
        return self.role == "legal" or (
            self.role == "product" and kind in ("plan", "rates", "zones")
        )

    @property
    def may_publish(self) -> bool:
        return self.role == "legal"


def create_person(connection: Connection, email: str, role: str, password: str) -> None:
    if not _EMAIL.match(email):
        raise PersonError(f"{email!r} is not an e-mail address")
    if role not in ROLES:
        raise PersonError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise PersonError(f"a password has at least {MIN_PASSWORD} characters")
    try:
        connection.execute(
            insert(users),
            [
                {
                    "email": email,
                    "role": role,
                    "password_hash": generate_password_hash(password),
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            ],
        )
    except IntegrityError:
        raise PersonError(f"{email} already has an account") from None
    audit.record(
        connection,
        "billing user create",
        "user_created",
        at=datetime.now(UTC),
        email=email,
        role=role,
    )


def check_login(connection: Connection, email: str, password: str) -> Person | None:
    row = connection.execute(select(users).where(users.c.email == email)).one_or_none()
    if row is None or not check_password_hash(row.password_hash, password):
        return None
    return Person(row.email, row.role)
