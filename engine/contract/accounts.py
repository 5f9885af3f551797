"""Opening accounts and managing their users (CLINQ SD 1.2, 2.1, 2.2; AGB 12.4, 12.5)."""

from __future__ import annotations

import calendar as _stdlib_calendar
from datetime import date
from fractions import Fraction

from engine.billing.credit import schedule_recurring_fees
from engine.billing.invoicing import schedule_monthly_invoice, vat_treatment_of
from engine.contract.lifecycle import schedule_inactivity_check
from engine.core.invoice_lines import months, pieces
from engine.core.leitweg import leitweg_id_error
from engine.core.money import parse_amount, to_cents
from engine.core.state import AccountState, Contract
from engine.effects import ACCOUNT_CLAUSE, Booking, Rejected, record_use, require_usable


def open_account(booking: Booking) -> None:
    """account.opened: refused in excluded countries (AGB 12.4, 12.5), else the account exists."""
    event = booking.event
    if booking.account is not None:
        raise Rejected(f"account {event.account} is already open", ACCOUNT_CLAUSE)
    data = event.data
    facts = {
        "plan": data["plan"],
        "country": data["country"],
        "customer_type": data["customer_type"],
        "billing_method": data["billing_method"],
    }
    for rule in booking.decider.decide(booking.ruleset, "account.opened", facts):
        if rule.decide == "reject":
            raise Rejected(rule.reason or rule.name, rule.citation)
    check_customer_data(data.get("customer", {}))
    # § 3a (5) UStG: a consumer is taxed where it lives; one the catalog cannot tax is refused.
    vat_treatment_of(
        booking.terms, data["customer_type"], data["country"], data.get("customer", {})
    )
    autoprepay = data.get("autoprepay")
    booking.account = AccountState(
        id=event.account,
        plan=data["plan"],
        customer_type=data["customer_type"],
        billing_method=data["billing_method"],
        country=data["country"],
        area_code=data["area_code"],
        status="open",
        opened_at=event.raw["at"],
        autoprepay_threshold_cents=to_cents(parse_amount(autoprepay["threshold"]))
        if autoprepay
        else None,
        autoprepay_amount_cents=to_cents(parse_amount(autoprepay["amount"]))
        if autoprepay
        else None,
        evn=dict(data.get("evn", {})),
        customer=dict(data.get("customer", {})),
        contract=Contract(
            concluded_on=booking.local_date.isoformat(),
            concluded_by="account.opened",
            mandate=data["billing_method"] in ("autoprepay", "postpay"),
            last_use=booking.local_date.isoformat(),
        ),
    )
    plan = booking.terms.plan(data["plan"])
    booking.effect(
        "account_opened",
        ACCOUNT_CLAUSE,
        plan=data["plan"],
        local_numbers=plan["local_numbers"],
        billing_method=data["billing_method"],
    )
    day = booking.local_date
    price = plan["monthly_price"]
    part = prorated(price, day, booking)
    if part:
        booking.book(
            "base_fee",
            -to_cents(part),
            plan.clause_of("monthly_price"),
            quantity=months(part_of_month(day), price),
            period=day.strftime("%Y-%m"),
            prorated_from=day,
        )
    schedule_recurring_fees(booking, day)
    schedule_monthly_invoice(booking, day)
    schedule_inactivity_check(booking, day)


def check_customer_data(customer: dict) -> None:
    """What the event schema cannot say: the Leitweg-ID's state code and check digits.

    Refused as a rejected event naming the field: the request is well-formed, the id is not
    one (KoSIT Formatspezifikation Leitweg-ID; the customer's data, AGB 2.4).
    """
    if "leitweg_id" in customer:
        error = leitweg_id_error(customer["leitweg_id"])
        if error:
            raise Rejected(f"/customer/leitweg_id: {error}", "AGB 2.4")


def update_account(booking: Booking) -> None:
    """account.updated: the customer reports changed data (AGB 2.4); invoices use them (4.3.4)."""
    account = booking.require_account()
    data = booking.event.data
    check_customer_data(data.get("customer", {}))
    if "customer" in data:
        # A move abroad changes whose VAT applies (§ 3a (5) UStG): refused if none can.
        vat_treatment_of(booking.terms, account.customer_type, account.country, data["customer"])
        account.customer = dict(data["customer"])
    if "evn" in data:
        account.evn = dict(data["evn"])
    booking.effect("account_updated", "AGB 2.4", fields=sorted(k for k in data))


def add_user(booking: Booking) -> None:
    """user.added: users beyond the included ones cost the plan's fee (CLINQ SD 2.1, 2.2)."""
    account = booking.require_account()
    user = booking.event.data["user"]
    plan = booking.terms.plan(account.plan)
    if user in account.users:
        raise Rejected(f"user {user} is already on account {account.id}", plan.citation)
    require_usable(booking)
    account.users.append(user)
    record_use(booking)
    booking.effect("user_added", plan.citation, user=user, users=len(account.users))
    if len(account.users) > plan["included_users"]:
        part = prorated(plan["additional_user_fee"], booking.local_date, booking)
        if part:
            booking.book(
                "additional_user_fee",
                -to_cents(part),
                plan.clause_of("additional_user_fee"),
                quantity=pieces(part_of_month(booking.local_date), plan["additional_user_fee"]),
                user=user,
                period=booking.local_date.strftime("%Y-%m"),
                prorated_from=booking.local_date,
            )


def remove_user(booking: Booking) -> None:
    """user.removed: no refund for the month (Platform: recurring-fees)."""
    account = booking.require_account()
    user = booking.event.data["user"]
    plan = booking.terms.plan(account.plan)
    if user not in account.users:
        raise Rejected(f"user {user} is not on account {account.id}", plan.citation)
    account.users.remove(user)
    record_use(booking)
    booking.effect("user_removed", plan.citation, user=user, users=len(account.users))


def part_of_month(day: date) -> Fraction:
    """The days from ``day`` to the month's end (inclusive) as a fraction of the month."""
    days = _stdlib_calendar.monthrange(day.year, day.month)[1]
    return Fraction(days - day.day + 1, days)


def prorated(monthly, day: date, booking: Booking):
    """The part of a monthly price for the days from ``day`` to the month's end (inclusive)."""
    fees = booking.terms.clause("Platform: recurring-fees")
    if fees["proration"] != "daily":
        raise ValueError(f"unsupported proration {fees['proration']!r}")
    days = _stdlib_calendar.monthrange(day.year, day.month)[1]
    return booking.terms.money.round(monthly * (days - day.day + 1) / days)
