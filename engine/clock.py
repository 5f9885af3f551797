"""The passing of time: a ``clock`` event fires every deadline due up to its instant.

Deadlines are data (never timers). Each fires with the terms in force on its due date, so a
replay gives the same result whenever it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, NamedTuple

from engine.billing import invoicing
from engine.billing.credit import (
    NEGATIVE_CREDIT_INVOICE,
    RECURRING_FEES,
    next_day_of_month,
    schedule_recurring_fees,
)
from engine.billing.invoicing import issue_invoice, outstanding_detail
from engine.billing.plan_changes import PLAN_CHANGE, day_start, fire_plan_change, plan_at
from engine.catalog import Catalog, Terms
from engine.contract import lifecycle as contract
from engine.contract.term_changes import held_back_terms
from engine.core.deadlines import last_day_of_month
from engine.core.invoice_lines import months, pieces
from engine.core.money import to_cents
from engine.core.state import Deadline
from engine.effects import Booking
from engine.payments import payment_terms as payments
from engine.payments import sepa_mandates as sepa
from engine.payments.payment_terms import charge_interest_on_open_invoices

CLOCK_CLAUSE = "Platform: clock"


class Horizon(NamedTuple):
    """The latest instant a sender may name now: the platform's clock plus the tolerance.

    No instant from the future (Platform: clock): the doors that take events from others (the
    API, the Kafka consumer) read the wall clock at their edge and refuse a later ``at``."""

    now: datetime
    minutes: int

    def refusal(self, value: Any, name: str) -> str | None:
        """Why the instant ``value`` (as sent, in field ``name``) lies too far ahead, or None;
        also None for what is no instant with offset (the event's own checks say why)."""
        if not isinstance(value, str):
            return None
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return None
        if instant.tzinfo is None or instant <= self.now + timedelta(minutes=self.minutes):
            return None
        now = self.now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return (
            f"{name} {value} is more than {_minutes_in_words(self.minutes)} ahead of the "
            f"platform's clock ({now}; {CLOCK_CLAUSE}); a later instant is an operator's "
            "command: billing clock advance"
        )


def _minutes_in_words(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if minutes and not rest:
        return "1 hour" if hours == 1 else f"{hours} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def horizon_at(catalog: Catalog, now: datetime) -> Horizon:
    """The horizon at ``now`` (a wall-clock reading taken by the caller, at its edge) under
    the tolerance of ``Platform: clock`` in force then."""
    return Horizon(now, catalog.at(now).clause(CLOCK_CLAUSE)["future_tolerance_minutes"])


def run_clock(booking: Booking, catalog: Catalog) -> None:
    """Fire the account's deadlines due on or before the clock's date, earliest first."""
    if booking.account is None or booking.account.contract.status == "deleted":
        return
    today = booking.local_date
    while due := booking.due_deadlines(today):
        deadline = due[0]
        # a change of the terms not yet in force for this customer waits (AGB 8; TKG § 57)
        terms = held_back_terms(catalog.at(deadline.due), booking.account, deadline.due)
        status = DEADLINE_HANDLERS[deadline.kind](booking, deadline, terms)
        booking.settle(deadline, status)


def charge_recurring_fees(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Monthly base price and additional users, due on the first of the month (AGB 4.4.1)."""
    account = booking.require_account()
    # The plan in force at the month's first moment (Platform: plan-changes).
    plan = terms.plan(plan_at(account, day_start(deadline.due, terms)))
    period = deadline.due.strftime("%Y-%m")
    if plan["monthly_price"]:
        booking.book(
            "base_fee",
            -to_cents(plan["monthly_price"]),
            plan.clause_of("monthly_price"),
            terms=terms,
            quantity=months(Fraction(1), plan["monthly_price"]),
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
            quantity=pieces(extra_users, plan["additional_user_fee"]),
            period=period,
            users=extra_users,
            due=deadline.due,
        )
    schedule_recurring_fees(booking, deadline.due)
    return "done"


def issue_negative_credit_invoice(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """On the 20th, invoice the outstanding amount if the credit is still -10.00 EUR or less.

    Only what no open invoice covers yet is invoiced, and the run comes again on the next 20th
    while the credit stays that low. Each run also charges the interest so far on invoices in
    default (AGB 4.4.4).
    """
    account = booking.require_account()
    credit = terms.clause(deadline.clause)
    threshold = credit["invoice_threshold"]
    charge_interest_on_open_invoices(booking, deadline.due)
    if account.balance_cents <= to_cents(threshold):
        invoiced = sum(i.open_cents for i in booking.all_invoices())
        outstanding = -account.balance_cents - invoiced
        if outstanding > 0:
            invoice = issue_invoice(
                booking, "negative_credit", outstanding, deadline.clause, terms, deadline.due
            )
            invoice.period = deadline.due.strftime("%Y-%m")
            invoice.detail = outstanding_detail(booking, invoice, terms) | invoice.detail
        following = last_day_of_month(deadline.due.year, deadline.due.month) + timedelta(days=1)
        booking.schedule(
            NEGATIVE_CREDIT_INVOICE,
            next_day_of_month(following, credit["invoice_day"]),
            deadline.clause,
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
    contract.DEEMED_ACCEPTANCE: contract.fire_deemed_acceptance,
    contract.ORDER_BINDING: contract.fire_order_binding,
    contract.CONTRACT_END: contract.fire_contract_end,
    contract.INACTIVITY_CHECK: contract.fire_inactivity_check,
    contract.INACTIVE_DELETION: contract.fire_inactive_deletion,
    invoicing.INVOICE_APPROVAL: invoicing.fire_invoice_approval,
    invoicing.TRAFFIC_DATA_DELETION: invoicing.fire_traffic_data_deletion,
    invoicing.DIRECT_DEBIT: invoicing.fire_direct_debit,
    invoicing.MONTHLY_INVOICE: invoicing.fire_monthly_invoice,
    payments.DEFAULT: payments.fire_default,
    payments.BLOCKING: payments.fire_blocking,
    payments.BLOCK_INCOMING: payments.fire_block_incoming,
    payments.MISUSE_BLOCK: payments.fire_misuse_block,
    sepa.MANDATE_EXPIRY: sepa.fire_expiry,
    PLAN_CHANGE: fire_plan_change,
}
