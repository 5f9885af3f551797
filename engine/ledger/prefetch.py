"""One round trip for what a transaction on PostgreSQL reads before it applies its events.

Without it a single event costs a round trip each for the catalog's publication count, one
advisory lock per account, the known event ids, the accounts, their pending deadlines, their
invoices, and the webhook subscriptions. Here they go to the server as one psycopg pipeline
(https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html): the server runs them in order,
so every read still happens after the account locks are held, exactly as before.

The webhook subscriptions are cached per process and checked each transaction against a
fingerprint (an MD5 of every subscription row) computed by the same pipeline: a subscription
created or removed by any process is seen by the next transaction in every process, with no
counter to maintain and nothing to forget. The publication count (the catalog's version) comes
along in the same statement.

SQLite needs none of this (no network, one writer): :func:`prefetch` does nothing there.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import namedtuple_row

from engine.ledger.pipeline import driver_errors

_VERSIONS = (
    "SELECT (SELECT count(*) FROM publications) AS publications, "
    "(SELECT md5(coalesce(string_agg(w::text, ',' ORDER BY w.id), '')) "
    "FROM webhook_subscriptions w) AS subscriptions"
)
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_DIGESTS = "SELECT id, digest FROM events WHERE id = ANY(%s)"
_ACCOUNTS = "SELECT * FROM accounts WHERE id = ANY(%s)"
_PENDING = "SELECT * FROM deadlines WHERE account = ANY(%s) AND status = 'pending' ORDER BY due, id"
_INVOICES = "SELECT * FROM invoices WHERE account = ANY(%s) ORDER BY number"


MISSING = object()


@dataclass
class Prefetched:
    """What the pipeline read; each part is handed out once, for exactly the ids it was read
    for (a later or different question goes to the database as before)."""

    event_ids: frozenset[str]
    accounts: frozenset[str]
    digests: dict[str, bytes]
    account_rows: list[Any]
    pending_rows: list[Any]
    invoice_rows: list[Any]
    publications: int
    subscriptions_version: str
    used: set[str] = field(default_factory=set)

    def take(self, part: str, ids: set[str]) -> Any:
        """The part read for ``ids`` (exactly, or some of the accounts), once; else
        :data:`MISSING`."""
        wanted = self.event_ids if part == "digests" else self.accounts
        if part in self.used or not (ids == wanted or (part != "digests" and ids <= wanted)):
            return MISSING
        self.used.add(part)
        rows = getattr(self, part)
        if ids == wanted:
            return rows
        key = "id" if part == "account_rows" else "account"
        return [row for row in rows if getattr(row, key) in ids]

    def versions(self, ids: set[str]) -> dict[str, int] | None:
        """The version of each account as read, when the accounts were read for ``ids``."""
        if "account_rows" in self.used or ids != self.accounts:
            return None
        return {row.id: row.version for row in self.account_rows}


class SubscriptionCache:
    """The active webhook subscriptions of one process, valid for one fingerprint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._subscriptions: list | None = None

    def get(self, version: str, load) -> list:
        with self._lock:
            if version == self._version and self._subscriptions is not None:
                return self._subscriptions
        subscriptions = load()
        with self._lock:
            self._version, self._subscriptions = version, subscriptions
        return subscriptions


def prefetch_in_one_round_trip(
    connection, accounts: Sequence[str], event_ids: Sequence[str]
) -> Prefetched | None:
    """:func:`prefetch`, with the driver's errors raised as SQLAlchemy's, as if SQLAlchemy had
    run the statements: a lost connection is invalidated (the pool drops it) and raises
    ``OperationalError``, which ``Engine.handle_events`` retries on a fresh connection."""
    with driver_errors(connection, "prefetch"):
        return prefetch(connection, accounts, event_ids)


def prefetch(connection, accounts: Sequence[str], event_ids: Sequence[str]) -> Prefetched | None:
    """Locks, versions and reads of one transaction in one round trip (PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        return None
    driver = connection.connection.driver_connection
    names = sorted(set(accounts))
    ids = list(set(event_ids))
    cursors = []
    with driver.pipeline():
        for name in names:  # in a fixed order, as Unit.lock_accounts takes them
            driver.execute(_LOCK, (name,))
        for query, parameter in (
            (_VERSIONS, None),
            (_DIGESTS, ids),
            (_ACCOUNTS, names),
            (_PENDING, names),
            (_INVOICES, names),
        ):
            cursor = driver.cursor(row_factory=namedtuple_row)
            cursor.execute(query, None if parameter is None else (parameter,))
            cursors.append(cursor)
    versions, digests, account_rows, pending_rows, invoice_rows = (c.fetchall() for c in cursors)
    for cursor in cursors:
        cursor.close()
    return Prefetched(
        event_ids=frozenset(ids),
        accounts=frozenset(names),
        digests={row.id: bytes(row.digest) for row in digests},
        account_rows=account_rows,
        pending_rows=pending_rows,
        invoice_rows=invoice_rows,
        publications=int(versions[0].publications),
        subscriptions_version=versions[0].subscriptions,
    )
