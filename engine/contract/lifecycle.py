"""The contract's life: conclusion, termination, withdrawal, refund, inactivity, deletion.

AGB 1.1.1, 1.2, 1.3.1, 1.4, 1.5, 9; CLINQ SD 1.1, 1.4. Every period is a catalog parameter
with its deadline rule; every deadline is stored and fired by ``clock`` events.
"""

from __future__ import annotations

from datetime import date, timedelta

from engine.billing.credit import RECURRING_FEES
from engine.billing.credit_notes import REFUND, WITHDRAWAL_REFUND, issue_credit_note
from engine.billing.invoicing import delete_traffic_data
from engine.catalog import Terms
from engine.catalog.conformance import applied_deadline
from engine.contract.term_changes import record_notice
from engine.core.contract_states import GONE
from engine.core.money import from_cents, to_cents
from engine.core.state import Deadline
from engine.effects import Booking, Rejected, record_use, reject_by_rules

DEEMED_ACCEPTANCE = "deemed_acceptance"
ORDER_BINDING = "order_binding"
CONTRACT_END = "contract_end"
INACTIVITY_CHECK = "inactivity_check"
INACTIVE_DELETION = "inactive_deletion"


def _period_deadline(booking: Booking, citation: str, name: str, start: date, terms=None) -> date:
    terms = terms or booking.terms
    return terms.clause(citation).deadline(name, start, terms.calendar)


# -- conclusion (AGB 1.1.1, CLINQ SD 1.1) ------------------------------------------------------


def receive_order(booking: Booking) -> None:
    """order.received: the customer is bound for 30 days; acceptance is deemed after ten."""
    contract = booking.require_account().contract
    if contract.ordered_on or contract.concluded_by not in (None, "account.opened"):
        raise Rejected("an order was already received for this account", "AGB 1.1.1")
    day = booking.local_date
    contract.status, contract.ordered_on = "ordered", day.isoformat()
    contract.concluded_on = contract.concluded_by = None
    booking.effect("order_received", "AGB 1.1.1", date=day)
    booking.schedule(
        DEEMED_ACCEPTANCE,
        _period_deadline(booking, "AGB 1.1.1", "deemed_acceptance_after", day),
        "AGB 1.1.1",
    )
    booking.schedule(
        ORDER_BINDING,
        _binding_end(booking, day) + timedelta(days=1),
        "AGB 1.1.1",
    )


def _binding_end(booking: Booking, ordered_on: date) -> date:
    """The last day the customer is bound to an order of ``ordered_on``: D+30 (BGB §§ 148,
    187 (1), 188 (1)); the order lapses from D+31."""
    return _period_deadline(booking, "AGB 1.1.1", "order_binding_period", ordered_on)


def confirm_order(booking: Booking) -> None:
    """order.confirmed: the contract is concluded on receipt of the confirmation (SD 1.1),
    while the customer is still bound to the order (AGB 1.1.1)."""
    contract = booking.require_account().contract
    if contract.status != "ordered":
        raise Rejected(
            f"there is no open order to confirm (contract is {contract.status})", "CLINQ SD 1.1"
        )
    bound_until = _binding_end(booking, date.fromisoformat(contract.ordered_on))
    if booking.local_date > bound_until:
        raise Rejected(
            f"the customer was bound to the order until {bound_until.isoformat()}: "
            "the confirmation came too late",
            "AGB 1.1.1",
        )
    conclude(booking, booking.local_date, "CLINQ SD 1.1")


def activate(booking: Booking) -> None:
    """account.activated: the connection and account are live (a condition of AGB 1.1.1)."""
    contract = booking.require_account().contract
    contract.activated_on = booking.local_date.isoformat()
    booking.effect("account_activated", "AGB 1.1.1", date=booking.local_date)


def conclude(booking: Booking, day: date, clause: str, terms: Terms | None = None) -> None:
    """The contract is concluded: it starts the withdrawal period and the term."""
    contract = booking.require_account().contract
    contract.status, contract.concluded_on, contract.concluded_by = (
        "concluded",
        day.isoformat(),
        clause,
    )
    booking.effect("contract_concluded", clause, (terms or booking.terms).version, date=day)
    for deadline in booking.due_deadlines(date.max):
        if deadline.kind in (DEEMED_ACCEPTANCE, ORDER_BINDING):
            booking.settle(deadline, "lapsed")


