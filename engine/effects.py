"""Effects: what an event caused, each naming its clause and terms version.

A :class:`Booking` collects the effects, ledger entries and deadline changes of one event
against a copy of the account state. Only an applied booking is written; a rejection is
returned with nothing else, so a rejected event leaves no trace in the ledger.
"""

from __future__ import annotations

from copy import copy as dataclass_copy
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.catalog import Catalog, Terms
from engine.core.contract_states import GONE
from engine.core.invoice_lines import Quantity, accumulate, pieces
from engine.core.money import format_amount, from_cents
from engine.core.state import AccountState, CreditNote, Deadline, Invoice, LedgerEntry
from engine.events import Event
from engine.rules import CompiledRuleset, Decider

ACCOUNT_CLAUSE = "CLINQ SD 1.2"
# Charges the monthly invoice lists (payment reversals, refunds and VAT itself are not items).
INVOICED_ITEMS = (
    "call",
    "base_fee",
    "additional_user_fee",
    "handling_fee",
    "returned_debit_fee",
    "default_interest",
)


class Rejected(Exception):
    """The terms refuse the event: ``reason`` in words, ``clause`` that says so."""

    def __init__(self, reason: str, clause: str):
        super().__init__(reason)
        self.reason = reason
        self.clause = clause


class InvoiceNumbers:
    """Invoice numbers, sequential without gaps per year (``2026-000001``).

    A batch draws numbers as its events are applied; the numbers a rejected event drew are
    given back (:meth:`restore`), so a number is only used by an invoice that exists.
    """

    def __init__(self, load_last):
        self.load_last = load_last  # locks the year's counter until the transaction ends
        self.base: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.changed: set[int] = set()

    def next(self, year: int) -> str:
        if year not in self.last:
            self.base[year] = self.last[year] = self.load_last(year)
        self.last[year] += 1
        self.changed.add(year)
        return f"{year}-{self.last[year]:06d}"

    def snapshot(self) -> dict[int, int]:
        return dict(self.last)

    def restore(self, snapshot: dict[int, int]) -> None:
        for year in self.last:
            self.last[year] = snapshot.get(year, self.base[year])

    def to_write(self) -> dict[int, int]:
        return {year: self.last[year] for year in self.changed if year in self.last}


