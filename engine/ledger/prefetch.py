"""One round trip for what a transaction on PostgreSQL reads before it applies its events.

Without it a single event costs a round trip each for the catalog's publication count, one
advisory lock per account, the known event ids, the accounts, their pending deadlines, their
invoices, and the webhook subscriptions. Here they go to the server as one psycopg pipeline
(https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html): the server runs them in order,
so every read still happens after the account locks are held, as without the pipeline.

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

import orjson

from engine.ledger.pipeline import driver_errors

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
# Everything else in one statement (one snapshot, taken after the locks are held): the
# catalog's publication count, the webhook subscriptions' fingerprint, and the known event ids,
# accounts, pending deadlines and invoices as JSON arrays of their rows (every column of these
# tables is text, an integer or a boolean, which JSON carries exactly; a digest as hex). One
# statement instead of six costs a third less CPU in this process (benchmarks/README.md).
_READS = (
    "SELECT (SELECT count(*) FROM publications), "
    "(SELECT md5(coalesce(string_agg(w::text, ',' ORDER BY w.id), '')) "
    "FROM webhook_subscriptions w), "
    "(SELECT coalesce(json_agg(json_build_array(id, encode(digest, 'hex'))), '[]') "
    "FROM events WHERE id = ANY(%(ids)s))::text, "
    "(SELECT coalesce(json_agg(a), '[]') FROM accounts a WHERE id = ANY(%(names)s))::text, "
    "(SELECT coalesce(json_agg(d ORDER BY d.due, d.id), '[]') FROM deadlines d "
    "WHERE account = ANY(%(names)s) AND status = 'pending')::text, "
    "(SELECT coalesce(json_agg(i ORDER BY i.number), '[]') FROM invoices i "
    "WHERE account = ANY(%(names)s))::text"
)


class Row(dict):
    """A row read as JSON, its columns also as attributes (as a database row has them)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


MISSING = object()


@dataclass
class Prefetched:
    """What the pipeline read; each part is handed out once, for exactly the ids it was read
    for (a later or different question goes to the database itself)."""

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
    with driver.pipeline():
        for name in names:  # in a fixed order, as Unit.lock_accounts takes them
            driver.execute(_LOCK, (name,))
        cursor = driver.execute(_READS, {"ids": ids, "names": names})
    publications, subscriptions, *parts = cursor.fetchone()
    cursor.close()
    digests, account_rows, pending_rows, invoice_rows = (orjson.loads(part) for part in parts)
    return Prefetched(
        event_ids=frozenset(ids),
        accounts=frozenset(names),
        digests={key: bytes.fromhex(digest) for key, digest in digests},
        account_rows=[Row(row) for row in account_rows],
        pending_rows=[Row(row) for row in pending_rows],
        invoice_rows=[Row(row) for row in invoice_rows],
        publications=int(publications),
        subscriptions_version=subscriptions,
    )