def fire_deemed_acceptance(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Ten days after the order, acceptance is deemed declared if the account is activated."""
    contract = booking.require_account().contract
    if (
        contract.status == "ordered"
        and contract.activated_on
        and contract.activated_on <= deadline.due.isoformat()
    ):
        conclude(booking, deadline.due, "AGB 1.1.1", terms)
        return "done"
    return "lapsed"


def fire_order_binding(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """The day after the 30 days the customer is no longer bound to an order not accepted."""
    contract = booking.require_account().contract
    if contract.status != "ordered":
        return "lapsed"
    contract.status = "lapsed"
    booking.effect("order_lapsed", "AGB 1.1.1", terms.version, date=deadline.due)
    return "done"


# -- termination (CLINQ SD 1.4; AGB 1.2, 1.3.1) ------------------------------------------------


def receive_termination(booking: Booking) -> None:
    """termination.received: ordinary to a month end, or extraordinary at once."""
    account = booking.require_account()
    contract = account.contract
    data = booking.event.data
    ground = data.get("extraordinary", {}).get("reason", "none")
    facts = {"plan": account.plan, "by": data["by"], "channel": data["channel"], "ground": ground}
    reject_by_rules(booking, "termination", facts)
    if contract.status in GONE or contract.status in ("ended",):
        raise Rejected(
            f"there is no running contract to terminate ({contract.status})", "CLINQ SD 1.4"
        )
    day = booking.local_date
    if ground != "none":
        grounds = booking.terms.clause("AGB 1.3.1")
        if (
            ground == "returned_debits"
            and contract.returned_debits < grounds["returned_debits_for_ground"]
        ):
            raise Rejected(
                f"{contract.returned_debits} returned direct debit(s) are not yet a ground "
                f"(from {grounds['returned_debits_for_ground']})",
                "AGB 1.3.1",
            )
        end, clause = day, "AGB 1.3.1"
    elif contract.status == "ending":
        raise Rejected(f"the contract already ends on {contract.ends_on}", "CLINQ SD 1.4")
    elif _within_special_window(contract, day):
        # TKG § 57 (1) sentence 3: the contract ends when the change takes effect, at the earliest
        right = contract.special_termination
        end, clause = max(date.fromisoformat(right["effective_on"]), day), right["clause"]
    else:
        clause = termination_clause(booking)
        end = _period_deadline(booking, clause, "notice_period", day)
    contract.status, contract.ends_on = "ending", end.isoformat()
    for deadline in booking.due_deadlines(date.max):
        if deadline.kind == CONTRACT_END:
            booking.settle(deadline, "lapsed")
    statute = (
        (contract.special_termination or {}).get("statute") if clause.startswith("AGB 8") else None
    )
    booking.effect(
        "contract_ends", clause, date=end, by=data["by"], ground=ground, **_cited(statute)
    )
    booking.effect(
        "notice_sent",
        clause,
        template="termination_confirmation",
        channel="email",
        recipient=account.id,
        date=day,
    )
    if end == day:
        end_contract(booking, day, clause)
    else:
        booking.schedule(CONTRACT_END, end, clause)


def _cited(statute: str | None) -> dict:
    return {"statute": statute} if statute else {}


def _within_special_window(contract, day: date) -> bool:
    right = contract.special_termination
    if not right:
        return False
    return day.isoformat() <= right["until"]


def receive_terms_notice(booking: Booking) -> None:
    """terms.notified: a change of the terms was published and queued for this customer (AGB 8).

    Nothing runs yet: the windows start on receipt of the notice (``notice.delivered``,
    engine/contract/term_changes.py), and until then the change is held back for this customer.
    """
    account = booking.require_account()
    notice = record_notice(booking)
    booking.effect(
        "notice_sent",
        notice["clause"],
        template="terms_change",
        channel="email",
        recipient=account.id,
        publication=notice["publication"],
        effective_on=notice["effective_on"],
        termination_clause=notice["termination_clause"],
        window_starts="on receipt (notice.delivered)",
    )


def termination_clause(booking: Booking) -> str:
    """The clause whose notice period the plan follows: CLINQ SD 1.4, or AGB 1.2.1's default."""
    return booking.terms.plan(booking.require_account().plan)["termination_rule"]


def fire_contract_end(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    end_contract(booking, deadline.due, deadline.clause, terms)
    return "done"


def end_contract(booking: Booking, day: date, clause: str, terms: Terms | None = None) -> None:
    """The contract has ended: no more recurring fees; the CLINQ account stays usable for free."""
    contract = booking.require_account().contract
    contract.status, contract.ended_on = "ended", day.isoformat()
    for deadline in booking.due_deadlines(date.max):
        if deadline.kind == RECURRING_FEES:
            booking.settle(deadline, "lapsed")
    booking.effect(
        "contract_ended",
        clause,
        (terms or booking.terms).version,
        date=day,
        account_free_of_charge=booking.terms.clause("CLINQ SD 1.4")[
            "account_free_after_termination"
        ],
    )


# -- withdrawal (AGB 9) ------------------------------------------------------------------------


def receive_withdrawal(booking: Booking) -> None:
    """withdrawal.received: consumers, in text form, within two weeks of conclusion."""
    account = booking.require_account()
    contract = account.contract
    data = booking.event.data
    reject_by_rules(
        booking, "withdrawal", {"customer_type": account.customer_type, "channel": data["channel"]}
    )
    if contract.status in GONE or contract.status == "ended":
        raise Rejected(f"there is no contract to withdraw ({contract.status})", "AGB 9.1")
    day = booking.local_date
    sent = date.fromisoformat(data.get("sent_on", day.isoformat()))
    if contract.concluded_on:
        concluded = date.fromisoformat(contract.concluded_on)
        last_day = _period_deadline(booking, "AGB 9.1", "withdrawal_period", concluded)
        if sent > last_day:
            raise Rejected(
                f"the withdrawal period ended on {last_day.isoformat()} "
                f"(two weeks from conclusion on {concluded.isoformat()})",
                "AGB 9.1",
            )
    contract.status, contract.ended_on = "withdrawn", day.isoformat()
    for deadline in booking.due_deadlines(date.max):
        booking.settle(deadline, "lapsed")
    booking.effect("contract_ends", "AGB 9.1", date=day, withdrawn=True, sent_on=sent)
    refund = max(account.balance_cents, 0)
    # BGB § 357 (1)'s 14 days where they are shorter than the AGB's 30 (mandatory, § 361 (2))
    applied = applied_deadline(booking.terms, "AGB 9.3", "refund_within", day)
    due, statute = applied.value, _cited(applied.statute if applied.source == "statute" else None)
    if refund:
        booking.book("withdrawal_refund", -refund, "AGB 9.3", due=due)
        issue_credit_note(booking, refund, "AGB 9.3", WITHDRAWAL_REFUND)
    booking.effect("refund_approved", "AGB 9.3", amount=from_cents(refund), date=due, **statute)


# -- refund of credit (AGB 1.4) ----------------------------------------------------------------


def request_refund(booking: Booking) -> None:
    """refund.requested: the credit above the 6.00 EUR fee, within three years of the end."""
    account = booking.require_account()
    contract = account.contract
    if contract.status != "ended" or not contract.ended_on:
        raise Rejected("credit is refunded at the end of the contract", "AGB 1.4.1")
    ended = date.fromisoformat(contract.ended_on)
    limit = _period_deadline(booking, "AGB 1.4.3", "limitation_period", ended)
    if booking.local_date > limit:
        raise Rejected(
            f"the claim expired on {limit.isoformat()}, "
            "three years after the termination took effect",
            "AGB 1.4.3",
        )
    refund = booking.terms.clause("AGB 1.4.1")
    missing = [d for d in refund["required_documents"] if d not in booking.event.data["documents"]]
    if missing:
        raise Rejected(f"the request lacks: {', '.join(missing)}", "AGB 1.4.1")
    fee = to_cents(refund["handling_fee"])
    if account.balance_cents <= fee:
        raise Rejected(
            f"a credit of {from_cents(account.balance_cents)} EUR does not exceed the handling fee "
            f"of {refund['handling_fee']} EUR: nothing is refunded",
            "AGB 1.4.1",
        )
    amount = account.balance_cents - fee
    booking.book("refund", -amount, "AGB 1.4.1")
    booking.book("refund_fee", -fee, "AGB 1.4.1")
    issue_credit_note(booking, amount, "AGB 1.4.1", REFUND)
    booking.effect(
        "refund_approved", "AGB 1.4.1", amount=from_cents(amount), date=booking.local_date
    )


# -- use, inactivity and deletion (AGB 1.5; CLINQ SD 1.4) --------------------------------------


def record_activity(booking: Booking) -> None:
    """activity: a login, any use, or an objection to the deletion of an inactive account."""
    booking.require_account()
    record_use(booking)
    booking.effect("activity_recorded", "AGB 1.5", activity=booking.event.data.get("kind", "use"))


def schedule_inactivity_check(booking: Booking, last_use: date) -> None:
    """The day after a year without use, the account may be inactive (AGB 1.5)."""
    year_later = _period_deadline(booking, "AGB 1.5", "inactivity_period", last_use)
    booking.schedule(INACTIVITY_CHECK, year_later + timedelta(days=1), "AGB 1.5")


def fire_inactivity_check(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Inactive for more than a year: an e-mail announces the deletion (AGB 1.5)."""
    account = booking.require_account()
    contract = account.contract
    if contract.status in GONE:
        return "lapsed"
    last_use = date.fromisoformat(contract.last_use or account.opened_at[:10])
    year_later = _period_deadline(booking, "AGB 1.5", "inactivity_period", last_use, terms)
    if year_later + timedelta(days=1) > deadline.due:
        schedule_inactivity_check(booking, last_use)
        return "lapsed"
    clause = terms.clause("AGB 1.5")
    contract.deletion_notice_on = deadline.due.isoformat()
    booking.effect(
        "notice_sent",
        "AGB 1.5",
        terms.version,
        template="inactive_account_deletion",
        channel=clause["notice_channel"],
        recipient=account.id,
        date=deadline.due,
    )
    booking.schedule(
        INACTIVE_DELETION,
        clause.deadline("objection_period", deadline.due, terms.calendar) + timedelta(days=1),
        "AGB 1.5",
    )
    return "done"


def fire_inactive_deletion(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Four weeks after the notice the account is deleted unless it was used or defended."""
    account = booking.require_account()
    contract = account.contract
    notice = contract.deletion_notice_on
    if contract.last_use and notice and contract.last_use >= notice:
        contract.deletion_notice_on = None
        booking.effect(
            "deadline_lapsed",
            "AGB 1.5",
            terms.version,
            deadline=deadline.kind,
            date=deadline.due,
            reason="the account was used or the customer objected",
        )
        schedule_inactivity_check(booking, date.fromisoformat(contract.last_use))
        return "lapsed"
    delete_account(booking, deadline.due, "AGB 1.5", terms)
    return "done"


def request_data_deletion(booking: Booking) -> None:
    """data_deletion.requested: traffic data early (AGB 4.4.5), or an ended account (SD 1.4)."""
    account = booking.require_account()
    if booking.event.data["scope"] == "traffic_data":
        for invoice in booking.all_invoices():
            if not invoice.traffic_data_deleted_on:
                delete_traffic_data(booking, invoice.number, booking.local_date, booking.terms)
        return
    if account.contract.status not in ("ended", "withdrawn", "lapsed"):
        raise Rejected("the contract is still running: it must be terminated first", "CLINQ SD 1.4")
    delete_account(booking, booking.local_date, "CLINQ SD 1.4", booking.terms)


def delete_account(booking: Booking, day: date, clause: str, terms: Terms) -> None:
    account = booking.require_account()
    account.contract.status, account.status = "deleted", "deleted"
    for deadline in booking.due_deadlines(date.max):
        booking.settle(deadline, "lapsed")
    booking.effect("account_deleted", clause, terms.version, date=day)
