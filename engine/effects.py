"""Effects: what an event caused, each naming its clause and terms version.

A :class:`Booking` collects the effects, ledger entries and deadline changes of one event
against a copy of the account state. Only an applied booking is written; a rejection is
returned with nothing else, so a rejected event leaves no trace in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.catalog import Terms
from engine.events import Event
from engine.money import format_amount, from_cents
from engine.rules import CompiledRuleset, Decider
from engine.state import AccountState, Deadline, LedgerEntry

ACCOUNT_CLAUSE = "CLINQ SD 1.2"


class Rejected(Exception):
    """The terms refuse the event: ``reason`` in words, ``clause`` that says so."""

    def __init__(self, reason: str, clause: str):
        super().__init__(reason)
        self.reason = reason
        self.clause = clause


@dataclass
class Booking:
    """The working set of one event: terms, rules, account copy, and what it produced."""

    event: Event
    terms: Terms
    ruleset: CompiledRuleset
    decider: Decider
    account: AccountState | None
    pending: list[Deadline]
    effects: list[dict[str, Any]] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    new_deadlines: list[Deadline] = field(default_factory=list)
    settled: list[tuple[Deadline, str]] = field(default_factory=list)
    balance_changed: bool = False
    local_date: date = field(init=False)

    def __post_init__(self) -> None:
        self.local_date = self.terms.calendar.local_date(self.event.at)

    def require_account(self) -> AccountState:
        """The account the event is for; an event for an account not opened is refused."""
        if self.account is None:
            raise Rejected(
                f"account {self.event.account} is not open: send account.opened first",
                ACCOUNT_CLAUSE,
            )
        return self.account

    def effect(self, kind: str, clause: str, terms_version: str | None = None, **fields) -> dict:
        """Record an effect of ``kind`` caused by ``clause``."""
        effect = {
            "kind": kind,
            "clause": clause,
            "terms_version": terms_version or self.terms.version,
            **{k: _json(v) for k, v in fields.items()},
        }
        self.effects.append(effect)
        return effect

    def book(
        self, kind: str, amount_cents: int, clause: str, terms: Terms | None = None, **fields
    ) -> dict:
        """Record a charge (negative) or credit (positive) as an effect and a ledger entry.

        A zero amount (a free or flat-rate call) is an effect without a ledger entry.
        """
        assert self.account is not None
        version = (terms or self.terms).version
        effect_kind = "charge" if amount_cents <= 0 else "credit"
        effect = self.effect(
            effect_kind, clause, version, amount=from_cents(abs(amount_cents)), item=kind, **fields
        )
        if amount_cents:
            detail = {k: effect[k] for k in fields}
            self.entries.append(LedgerEntry(kind, amount_cents, clause, version, detail))
            self.account.balance_cents += amount_cents
            self.balance_changed = True
        return effect

    def schedule(self, kind: str, due: date, clause: str, **payload) -> Deadline:
        """Store a deadline and record a ``deadline_set`` effect."""
        deadline = Deadline(
            account=self.event.account,
            kind=kind,
            due=due,
            clause=clause,
            terms_version=self.terms.version,
            created_by=self.event.id,
            payload=payload,
        )
        self.new_deadlines.append(deadline)
        self.effect("deadline_set", clause, deadline=kind, date=due)
        return deadline

    def settle(self, deadline: Deadline, status: str) -> None:
        """Mark a deadline as fired (``done``) or no longer needed (``lapsed``)."""
        self.settled.append((deadline, status))

    def due_deadlines(self, until: date) -> list[Deadline]:
        """Pending deadlines due on or before ``until``, earliest first."""
        settled = {id(d) for d, _ in self.settled}
        due = [
            d for d in self.pending + self.new_deadlines if id(d) not in settled and d.due <= until
        ]
        return sorted(due, key=lambda d: (d.due, d.kind))

    def has_pending(self, kind: str) -> bool:
        settled = {id(d) for d, _ in self.settled}
        return any(
            d.kind == kind and id(d) not in settled for d in self.pending + self.new_deadlines
        )


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
