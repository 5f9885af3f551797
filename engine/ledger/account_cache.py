"""Account state kept in memory between batches, never used when stale.

A batch of a replay touches the same accounts as the batch before. Instead of loading each
account's state, pending deadlines and invoices again (JSON decoded, thousands of rows), the
engine keeps what it wrote after the commit, under the account's **version**. Every write of
an account raises ``accounts.version`` (engine/ledger/store.py), whoever writes it: the API,
the admin UI, another replay process. A batch reads the versions of its accounts (one small
query) and uses a kept entry only if its version is the stored one; any other account is
loaded from the database. A batch takes the entries it uses out of the cache and keeps its
own after the commit, so a long transaction (``billing replay``) never holds two states of an
account at once.

Accounts whose batch created deadlines are not kept: a new deadline gets its id from the
database, and only a loaded deadline has the id that settling it needs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from engine.core.state import AccountState, Deadline, Invoice

CAPACITY = 50_000  # accounts kept; beyond it the least recently written are forgotten


@dataclass(frozen=True)
class Kept:
    """An account as the engine last wrote (or read) it at ``version``."""

    version: int
    state: AccountState
    pending: list[Deadline]
    invoices: list[Invoice]


class AccountCache:
    """The accounts this process wrote last, by id; each entry valid for one version only."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._kept: dict[str, Kept] = {}
        self._lock = threading.Lock()  # the API's threads share one engine
        self.hits = 0
        self.misses = 0

    def take(self, versions: dict[str, int]) -> dict[str, Kept]:
        """The kept entries whose version is the stored one (``versions``: account -> version),
        handed over: a batch changes copies of them and keeps those after its commit, so the
        entries it took are no longer held here meanwhile (a batch that fails, or a quote,
        which commits nothing, leaves its accounts to be read again). Entries of another
        version are stale and dropped."""
        found = {}
        with self._lock:
            for name, version in versions.items():
                kept = self._kept.pop(name, None)
                if kept is not None and kept.version == version:
                    found[name] = kept
        self.hits += len(found)
        self.misses += len(versions) - len(found)
        return found

    def keep(self, name: str, kept: Kept) -> None:
        """Keep ``kept`` for ``name`` (two threads keeping one account: either version is
        checked before use, so the older one is merely refused next time)."""
        with self._lock:
            self._kept.pop(name, None)  # (re-)inserted last: the dict's order is the age
            self._kept[name] = kept
            if len(self._kept) > self.capacity:
                del self._kept[next(iter(self._kept))]

    def forget(self, name: str) -> None:
        with self._lock:
            self._kept.pop(name, None)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)
