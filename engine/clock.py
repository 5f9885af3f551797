"""The passing of time: a ``clock`` event fires every deadline due up to its instant.

Deadlines are data (never timers). Each fires with the terms in force on its due date, so a
replay gives the same result whenever it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.catalog import Catalog, Terms
from engine.credit import NEGATIVE_CREDIT_INVOICE, RECURRING_FEES, schedule_recurring_fees
from engine.effects import Booking
from engine.money import from_cents, to_cents
from engine.state import Deadline


def run_clock(booking: Booking, catalog: Catalog) -> None:
    """Fire the account's deadlines due on or before the clock's date, earliest first."""
    booking.require_account()
    today = booking.local_date
    while due := booking.due_deadlines(today):
        deadline = due[0]
        terms = catalog.at(deadline.due)
        status = DEADLINE_HANDLERS[deadline.kind](booking, deadline, terms)
        booking.settle(deadline, status)


def charge_recurring_fees(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Monthly base price and additional users, due on the first of the month (AGB 4.4.1)."""
    account = booking.require_account()
    plan = terms.plan(account.plan)
    period = deadline.due.strftime("%Y-%m")
    if plan["monthly_price"]:
        booking.book(
            "base_fee",
            -to_cents(plan["monthly_price"]),
            plan.clause_of("monthly_price"),
            terms=terms,
            period=period,
            due=deadline.due,
        )
    extra_users = max(0, len(account.users) - plan["included_users"])
    if extra_users and plan["additional_user_fee"]:
        booking.book(
            "additional_user_fee",
            -to_cents(plan["additional_user_fee"] * extra_users),
            plan.clause_of("additional_user_fee"),
            terms=terms,
            period=period,
            users=extra_users,
            due=deadline.due,
        )
    schedule_recurring_fees(booking, deadline.due)
    return "done"


def issue_negative_credit_invoice(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """On the 20th, invoice the outstanding amount if the credit is still -10.00 EUR or less."""
    account = booking.require_account()
    threshold = terms.clause(deadline.clause)["invoice_threshold"]
    if account.balance_cents <= to_cents(threshold):
        booking.effect(
            "invoice_issued",
            deadline.clause,
            terms.version,
            amount=from_cents(-account.balance_cents),
            date=deadline.due,
            reason="negative credit",
        )
        return "done"
    booking.effect(
        "deadline_lapsed",
        deadline.clause,
        terms.version,
        deadline=deadline.kind,
        date=deadline.due,
        reason=f"the credit is above {threshold} EUR again",
    )
    return "lapsed"


DEADLINE_HANDLERS: dict[str, Callable[[Booking, Deadline, Terms], str]] = {
    RECURRING_FEES: charge_recurring_fees,
    NEGATIVE_CREDIT_INVOICE: issue_negative_credit_invoice,
}
