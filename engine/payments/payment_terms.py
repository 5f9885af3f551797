"""Payment terms: mandates, returned debits, allocation, default, interest, blocking.

AGB 4.1.4, 4.2.1-4.2.4, 4.4.2-4.4.4, 2.11, 1.3.1; BGB §§ 247, 286, 288; TKG § 61 (§ 45k old).
"""

from __future__ import annotations

from datetime import date, timedelta

from engine.catalog import Terms
from engine.core.interest import default_interest
from engine.core.money import from_cents, parse_amount, to_cents
from engine.core.state import Deadline, Invoice
from engine.effects import Booking, Rejected
from engine.payments import return_reasons
from engine.payments import sepa_mandates as sepa

DEFAULT = "default"
BLOCKING = "blocking"
BLOCK_INCOMING = "block_incoming"
MISUSE_BLOCK = "misuse_block"


# -- mandates (AGB 4.1.4, 4.2.1) ---------------------------------------------------------------


def revoke_mandate(booking: Booking) -> None:
    contract = booking.require_account().contract
    reference = (contract.sepa_mandate or {}).get("reference")
    contract.mandate = False
    sepa.revoke(booking)
    booking.effect(
        "mandate_revoked", "AGB 4.1.4", **({"reference": reference} if reference else {})
    )
    booking.balance_changed = True  # the balance's facts changed: the rules look again


def grant_mandate(booking: Booking) -> None:
    """mandate.granted: with SEPA fields a direct debit mandate (new, or an amendment of the one
    with the same reference); without them a mandate on file the SEPA export cannot collect."""
    contract = booking.require_account().contract
    mandate = sepa.grant(booking)
    contract.mandate, contract.settlement_requested = True, False
    fields = {}
    if mandate is not None:
        fields = {"reference": mandate["reference"], "scheme": mandate["scheme"]}
        if mandate["amendment"]:
            fields["amendment"] = True
    booking.effect("mandate_granted", "AGB 4.2.1", **fields)
    booking.balance_changed = True


def request_settlement(booking: Booking, clause: str) -> None:
    """Negative credit without a mandate: a postal request and a flat 3.90 EUR (AGB 4.1.4)."""
    account = booking.require_account()
    if account.contract.settlement_requested:
        return
    account.contract.settlement_requested = True
    terms_clause = booking.terms.clause(clause)
    booking.effect(
        "notice_sent",
        clause,
        template="settle_negative_credit",
        channel=terms_clause["request_channel"],
        recipient=account.id,
        date=booking.local_date,
    )
    booking.book("handling_fee", -to_cents(terms_clause["handling_fee"]), clause)


# -- returned direct debits (AGB 4.2.3, 1.3.1) -------------------------------------------------


def return_direct_debit(booking: Booking) -> None:
    """direct_debit.returned: the payment is reversed and the flat fee charged.

    With the bank's ``reason_code`` the fee (and the count towards AGB 1.3.1) applies only to a
    return the customer is responsible for ("soweit er diese zu vertreten hat"), as the platform
    decision ``rules/platform/sepa-returns.yaml`` reads the code; without one, always. One
    collection is returned once: the invoice records its returns, a second return of one
    collection is refused naming the first (:func:`sepa_mandates.returned_collection`).
    """
    account = booking.require_account()
    data = booking.event.data
    amount = to_cents(parse_amount(data["amount"]))
    fields = {key: data[key] for key in ("invoice", "reason_code", "end_to_end_id") if key in data}
    if "invoice" in data:
        invoice = booking.invoice(data["invoice"])
        if invoice is None:
            raise Rejected(f"account {account.id} has no invoice {data['invoice']}", "AGB 4.2.3")
        # One collection is returned once: a second return of it is refused naming the first.
        returned = sepa.returned_collection(
            invoice, booking.event.id, data.get("end_to_end_id"), amount
        )
        invoice.returns = [*invoice.returns, returned]
        invoice.open_cents = min(invoice.amount_cents, invoice.open_cents + amount)
        invoice.status = "open"
    booking.book("returned_debit", -amount, "AGB 4.2.3", **fields)
    decision = {}
    if "reason_code" in data:
        code = data["reason_code"]
        decision = {"reason_code": code, "decision": return_reasons.DECISION}
        if not return_reasons.customer_responsible(code, booking.terms):
            booking.effect("returned_debit_fee_waived", "AGB 4.2.3", responsible=False, **decision)
            return
    terms = booking.terms.clause("AGB 4.2.3")
    fee = terms["flat_fee"]
    basis = "flat"
    if "proven_lower_damage" in data and terms["lower_damage_provable"]:
        fee, basis = min(fee, parse_amount(data["proven_lower_damage"])), "proven_lower_damage"
    if "itemised_higher_costs" in data and terms["itemised_higher_costs_chargeable"]:
        fee, basis = max(fee, parse_amount(data["itemised_higher_costs"])), "itemised_higher_costs"
    if fee:
        booking.book("returned_debit_fee", -to_cents(fee), "AGB 4.2.3", basis=basis, **decision)
    account.contract.returned_debits += 1
    needed = booking.terms.clause("AGB 1.3.1")["returned_debits_for_ground"]
    if account.contract.returned_debits >= needed:
        booking.effect(
            "termination_ground",
            "AGB 1.3.1",
            ground="returned_debits",
            count=account.contract.returned_debits,
        )


