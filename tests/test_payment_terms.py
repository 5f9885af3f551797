"""Payment terms, clause by clause, with exact amounts and dates (AGB 2.11, 4, 5.5, 6.1, 12)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.billing.itemised import displayed_number, evn_option
from engine.catalog import load_catalog
from engine.contract.liability import cap_claims
from engine.engine import Engine
from tests.conftest import Customer, edit, effects_of

US = "+12125550100"
TODAY = date(2026, 11, 21)


def invoiced(
    engine,
    minutes: int = 1000,
    customer_type: str = "consumer",
    year: int = 2026,
    name: str = "acme",
    **opened,
):
    """A prepay customer whose calls of ``minutes`` to the US (0.29 EUR/min) are invoiced on
    20 November (CLINQ SD 1.3): 1,000 minutes make an invoice of 290.00 EUR."""
    acme = Customer(engine, name)
    acme.open(at=f"{year}-11-02T09:00:00+01:00", customer_type=customer_type, **opened)
    acme.call(f"{year}-11-03T10:00:00+01:00", US, minutes * 60)
    issued = acme.send("clock", f"{year}-11-20T08:00:00+01:00")
    (invoice,) = effects_of(issued, "invoice_issued")
    return acme, invoice


# -- AGB 4.1.4 ---------------------------------------------------------------------------------


def test_agb_4_1_4_negative_credit_without_a_mandate_costs_3_90_eur_once(engine):
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "20.00"})
    acme.send("mandate.revoked", "2026-11-02T10:00:00+01:00")
    first = acme.call("2026-11-03T10:00:00+01:00", US, 60)
    assert effects_of(first, "topup_requested") == [], "no top-up without a mandate"
    (letter,) = effects_of(first, "notice_sent")
    assert (letter["template"], letter["channel"], letter["clause"]) == (
        "settle_negative_credit",
        "letter",
        "AGB 4.1.4",
    )
    assert [(e["item"], e["amount"]) for e in effects_of(first, "charge")][-1] == (
        "handling_fee",
        "3.90",
    )
    second = acme.call("2026-11-04T10:00:00+01:00", US, 60)
    assert effects_of(second, "notice_sent") == []
    assert acme.balance == "-4.48"  # 0.29 + 3.90 + 0.29
    granted = acme.send("mandate.granted", "2026-11-05T10:00:00+01:00")
    assert effects_of(granted, "topup_requested")[0]["amount"] == "20.00"


# -- AGB 4.2.3 ---------------------------------------------------------------------------------


def test_agb_4_2_3_a_returned_direct_debit_costs_9_80_eur(engine):
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "20.00"})
    acme.send(
        "payment.received", "2026-11-02T10:00:00+01:00", amount="20.00", method="direct_debit"
    )
    returned = acme.send("direct_debit.returned", "2026-11-05T10:00:00+01:00", amount="20.00")
    assert [(e["item"], e["amount"], e["clause"]) for e in effects_of(returned, "charge")] == [
        ("returned_debit", "20.00", "AGB 4.2.3"),
        ("returned_debit_fee", "9.80", "AGB 4.2.3"),
    ]
    assert acme.balance == "-9.80"


def test_agb_4_2_3_a_proven_lower_damage_or_itemised_higher_costs_replace_the_flat_fee(engine):
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "20.00"})
    lower = acme.send(
        "direct_debit.returned",
        "2026-11-05T10:00:00+01:00",
        amount="20.00",
        proven_lower_damage="3.00",
    )
    assert effects_of(lower, "charge")[-1]["amount"] == "3.00"
    higher = acme.send(
        "direct_debit.returned",
        "2026-11-06T10:00:00+01:00",
        amount="20.00",
        itemised_higher_costs="14.50",
    )
    assert effects_of(higher, "charge")[-1]["amount"] == "14.50"


def test_agb_4_2_3_a_new_fee_applies_only_from_its_effective_date(catalog_copy, decider):
    path = catalog_copy / "rules/agb/4.2.3-returned-direct-debit.yaml"
    path.write_text(
        path.read_text()
        + """  - effective_from: 2027-01-04
    values:
      flat_fee: "12.00 EUR"
      lower_damage_provable: true
      itemised_higher_costs_chargeable: true
