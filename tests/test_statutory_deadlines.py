"""Deadlines and interest at their edges, as the statutes count them (issue: legal correctness).

Each period is tested on the day before its end, on its last day and on the day after, across
a weekend and a public holiday of Nordrhein-Westfalen. The day of the triggering event is not
counted (BGB § 187 (1)); a period ends at the end of its last day (§ 188); where the customer
must declare or pay by then, a last day on a Saturday, Sunday or holiday moves to the next
working day (§ 193). Calendar facts used below:

* Friday 2026-11-20 + 30 days = Sunday 2026-12-20 (§ 193: Monday 12-21).
* Wednesday 2026-04-01 + 30 days = Friday 2026-05-01, Labour Day (§ 193: Monday 05-04).
* Saturday 2027-11-20 + 8 weeks = Saturday 2028-01-15 (§ 193: Monday 2028-01-17).
* Thursday 2027-04-01 + 8 weeks = Thursday 2027-05-27, Corpus Christi (§ 193: Friday 05-28).
"""

from __future__ import annotations

from engine.catalog import load_catalog
from engine.engine import Engine
from tests.conftest import Customer, edit, effects_of

US = "+12125550100"  # 0.29 EUR a minute


def invoiced_on_the_20th(engine, name="acme", year=2026, minutes=1000, customer_type="business"):
    """A prepay account whose November calls are invoiced on 20 November (CLINQ SD 1.3)."""
    customer = Customer(engine, name)
    customer.open(at=f"{year}-11-02T09:00:00+01:00", customer_type=customer_type)
    customer.call(f"{year}-11-03T10:00:00+01:00", US, minutes * 60)
    (invoice,) = effects_of(
        customer.send("clock", f"{year}-11-20T08:00:00+01:00"), "invoice_issued"
    )
    return customer, invoice


def invoiced_on_the_1st(engine, name: str, month: str, customer_type="business"):
    """Calls after the 20th of the month before: the monthly invoice of the 1st claims them."""
    year, number = map(int, month.split("-"))
    before = f"{year}-{number - 1:02d}"
    customer = Customer(engine, name)
    customer.open(at=f"{before}-02T09:00:00+01:00", customer_type=customer_type)
    customer.call(f"{before}-22T10:00:00+01:00", US, 1000 * 60)
    issued = customer.send("clock", f"{month}-01T08:00:00+02:00")
    (invoice,) = effects_of(issued, "invoice_issued")
    return customer, invoice


def pay(customer, at: str, invoice: dict, amount: str | None = None) -> dict:
    return customer.send(
        "payment.received",
        at,
        amount=amount or invoice.get("amount_due", invoice["amount"]),
        method="bank_transfer",
        reference=invoice["invoice"],
    )


def interest_charged(result: dict) -> list[str]:
    return [e["amount"] for e in effects_of(result, "charge") if e["item"] == "default_interest"]


# -- 1. AGB 4.4.2 / BGB §§ 286 (3), 193 ---------------------------------------------------------


def test_agb_4_4_2_when_day_30_is_a_sunday_payment_on_monday_is_in_time(engine):
    acme, invoice = invoiced_on_the_20th(engine)
    assert effects_of(acme.send("clock", "2026-12-20T23:59:00+01:00"), "default_started") == []
    monday = pay(acme, "2026-12-21T16:00:00+01:00", invoice)
    assert interest_charged(monday) == [] and acme.balance == "-55.10"  # only the VAT invoice
    late, late_invoice = invoiced_on_the_20th(engine, "late")
    assert effects_of(late.send("clock", "2026-12-21T23:59:00+01:00"), "default_started") == []
    (started,) = effects_of(late.send("clock", "2026-12-22T00:00:00+01:00"), "default_started")
    assert (started["date"], started["invoice"], started["clause"], started["statute"]) == (
        "2026-12-22",
        late_invoice["invoice"],
        "AGB 4.4.2",
        "BGB § 286",
    )


