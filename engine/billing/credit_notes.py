"""Credit notes (Rechnungskorrektur): every credit the platform grants against charges is a new,
numbered, immutable document (Platform: credit-notes; GoBD).

A justified objection (AGB 4.5.4), the refund of credit at the end of the contract (AGB 1.4.1)
and the refund after a withdrawal (AGB 9.3) each issue one. It names the invoice it corrects
(BT-25, BT-26) where there is one; that invoice keeps its content, only its settlement state
(open amount, what was credited) changes. Amounts are positive (EN 16931). The numbers are
gapless per year in their own series (``GS-2027-000001``); the effect ``credit_note.issued``
names the clause and the terms version.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.billing.einvoice_duty import einvoice_decision_for, provider_detail
from engine.catalog import Terms
from engine.core.money import from_cents, to_cents
from engine.core.state import CreditNote, Invoice
from engine.effects import Booking, InvoiceNumbers, Rejected
from engine.ledger import credit_note_store

ISSUED = "credit_note.issued"
OBJECTION = "objection"
REFUND = "refund"
WITHDRAWAL_REFUND = "withdrawal_refund"
DECISION = "Platform: credit-notes"


def credit_note_numbers(unit) -> InvoiceNumbers:
    """The batch's source of credit note numbers: a counter per year of its own."""
    return InvoiceNumbers(lambda year: credit_note_store.lock_counter(unit.connection, year))


def creditable_cents(invoice: Invoice) -> int:
    """What a credit note may still correct of an invoice: its amount less earlier credit notes."""
    return max(0, invoice.amount_cents - invoice.credited_cents)


def check_creditable(invoice: Invoice, amount_cents: int) -> None:
    """A justified objection credits at most what is left of the invoice (AGB 4.5.4)."""
    left = creditable_cents(invoice)
    if amount_cents > left:
        raise Rejected(
            f"justified_amount {from_cents(amount_cents)} EUR exceeds what is left to correct "
            f"of invoice {invoice.number}: {from_cents(invoice.amount_cents)} EUR less "
            f"{from_cents(invoice.credited_cents)} EUR of earlier credit notes = "
            f"{from_cents(left)} EUR",
            "AGB 4.5.4",
        )


def split_gross(gross_cents: int, rate: Decimal, terms: Terms) -> tuple[int, int]:
    """Net and VAT of a gross amount at ``rate`` percent, so that the VAT is the net times the
    rate, rounded (BR-CO-17), and both add up to the gross where any net allows it."""
    if not rate:
        return gross_cents, 0
    gross = from_cents(gross_cents)
    guess = to_cents(terms.money.round(gross * 100 / (100 + rate)))
    for net in (guess, guess - 1, guess + 1):
        vat = to_cents(terms.money.round(from_cents(net) * rate / 100))
        if net + vat == gross_cents:
            return net, vat
    return guess, gross_cents - guess


def monthly_invoice_of(booking: Booking, month: str) -> Invoice | None:
    """The monthly invoice that listed the charges of ``month`` (for an objection by month)."""
    for invoice in booking.all_invoices():
        if invoice.kind == "monthly" and invoice.period == month:
            return booking.invoice(invoice.number)
    return None


def issue_credit_note(
    booking: Booking,
    amount_cents: int,
    clause: str,
    reason: str,
    invoice: Invoice | None = None,
) -> CreditNote | None:
    """Issue a credit note of ``amount_cents`` (gross) on the event's day; None for nothing."""
    if amount_cents <= 0:
        return None
    assert booking.credit_numbers is not None
    terms, day = booking.terms, booking.local_date
    decision = terms.clause(DECISION)
    number = f"{decision['number_prefix']}{booking.credit_numbers.next(day.year)}"
    detail = _detail(booking, amount_cents, clause, reason, invoice, day)
    note = CreditNote(
        number=number,
        account=booking.event.account,
        issued_on=day.isoformat(),
        amount_cents=amount_cents,
        reason=reason,
        clause=clause,
        terms_version=terms.version,
        invoice=invoice.number if invoice else None,
        invoice_issued_on=invoice.issued_on if invoice else None,
        detail=detail,
    )
    booking.new_credit_notes.append(note)
    if invoice is not None:  # settlement state only: the invoice's document stays as issued
        invoice.credited_cents += amount_cents
        invoice.credit_notes = [*invoice.credit_notes, number]
    booking.effect(
        ISSUED,
        clause,
        terms.version,
        credit_note=number,
        invoice=note.invoice,
        invoice_date=note.invoice_issued_on,
        reason=reason,
        amount=from_cents(amount_cents),
        net=Decimal(detail["net"]),
        vat=Decimal(detail["vat"]),
        date=day,
        decision=DECISION,
    )
    return note


def _detail(
    booking: Booking,
    amount_cents: int,
    clause: str,
    reason: str,
    invoice: Invoice | None,
    day: date,
) -> dict:
    """What the credit note's PDF and e-invoice print, fixed on the day it is issued."""
    terms = booking.terms
    account = booking.require_account()
    decision = terms.clause(DECISION)
    source = invoice.detail if invoice is not None else {}
    taxable = reason == OBJECTION and any(i.get("vat") for i in source.get("items", []))
    rate = Decimal(source["vat_rate"]) if taxable else Decimal("0")
    net, vat = split_gross(amount_cents, rate, terms)
    kind = {OBJECTION: "objection_credit"}.get(reason, "credit_refund")
    gross = from_cents(amount_cents)
    return {
        "reason": reason,
        "items": [
            {
                "item": kind,
                "kind": kind,
                "zone": None,
                "clause": clause,
                "net": f"{from_cents(net)}",
                "vat": taxable,
            }
        ],
        "net": f"{from_cents(net)}",
        "vat_rate": f"{rate}" if taxable else f"{terms.clause('UStG § 12')['standard_rate']}",
        "vat": f"{from_cents(vat)}",
        "gross": f"{gross}",
        "period_start": source.get("period_start"),
        "period_end": source.get("period_end"),
        "plan": account.plan,
        "customer_type": account.customer_type,
        "customer": dict(account.customer),
        "country": account.country,
        "provider": provider_detail(terms.clause("Platform: provider")),
        "note": decision["objection_note" if reason == OBJECTION else "refund_note"],
        # The corrected invoice's VAT treatment (UStG § 13b): a correction of a reverse-charge
        # invoice is reverse charge too (category AE), and reduces the EU sales list.
        "vat_treatment": source.get("vat_treatment"),
        "einvoice": source.get("einvoice") or einvoice_decision_for(terms, account, gross),
        "invoice": invoice.number if invoice else None,
        "invoice_issued_on": invoice.issued_on if invoice else None,
    }
