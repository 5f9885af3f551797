"""Changing plans between CLINQ and CLINQ Premium (Platform: plan-changes).

The documents are silent on plan changes; ``rules/platform/plan-changes.yaml`` decides: an
upgrade takes effect at once (or on a named later day), a downgrade at the end of the month.
The rest of the month is charged by days, the change day counted for the new plan, each charge
rounded once (Platform: money). A call is rated by the plan in force at its start (as AGB 3.4
does for prices): :func:`plan_at` answers which one that was. A change the customer asked for
is no change of the terms by the provider, so it needs no notice under AGB 8.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from engine.billing.credit import RECURRING_FEES
from engine.catalog import InForce, NotInForce, Terms
from engine.core.contract_states import CONTRACT_OVER
from engine.core.money import format_amount, to_cents
from engine.core.state import AccountState, Deadline, free_seconds_used_in, start_free_pool
from engine.effects import Booking, Rejected

DECISION = "Platform: plan-changes"
PLAN_CHANGE = "plan_change"
# The plan parameters a customer notices; the effects say which of them change.
COMPARED = (
    "monthly_price",
    "included_users",
    "additional_user_fee",
    "local_numbers",
    "free_minutes",
    "free_minutes_zones",
    "flat_rate_zones",
    "itemised_bill",
)


# -- which plan was in force --------------------------------------------------------------------


def plan_at(account: AccountState, instant: datetime) -> str:
    """The plan in force at ``instant`` (a call's start, a month's first moment).

    A pending change counts from its effective instant even before the clock fired it, so a
    call on the first of a month is rated under the new plan whenever its event arrives.
    """
    contract = account.contract
    pending = contract.plan_change
    if pending and instant >= datetime.fromisoformat(pending["effective_at"]):
        return pending["plan"]
    for entry in reversed(contract.plan_history):
        if instant >= datetime.fromisoformat(entry["from"]):
            return entry["plan"]
    return contract.plan_history[0]["previous"] if contract.plan_history else account.plan


def day_start(day: date, terms: Terms) -> datetime:
    """00:00 of ``day`` in the platform's time zone (Europe/Berlin)."""
    return datetime.combine(day, time(), tzinfo=terms.calendar.zone)


# -- the event ----------------------------------------------------------------------------------


def change_plan(booking: Booking) -> None:
    """plan.changed: the customer asks for another plan (Platform: plan-changes)."""
    account = booking.require_account()
    terms, contract = booking.terms, account.contract
    decision = terms.clause(DECISION)
    target = booking.event.data["plan"]
    if contract.status in CONTRACT_OVER:
        since = f" on {contract.ended_on}" if contract.ended_on else ""
        raise Rejected(
            f"the contract is {contract.status}{since}: its plan can no longer be changed", DECISION
        )
    try:
        terms.plan(target)
    except NotInForce as missing:
        raise Rejected(f"plan: {missing}", DECISION) from None
    order = list(decision["plan_order"])
    for plan_id in (target, account.plan):
        if plan_id not in order:
            raise Rejected(
                f"plan: {plan_id!r} is not ranked by {DECISION} (plan_order: {', '.join(order)})",
                DECISION,
            )
    pending = contract.plan_change
    if target == account.plan:
        if pending and decision["upgrade_cancels_pending_downgrade"]:
            cancel_pending(booking, f"the customer asked to stay on {target}")
            return
        raise Rejected(f"plan: the account is already on {target}", DECISION)
    if pending and pending["plan"] == target:
        raise Rejected(
            f"plan: a change to {target} is already pending for {pending['effective_on']}",
            DECISION,
        )
    direction = "upgrade" if order.index(target) > order.index(account.plan) else "downgrade"
    effective = effective_day(booking, direction, decision)
    ends = date.fromisoformat(contract.ends_on) if contract.ends_on else None
    if ends is not None and (effective or booking.local_date) >= ends:
        raise Rejected(
            f"effective: the contract ends on {ends}; the change to {target} would only take "
            f"effect on {effective}",
            DECISION,
        )
    if pending:
        cancel_pending(booking, f"replaced by a change to {target}")
    if effective is None:
        apply_change(booking, target, booking.event.at, terms, direction)
        return
    schedule_change(booking, target, direction, effective)