def test_agb_4_4_2_when_day_30_is_labour_day_default_starts_after_the_next_working_day(engine):
    # Invoice of Wednesday 2026-04-01 (March's calls, 345.10 EUR with VAT); day 30 is Friday
    # 2026-05-01, Labour Day; Saturday and Sunday follow: the last day is Monday 05-04.
    acme, invoice = invoiced_on_the_1st(engine, "acme", "2026-04")
    assert (invoice["date"], invoice["amount_due"]) == ("2026-04-01", "345.10")
    for day in ("2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"):
        assert effects_of(acme.send("clock", f"{day}T23:59:00+02:00"), "default_started") == []
    (started,) = effects_of(acme.send("clock", "2026-05-05T00:00:00+02:00"), "default_started")
    assert started["date"] == "2026-05-05"


# -- 2. BGB § 286 (3) sentence 1, second half: the consumer hint ------------------------------


def test_bgb_286_3_every_consumer_invoice_points_out_the_default_after_30_days(engine):
    anna, invoice = invoiced_on_the_20th(engine, "anna", customer_type="consumer")
    _acme, business = invoiced_on_the_20th(engine, "acme")
    with engine.store.unit(commit=False) as unit:
        consumer_invoice = unit.invoice(invoice["invoice"])
        business_invoice = unit.invoice(business["invoice"])
    assert consumer_invoice.default_hint
    assert "§ 286 Abs. 3 BGB" in consumer_invoice.detail["default_hint"]
    assert not business_invoice.default_hint and business_invoice.detail["default_hint"] is None
    (started,) = effects_of(anna.send("clock", "2026-12-22T00:00:00+01:00"), "default_started")
    assert started["invoice"] == invoice["invoice"]


def test_bgb_286_3_without_the_hint_a_consumer_is_in_default_only_after_a_reminder(
    catalog_copy, decider
):
    edit(
        catalog_copy / "rules/platform/invoicing.yaml",
        "consumer_default_hint_printed: true",
        "consumer_default_hint_printed: false",
    )
    engine = Engine(f"sqlite:///{catalog_copy / 'l.sqlite'}", load_catalog(catalog_copy), decider)
    anna, invoice = invoiced_on_the_20th(engine, "anna", customer_type="consumer")
    assert effects_of(anna.send("clock", "2027-01-10T00:00:00+01:00"), "default_started") == []
    early = anna.send("reminder.sent", "2026-11-19T10:00:00+01:00", invoice=invoice["invoice"])
    assert (early["status"], early["clause"]) == ("rejected", "AGB 4.4.2")
    reminded = anna.send("reminder.sent", "2027-01-10T10:00:00+01:00", invoice=invoice["invoice"])
    assert effects_of(reminded, "reminder_recorded")[0]["statute"] == "BGB § 286"
    (deadline,) = effects_of(reminded, "deadline_set")
    assert (deadline["deadline"], deadline["date"]) == ("default", "2027-01-11")
    (started,) = effects_of(anna.send("clock", "2027-01-11T00:00:00+01:00"), "default_started")
    assert started["date"] == "2027-01-11"
    engine.close()


def test_bgb_286_1_a_reminder_puts_a_business_in_default_before_the_30_days_end(engine):
    acme, invoice = invoiced_on_the_20th(engine)
    reminded = acme.send("reminder.sent", "2026-12-01T10:00:00+01:00", invoice=invoice["invoice"])
    assert effects_of(reminded, "deadline_set")[0]["date"] == "2026-12-02"
    started = acme.send("clock", "2026-12-02T00:00:00+01:00")
    assert effects_of(started, "default_started")[0]["date"] == "2026-12-02"
    later = acme.send("clock", "2026-12-22T00:00:00+01:00")
    assert [e["invoice"] for e in effects_of(later, "default_started")] == [], "once only"
    again = acme.send("reminder.sent", "2026-12-10T10:00:00+01:00", invoice=invoice["invoice"])
    assert effects_of(again, "deadline_set") == [], "a second reminder changes nothing"


# -- 3. BGB § 289: no interest on interest -----------------------------------------------------


