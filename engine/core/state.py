"""Account state and deadlines: the plain data the engine reads and writes per event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class Contract:
    """The contract's lifecycle (AGB 1, 4, 9; CLINQ SD 1.1, 1.4). Dates are ISO strings.

    ``account.opened`` books the plan and counts as conclusion unless an ``order.received``
    follows: then the order confirmation or the deemed acceptance concludes the contract.
    """

    status: str = "concluded"  # ordered, concluded, ending, ended, withdrawn, lapsed, deleted
    concluded_on: str | None = None
    concluded_by: str | None = None
    ordered_on: str | None = None
    activated_on: str | None = None
    ends_on: str | None = None
    ended_on: str | None = None
    mandate: bool = False
    # The SEPA direct debit mandate (engine/payments/sepa_mandates.py): reference, signed_on,
    # debtor_name, iban, bic, scheme, one_off, granted_on, collections, last_collection,
    # amendment; or None.
    sepa_mandate: dict[str, Any] | None = None
    last_use: str | None = None
    blocked: str | None = None  # "outgoing" or "all" while blocked
    block_reason: str | None = None
    returned_debits: int = 0
    settlement_requested: bool = False
    deletion_notice_on: str | None = None
    misuse_since: str | None = None
    special_termination: dict[str, Any] | None = None  # AGB 8.2, 8.6: window after a notice
    # Notices of changes of the terms by publication number: pending until delivered; the change
    # is held back for this customer until effective_for_customer (engine/contract/term_changes.py).
    term_notices: dict[str, Any] = field(default_factory=dict)
    # Plan changes (Platform: plan-changes): the change not yet in force, and every change in
    # force as {plan, previous, from (instant)}, oldest first. Replace, never mutate, the list.
    plan_change: dict[str, Any] | None = None
    plan_history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Invoice:
    """An invoice: its number is gapless per year; ``open_cents`` is what is still owed."""

    number: str
    account: str
    kind: str
    issued_on: str
    due_on: str
    amount_cents: int
    open_cents: int
    clause: str
    terms_version: str
    status: str = "open"  # open, paid
    approved: bool = False
    objection: str | None = None  # pending, justified
    traffic_data_deleted_on: str | None = None
    default_on: str | None = None
    interest_until: str | None = None
    default_hint: bool = False  # the invoice pointed out default after 30 days (BGB § 286 (3))
    interest_cents: int = 0  # default interest it claims: it bears none itself (BGB § 289)
    interest_charged_cents: int = 0  # default interest charged on it so far (AGB 4.4.4)
    period: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # Settlement, not document content: what credit notes corrected of it (GoBD: the invoice
    # itself is never edited; engine/billing/credit_notes.py).
    credited_cents: int = 0
    credit_notes: list[str] = field(default_factory=list)
    # Settlement too: the returns of its direct debits, oldest first, each {event, collection,
    # end_to_end_id, collection_date}: one collection is returned once (AGB 4.2.3;
    # engine/payments/sepa_mandates.py returned_collection). Replace, never mutate, the list.
    returns: list[dict[str, Any]] = field(default_factory=list)
    # Settlement: payments by direct debit allocated to it, each a collection that arrived; a
    # return after the first needs one since the last return (a transfer is no collection).
    debits_collected: int = 0


@dataclass(frozen=True)
class CreditNote:
    """A credit note (Rechnungskorrektur, UNTDID 1001 code 381): numbered gapless per year in
    its own series, written once and never changed (GoBD). ``invoice`` is the corrected invoice
    (BT-25) where there is one; ``detail`` holds everything its documents print."""

    number: str
    account: str
    issued_on: str
    amount_cents: int  # gross, positive (EN 16931: a credit note's amounts are positive)
    reason: str  # objection, refund, withdrawal_refund
    clause: str
    terms_version: str
    invoice: str | None = None
    invoice_issued_on: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


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
    free_month: str | None = None  # the month of the current free-minute pool (CLINQ SD 2.1)
    free_seconds_used: int = 0
    # month -> seconds used, of the twelve months before free_month (calls reported late);
    # replaced, never changed in place, so copies share it
    free_seconds_before: dict[str, int] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)
    evn: dict[str, Any] = field(default_factory=dict)
    contract: Contract = field(default_factory=Contract)
    customer: dict[str, Any] = field(default_factory=dict)
    # month -> item -> [cents, clause, lines]: what the next monthly invoice lists (lines:
    # quantity and net per unit price, engine/core/invoice_lines.py)
    period_charges: dict[str, dict[str, list]] = field(default_factory=dict)

    def copy(self) -> AccountState:
        """A copy to work on; the original stays as it was if the event is rejected."""
        twin = _shallow_copy(self)
        twin.users = list(self.users)
        twin.evn = dict(self.evn)
        twin.contract = _shallow_copy(self.contract)
        twin.customer = dict(self.customer)
        # Copy on write: the months are shared until a booking charges one
        # (engine/effects.py Booking.period_total copies the month and item it changes).
        twin.period_charges = dict(self.period_charges)
        return twin


def free_seconds_used_in(account: AccountState, month: str) -> int:
    """Free seconds used in ``month`` (YYYY-MM, the pool of CLINQ SD 2.1): the current pool's,
    or an earlier month's for a call reported late."""
    if account.free_month == month:
        return account.free_seconds_used
    return account.free_seconds_before.get(month, 0)


def use_free_seconds(account: AccountState, month: str, seconds: int) -> None:
    """Count ``seconds`` against ``month``'s pool. A later month starts a new pool and keeps
    the last one's use; a call reported late counts against its own month and leaves the
    current pool as it is."""
    _set_free_seconds_used(account, month, free_seconds_used_in(account, month) + seconds)


def start_free_pool(account: AccountState, month: str) -> None:
    """``month``'s pool starts anew (a plan change whose free minutes do not stay used)."""
    _set_free_seconds_used(account, month, 0)


def _set_free_seconds_used(account: AccountState, month: str, used: int) -> None:
    """``month``'s pool has ``used`` seconds used; twelve earlier months are kept."""
    current = account.free_month
    if current == month:
        account.free_seconds_used = used
    elif current is None or month > current:
        before = dict(account.free_seconds_before)
        if current is not None and account.free_seconds_used:
            before[current] = account.free_seconds_used
        oldest = f"{int(month[:4]) - 1:04d}{month[4:]}"
        account.free_seconds_before = {m: s for m, s in before.items() if m >= oldest}
        account.free_month, account.free_seconds_used = month, used
    else:
        account.free_seconds_before = {**account.free_seconds_before, month: used}


def _shallow_copy(instance: Any) -> Any:
    """``copy.copy`` of a plain dataclass, without the pickle protocol's cost (hot path)."""
    twin = object.__new__(type(instance))
    twin.__dict__.update(instance.__dict__)
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