"""
    )
    engine = Engine(f"sqlite:///{catalog_copy / 'l.sqlite'}", load_catalog(catalog_copy), decider)
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "20.00"})
    before = acme.send("direct_debit.returned", "2027-01-03T23:59:00+01:00", amount="20.00")
    after = acme.send("direct_debit.returned", "2027-01-04T00:00:00+01:00", amount="20.00")
    assert (
        effects_of(before, "charge")[-1]["amount"],
        effects_of(before, "charge")[-1]["terms_version"],
    ) == (
        "9.80",
        "2027-01-01",  # the e-invoice duty of UStG § 14 starts a terms version
    )
    assert (
        effects_of(after, "charge")[-1]["amount"],
        effects_of(after, "charge")[-1]["terms_version"],
    ) == (
        "12.00",
        "2027-01-04",
    )
    engine.close()


# -- AGB 4.2.2, 4.2.4, 4.4.1 ------------------------------------------------------------------


def test_agb_4_2_2_the_direct_debit_comes_six_working_days_after_the_invoice(engine):
    # Invoice received Friday 2026-11-20: Sat 21, Mon 23, Tue 24, Wed 25, Thu 26, Fri 27.
    acme, invoice = invoiced(engine, 100, billing_method="postpay")
    assert invoice["due"] == "2026-11-20"  # AGB 4.4.1: due on receipt
    assert (
        effects_of(acme.send("clock", "2026-11-26T23:00:00+01:00"), "direct_debit_requested") == []
    )
    debit = acme.send("clock", "2026-11-27T08:00:00+01:00")
    assert effects_of(debit, "direct_debit_requested") == [
        {
            "kind": "direct_debit_requested",
            "clause": "AGB 4.2.2",
            "terms_version": "2026-01-01",
            "invoice": "2026-000001",
            "amount": "29.00",
            "date": "2026-11-27",
        }
    ]


def test_agb_4_2_4_a_transfer_settles_an_invoice_only_with_its_reference(engine):
    acme, invoice = invoiced(engine, 100)
    acme.call("2026-11-21T10:00:00+01:00", US, 100 * 60)  # 29.00 more, not yet invoiced
    without = acme.send(
        "payment.received", "2026-11-25T10:00:00+01:00", amount="29.00", method="bank_transfer"
    )
    assert effects_of(without, "payment_unallocated")[0]["clause"] == "AGB 4.2.4"
    assert effects_of(without, "claims_offset_by_credit") == []  # the debt still covers it
    with_reference = acme.send(
        "payment.received",
        "2026-11-26T10:00:00+01:00",
        amount="29.00",
        method="bank_transfer",
        reference=invoice["invoice"],
    )
    assert effects_of(with_reference, "payment_allocated") == [
        {
            "kind": "payment_allocated",
            "clause": "AGB 4.2.4",
            "terms_version": "2026-01-01",
            "invoice": "2026-000001",
            "amount": "29.00",
            "open": "0.00",
        }
    ]


def test_agb_4_4_1_recurring_fees_fall_due_on_the_first_of_the_month(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium", at="2026-11-16T09:00:00+01:00")
    fees = acme.send("clock", "2026-12-01T00:00:00+01:00")
    assert {e["due"] for e in effects_of(fees, "charge") if e["item"] == "base_fee"} == {
        "2026-12-01"
    }


# -- AGB 4.4.2, 4.4.4: default and interest ----------------------------------------------------


def test_agb_4_4_4_a_consumer_pays_5_points_over_the_base_rate_for_each_day_of_default(engine):
    # Invoice of 290.00 received Friday 2026-11-20; 30 days end Sunday 2026-12-20, § 193 BGB
    # moves that to Monday 12-21; default from Tuesday 2026-12-22 (BGB § 286 (3)). Paid
    # 2027-01-15: 24 days at 1.27 % + 5 = 6.27 %: 290 x 24 x 6.27 / 36500 = 1.1956 -> 1.20.
    acme, invoice = invoiced(engine)
    started = acme.send("clock", "2026-12-22T00:00:00+01:00")
    assert effects_of(started, "default_started")[0]["date"] == "2026-12-22"
    paid = acme.send(
        "payment.received",
        "2027-01-15T10:00:00+01:00",
        amount="290.00",
        method="bank_transfer",
        reference=invoice["invoice"],
    )
    (interest,) = [e for e in effects_of(paid, "charge") if e["item"] == "default_interest"]
    assert (interest["amount"], interest["days"], interest["margin"], interest["clause"]) == (
        "1.20",
        24,
        "5.00",
        "AGB 4.4.4",
    )


def test_agb_4_4_2_default_starts_30_days_after_due_date_and_receipt(engine):
    # BGB § 286 (3): received and due Friday 2026-11-20; 30 days end Sunday 2026-12-20, which
    # § 193 BGB replaces by Monday 12-21; default from Tuesday 2026-12-22.
    acme, _invoice = invoiced(engine)
    assert effects_of(acme.send("clock", "2026-12-21T23:59:00+01:00"), "default_started") == []
    (started,) = effects_of(acme.send("clock", "2026-12-22T00:00:00+01:00"), "default_started")
    assert (started["clause"], started["statute"], started["amount"]) == (
        "AGB 4.4.2",
        "BGB § 286",
        "290.00",
    )


def test_agb_4_4_4_a_business_pays_8_points(engine):
    # Default from 2026-12-22 (see above): 290 x 24 x 9.27 / 36500 = 1.7676 -> 1.77
    acme, invoice = invoiced(engine, customer_type="business")
    acme.send("clock", "2026-12-22T00:00:00+01:00")
    paid = acme.send(
        "payment.received",
        "2027-01-15T10:00:00+01:00",
        amount="290.00",
        method="bank_transfer",
        reference=invoice["invoice"],
    )
    assert [e["amount"] for e in effects_of(paid, "charge") if e["item"] == "default_interest"] == [
        "1.77"
    ]


def test_agb_4_4_4_the_base_rate_in_force_on_each_day_applies(engine):
    # Default 2024-06-20 to 2024-07-09: 11 days at 3.62 % + 5, 9 days at 3.37 % + 5:
    # 290 x (11 x 8.62 + 9 x 8.37) / 36500 = 1.352 -> 1.35
    acme, invoice = invoiced(engine, year=2024)
    acme.send("clock", "2024-12-21T00:00:00+01:00")
    assert invoice["date"] == "2024-11-20"
    early = Customer(engine, "early")
    early.open(at="2024-05-02T09:00:00+02:00", customer_type="consumer")
    early.call("2024-05-03T10:00:00+02:00", US, 1000 * 60)
    (issued,) = effects_of(early.send("clock", "2024-05-20T08:00:00+02:00"), "invoice_issued")
    early.send("clock", "2024-06-20T00:00:00+02:00")
    paid = early.send(
        "payment.received",
        "2024-07-10T10:00:00+02:00",
        amount="290.00",
        method="bank_transfer",
        reference=issued["invoice"],
    )
    assert [e["amount"] for e in effects_of(paid, "charge") if e["item"] == "default_interest"] == [
        "1.35"
    ]


def test_agb_4_4_4_each_invoice_run_charges_the_interest_so_far(engine):
    acme, invoice = invoiced(engine)
    acme.send("clock", "2026-12-22T00:00:00+01:00")
    run = acme.send("clock", "2027-01-20T08:00:00+01:00")  # the next negative-credit invoice run
    interest = [
        e
        for e in effects_of(run, "charge")
        if e["item"] == "default_interest" and e["invoice"] == invoice["invoice"]
    ]
    assert [(e["first_day"], e["last_day"], e["amount"]) for e in interest] == [
        ("2026-12-22", "2027-01-19", "1.44")  # 29 days: 290 x 29 x 6.27 / 36500 = 1.4446
    ]


# -- AGB 4.4.3: blocking -----------------------------------------------------------------------


def test_agb_4_4_3_blocking_follows_a_warning_two_weeks_before_and_ends_with_payment(engine):
    # 414 minutes: an invoice of 120.06 EUR, above the 100 EUR of § 61 TKG. Default and the
    # warning come on Tuesday 2026-12-22; the two weeks run from 12-23 to the end of Tuesday
    # 2027-01-05 (BGB §§ 187 (1), 188 (2)): the block comes on Wednesday 2027-01-06.
    acme, invoice = invoiced(engine, 414)
    warned = acme.send("clock", "2026-12-22T00:00:00+01:00")
    (warning,) = effects_of(warned, "notice_sent")
    assert (warning["template"], warning["clause"], warning["arrears"], warning["date"]) == (
        "blocking_warning",
        "TKG § 61",
        "120.06",
        "2026-12-22",
    )
    assert effects_of(acme.send("clock", "2027-01-05T23:59:00+01:00"), "service_blocked") == []
    blocked = acme.send("clock", "2027-01-06T00:00:00+01:00")
    assert [
        (e["scope"], e["clause"], e["date"]) for e in effects_of(blocked, "service_blocked")
    ] == [("outgoing", "AGB 4.4.3", "2027-01-06")]
    refused = acme.call("2027-01-07T10:00:00+01:00", US, 60)
    assert (refused["status"], refused["clause"]) == ("rejected", "AGB 4.4.3")
    assert acme.call("2027-01-07T10:05:00+01:00", "112", 60)["status"] == "applied"
    # One week after the outgoing block: 01-07 to the end of 01-13; incoming calls from 01-14.
    assert effects_of(acme.send("clock", "2027-01-13T23:59:00+01:00"), "service_blocked") == []
    incoming = acme.send("clock", "2027-01-14T00:00:00+01:00")
    assert [e["scope"] for e in effects_of(incoming, "service_blocked")] == ["all"]
    paid = acme.send(
        "payment.received",
        "2027-01-15T10:00:00+01:00",
        amount="120.06",
        method="bank_transfer",
        reference=invoice["invoice"],
    )
    # The monthly invoice of 1 December claims November's VAT (22.81) and is in default too.
    assert effects_of(paid, "service_unblocked") == []
    (monthly,) = [e for e in effects_of(warned, "invoice_issued") if e["clause"] == "AGB 4.3.1"]
    assert monthly["amount_due"] == "22.81"
    settled = acme.send(
        "payment.received",
        "2027-01-15T10:30:00+01:00",
        amount="22.92",
        method="bank_transfer",
        reference=monthly["invoice"],
    )
    assert effects_of(settled, "service_unblocked")[0]["clause"] == "AGB 4.4.3"
    assert acme.call("2027-01-15T11:00:00+01:00", US, 60)["status"] == "applied"


def test_agb_4_4_3_the_minimum_arrears_are_those_of_the_statute_in_force(engine):
    # 276 minutes: 80.04 EUR. Enough under § 45k TKG (75 EUR) in 2020, not under § 61 (100 EUR).
    old, _ = invoiced(engine, 276, year=2020)
    assert effects_of(old.send("clock", "2020-12-22T00:00:00+01:00"), "notice_sent")[0][
        "template"
    ] == ("blocking_warning")
    new = Customer(engine, "new")
    new.open(at="2022-11-02T09:00:00+01:00", customer_type="consumer")
    new.call("2022-11-03T10:00:00+01:00", US, 276 * 60)
    new.send("clock", "2022-11-20T08:00:00+01:00")
    assert effects_of(new.send("clock", "2022-12-21T00:00:00+01:00"), "notice_sent") == []


def test_platform_blocking_decides_whether_businesses_are_blocked_under_tkg_61(
    catalog_copy, decider
):
    # TKG § 61 protects consumers; the platform applies it to businesses too (Platform: blocking).
    engine = Engine(f"sqlite:///{catalog_copy / 'b.sqlite'}", load_catalog(catalog_copy), decider)
    acme, _ = invoiced(engine, 414, customer_type="business")
    assert effects_of(acme.send("clock", "2026-12-22T00:00:00+01:00"), "notice_sent")
    engine.close()
    edit(
        catalog_copy / "rules/platform/blocking.yaml",
        "customer_types: [consumer, business]",
        "customer_types: [consumer]",
    )
    engine = Engine(f"sqlite:///{catalog_copy / 'c.sqlite'}", load_catalog(catalog_copy), decider)
    acme, _ = invoiced(engine, 414, customer_type="business")
    started = acme.send("clock", "2026-12-22T00:00:00+01:00")
    assert effects_of(started, "default_started") and effects_of(started, "notice_sent") == []
    engine.close()


def test_agb_4_4_3_disputed_amounts_do_not_count_towards_blocking(engine):
    acme, invoice = invoiced(engine, 414)
    acme.send(
        "objection.received",
        "2026-12-01T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
    )
    assert effects_of(acme.send("clock", "2026-12-22T00:00:00+01:00"), "notice_sent") == []


def test_agb_2_11_misuse_that_goes_on_after_a_request_leads_to_a_block(engine):
    acme = Customer(engine)
    acme.open()
    detected = acme.send("misuse.detected", "2026-11-02T10:00:00+01:00", description="resale")
    assert effects_of(detected, "notice_sent")[0]["template"] == "misuse_stop_request"
    # Fourteen days end Monday 2026-11-16; the block comes on 2026-11-17.
    assert effects_of(acme.send("clock", "2026-11-16T23:00:00+01:00"), "service_blocked") == []
    blocked = acme.send("clock", "2026-11-17T00:00:00+01:00")
    assert effects_of(blocked, "service_blocked")[0]["clause"] == "AGB 2.11"
    assert acme.call("2026-11-18T10:00:00+01:00", US, 60)["clause"] == "AGB 2.11"
    lifted = acme.send("misuse.detected", "2026-11-19T10:00:00+01:00", resolved=True)
    assert effects_of(lifted, "service_unblocked")[0]["clause"] == "AGB 2.11"


# -- AGB 4.5, 4.4.5, 5.7: objections, approval, traffic data -----------------------------------


def test_agb_4_5_1_an_objection_is_due_in_writing_within_eight_weeks(engine):
    # Received Friday 2026-11-20; eight weeks end Friday 2027-01-15.
    acme, invoice = invoiced(engine)
    by_phone = acme.send(
        "objection.received",
        "2026-12-01T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="phone",
    )
    assert (by_phone["status"], by_phone["clause"]) == ("rejected", "AGB 4.5.1")
    in_time = acme.send(
        "objection.received",
        "2027-01-15T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="email",
    )
    assert effects_of(in_time, "objection_recorded")[0]["until"] == "2027-01-15"
    other, late_invoice = invoiced(engine, name="other")
    late = other.send(
        "objection.received",
        "2027-01-16T10:00:00+01:00",
        invoice=late_invoice["invoice"],
        channel="letter",
    )
    assert (late["status"], late["clause"]) == ("rejected", "AGB 4.5.1")


def test_agb_4_5_1_objections_to_offsetting_with_credit_run_from_the_month_end(engine):
    # Charges of November 2026: eight weeks from 2026-11-30 end Monday 2027-01-25.
    acme = Customer(engine)
    acme.open()
    in_time = acme.send(
        "objection.received", "2027-01-25T10:00:00+01:00", month="2026-11", channel="email"
    )
    assert in_time["status"] == "applied"
    late = acme.send(
        "objection.received", "2027-01-26T10:00:00+01:00", month="2026-11", channel="email"
    )
    assert (late["status"], late["clause"]) == ("rejected", "AGB 4.5.1")


def test_agb_4_5_3_without_an_objection_the_invoice_counts_as_approved(engine):
    acme, invoice = invoiced(engine)
    assert effects_of(acme.send("clock", "2027-01-15T23:00:00+01:00"), "invoice_approved") == []
    approved = acme.send("clock", "2027-01-16T00:00:00+01:00")
    assert effects_of(approved, "invoice_approved") == [
        {
            "kind": "invoice_approved",
            "clause": "AGB 4.5.3",
            "terms_version": "2027-01-01",  # UStG § 14: the e-invoice duty
            "invoice": invoice["invoice"],
            "date": "2027-01-16",
        }
    ]


def test_agb_4_4_5_traffic_data_are_deleted_eight_weeks_after_receipt(engine):
    acme, _invoice = invoiced(engine)
    deleted = acme.send("clock", "2027-01-16T00:00:00+01:00")
    assert effects_of(deleted, "traffic_data_deleted")[0]["date"] == "2027-01-16"


def test_agb_4_5_2_no_objection_after_the_traffic_data_were_deleted_on_request(engine):
    acme, invoice = invoiced(engine)
    early = acme.send("data_deletion.requested", "2026-11-25T10:00:00+01:00", scope="traffic_data")
    assert effects_of(early, "traffic_data_deleted")[0]["clause"] == "AGB 4.4.5"
    refused = acme.send(
        "objection.received",
        "2026-11-26T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="email",
    )
    assert (refused["status"], refused["clause"]) == ("rejected", "AGB 4.5.2")


def test_agb_5_7_traffic_data_are_kept_while_an_objection_is_open(engine):
    acme, invoice = invoiced(engine)
    acme.send(
        "objection.received",
        "2026-12-01T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
    )
    kept = acme.send("clock", "2027-01-16T00:00:00+01:00")
    assert effects_of(kept, "traffic_data_deleted") == []
    assert effects_of(kept, "invoice_approved") == []
    assert {e["clause"] for e in effects_of(kept, "deadline_lapsed")} == {"AGB 5.7"}


def test_agb_4_5_4_a_justified_objection_offsets_open_claims_first_then_credits(engine):
    acme, invoice = invoiced(engine)
    partly = acme.send(
        "objection.received",
        "2026-12-01T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="50.00",
    )
    assert effects_of(partly, "objection_settled") == [
        {
            "kind": "objection_settled",
            "clause": "AGB 4.5.4",
            "terms_version": "2026-01-01",
            "invoice": invoice["invoice"],
            "offset": [{"invoice": invoice["invoice"], "amount": "50.00"}],
            "credit_note": "0.00",
        }
    ]
    assert acme.balance == "-240.00"
    acme.send(
        "payment.received",
        "2026-12-01T12:00:00+01:00",
        amount="100.00",
        method="bank_transfer",
        reference=invoice["invoice"],
    )
    # 290.00 less the 50.00 already corrected leaves 240.00: 140.00 are still open, 100.00
    # become credit.
    beyond = acme.send(
        "objection.received",
        "2026-12-02T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="240.00",
    )
    assert effects_of(beyond, "objection_settled")[0]["credit_note"] == "100.00"
    assert acme.balance == "100.00"
    # Nothing is left to correct: more is refused (Platform: credit-notes).
    more = acme.send(
        "objection.received",
        "2026-12-03T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="0.01",
    )
    assert (more["status"], more["clause"]) == ("rejected", "AGB 4.5.4")


# -- AGB 5.5, 6.1, 12.4, 12.5; CLINQ SD 2.3 ----------------------------------------------------


def test_agb_5_5_the_itemised_bill_shows_numbers_in_full_unless_the_customer_chose_otherwise(
    catalog,
):
    terms = catalog.at(TODAY)
    assert evn_option({}, terms) == "full"
    assert evn_option({"enabled": True, "shorten": True}, terms) == "shortened"
    assert evn_option({"enabled": False}, terms) == "deactivated"
    assert displayed_number("+49211123456789", "full", terms) == "+49211123456789"
    assert displayed_number("+49211123456789", "shortened", terms) == "+49211123456xxx"
    assert displayed_number("+49211123456789", "deactivated", terms) is None


def test_agb_6_1_claims_are_capped_per_customer_and_reduced_proportionally_per_event(catalog):
    terms = catalog.at(TODAY)
    small = cap_claims({"a": Decimal("20000.00"), "b": Decimal("800.00")}, terms)
    assert small == {"a": Decimal("12500.00"), "b": Decimal("800.00")}
    many = {f"c{i}": Decimal("12500.00") for i in range(1000)}  # 12.5 million in all
    many["odd"] = Decimal("3333.33")
    paid = cap_claims(many, terms)
    assert sum(paid.values()) == Decimal("10000000.00")
    assert paid["c0"] == Decimal("9997.33")  # 12,500 x 10,000,000 / 12,503,333.33
    assert cap_claims(many, terms, intentional=True) == many


def test_agb_12_4_no_account_in_the_territory_of_the_usa(engine):
    usa = Customer(engine, "usa").open(country="US")
    assert (usa["status"], usa["clause"]) == ("rejected", "AGB 12.4")


def test_agb_12_5_no_account_where_the_service_is_not_permitted(engine):
    cuba = Customer(engine, "cuba").open(country="CU")
    assert (cuba["status"], cuba["clause"]) == ("rejected", "AGB 12.5")


def test_clinq_sd_2_3_availability_excludes_maintenance_and_overlaps(engine, catalog):
    from engine.contract.availability import availability

    platform = Customer(engine, "platform")
    outages = [
        ("2026-03-01T00:00:00Z", "2026-03-02T12:00:00Z", False),  # 36 hours
        ("2026-03-02T00:00:00Z", "2026-03-02T18:00:00Z", False),  # overlaps: +6 hours
        ("2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", True),  # maintenance: not counted
    ]
    for start, end, maintenance in outages:
        assert (
            platform.send("outage", end, start=start, end=end, maintenance=maintenance)["status"]
            == "applied"
        )
    with engine.store.unit(commit=False) as unit:
        report = availability(unit.outage_payloads(), 2026, catalog)
    assert report.downtime_seconds == 42 * 3600
    assert report.availability_percent == Decimal("99.521")  # 1 - 42 / 8760
    assert report.met
    heavy = [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-05T00:00:00Z", "maintenance": False}]
    assert not availability(heavy, 2026, catalog).met  # 96 hours: 98.904 %