# -- payments against invoices (AGB 4.2.4) -----------------------------------------------------


def allocate_payment(booking: Booking, amount_cents: int) -> None:
    """A payment settles an invoice only with its reference; a direct debit the oldest open one.

    Without a reference the money stays unallocated credit (AGB 4.2.4).
    """
    data = booking.event.data
    reference = data.get("reference")
    open_invoices = [i for i in booking.all_invoices() if i.open_cents > 0]
    if reference is not None:
        target = next((i for i in open_invoices if i.number == reference), None)
    elif data.get("method") == "direct_debit" and open_invoices:
        target = open_invoices[0]
    else:
        target = None
    if target is None:
        if open_invoices:
            booking.effect("payment_unallocated", "AGB 4.2.4", amount=from_cents(amount_cents))
        return
    invoice = booking.invoice(target.number)
    assert invoice is not None
    paid = min(amount_cents, invoice.open_cents)
    charge_interest(booking, invoice, booking.local_date)
    invoice.open_cents -= paid
    if invoice.open_cents == 0:
        invoice.status = "paid"
    if data.get("method") == "direct_debit":
        invoice.debits_collected += 1  # a collection arrived: it may be returned (AGB 4.2.3)
    booking.effect(
        "payment_allocated",
        "AGB 4.2.4",
        invoice=invoice.number,
        amount=from_cents(paid),
        open=from_cents(invoice.open_cents),
    )
    unblock_if_settled(booking)


# -- default and interest (AGB 4.4.2, 4.4.4; BGB §§ 247, 286, 288) -----------------------------


def schedule_default(booking: Booking, invoice: Invoice) -> None:
    """Default begins the day after 30 days from due date and receipt (BGB § 286 (3)).

    The 30 days are a period for payment: a last day on a Saturday, Sunday or NRW holiday moves
    to the next working day (BGB § 193, as the statute file declares). A consumer is in default
    by this rule only if the invoice pointed it out; otherwise only a reminder puts the consumer
    in default (:func:`receive_reminder`).
    """
    terms = booking.terms
    statute = terms.clause("BGB § 286")
    consumer = booking.require_account().customer_type == "consumer"
    if consumer and statute["consumer_needs_invoice_hint"] and not invoice.default_hint:
        return
    start = max(date.fromisoformat(invoice.due_on), date.fromisoformat(invoice.issued_on))
    last_day = statute.deadline("default_after_invoice", start, terms.calendar)
    booking.schedule(DEFAULT, last_day + timedelta(days=1), "AGB 4.4.2", invoice=invoice.number)


def receive_reminder(booking: Booking) -> None:
    """reminder.sent: a reminder after the due date puts the customer in default from the day
    after its receipt (BGB § 286 (1), AGB 4.4.2), unless default began earlier."""
    booking.require_account()
    number = booking.event.data["invoice"]
    invoice = booking.invoice(number)
    if invoice is None:
        raise Rejected(f"there is no invoice {number} on this account", "AGB 4.4.2")
    day = booking.local_date
    if invoice.open_cents == 0:
        raise Rejected(f"invoice {number} is paid: there is nothing to remind of", "AGB 4.4.2")
    if day < date.fromisoformat(invoice.due_on):
        raise Rejected(
            f"invoice {number} falls due on {invoice.due_on}: a reminder before that puts "
            "nobody in default",
            "AGB 4.4.2",
        )
    statute = booking.terms.clause("BGB § 286")
    start = day + timedelta(days=1)
    pending = [
        d
        for d in booking.due_deadlines(date.max)
        if d.kind == DEFAULT and d.payload.get("invoice") == number
    ]
    earlier = invoice.default_on or min((d.due.isoformat() for d in pending), default=None)
    if not statute["reminder_starts_default"] or (earlier and earlier <= start.isoformat()):
        booking.effect("reminder_recorded", "AGB 4.4.2", invoice=number, date=day)
        return
    for deadline in pending:
        booking.settle(deadline, "lapsed")
    booking.effect("reminder_recorded", "AGB 4.4.2", invoice=number, date=day, statute="BGB § 286")
    booking.schedule(DEFAULT, start, "AGB 4.4.2", invoice=number)