def test_bgb_289_an_invoice_of_default_interest_bears_no_interest_itself(engine):
    anna, invoice = invoiced_on_the_20th(engine, "anna", customer_type="consumer")
    anna.send("clock", "2026-12-22T00:00:00+01:00")
    paid = pay(anna, "2027-01-15T10:00:00+01:00", invoice)
    assert interest_charged(paid) == ["1.20"]  # 290 x 24 x 6.27 / 36500
    # On the 20th: the VAT invoice's interest so far (0.18) and an invoice of both interests.
    run = anna.send("clock", "2027-01-20T08:00:00+01:00")
    (interest_invoice,) = [e for e in effects_of(run, "invoice_issued") if e["amount"] == "1.38"]
    started = anna.send("clock", "2027-02-20T08:00:00+01:00")  # 30 days end Friday 02-19
    assert interest_invoice["invoice"] in [
        e["invoice"] for e in effects_of(started, "default_started")
    ]
    late = pay(anna, "2027-06-15T10:00:00+01:00", interest_invoice)
    assert interest_charged(late) == [], "115 days late, yet no interest on interest"
    assert effects_of(late, "payment_allocated")[0]["open"] == "0.00"


# -- 4. AGB 4.4.3 / TKG § 61 (3): two weeks after the warning ---------------------------------


def test_agb_4_4_3_a_warning_of_tuesday_22_december_allows_the_block_on_6_january(engine):
    # Warning W = 2026-12-22: the two weeks end with W+14 = Tuesday 2027-01-05; the block comes
    # on W+15. The waiting period is the provider's, not a period for the customer's payment:
    # § 193 does not move it (Neujahr, 2027-01-01, inside it changes nothing).
    acme, _ = invoiced_on_the_20th(engine, minutes=414)
    warned = acme.send("clock", "2026-12-22T00:00:00+01:00")
    assert effects_of(warned, "notice_sent")[0]["date"] == "2026-12-22"
    (deadline,) = [e for e in effects_of(warned, "deadline_set") if e["deadline"] == "blocking"]
    assert deadline["date"] == "2027-01-06"
    assert effects_of(acme.send("clock", "2027-01-04T23:59:00+01:00"), "service_blocked") == []
    assert effects_of(acme.send("clock", "2027-01-05T23:59:00+01:00"), "service_blocked") == []
    blocked = acme.send("clock", "2027-01-06T00:00:00+01:00")
    assert [e["date"] for e in effects_of(blocked, "service_blocked")] == ["2027-01-06"]


# -- 5. AGB 4.4.5, 4.5.1, 4.5.2 with § 193: traffic data outlive the objection period -----------


def test_agb_4_4_5_data_of_an_invoice_of_saturday_20_november_are_kept_until_monday_passed(
    engine,
):
    acme, invoice = invoiced_on_the_20th(engine, year=2027)
    assert invoice["date"] == "2027-11-20"  # a Saturday; eight weeks end Saturday 2028-01-15
    for day in ("2028-01-15", "2028-01-16"):
        assert effects_of(acme.send("clock", f"{day}T23:59:00+01:00"), "traffic_data_deleted") == []
    objected = acme.send(
        "objection.received",
        "2028-01-17T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="email",
    )
    assert effects_of(objected, "objection_recorded")[0]["until"] == "2028-01-17"
    other, other_invoice = invoiced_on_the_20th(engine, "other", year=2027)
    assert (
        effects_of(other.send("clock", "2028-01-17T23:59:00+01:00"), "traffic_data_deleted") == []
    )
    deleted = other.send("clock", "2028-01-18T00:00:00+01:00")
    assert effects_of(deleted, "traffic_data_deleted")[0]["date"] == "2028-01-18"
    late = other.send(
        "objection.received",
        "2028-01-18T10:00:00+01:00",
        invoice=other_invoice["invoice"],
        channel="email",
    )
    assert late["status"] == "rejected"


def test_agb_4_5_1_an_objection_on_the_friday_after_corpus_christi_is_in_time(engine):
    acme, invoice = invoiced_on_the_1st(engine, "acme", "2027-04")
    assert invoice["date"] == "2027-04-01"  # eight weeks end Thursday 2027-05-27, a holiday
    assert effects_of(acme.send("clock", "2027-05-27T23:59:00+02:00"), "traffic_data_deleted") == []
    assert effects_of(acme.send("clock", "2027-05-28T23:59:00+02:00"), "traffic_data_deleted") == []
    objected = acme.send(
        "objection.received",
        "2027-05-28T18:00:00+02:00",
        invoice=invoice["invoice"],
        channel="letter",
    )
    assert effects_of(objected, "objection_recorded")[0]["until"] == "2027-05-28"
    other, other_invoice = invoiced_on_the_1st(engine, "other", "2027-04")
    deleted = other.send("clock", "2027-05-29T00:00:00+02:00")
    assert effects_of(deleted, "traffic_data_deleted")[0]["date"] == "2027-05-29"
    assert effects_of(deleted, "invoice_approved")[0]["date"] == "2027-05-29"
    late = other.send(
        "objection.received",
        "2027-05-29T10:00:00+02:00",
        invoice=other_invoice["invoice"],
        channel="letter",
    )
    assert late["status"] == "rejected"