@dataclass
class Booking:
    """The working set of one event: terms, rules, account copy, and what it produced."""

    event: Event
    terms: Terms
    ruleset: CompiledRuleset
    decider: Decider
    account: AccountState | None
    pending: list[Deadline]
    catalog: Catalog | None = None
    invoices: list[Invoice] = field(default_factory=list)
    numbers: InvoiceNumbers | None = None
    new_invoices: list[Invoice] = field(default_factory=list)
    changed_invoices: dict[str, Invoice] = field(default_factory=dict)
    credit_numbers: InvoiceNumbers | None = None
    new_credit_notes: list[CreditNote] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    new_deadlines: list[Deadline] = field(default_factory=list)
    settled: list[tuple[Deadline, str]] = field(default_factory=list)
    balance_changed: bool = False
    local_date: date = field(init=False)
    # months and (month, item) keys of period_charges this booking copied (copy on write)
    _owned: set = field(init=False, default_factory=set)

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
        }
        for key, value in fields.items():
            effect[key] = value if type(value) in _PLAIN else _json(value)
        self.effects.append(effect)
        return effect

    def book(
        self,
        kind: str,
        amount_cents: int,
        clause: str,
        terms: Terms | None = None,
        quantity: Quantity | None = None,
        **fields,
    ) -> dict:
        """Record a charge (negative) or credit (positive) as an effect and a ledger entry.

        A zero amount (a free or flat-rate call) is an effect without a ledger entry. A charge
        the monthly invoice lists keeps ``quantity`` for its line (one piece at the amount if
        not given: a fee).
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
            if amount_cents < 0 and kind in INVOICED_ITEMS:
                month = fields.get("period") or self.local_date.strftime("%Y-%m")
                item = f"call:{fields['zone']}" if kind == "call" else kind
                if "prorated_to" in fields:  # a part month of a plan change: its own line
                    item += f"@{fields['plan']}@{fields['prorated_from']}@{fields['prorated_to']}"
                total = self.period_total(month, item, clause)
                total[0] -= amount_cents
                accumulate(total, quantity or pieces(1, from_cents(-amount_cents)), -amount_cents)
            self.account.balance_cents += amount_cents
            self.balance_changed = True
        return effect

    def period_total(self, month: str, item: str, clause: str) -> list:
        """The account's ``period_charges[month][item]`` entry, this booking's own to change.

        :meth:`AccountState.copy` shares the months with the state before the event (a rejected
        event must leave it as it was); the month and item a charge changes are copied here,
        once per booking, instead of copying every month for every event.
        """
        assert self.account is not None
        charges = self.account.period_charges
        if month not in self._owned:
            charges[month] = dict(charges.get(month) or {})
            self._owned.add(month)
        items = charges[month]
        key = (month, item)
        if key not in self._owned:
            total = items.get(item)
            items[item] = [0, clause] if total is None else _copy_total(total)
            self._owned.add(key)
        return items[item]

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

    def terms_on(self, day: date) -> Terms:
        """The terms in force on another day (a deadline fires under the terms of its day)."""
        assert self.catalog is not None
        return self.catalog.at(day)

    def issue_invoice(
        self,
        kind: str,
        amount_cents: int,
        clause: str,
        terms: Terms | None = None,
        day: date | None = None,
        **fields,
    ) -> Invoice:
        """A new invoice, numbered, issued and received on ``day`` (by e-mail, AGB 4.3.1) and
        due on receipt (AGB 4.4.1)."""
        assert self.numbers is not None
        day = day or self.local_date
        invoice = Invoice(
            number=self.numbers.next(day.year),
            account=self.event.account,
            kind=kind,
            issued_on=day.isoformat(),
            due_on=day.isoformat(),
            amount_cents=amount_cents,
            open_cents=amount_cents,
            clause=clause,
            terms_version=(terms or self.terms).version,
        )
        self.new_invoices.append(invoice)
        self.effect(
            "invoice_issued",
            clause,
            invoice.terms_version,
            invoice=invoice.number,
            amount=from_cents(amount_cents),
            date=day,
            due=day,
            **fields,
        )
        return invoice

    def invoice(self, number: str) -> Invoice | None:
        """An invoice of the account by number; changes to it are written with the booking."""
        for invoice in self.new_invoices:
            if invoice.number == number:
                return invoice
        if number in self.changed_invoices:
            return self.changed_invoices[number]
        for invoice in self.invoices:
            if invoice.number == number:
                twin = dataclass_copy(invoice)
                self.changed_invoices[number] = twin
                return twin
        return None

    def all_invoices(self) -> list[Invoice]:
        """Every invoice of the account as this booking sees it, oldest first."""
        current = [self.changed_invoices.get(i.number, i) for i in self.invoices]
        return current + self.new_invoices

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


_PLAIN = frozenset({str, int, bool, type(None)})


def _copy_total(total: list) -> list:
    """A copy of a ``[cents, clause, lines]`` entry whose numbers a booking may change."""
    twin = list(total)
    if len(twin) >= 3:
        twin[2] = {key: dict(line) for key, line in twin[2].items()}
    return twin


def _json(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- guards every stage applies to the event it books ---------------------------------------


def record_use(booking: Booking) -> None:
    """Any use keeps an account active (AGB 1.5)."""
    account = booking.account
    if account is not None:
        account.contract.last_use = booking.local_date.isoformat()


def reject_by_rules(booking: Booking, subject: str, facts: dict) -> None:
    """Refuse the event if a catalog rule rejects it; the service description's rule wins."""
    rejecting = [
        r for r in booking.decider.decide(booking.ruleset, subject, facts) if r.decide == "reject"
    ]
    if rejecting:
        rule = sorted(rejecting, key=lambda r: not r.citation.startswith("CLINQ SD"))[0]
        raise Rejected(rule.reason or rule.name, rule.citation)


def require_usable(booking: Booking) -> None:
    """Events that use the account need one that exists and is not withdrawn or deleted."""
    contract = booking.require_account().contract
    if contract.status in GONE:
        raise Rejected(
            f"the account's contract is {contract.status}",
            "AGB 1.5" if contract.status == "deleted" else "AGB 1.1.1",
        )
