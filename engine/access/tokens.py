"""API tokens: created and revoked on the command line, stored as SHA-256 hashes, scoped.

A token is 32 random bytes; only its hash is stored, so a leaked database reveals no token.
Creating and revoking a token are recorded in the audit log in the same transaction (who, when,
which name, role and accounts; never the secret).

A token may be bound to accounts (``billing token create NAME --role reader --account ID``): it
then reads those accounts only, and the API answers 404 for every other account and for every
document of another account, as if it did not exist. Only a role that reads and writes nothing
beyond one account's data can be bound (:data:`BOUND_CAPABILITIES`: today ``reader``); a
binding is fixed when the token is created.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.ledger import audit
from engine.ledger.store import Store
from engine.ledger.tables import accounts as accounts_table
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
# What a token bound to accounts may do: read them, and the terms every customer has. Writing
# events, managing webhooks or fetching SEPA files reaches beyond one account, so a role that
# may do any of that is never bound (and a bound token is refused it, whatever its row says).
BOUND_CAPABILITIES = frozenset({"accounts:read", "terms:read"})
BINDABLE_ROLES = tuple(role for role, may in ROLES.items() if may <= BOUND_CAPABILITIES)
MAX_BOUND_ACCOUNTS = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    name: str
    role: str
    # The accounts this token may read; None: every account (an unbound token).
    accounts: frozenset[str] | None = None

    def may(self, capability: str) -> bool:
        if self.accounts is not None and capability not in BOUND_CAPABILITIES:
            return False
        return capability in ROLES[self.role]

    def reads(self, account: str) -> bool:
        """Whether this token may see ``account``'s data (every account, if it is unbound)."""
        return self.accounts is None or account in self.accounts


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    store: Store,
    name: str,
    role: str,
    *,
    actor: str = "platform",
    accounts: Iterable[str] | None = None,
) -> str:
    """Create a token and return its secret (shown once, never stored); ``actor`` is audited.

    With ``accounts`` the token reads only those accounts; each must exist, and the role must
    be one of :data:`BINDABLE_ROLES`. Nothing is stored when anything is refused.
    """
    if not _NAME.fullmatch(name):
        raise TokenError(f"a token name is letters, digits, dot, dash or underscore, not {name!r}")
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    bound = _bindable(role, accounts)
    secret = "bt_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = {
        "name": name,
        "role": role,
        "token_sha256": _hash(secret),
        "created_at": now.isoformat(timespec="seconds"),
        "revoked_at": None,
        "accounts": None if bound is None else orjson.dumps(bound).decode(),
    }
    detail = {} if bound is None else {"accounts": bound}
    try:
        with store.db.begin() as connection:
            if bound is not None:
                _refuse_unknown_accounts(connection, bound)
            connection.execute(insert(api_tokens), [row])
            audit.record(connection, actor, "token_created", at=now, name=name, role=role, **detail)
    except IntegrityError:
        raise TokenError(
            f"a token named {name!r} exists; revoke it or choose another name"
        ) from None
    return secret


def _bindable(role: str, accounts: Iterable[str] | None) -> list[str] | None:
    """The accounts a token of ``role`` is bound to, sorted and each once; None: unbound."""
    if accounts is None:
        return None
    if role not in BINDABLE_ROLES:
        beyond = ", ".join(sorted(ROLES[role] - BOUND_CAPABILITIES))
        raise TokenError(
            f"--account: only a {' or '.join(BINDABLE_ROLES)} token can be bound to accounts; "
            f"a {role} token may also {beyond}, which reaches beyond its accounts"
        )
    given = [accounts] if isinstance(accounts, str) else list(accounts)
    for account in given:
        if not isinstance(account, str) or not _NAME.fullmatch(account):
            raise TokenError(f"--account: {account!r} is not an account id")
    bound = sorted(set(given))
    if not bound:
        raise TokenError("--account: name at least one account id to bind the token to")
    if len(bound) > MAX_BOUND_ACCOUNTS:
        raise TokenError(f"--account: at most {MAX_BOUND_ACCOUNTS} accounts per token")
    return bound


def _refuse_unknown_accounts(connection, bound: list[str]) -> None:
    found = set(
        connection.execute(
            select(accounts_table.c.id).where(accounts_table.c.id.in_(bound))
        ).scalars()
    )
    unknown = [account for account in bound if account not in found]
    if unknown:
        raise TokenError(
            f"--account: there is no account {unknown[0]!r}; a token is bound to existing "
            "accounts only"
        )


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
        {
            "name": r.name,
            "role": r.role,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
            "accounts": _accounts_of(r.accounts),
        }
        for r in rows
    ]


def _accounts_of(stored: str | None) -> list[str] | None:
    """The bound accounts as stored (a JSON list), or None for an unbound token."""
    if stored is None:
        return None
    try:
        accounts = orjson.loads(stored)
    except orjson.JSONDecodeError:
        accounts = None
    if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
        return []  # not as this module writes it: bound to nothing rather than to everything
    return accounts


CACHE_SECONDS = 5.0
_cache: dict[tuple[int, str], tuple[float, Token | None]] = {}
_cache_lock = threading.Lock()


def authenticate(store: Store, secret: str) -> Token | None:
    """The active token with this secret, or None.

    Answers are remembered for CACHE_SECONDS per process, so a revocation takes effect in every
    server process within that time. A token's accounts are fixed when it is created.
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
            select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.accounts).where(
                api_tokens.c.token_sha256 == _hash(secret), api_tokens.c.revoked_at.is_(None)
            )
        ).one_or_none()
    if row is None or row.role not in ROLES:
        return None
    bound = _accounts_of(row.accounts)
    return Token(row.name, row.role, None if bound is None else frozenset(bound))
