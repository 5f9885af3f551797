"""Rating calls (AGB 3.4; CLINQ SD 2.1, 2.2, 3.1).

The tariff in force at the call's start applies. Emergency calls are refused where CLINQ SD 3.1
says they are impossible and free otherwise; the Premium EU flat rate makes EU calls free and
marks them as flat-rate; CLINQ's free minutes cover German landline and mobile calls from one
pool per calendar month; everything else costs the rate table's per-minute rate.
"""

from __future__ import annotations

from engine.billing.plan_changes import plan_at
from engine.billing.rating import billed_seconds, price, split_free_seconds
from engine.catalog import InForce
from engine.core.invoice_lines import call_minutes
from engine.core.money import to_cents
from engine.core.state import AccountState, free_seconds_used_in, use_free_seconds
from engine.effects import Booking, Rejected, record_use, require_usable
from engine.payments.payment_terms import check_not_blocked

PRICING_CLAUSE = "AGB 3.4"


def rate_call(booking: Booking) -> None:
    account = booking.require_account()
    data = booking.event.data
    terms = booking.terms
    # The plan in force at the call's start, as AGB 3.4 does for prices (Platform: plan-changes).
    plan_id = plan_at(account, booking.event.at)
    plan = terms.plan(plan_id)
    if data["user"] not in account.users:
        raise Rejected(
            f"user {data['user']} is not on account {account.id}: send user.added first",
            plan.citation,
        )
    zone = terms.zones.zone_of(data["to"])
    if zone is None:
        raise Rejected(f"no destination zone covers {data['to']}", "Price list: zones")
    require_usable(booking)
    check_not_blocked(booking, zone)
    record_use(booking)
    facts = {
        "plan": plan_id,
        "zone": zone,
        "account_country": account.country,
        "caller_country": data.get("caller_country", "DE"),
    }
    decisions = {
        rule.decide: rule for rule in booking.decider.decide(booking.ruleset, "call", facts)
    }
    call = {"user": data["user"], "to": data["to"], "zone": zone, "duration_s": data["duration_s"]}
    if "reject" in decisions:
        rule = decisions["reject"]
        raise Rejected(rule.reason or rule.name, rule.citation)
    if "free_of_charge" in decisions:
        booking.book("call", 0, decisions["free_of_charge"].citation, **call, charged_seconds=0)
        return
    if "flat_rate" in decisions:
        booking.book(
            "call", 0, decisions["flat_rate"].citation, **call, charged_seconds=0, flat_rate=True
        )
        return
    rates = terms.rates(plan["rate_table"])
    billed = billed_seconds(data["duration_s"], rates["first_increment"], rates["next_increment"])
    charged = billed
    if "free_minutes" in decisions and billed:
        month = booking.local_date.strftime("%Y-%m")
        free, charged = split_free_seconds(billed, free_seconds_left(account, month, plan))
        if free:
            use_free_seconds(account, month, free)
            booking.effect(
                "free_minutes_used",
                decisions["free_minutes"].citation,
                minutes=free // 60,
                seconds=free,
                left_seconds=free_seconds_left(account, month, plan),
            )
    rate = rates[zone]
    amount = price(charged, rate, terms.money)
    booking.book(
        "call",
        -to_cents(amount),
        PRICING_CLAUSE,
        quantity=call_minutes(charged, rate),
        **call,
        billed_seconds=billed,
        charged_seconds=charged,
        rate=f"{rate}",
        tariff=rates.citation,
    )


def free_seconds_left(account: AccountState, month: str, plan: InForce) -> int:
    """Free seconds left in ``month`` (YYYY-MM, Europe/Berlin); the pool resets each month."""
    return plan["free_minutes"] * 60 - free_seconds_used_in(account, month)