def effective_day(booking: Booking, direction: str, decision: InForce) -> date | None:
    """The day a change takes effect at 00:00, or None for at once (the event's instant)."""
    today = booking.local_date
    named = booking.event.data.get("effective")
    wanted = date.fromisoformat(named) if named else None
    if wanted is not None and wanted < today:
        raise Rejected(f"effective: {named} is before the day of the request ({today})", DECISION)
    if direction == "upgrade":
        _require(decision, "upgrade_takes_effect", "at_once")
        return None if wanted is None or wanted == today else wanted
    _require(decision, "downgrade_takes_effect", "end_of_month")
    month_end = _month_end(today)
    if wanted is None:
        return month_end + timedelta(days=1)
    if wanted.day != 1 or wanted <= today:
        raise Rejected(
            f"effective: a downgrade takes effect at the end of a month; send the first day "
            f"of a following month (e.g. {month_end + timedelta(days=1)}), not {named}",
            DECISION,
        )
    return wanted


def schedule_change(booking: Booking, target: str, direction: str, effective: date) -> None:
    """A change from a later day: stored on the contract, fired by the clock on that day."""
    account = booking.require_account()
    terms = booking.terms
    old, new = terms.plan(account.plan), terms.plan(target)
    at = day_start(effective, terms)
    account.contract.plan_change = {
        "plan": target,
        "previous": account.plan,
        "direction": direction,
        "effective_on": effective.isoformat(),
        "effective_at": at.isoformat(),
        "requested_by": booking.event.id,
    }
    booking.schedule(PLAN_CHANGE, effective, DECISION, plan=target)
    kept = min(old["local_numbers"], new["local_numbers"])
    booking.effect(
        "plan_change_scheduled",
        DECISION,
        plan=target,
        previous_plan=account.plan,
        direction=direction,
        effective_on=effective,
        effective_at=at.isoformat(),
        changes=plan_differences(old, new),
        local_numbers_kept=kept,
        local_numbers_released=old["local_numbers"] - kept,
        agb_8_notice_needed=terms.clause(DECISION)["customer_request_needs_notice"],
        notice=confirmation_text(old, new, effective, kept, account.customer_type, terms),
    )


def cancel_pending(booking: Booking, reason: str) -> None:
    """Drop the change not yet in force, and its deadline."""
    contract = booking.require_account().contract
    pending = contract.plan_change
    assert pending is not None
    contract.plan_change = None
    for deadline in booking.due_deadlines(date.max):
        if deadline.kind == PLAN_CHANGE:
            booking.settle(deadline, "lapsed")
    booking.effect(
        "plan_change_cancelled",
        DECISION,
        plan=pending["plan"],
        effective_on=pending["effective_on"],
        reason=reason,
    )


# -- the change taking effect -------------------------------------------------------------------