# -- 6. AGB 4.1.2 after a refund -----------------------------------------------------------------


def autoprepay_consumer(engine, name: str) -> Customer:
    customer = Customer(engine, name)
    customer.open(
        at="2026-11-02T09:00:00+01:00",
        customer_type="consumer",
        billing_method="autoprepay",
        autoprepay={"threshold": "5.00", "amount": "20.00"},
    )
    customer.send("mandate.granted", "2026-11-02T09:00:00+01:00")
    customer.send("credit.topped_up", "2026-11-02T09:05:00+01:00", amount="30.00")
    return customer


def test_agb_9_3_a_withdrawal_refunds_the_credit_and_requests_no_top_up(engine):
    anna = autoprepay_consumer(engine, "anna")
    withdrawn = anna.send("withdrawal.received", "2026-11-05T10:00:00+01:00", channel="email")
    assert effects_of(withdrawn, "refund_approved")[0]["amount"] == "30.00"
    assert effects_of(withdrawn, "topup_requested") == []
    assert anna.balance == "0.00"


def test_agb_1_4_1_the_refund_at_the_end_of_the_contract_requests_no_top_up(engine):
    anna = autoprepay_consumer(engine, "anna")
    anna.send("termination.received", "2026-11-05T10:00:00+01:00", by="customer", channel="email")
    ended = anna.send("clock", "2026-12-01T00:00:00+01:00")
    assert effects_of(ended, "contract_ended") and effects_of(ended, "topup_requested") == []
    refunded = anna.send(
        "refund.requested",
        "2026-12-02T10:00:00+01:00",
        documents=["customer_number", "bank_or_card_account", "identity_card_copy"],
    )
    assert effects_of(refunded, "refund_approved")[0]["amount"] == "24.00"
    assert effects_of(refunded, "topup_requested") == []


# -- 7. AGB 1.1.1 / BGB §§ 148, 187, 188: the 30-day binding period --------------------------------


def test_agb_1_1_1_a_confirmation_on_day_30_concludes_the_contract(engine):
    acme = Customer(engine)
    acme.open(at="2026-03-02T09:00:00+01:00")
    acme.send("order.received", "2026-03-02T09:00:00+01:00")
    assert effects_of(acme.send("clock", "2026-04-01T08:00:00+02:00"), "order_lapsed") == []
    confirmed = acme.send("order.confirmed", "2026-04-01T12:00:00+02:00")
    assert effects_of(confirmed, "contract_concluded")[0]["date"] == "2026-04-01"


def test_agb_1_1_1_the_binding_period_is_not_extended_past_a_sunday(engine):
    # Ordered Friday 2026-04-03 (Good Friday): day 30 is Sunday 2026-05-03. The customer is
    # bound, not the one to declare: "30 Kalendertage" are not extended (§ 305c (2) BGB).
    acme = Customer(engine)
    acme.open(at="2026-04-03T09:00:00+02:00")
    acme.send("order.received", "2026-04-03T09:00:00+02:00")
    sunday = acme.send("order.confirmed", "2026-05-03T12:00:00+02:00")
    assert sunday["status"] == "applied"
    late = Customer(engine, "late")
    late.open(at="2026-04-03T09:00:00+02:00")
    late.send("order.received", "2026-04-03T09:00:00+02:00")
    lapsed = late.send("clock", "2026-05-04T00:00:00+02:00")
    assert effects_of(lapsed, "order_lapsed")[0]["date"] == "2026-05-04"
    refused = Customer(engine, "unclocked")
    refused.open(at="2026-04-03T09:00:00+02:00")
    refused.send("order.received", "2026-04-03T09:00:00+02:00")
    too_late = refused.send("order.confirmed", "2026-05-04T09:00:00+02:00")
    assert (too_late["status"], too_late["clause"]) == ("rejected", "AGB 1.1.1")