def fire_default(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    invoice = booking.invoice(deadline.payload["invoice"])
    if invoice is None or invoice.open_cents == 0:
        return "lapsed"
    invoice.default_on = invoice.interest_until = deadline.due.isoformat()
    booking.effect(
        "default_started",
        "AGB 4.4.2",
        terms.version,
        invoice=invoice.number,
        amount=from_cents(invoice.open_cents),
        date=deadline.due,
        statute="BGB § 286",
    )
    warn_before_blocking(booking, deadline.due, terms)
    return "done"


def interest_bearing_cents(invoice: Invoice) -> int:
    """The open amount that bears default interest: never the interest it claims (BGB § 289).

    A part payment counts as paying the principal first (Platform decision, in the customer's
    favour; BGB § 367 would let the provider credit interest first).
    """
    return max(invoice.open_cents - min(invoice.interest_cents, invoice.open_cents), 0)


def charge_interest(booking: Booking, invoice: Invoice, until: date) -> None:
    """Interest on an invoice in default up to ``until`` (AGB 4.4.4): paid or invoice run."""
    if not invoice.default_on or not invoice.interest_until or invoice.open_cents <= 0:
        return
    start = date.fromisoformat(invoice.interest_until)
    if until <= start:
        return
    principal = interest_bearing_cents(invoice)
    invoice.interest_until = until.isoformat()
    if principal == 0:
        return
    account = booking.require_account()
    terms = booking.terms
    clause = terms.clause("AGB 4.4.4")
    margin = clause["consumer_margin" if account.customer_type == "consumer" else "business_margin"]
    base_rate = booking.catalog.file(clause["base_rate"]) if booking.catalog else None
    amount = default_interest(
        from_cents(principal),
        start,
        until,
        margin,
        lambda day: base_rate.value_at("rate", day),
        terms.money,
    )
    if amount:
        invoice.interest_charged_cents += to_cents(amount)
        booking.book(
            "default_interest",
            -to_cents(amount),
            "AGB 4.4.4",
            invoice=invoice.number,
            days=(until - start).days,
            margin=f"{margin}",
            first_day=start,
            last_day=until - timedelta(days=1),
        )


def uninvoiced_interest_cents(booking: Booking) -> int:
    """Default interest charged that no invoice claims yet."""
    invoices = booking.all_invoices()
    charged = sum(i.interest_charged_cents for i in invoices)
    return max(charged - sum(i.interest_cents for i in invoices), 0)


def charge_interest_on_open_invoices(booking: Booking, until: date) -> None:
    for invoice in booking.all_invoices():
        if invoice.default_on and invoice.open_cents > 0:
            target = booking.invoice(invoice.number)
            assert target is not None
            charge_interest(booking, target, until)


# -- blocking (AGB 4.4.3, 2.11; TKG § 61, § 45k old) -------------------------------------------


def arrears_cents(booking: Booking) -> int:
    """Invoices in default, less disputed ones, less advance payments (the credit)."""
    owed = sum(
        i.open_cents for i in booking.all_invoices() if i.default_on and i.objection != "pending"
    )
    credit = max(booking.require_account().balance_cents, 0)
    return max(owed - credit, 0)


def warn_before_blocking(booking: Booking, day: date, terms: Terms) -> None:
    """Arrears of the statute's minimum: a written warning; the block may follow once the
    warning period has passed (TKG § 61 (3); § 45k old). Applied to the customer types
    Platform: blocking names."""
    statute = terms.clause("TKG § 61")
    account = booking.require_account()
    if account.customer_type not in terms.clause("Platform: blocking")["customer_types"]:
        return
    if arrears_cents(booking) < to_cents(statute["minimum_arrears"]):
        return
    if booking.has_pending(BLOCKING) or account.contract.blocked:
        return
    booking.effect(
        "notice_sent",
        "TKG § 61",
        terms.version,
        template="blocking_warning",
        channel="letter",
        recipient=booking.event.account,
        date=day,
        arrears=from_cents(arrears_cents(booking)),
    )
    booking.schedule(BLOCKING, _after_period(statute, "warning_period", day, terms), "AGB 4.4.3")


def _after_period(clause, name: str, day: date, terms: Terms) -> date:
    """The first day after the period ``name`` that starts with ``day`` (BGB §§ 187 (1), 188)."""
    return clause.deadline(name, day, terms.calendar) + timedelta(days=1)


def fire_blocking(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """After the two weeks from the warning: block outgoing calls if the arrears are still due.

    A warning dated W: the weeks run from W+1 to the end of W+14; the block comes on W+15.
    """
    contract = booking.require_account().contract
    statute = terms.clause("TKG § 61")
    if arrears_cents(booking) < to_cents(statute["minimum_arrears"]):
        return "lapsed"
    contract.blocked, contract.block_reason = "outgoing", "default"
    booking.effect(
        "service_blocked",
        "AGB 4.4.3",
        terms.version,
        scope="outgoing",
        date=deadline.due,
        arrears=from_cents(arrears_cents(booking)),
        statute="TKG § 61",
    )
    booking.schedule(
        BLOCK_INCOMING,
        _after_period(statute, "incoming_block_delay", deadline.due, terms),
        "AGB 4.4.3",
    )
    return "done"


def fire_block_incoming(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """A week after the outgoing block, incoming calls too."""
    contract = booking.require_account().contract
    if contract.blocked != "outgoing":
        return "lapsed"
    contract.blocked = "all"
    booking.effect("service_blocked", "AGB 4.4.3", terms.version, scope="all", date=deadline.due)
    return "done"


def unblock_if_settled(booking: Booking) -> None:
    """A block for default ends when the arrears are settled (AGB 4.4.3)."""
    contract = booking.require_account().contract
    if contract.block_reason == "default" and arrears_cents(booking) == 0:
        contract.blocked = contract.block_reason = None
        booking.effect("service_unblocked", "AGB 4.4.3", date=booking.local_date)
    if arrears_cents(booking) == 0:
        for deadline in booking.due_deadlines(date.max):
            if deadline.kind in (BLOCKING, BLOCK_INCOMING):
                booking.settle(deadline, "lapsed")


def detect_misuse(booking: Booking) -> None:
    """misuse.detected: a request to stop, and a block if it goes on (AGB 2.11)."""
    account = booking.require_account()
    contract = account.contract
    terms = booking.terms
    if booking.event.data.get("resolved"):
        contract.misuse_since = None
        for deadline in booking.due_deadlines(date.max):
            if deadline.kind == MISUSE_BLOCK:
                booking.settle(deadline, "lapsed")
        if contract.block_reason == "misuse":
            contract.blocked = contract.block_reason = None
            booking.effect("service_unblocked", "AGB 2.11", date=booking.local_date)
        return
    if contract.misuse_since:
        return
    contract.misuse_since = booking.local_date.isoformat()
    booking.effect(
        "notice_sent",
        "AGB 2.11",
        template="misuse_stop_request",
        channel="email",
        recipient=account.id,
        date=booking.local_date,
    )
    due = terms.clause("AGB 2.11").deadline("cure_period", booking.local_date, terms.calendar)
    booking.schedule(MISUSE_BLOCK, due + timedelta(days=1), "AGB 2.11")


def fire_misuse_block(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    contract = booking.require_account().contract
    if not contract.misuse_since:
        return "lapsed"
    contract.blocked, contract.block_reason = "all", "misuse"
    booking.effect(
        "service_blocked",
        "AGB 2.11",
        terms.version,
        scope="all",
        date=deadline.due,
        reason="misuse",
        base_fees_continue=terms.clause("AGB 2.11")["base_fees_while_blocked"],
    )
    return "done"


def check_not_blocked(booking: Booking, zone: str) -> None:
    """While blocked, calls are refused, except to emergency numbers."""
    contract = booking.require_account().contract
    if contract.blocked and zone != "emergency":
        clause = "AGB 2.11" if contract.block_reason == "misuse" else "AGB 4.4.3"
        raise Rejected(f"the connection is blocked ({contract.block_reason})", clause)