def apply_change(
    booking: Booking, target: str, instant: datetime, terms: Terms, direction: str
) -> None:
    """The account is on ``target`` from ``instant``: prices pro rata, numbers, EVN."""
    account = booking.require_account()
    contract = account.contract
    previous = account.plan
    old, new = terms.plan(previous), terms.plan(target)
    decision = terms.clause(DECISION)
    day = terms.calendar.local_date(instant)
    charges = (
        []
        if month_fees_to_come(booking, instant, terms)
        else rest_of_month(old, new, account, instant, terms)
    )
    account.plan = target
    contract.plan_history = [
        *contract.plan_history,
        {"plan": target, "previous": previous, "from": instant.isoformat()},
    ]
    contract.plan_change = None
    kept = min(old["local_numbers"], new["local_numbers"])
    booking.effect(
        "plan_changed",
        DECISION,
        terms.version,
        plan=target,
        previous_plan=previous,
        direction=direction,
        effective_at=instant.isoformat(),
        changes=plan_differences(old, new),
        local_numbers=new["local_numbers"],
        agb_8_notice_needed=decision["customer_request_needs_notice"],
        notice=f"Ihr Wechsel zu {new.file.title} ist wirksam. "
        + prices_text(new, account.customer_type, terms),
    )
    for kind, cents, clause, fields in charges:
        booking.book(kind, -cents, clause, terms=terms, rule=DECISION, **fields)
    if new["local_numbers"] < old["local_numbers"]:
        _require(decision, "numbers_kept_on_downgrade", "first_assigned")
        booking.effect(
            "local_numbers_released",
            DECISION,
            terms.version,
            kept=kept,
            kept_numbers="the first assigned",
            released=old["local_numbers"] - kept,
            date=day,
        )
    if old["itemised_bill"] and not new["itemised_bill"]:
        booking.effect(
            "itemised_bill_ended",
            new.clause_of("itemised_bill"),
            terms.version,
            date=day,
            evn_settings_end=decision["evn_settings_end_on_downgrade"],
            traffic_data="kept until their deletion dates (AGB 4.4.5)",
        )
    if new["free_minutes"]:
        month = day.strftime("%Y-%m")
        used = free_seconds_used_in(account, month)
        if not decision["free_minutes_used_stay_used"]:
            used = 0
            start_free_pool(account, month)
        booking.effect(
            "free_minutes_pool",
            DECISION,
            terms.version,
            month=month,
            minutes=new["free_minutes"],
            used_seconds=used,
            left_seconds=new["free_minutes"] * 60 - used,
        )


def month_fees_to_come(booking: Booking, instant: datetime, terms: Terms) -> bool:
    """Whether the change is in force from the month's first moment and the month's fees
    (Platform: recurring-fees) are still to be charged: then they are the new plan's, and
    nothing is charged pro rata."""
    first = terms.calendar.local_date(instant).replace(day=1)
    if instant > day_start(first, terms):
        return False
    return any(d.kind == RECURRING_FEES and d.due == first for d in booking.due_deadlines(date.max))


def rest_of_month(
    old: InForce, new: InForce, account: AccountState, instant: datetime, terms: Terms
) -> list[tuple[str, int, str, dict[str, Any]]]:
    """The new plan's monthly prices for the days from the change day to the month's end.

    One rounding per charge: price x remaining days / days of the month, half up to the cent
    (Platform: money). The old plan's prices are already paid for the month; the decision
    credits nothing, so a change away from a plan with prices before the month ends is refused.
    """
    decision = terms.clause(DECISION)
    _require(decision, "proration", "daily_from_change_day")
    day = terms.calendar.local_date(instant)
    days = _stdlib_calendar.monthrange(day.year, day.month)[1]
    remaining = days - day.day + 1
    users = max(0, len(account.users) - old["included_users"])
    if old["monthly_price"] or (users and old["additional_user_fee"]):
        raise Rejected(
            f"{old.citation} has monthly prices and {DECISION} states no credit for the rest "
            "of the month: such a change can only take effect on the first of a month "
            "(send effective)",
            DECISION,
        )
    period = {
        "plan": new.file.name,
        "period": day.strftime("%Y-%m"),
        "prorated_from": day,
        "prorated_to": _month_end(day),
        "days": remaining,
        "month_days": days,
    }
    charges = []
    base = _part(new["monthly_price"], remaining, days, terms)
    if base:
        charges.append(("base_fee", base, new.clause_of("monthly_price"), period))
    extra = max(0, len(account.users) - new["included_users"])
    fees = _part(new["additional_user_fee"] * extra, remaining, days, terms)
    if fees:
        charges.append(
            (
                "additional_user_fee",
                fees,
                new.clause_of("additional_user_fee"),
                period | {"users": extra},
            )
        )
    return charges


