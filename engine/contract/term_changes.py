"""A change of the terms for one customer: notified, delivered, received, in force (AGB 8).

``terms.notified`` (publishing) records the notice as pending: until it is delivered no window
runs and the change does not take effect for this customer (:func:`held_back_terms`).
``notice.delivered`` (the delivery step, ``billing outbox send``) records when it was sent; when
it counts as received is the catalog's decision (Platform: receipt, BGB § 130). From receipt the
engine computes, citing clause and statute (rules/conformance.yaml, ``mandatory``):

- the last day to terminate: AGB 8.2 / 8.6's four weeks, or TKG § 57 (1)'s three months where
  the customer is protected (BGB §§ 187, 188, 193);
- the day the change takes effect for the customer: the published day, but never before the
  notice period (AGB 8.1/8.4-8.6 six weeks; TKG § 57 (2) one month, whichever is longer) has
  run from receipt.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

from engine.catalog import InForce, NotInForce, Terms
from engine.catalog.conformance import Applied, applied_deadline, applied_set
from engine.effects import Booking, Rejected

WAIVER_FIELD = "tkg_rights_waived"  # customer master data (schemas/event.schema.json)


def entitled(terms: Terms, account: Any, termination_clause: str | None) -> Applied | None:
    """Whether ``account`` holds the special termination right of ``termination_clause``.

    The clause's ``entitled_customers``, widened by TKG § 57 (1) (every end user) where the
    comparison is mandatory; a business's recorded waiver counts only if TKG § 71
    ``waiver_effective`` says so (rules/law/tkg-71-scope.yaml; false until legal confirms).
    Returns the rule applied, or None without the right.
    """
    if termination_clause is None:
        return None
    who = applied_set(terms, termination_clause, "entitled_customers")
    if who.source == "statute" and _waived(terms, account):
        who = applied_set_without_statute(terms, termination_clause)
    return who if account.customer_type in who.value else None


def applied_set_without_statute(terms: Terms, citation: str) -> Applied:
    value = tuple(terms.clause(citation)["entitled_customers"])
    why = f"{citation} as written: the business waived TKG rights effectively (TKG § 71 (3))"
    return Applied(citation, "entitled_customers", value, "clause", "TKG § 71 (3)", why)


def _waived(terms: Terms, account: Any) -> bool:
    if account.customer_type != "business" or not account.customer.get(WAIVER_FIELD):
        return False
    try:
        return bool(terms.clause("TKG § 71")["waiver_effective"])
    except NotInForce:
        return True  # before the TKG of 2021 there was nothing to waive


def received_on(terms: Terms, channel: str, sent_at: datetime) -> date:
    """The day a notice sent at ``sent_at`` counts as received (Platform: receipt; BGB § 130)."""
    rule = terms.clause("Platform: receipt")
    calendar = terms.calendar
    local = sent_at.astimezone(calendar.zone)
    day = local.date()
    if channel == "letter":
        day = rule.deadline("letter_receipt_after", day, calendar)
        while not calendar.is_working_day(day):
            day += timedelta(days=1)
        return day
    if calendar.is_business_day(day) and local.hour < rule["email_cutoff_hour"]:
        return day
    day += timedelta(days=1)
    while not calendar.is_business_day(day):
        day += timedelta(days=1)
    return day


def effective_for(terms: Terms, notice_clause: str, published: date, received: date) -> Applied:
    """The day the change takes effect for a customer who received its notice on ``received``:
    the published day, or the day after the notice period from receipt if that is later."""
    parameter = "minimum_notice" if notice_clause == "AGB 8.3" else "notice_period"
    period = applied_deadline(terms, notice_clause, parameter, received)
    earliest = period.value + timedelta(days=1)
    if earliest <= published:
        return dataclasses.replace(period, value=published, why=f"as published; {period.why}")
    why = f"held back: the notice period from receipt on {received.isoformat()} ends later"
    return dataclasses.replace(period, value=earliest, why=f"{why} ({period.why})")


def termination_until(terms: Terms, termination_clause: str, received: date) -> Applied:
    """The last day to terminate after receipt: the clause's window or TKG § 57 (1)'s."""
    return applied_deadline(terms, termination_clause, "termination_window", received)


def record_notice(booking: Booking) -> dict:
    """terms.notified: the notice is queued for this customer; nothing runs until delivery."""
    account = booking.require_account()
    data = booking.event.data
    notice = {
        "publication": data["publication"],
        "clause": data["clause"],
        "citation": data.get("citation"),
        "termination_clause": data.get("termination_clause"),
        "effective_on": data["effective_on"],
        "received_on": None,
        "effective_for_customer": None,  # None: held back until delivered
    }
    notices = dict(account.contract.term_notices)
    notices[str(data["publication"])] = notice
    account.contract.term_notices = notices
    return notice


def receive_delivery(booking: Booking) -> None:
    """notice.delivered: the notice was sent; from its receipt the windows run (AGB 8; TKG § 57)."""
    account = booking.require_account()
    data = booking.event.data
    number = data["publication"]
    notice = account.contract.term_notices.get(str(number))
    if notice is None:
        raise Rejected(f"account {account.id} was not notified of publication {number}", "AGB 8.1")
    if notice["received_on"] is not None:
        raise Rejected(f"publication {number} was delivered already", notice["clause"])
    terms = booking.terms
    received = received_on(terms, data["channel"], booking.event.at)
    published = date.fromisoformat(notice["effective_on"])
    effective = effective_for(terms, notice["clause"], published, received)
    notice = {**notice, "received_on": received.isoformat()}
    notice["effective_for_customer"] = effective.value.isoformat()
    right = entitled(terms, account, notice["termination_clause"])
    until = None
    if right is not None:
        until = termination_until(terms, notice["termination_clause"], received)
        account.contract.special_termination = {
            "publication": number,
            "clause": notice["termination_clause"],
            "statute": until.statute if until.source == "statute" else None,
            "until": until.value.isoformat(),
            "effective_on": effective.value.isoformat(),
            "received_on": received.isoformat(),
        }
    account.contract.term_notices = {**account.contract.term_notices, str(number): notice}
    booking.effect(
        "notice_received",
        notice["termination_clause"] or notice["clause"],
        statute="TKG § 57 (1)" if until is not None and until.statute else None,
        publication=number,
        channel=data["channel"],
        received_on=received,
        receipt_rule="Platform: receipt",
        effective_on=effective.value,
        effective_why=effective.why,
        termination_until=until.value if until else None,
        termination_why=until.why if until else None,
        entitled_by=right.why if right else None,
    )


def held_back_terms(terms: Terms, account: Any, day: date) -> Terms:
    """``terms`` for this customer on ``day``: a published change whose notice has not been
    received, or whose notice period from receipt has not run, is not yet in force for them
    (the version before it applies)."""
    notices = account.contract.term_notices if account is not None else None
    if not notices:
        return terms
    held: dict[str, InForce] = {}
    for notice in notices.values():
        citation = notice.get("citation")
        start = notice["effective_for_customer"]
        if not citation or (start is not None and day.isoformat() >= start):
            continue
        try:
            in_force = terms.clause(citation)
        except NotInForce:
            continue
        if in_force.effective_from.isoformat() != notice["effective_on"]:
            continue  # not the published version (not yet in force, or superseded)
        versions = in_force.file.versions
        index = versions.index(in_force.version)
        if index > 0:
            held[citation] = InForce(in_force.file, versions[index - 1], terms.version)
    if not held:
        return terms
    return Terms(terms.catalog, terms.effective_from, _cache=held)
