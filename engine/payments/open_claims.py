"""What open invoices claim of the credit account's debt: every cent once (CLINQ SD 1.3, AGB 4.4.1).

The debt is the negative balance of the credit account. Open invoices claim part of it; the rest
is claimed by no invoice yet: charges not yet invoiced, which the next invoice (of the 20th or of
the month) claims. Open invoices never claim more than the debt: when credit comes in (a top-up,
a payment without reference, a credit note) and the debt falls below what open invoices claim,
the credit account offsets the difference against them, oldest first (CLINQ SD 1.3: the costs
are offset against the credit; BGB § 366 (2)). A payment without reference settles no invoice
of its own (AGB 4.2.4): it is credit, which settles an invoice only by this offset.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.core.money import from_cents
from engine.core.state import AccountState, Invoice
from engine.effects import Booking
from engine.payments.payment_terms import charge_interest, unblock_if_settled

OFFSET = "claims_offset_by_credit"
CLAUSE = "CLINQ SD 1.3"


def debt_cents(account: AccountState) -> int:
    """What the customer owes on the credit account: the negative balance, or 0."""
    return max(0, -account.balance_cents)


def claimed_cents(invoices: Sequence[Invoice]) -> int:
    """What open invoices still claim."""
    return sum(i.open_cents for i in invoices if i.open_cents > 0)


def unclaimed_cents(account: AccountState, invoices: Sequence[Invoice]) -> int:
    """The debt no open invoice claims yet (what the next invoice claims; never below 0)."""
    return max(0, debt_cents(account) - claimed_cents(invoices))


def offset_claims_beyond_debt(booking: Booking) -> None:
    """Where open invoices claim more than the debt, offset the difference, oldest first.

    Interest in default runs until the day the credit settles the invoice (AGB 4.4.4), as for a
    payment. Emits ``claims_offset_by_credit`` naming the invoices and amounts.
    """
    account = booking.require_account()
    offsets = []
    for candidate in booking.all_invoices():
        excess = claimed_cents(booking.all_invoices()) - debt_cents(account)
        if excess <= 0:
            break
        invoice = booking.invoice(candidate.number)
        if invoice is None or invoice.open_cents <= 0:
            continue
        charge_interest(booking, invoice, booking.local_date)
        excess = claimed_cents(booking.all_invoices()) - debt_cents(account)
        used = min(max(excess, 0), invoice.open_cents)
        if used == 0:
            continue
        invoice.open_cents -= used
        if invoice.open_cents == 0:
            invoice.status = "paid"
        offsets.append(
            {
                "invoice": invoice.number,
                "amount": f"{from_cents(used)}",
                "open": f"{from_cents(invoice.open_cents)}",
            }
        )
    if offsets:
        booking.effect(OFFSET, CLAUSE, offset=offsets, balance=from_cents(account.balance_cents))
        unblock_if_settled(booking)


def monthly_claims(
    account: AccountState, invoices: Sequence[Invoice], period: str, gross_cents: int
) -> tuple[int, list[tuple[str, int]], int]:
    """What the monthly invoice of ``period`` (``gross_cents``, its VAT already booked) claims.

    Returns the part of its gross that is debt (the rest the credit paid), the parts of it that
    earlier open invoices already claim (by number, oldest first), and what it asks for: the
    debt no open invoice claims, at most its gross. Open invoices claim the oldest debt first
    (an amount left open on October's invoice claims October's debt, not November's); charges
    of later periods, not yet invoiced, are the newest debt and not this invoice's.
    """
    later = sum(
        total[0]
        for month, items in account.period_charges.items()
        if month > period
        for total in items.values()
    )
    debt = max(0, debt_cents(account) - max(later, 0))
    in_debt = min(gross_cents, debt)
    older = debt - in_debt  # debt older than this invoice's charges
    parts: list[tuple[str, int]] = []
    for invoice in invoices:
        if invoice.open_cents <= 0:
            continue
        on_older = min(invoice.open_cents, older)
        older -= on_older
        part = min(invoice.open_cents - on_older, in_debt - sum(p for _, p in parts))
        if part > 0:
            parts.append((invoice.number, part))
    return in_debt, parts, in_debt - sum(p for _, p in parts)
