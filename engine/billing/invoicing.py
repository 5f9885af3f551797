"""Invoices and what follows from them: due date, direct debit, objections, approval, data.

AGB 4.2.2, 4.4.1, 4.4.5, 4.5.1-4.5.4, 5.7. An invoice is issued and received the same day
(it is sent by e-mail, AGB 4.3.1) and due on receipt (AGB 4.4.1).
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from datetime import date, timedelta
from decimal import Decimal

from engine.billing.credit_notes import (
    OBJECTION,
    check_creditable,
    issue_credit_note,
    monthly_invoice_of,
)
from engine.billing.einvoice_duty import einvoice_decision_for, provider_detail
from engine.billing.plan_changes import day_start, plan_at
from engine.billing.settlement import settlement_detail
from engine.billing.vat_treatment import DOMESTIC, OSS, CannotTax, vat_treatment
from engine.catalog import Terms
from engine.core.deadlines import last_day_of_month
from engine.core.invoice_lines import item_lines
from engine.core.money import from_cents, parse_amount, to_cents
from engine.core.state import Deadline, Invoice
from engine.effects import Booking, Rejected, reject_by_rules
from engine.payments import sepa_mandates as sepa
from engine.payments.open_claims import monthly_claims
from engine.payments.payment_terms import (
    schedule_default,
    unblock_if_settled,
    uninvoiced_interest_cents,
)

INVOICE_APPROVAL = "invoice_approval"
TRAFFIC_DATA_DELETION = "traffic_data_deletion"
DIRECT_DEBIT = "direct_debit"


def issue_invoice(
    booking: Booking,
    kind: str,
    amount_cents: int,
    clause: str,
    terms: Terms,
    day: date,
    open_cents: int | None = None,
    **fields,
) -> Invoice:
    """Issue an invoice on ``day`` and schedule what follows from it."""
    invoice = booking.issue_invoice(kind, amount_cents, clause, terms, day, **fields)
    if open_cents is not None:
        invoice.open_cents = open_cents
        invoice.status = "open" if open_cents else "paid"
    invoice.interest_cents = min(invoice.open_cents, uninvoiced_interest_cents(booking))
    invoice.default_hint = default_hint(booking, terms) is not None
    received = date.fromisoformat(invoice.issued_on)
    objection = terms.clause("AGB 4.5.1")
    window_end = objection.deadline("objection_period", received, terms.calendar)
    booking.schedule(
        INVOICE_APPROVAL, window_end + timedelta(days=1), "AGB 4.5.3", invoice=invoice.number
    )
    retention = terms.clause("AGB 4.4.5").deadline(
        "retention_after_invoice", received, terms.calendar
    )
    # The data are kept at least as long as an objection is still in time (AGB 4.5.2).
    booking.schedule(
        TRAFFIC_DATA_DELETION,
        max(retention, window_end) + timedelta(days=1),
        "AGB 4.4.5",
        invoice=invoice.number,
    )
    schedule_default(booking, invoice)
    account = booking.require_account()
    if account.contract.mandate and account.billing_method in ("autoprepay", "postpay"):
        earliest = terms.clause("AGB 4.2.2").deadline(
            "earliest_debit_after_invoice", received, terms.calendar
        )
        booking.schedule(DIRECT_DEBIT, earliest, "AGB 4.2.2", invoice=invoice.number)
        notice = sepa.prenotification(booking, earliest, terms)
        if notice is not None and invoice.open_cents > 0:
            invoice.detail = {**invoice.detail, "mandate": notice}
    return invoice


def default_hint(booking: Booking, terms: Terms) -> str | None:
    """The hint of BGB § 286 (3) an invoice to a consumer carries, or None (Platform: invoicing)."""
    invoicing = terms.clause("Platform: invoicing")
    consumer = booking.require_account().customer_type == "consumer"
    if consumer and invoicing["consumer_default_hint_printed"]:
        return invoicing["consumer_default_hint"]
    return None


def fire_direct_debit(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Six working days after receipt, the open amount may be collected (AGB 4.2.2)."""
    invoice = booking.invoice(deadline.payload["invoice"])
    contract = booking.require_account().contract
    if invoice is None or invoice.open_cents == 0 or not contract.mandate:
        return "lapsed"
    amount = from_cents(invoice.open_cents)
    debit = sepa.collect(booking, invoice, f"{amount}", deadline.due, terms)
    fields = {}
    if debit is not None:
        fields = {
            "collection_date": debit["collection_date"],
            "sequence_type": debit["sequence_type"],
            "reference": debit["mandate"]["reference"],
        }
    booking.effect(
        "direct_debit_requested",
        "AGB 4.2.2",
        terms.version,
        invoice=invoice.number,
        amount=amount,
        date=deadline.due,
        **fields,
    )
    return "done"


