"""Account state and deadlines: the plain data the engine reads and writes per event."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class AccountState:
    """What the engine knows of an account between events (CLINQ SD 1.2, 1.3)."""

    id: str
    plan: str
    customer_type: str
    billing_method: str
    country: str
    area_code: str
    status: str
    opened_at: str
    balance_cents: int = 0
    autoprepay_threshold_cents: int | None = None
    autoprepay_amount_cents: int | None = None
    topup_pending: bool = False
    free_month: str | None = None
    free_seconds_used: int = 0
    users: list[str] = field(default_factory=list)
    evn: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> AccountState:
        """A copy to work on; the original stays as it was if the event is rejected."""
        twin = copy.copy(self)
        twin.users = list(self.users)
        twin.evn = dict(self.evn)
        return twin


@dataclass(frozen=True)
class Deadline:
    """Something due on a date: stored as data, fired by ``clock`` events (never timers)."""

    account: str
    kind: str
    due: date
    clause: str
    terms_version: str
    created_by: str
    payload: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """A movement of money on an account: negative charges, positive credits, in cents."""

    kind: str
    amount_cents: int
    clause: str
    terms_version: str
    detail: dict[str, Any]