def fire_plan_change(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """The day a scheduled change takes effect (00:00 Europe/Berlin)."""
    account = booking.require_account()
    pending = account.contract.plan_change
    if pending is None or pending["effective_on"] != deadline.due.isoformat():
        return "lapsed"
    if account.contract.status in CONTRACT_OVER:
        account.contract.plan_change = None
        booking.effect(
            "deadline_lapsed",
            DECISION,
            terms.version,
            deadline=deadline.kind,
            date=deadline.due,
            reason=f"the contract is {account.contract.status}",
        )
        return "lapsed"
    apply_change(
        booking, pending["plan"], day_start(deadline.due, terms), terms, pending["direction"]
    )
    return "done"


def apply_due_change(booking: Booking) -> None:
    """Before any other event of the account: a scheduled change due by its day takes effect,
    so users, numbers and the plan the event sees are the new plan's."""
    account = booking.account
    if account is None or account.contract.plan_change is None or booking.catalog is None:
        return
    for deadline in booking.due_deadlines(booking.local_date):
        if deadline.kind == PLAN_CHANGE:
            status = fire_plan_change(booking, deadline, booking.terms_on(deadline.due))
            booking.settle(deadline, status)


# -- helpers ------------------------------------------------------------------------------------


def plan_differences(old: InForce, new: InForce) -> dict[str, dict[str, Any]]:
    """What the customer gets differently: ``{parameter: {from, to}}``."""
    return {
        name: {"from": _plain(old[name]), "to": _plain(new[name])}
        for name in COMPARED
        if old[name] != new[name]
    }


def quoted_price(amount: Decimal, customer_type: str, terms: Terms) -> str:
    """A taxed price as a customer is quoted it: consumers gross with VAT (PAngV § 3), rounded
    once (Platform: money); businesses net with "zzgl. USt". ``12,00 € inkl. 19 % USt``."""
    rate = terms.clause("UStG § 12")["standard_rate"]
    if customer_type != "consumer":
        return f"{_euro(amount)} zzgl. USt"
    gross = terms.money.round(amount * (100 + rate) / 100)
    return f"{_euro(gross)} inkl. {format(rate.normalize(), 'f').replace('.', ',')} % USt"


def _euro(amount: Decimal) -> str:
    """``1.234,50 €`` (German digit grouping; the documents stage formats with Babel)."""
    grouped = f"{amount:,.2f}".replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{grouped} €"


def prices_text(plan: InForce, customer_type: str, terms: Terms) -> str:
    """The plan's monthly prices as the customer pays them (PAngV § 3)."""
    return (
        f"Monatlicher Grundpreis von {plan.file.title}: "
        f"{quoted_price(plan['monthly_price'], customer_type, terms)}; je weiterem Nutzer: "
        f"{quoted_price(plan['additional_user_fee'], customer_type, terms)}."
    )


def confirmation_text(
    old: InForce, new: InForce, effective: date, kept: int, customer_type: str, terms: Terms
) -> str:
    """The German confirmation the customer receives with a scheduled change, quoting the new
    plan's monthly prices as the customer is charged them (PAngV § 3)."""
    text = (
        f"Ihr Wechsel von {old.file.title} zu {new.file.title} wird am "
        f"{effective.strftime('%d.%m.%Y')} wirksam. {prices_text(new, customer_type, terms)}"
    )
    released = old["local_numbers"] - kept
    if released > 0:
        text += (
            f" Sie behalten die ersten {kept} Ihnen zugeteilten Rufnummern; die übrigen "
            f"{released} werden zu diesem Tag freigegeben."
        )
    if old["itemised_bill"] and not new["itemised_bill"]:
        text += (
            " Der Einzelverbindungsnachweis endet zu diesem Tag; gespeicherte Verkehrsdaten "
            "werden bis zu ihrer regulären Löschung aufbewahrt (AGB 4.4.5)."
        )
    return text


def _part(monthly: Decimal, remaining: int, days: int, terms: Terms) -> int:
    return to_cents(terms.money.round(monthly * remaining / days))


def _month_end(day: date) -> date:
    return day.replace(day=_stdlib_calendar.monthrange(day.year, day.month)[1])


def _require(decision: InForce, name: str, supported: str) -> None:
    if decision[name] != supported:
        raise NotInForce(
            f"{DECISION}: {name} {decision[name]!r} is not supported by the engine "
            f"(supported: {supported})",
            citation=DECISION,
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    return value