def fire_invoice_approval(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Without a timely objection the invoice counts as approved (AGB 4.5.3)."""
    invoice = booking.invoice(deadline.payload["invoice"])
    if invoice is None or invoice.objection == "pending":
        return "lapsed"
    invoice.approved = True
    booking.effect(
        "invoice_approved", "AGB 4.5.3", terms.version, invoice=invoice.number, date=deadline.due
    )
    return "done"


def fire_traffic_data_deletion(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """Eight weeks after receipt the invoice's traffic data are deleted (AGB 4.4.5), unless an
    objection is open: then they are kept until it is settled (AGB 5.7)."""
    invoice = booking.invoice(deadline.payload["invoice"])
    if invoice is None or invoice.traffic_data_deleted_on:
        return "lapsed"
    if (
        invoice.objection == "pending"
        and terms.clause("AGB 5.7")["keep_traffic_data_while_objection_open"]
    ):
        booking.effect(
            "deadline_lapsed",
            "AGB 5.7",
            terms.version,
            deadline=deadline.kind,
            date=deadline.due,
            invoice=invoice.number,
            reason="kept while the objection is open",
        )
        return "lapsed"
    delete_traffic_data(booking, invoice.number, deadline.due, terms)
    return "done"


def delete_traffic_data(booking: Booking, number: str, day: date, terms: Terms) -> None:
    invoice = booking.invoice(number)
    assert invoice is not None
    if invoice.objection == "pending":
        return
    invoice.traffic_data_deleted_on = day.isoformat()
    booking.effect("traffic_data_deleted", "AGB 4.4.5", terms.version, invoice=number, date=day)


def receive_objection(booking: Booking) -> None:
    """objection.received: in writing, within eight weeks of receipt (AGB 4.5.1, 4.5.2)."""
    booking.require_account()
    data = booking.event.data
    reject_by_rules(booking, "objection", {"channel": data["channel"]})
    terms, day = booking.terms, booking.local_date
    clause = terms.clause("AGB 4.5.1")
    if "month" in data:
        year, month = map(int, data["month"].split("-"))
        month_end = date(year, month, _stdlib_calendar.monthrange(year, month)[1])
        last_day = clause.deadline("credit_offset_objection_period", month_end, terms.calendar)
        if day > last_day:
            raise Rejected(
                f"objections to the charges of {data['month']} were due by {last_day}", "AGB 4.5.1"
            )
        booking.effect("objection_recorded", "AGB 4.5.1", month=data["month"], until=last_day)
        if "justified_amount" in data:
            amount = to_cents(parse_amount(data["justified_amount"]))
            monthly = monthly_invoice_of(booking, data["month"])
            if monthly is None:
                raise Rejected(
                    f"the charges of {data['month']} are not invoiced yet: a justified amount is "
                    "credited against the month's invoice, once issued",
                    "Platform: credit-notes",
                )
            check_creditable(monthly, amount)
            booking.book("credit_note", amount, "AGB 4.5.4", month=data["month"])
            issue_credit_note(booking, amount, "AGB 4.5.4", OBJECTION, monthly)
        return
    invoice = booking.invoice(data["invoice"])
    if invoice is None:
        raise Rejected(f"there is no invoice {data['invoice']} on this account", "AGB 4.5.1")
    if invoice.traffic_data_deleted_on:
        raise Rejected(
            f"the traffic data of invoice {invoice.number} were deleted on "
            f"{invoice.traffic_data_deleted_on}",
            "AGB 4.5.2",
        )
    last_day = clause.deadline(
        "objection_period", date.fromisoformat(invoice.issued_on), terms.calendar
    )
    if day > last_day:
        raise Rejected(
            f"objections to invoice {invoice.number} were due by {last_day} "
            "(eight weeks after receipt)",
            "AGB 4.5.1",
        )
    if invoice.objection is None:
        invoice.objection = "pending"
        booking.effect("objection_recorded", "AGB 4.5.1", invoice=invoice.number, until=last_day)
    if "justified_amount" in data:
        amount = to_cents(parse_amount(data["justified_amount"]))
        check_creditable(invoice, amount)
        settle_justified_objection(booking, invoice, amount)


def settle_justified_objection(booking: Booking, invoice: Invoice, amount: int) -> None:
    """A justified objection first offsets open claims; the rest is credited (AGB 4.5.4).

    The correction is a new document, a credit note referencing the invoice (Platform:
    credit-notes); the invoice's content stays as issued, only its open amount is settled.
    """
    invoice.objection = "justified"
    booking.book("objection_credit", amount, "AGB 4.5.4", invoice=invoice.number)
    issue_credit_note(booking, amount, "AGB 4.5.4", OBJECTION, invoice)
    left = amount
    offsets = []
    for candidate in [invoice] + [i for i in booking.all_invoices() if i.number != invoice.number]:
        target = booking.invoice(candidate.number)
        if left == 0 or target is None or target.open_cents == 0:
            continue
        used = min(left, target.open_cents)
        target.open_cents -= used
        target.status = "paid" if target.open_cents == 0 else target.status
        left -= used
        offsets.append({"invoice": target.number, "amount": f"{from_cents(used)}"})
    booking.effect(
        "objection_settled",
        "AGB 4.5.4",
        invoice=invoice.number,
        offset=offsets,
        credit_note=from_cents(left),
    )
    unblock_if_settled(booking)


MONTHLY_INVOICE = "monthly_invoice"


def schedule_monthly_invoice(booking: Booking, after: date) -> None:
    """The invoice for a month comes on the invoice day of the month after (Platform: invoicing)."""
    day = booking.terms.clause("Platform: invoicing")["invoice_day"]
    following = last_day_of_month(after.year, after.month) + timedelta(days=1)
    booking.schedule(MONTHLY_INVOICE, following.replace(day=day), "AGB 4.3.1")


def fire_monthly_invoice(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """One invoice for the month's charges: items by kind and zone, VAT, credit, amount due."""
    account = booking.require_account()
    schedule_monthly_invoice(booking, deadline.due)
    period_end = deadline.due.replace(day=1) - timedelta(days=1)
    period = period_end.strftime("%Y-%m")
    charges = account.period_charges.pop(period, None)
    if not charges:
        return "lapsed"
    period_terms = booking.terms_on(period_end)
    rate = period_terms.clause("UStG § 12")["standard_rate"]
    taxable = set(period_terms.clause("Platform: invoicing")["taxable_items"])
    decimals = period_terms.clause("Platform: invoicing")["line_quantity_decimals"]
    items, net, taxable_net = [], 0, 0
    for item, (cents, clause, *lines) in sorted(charges.items()):
        line, _, span = item.partition("@")
        kind, _, zone = line.partition(":")
        base = {"item": item, "kind": kind, "zone": zone or None, "clause": clause}
        base |= {"vat": kind in taxable, **item_period(span)}
        items += item_lines(base, cents, lines[0] if lines else None, decimals, period_terms.money)
        net += cents
        taxable_net += cents if kind in taxable else 0
    # UStG § 13b / § 3a (2): a business abroad gets no German VAT; § 3a (5): a consumer in
    # another member state that state's (OSS) (engine/billing/vat_treatment.py).
    treatment = vat_treatment_for(period_terms, account)
    vat_clause = treatment.get("vat_clause", "UStG § 12")
    if treatment["treatment"] == OSS:
        rate = Decimal(treatment["rate"])
    elif treatment["treatment"] != DOMESTIC:
        rate = Decimal("0.00")
    vat = to_cents(period_terms.money.round(from_cents(taxable_net) * rate / 100))
    if vat:
        booking.book("vat", -vat, vat_clause, terms=period_terms, period=period)
    gross = net + vat
    # Credit pays first; what open invoices already claim of this gross is not claimed again,
    # and an amount left open on an older invoice stays that invoice's (CLINQ SD 1.3, AGB 4.4.1).
    in_debt, earlier, due = monthly_claims(account, booking.all_invoices(), period, gross)
    claimed = in_debt - due
    provider = period_terms.clause("Platform: provider")
    detail = {
        "period": period,
        "period_start": period_end.replace(day=1).isoformat(),
        "period_end": period_end.isoformat(),
        "items": items,
        "net": f"{from_cents(net)}",
        "vat_rate": f"{rate}",
        "vat": f"{from_cents(vat)}",
        "gross": f"{from_cents(gross)}",
        "paid_by_credit": f"{from_cents(gross - in_debt)}",
        "claimed_by_earlier_invoices": f"{from_cents(claimed)}",
        "earlier_invoices": [number for number, _ in earlier],
        "earlier_claims": [{"invoice": n, "amount": f"{from_cents(c)}"} for n, c in earlier],
        "due": f"{from_cents(due)}",
        "due_on": deadline.due.isoformat(),
        # The plan of the month invoiced: a downgrade on the 1st does not rename November.
        "plan": plan_at(account, day_start(deadline.due, terms) - timedelta(microseconds=1)),
        "customer_type": account.customer_type,
        "customer": dict(account.customer),
        "provider": provider_detail(provider),
        "hint": terms.clause("AGB 4.5.3")["invoice_hint"],
        "default_hint": default_hint(booking, terms),
    }
    detail["country"] = account.country
    detail["vat_treatment"] = treatment
    detail["einvoice"] = einvoice_decision_for(terms, account, from_cents(gross))
    invoice = issue_invoice(
        booking,
        "monthly",
        gross,
        "AGB 4.3.1",
        terms,
        deadline.due,
        open_cents=due,
        period=period,
        amount_due=from_cents(due),
    )
    invoice.period, invoice.detail = period, detail | invoice.detail
    return "done"


def item_period(span: str) -> dict:
    """A part-month item's plan and days (``plan@from@to``, Platform: plan-changes), or {}."""
    if not span:
        return {}
    plan, start, end = span.split("@")
    return {"plan": plan, "period_start": start, "period_end": end}


def outstanding_detail(booking: Booking, invoice: Invoice, terms: Terms) -> dict:
    """What the invoice of the 20th prints: the outstanding amount of the credit account."""
    amount = f"{from_cents(invoice.amount_cents)}"
    provider = terms.clause("Platform: provider")
    day = date.fromisoformat(invoice.issued_on)
    account = booking.require_account()
    settlement = settlement_detail(account, invoice, booking.all_invoices())
    periods = [p for p in settlement["periods"] if p <= invoice.issued_on[:7]]
    start = date.fromisoformat(f"{periods[0]}-01") if periods else day.replace(day=1)
    return {
        "period": invoice.issued_on[:7],
        "period_start": start.isoformat(),
        "period_end": invoice.issued_on,
        "settlement": settlement,
        "items": [
            {
                "item": "outstanding",
                "kind": "outstanding",
                "zone": None,
                "clause": invoice.clause,
                "net": amount,
                "vat": False,
            }
        ],
        "net": amount,
        "vat_rate": f"{terms.clause('UStG § 12')['standard_rate']}",
        "vat": "0.00",
        "gross": amount,
        "paid_by_credit": "0.00",
        "due": amount,
        "due_on": invoice.due_on,
        "plan": account.plan,
        "customer_type": account.customer_type,
        "customer": dict(account.customer),
        "provider": provider_detail(provider),
        "hint": terms.clause("AGB 4.5.3")["invoice_hint"],
        "default_hint": default_hint(booking, terms) if invoice.default_hint else None,
        "country": account.country,
        "einvoice": einvoice_decision_for(terms, account, from_cents(invoice.amount_cents)),
    }


def vat_treatment_for(terms: Terms, account) -> dict:
    """Whose VAT the invoice bears and why (UStG § 13b, § 3a (2), (5)), from the customer's
    type, billing country and VAT id on file; recorded in its detail."""
    return vat_treatment_of(terms, account.customer_type, account.country, account.customer)


def vat_treatment_of(terms: Terms, customer_type: str, country: str, customer: dict) -> dict:
    """The VAT treatment of a customer's data (the address's country, else the account's);
    a customer the catalog cannot tax is :class:`Rejected` naming the field (Platform: oss).

    account.opened/updated refuse such data; an account on file from before, or a catalog
    change, stops its invoice the same way: never billed with a VAT that is not owed.
    """
    address = customer.get("address") or {}
    try:
        return vat_treatment(
            terms,
            customer_type=customer_type,
            country=address.get("country", country),
            vat_id=customer.get("vat_id"),
        )
    except CannotTax as refused:
        raise Rejected(f"{country_field(customer)}: {refused.reason}", refused.clause) from None


def country_field(customer: dict) -> str:
    """The field that decides where a customer is taxed: the address's country, else the
    account's (``/country``)."""
    return (
        "/customer/address/country" if "country" in (customer.get("address") or {}) else "/country"
    )
