"""API tokens: created and revoked on the command line, stored as SHA-256 hashes, scoped.

A token is 32 random bytes; only its hash is stored, so a leaked database reveals no token.
Creating and revoking a token are recorded in the audit log in the same transaction (who, when,
which name and role; never the secret).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.ledger import audit
from engine.ledger.store import Store
from engine.ledger.tables import api_tokens

# What each role may do. Changing terms is the admin UI's (people with a login), not a token's.
ROLES: dict[str, frozenset[str]] = {
    # A billing service subscribes to the webhooks it wants pushed.
    "billing-service": frozenset(
        {"events:write", "accounts:read", "terms:read", "webhooks:manage"}
    ),
    "reader": frozenset({"accounts:read", "terms:read"}),
    # Finance collects the money: the SEPA files move it, so neither a billing service nor a
    # reader may fetch them (a GET records the file of its date on first fetch).
    "finance": frozenset({"sepa:export", "accounts:read", "terms:read"}),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    name: str
    role: str

    def may(self, capability: str) -> bool:
        return capability in ROLES[self.role]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(store: Store, name: str, role: str, *, actor: str = "platform") -> str:
    """Create a token and return its secret (shown once, never stored); ``actor`` is audited."""
    if not _NAME.match(name):
        raise TokenError(f"a token name is letters, digits, dot, dash or underscore, not {name!r}")
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    secret = "bt_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = {
        "name": name,
        "role": role,
        "token_sha256": _hash(secret),
        "created_at": now.isoformat(timespec="seconds"),
        "revoked_at": None,
    }
    try:
        with store.db.begin() as connection:
            connection.execute(insert(api_tokens), [row])
            audit.record(connection, actor, "token_created", at=now, name=name, role=role)
    except IntegrityError:
        raise TokenError(
            f"a token named {name!r} exists; revoke it or choose another name"
        ) from None
    return secret


def revoke_token(store: Store, name: str, *, actor: str = "platform") -> None:
    """Revoke the active token of this name; ``actor`` is audited."""
    now = datetime.now(UTC)
    with store.db.begin() as connection:
        result = connection.execute(
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now.isoformat(timespec="seconds"))
        )
        if result.rowcount == 0:
            raise TokenError(f"no active token named {name!r}")
        audit.record(connection, actor, "token_revoked", at=now, name=name)
    forget_cached_tokens()


def list_tokens(store: Store) -> list[dict]:
    with store.db.connect() as connection:
        rows = connection.execute(select(api_tokens).order_by(api_tokens.c.name)).all()
    return [
        {"name": r.name, "role": r.role, "created_at": r.created_at, "revoked_at": r.revoked_at}
        for r in rows
    ]


CACHE_SECONDS = 5.0
_cache: dict[tuple[int, str], tuple[float, Token | None]] = {}
_cache_lock = threading.Lock()


def authenticate(store: Store, secret: str) -> Token | None:
    """The active token with this secret, or None.

    Answers are remembered for CACHE_SECONDS per process, so a revocation takes effect in every
    server process within that time.
    """
    key = (id(store), _hash(secret))
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    if cached and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    token = _lookup(store, secret)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (now, token)
    return token


def forget_cached_tokens() -> None:
    with _cache_lock:
        _cache.clear()


def _lookup(store: Store, secret: str) -> Token | None:
    with store.db.connect() as connection:
        row = connection.execute(
            select(api_tokens.c.name, api_tokens.c.role).where(
                api_tokens.c.token_sha256 == _hash(secret), api_tokens.c.revoked_at.is_(None)
            )
        ).one_or_none()
    return Token(row.name, row.role) if row else None
