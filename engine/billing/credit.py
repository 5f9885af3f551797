"""The credit account (CLINQ SD 1.3; AGB 4.1): top-ups, payments, and what a balance triggers.

Charges are booked against the credit; recurring costs may make it negative and the customer
stays reachable. After every booking the balance is shown to the rule engine: autoprepay
accounts below their threshold get a top-up request (AGB 4.1.2), and from -10.00 EUR an
invoice for the outstanding amount is scheduled for the next 20th (CLINQ SD 1.3).
"""

from __future__ import annotations

from datetime import date, timedelta

from engine.core.contract_states import CONTRACT_OVER
from engine.core.deadlines import last_day_of_month
from engine.core.money import from_cents, parse_amount, to_cents
from engine.effects import Booking, record_use, require_usable
from engine.payments.open_claims import offset_claims_beyond_debt
from engine.payments.payment_terms import allocate_payment, request_settlement

RECURRING_FEES = "recurring_fees"
NEGATIVE_CREDIT_INVOICE = "negative_credit_invoice"


def top_up(booking: Booking) -> None:
    """credit.topped_up: credit paid in under prepay (AGB 4.1.1)."""
    account = booking.require_account()
    require_usable(booking)
    booking.book("top_up", to_cents(parse_amount(booking.event.data["amount"])), "AGB 4.1.1")
    account.topup_pending = False
    record_use(booking)


def receive_payment(booking: Booking) -> None:
    """payment.received: a transfer, direct debit or card payment (AGB 4.2.1)."""
    account = booking.require_account()
    data = booking.event.data
    fields = {"method": data["method"]}
    if "reference" in data:
        fields["reference"] = data["reference"]
    amount = to_cents(parse_amount(data["amount"]))
    booking.book("payment", amount, "AGB 4.2.1", **fields)
    account.topup_pending = False
    allocate_payment(booking, amount)


def after_booking(booking: Booking) -> None:
    """Show the new balance to the rule engine and apply what it decides."""
    account = booking.account
    if account is None or not booking.balance_changed:
        return
    # Open invoices never claim more than the debt: credit offsets them (CLINQ SD 1.3).
    offset_claims_beyond_debt(booking)
    threshold = account.autoprepay_threshold_cents
    facts = {
        "plan": account.plan,
        "billing_method": account.billing_method,
        "balance_cents": account.balance_cents,
        "autoprepay_headroom_cents": account.balance_cents - threshold
        if threshold is not None
        else 0,
        "mandate": "valid" if account.contract.mandate else "none",
    }
    if account.balance_cents >= 0:
        account.contract.settlement_requested = False
    running = account.contract.status not in CONTRACT_OVER
    for rule in booking.decider.decide(booking.ruleset, "balance", facts):
        if rule.decide == "topup" and running and not account.topup_pending:
            account.topup_pending = True
            booking.effect(
                "topup_requested",
                rule.citation,
                amount=from_cents(account.autoprepay_amount_cents or 0),
                balance=from_cents(account.balance_cents),
            )
        elif rule.decide == NEGATIVE_CREDIT_INVOICE and not booking.has_pending(
            NEGATIVE_CREDIT_INVOICE
        ):
            credit = booking.terms.clause(rule.citation)
            due = next_day_of_month(booking.local_date, credit["invoice_day"])
            if any(d.kind == NEGATIVE_CREDIT_INVOICE and d.due == due for d, _ in booking.settled):
                due = next_day_of_month(
                    last_day_of_month(due.year, due.month) + timedelta(1), credit["invoice_day"]
                )
            booking.schedule(NEGATIVE_CREDIT_INVOICE, due, rule.citation)
        elif rule.decide == "settlement_request":
            request_settlement(booking, rule.citation)


def schedule_recurring_fees(booking: Booking, after: date) -> None:
    """Monthly prices fall due on the first day of each month (AGB 4.4.1)."""
    first_of_next = last_day_of_month(after.year, after.month) + timedelta(days=1)
    booking.schedule(RECURRING_FEES, first_of_next, "AGB 4.4.1")


def next_day_of_month(on_or_after: date, day: int) -> date:
    """The next date with day number ``day`` on or after ``on_or_after``."""
    candidate = on_or_after.replace(
        day=min(day, last_day_of_month(on_or_after.year, on_or_after.month).day)
    )
    if candidate >= on_or_after:
        return candidate
    following = last_day_of_month(on_or_after.year, on_or_after.month) + timedelta(days=1)
    return following.replace(day=min(day, last_day_of_month(following.year, following.month).day))
