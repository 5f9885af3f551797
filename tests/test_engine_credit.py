"""The credit account (CLINQ SD 1.3; AGB 4.1): top-ups, payments, negative credit, idempotency."""

from __future__ import annotations

from datetime import datetime

from engine.core.money import format_amount, from_cents
from engine.events import EventInvalid
from tests.conftest import Customer, effects_of

US = "+12125550100"


def test_agb_4_1_1_prepaid_credit_pays_for_calls_and_never_expires(engine):
    acme = Customer(engine)
    acme.open()
    topped_up = acme.send("credit.topped_up", "2026-11-02T09:05:00+01:00", amount="20.00")
    assert effects_of(topped_up, "credit")[0] == {
        "kind": "credit",
        "clause": "AGB 4.1.1",
        "terms_version": "2026-01-01",
        "amount": "20.00",
        "item": "top_up",
    }
    acme.call("2026-11-03T10:00:00+01:00", US, 10 * 60)
    assert acme.balance == "17.10"
    acme.call("2027-11-03T10:00:00+01:00", US, 60)
    assert acme.balance == "16.81"


def test_agb_4_1_2_autoprepay_requests_a_top_up_when_the_credit_falls_below_the_threshold(engine):
    # AGB 4.1.2: the credit is topped up automatically below the customer's minimum.
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "25.00"})
    acme.send(
        "payment.received", "2026-11-02T09:05:00+01:00", amount="10.00", method="direct_debit"
    )
    above = acme.call("2026-11-03T10:00:00+01:00", US, 10 * 60)  # 10.00 - 2.90 = 7.10
    assert effects_of(above, "topup_requested") == []
    below = acme.call("2026-11-03T11:00:00+01:00", US, 10 * 60)  # 4.20
    assert effects_of(below, "topup_requested") == [
        {
            "kind": "topup_requested",
            "clause": "AGB 4.1.2",
            "terms_version": "2026-01-01",
            "amount": "25.00",
            "balance": "4.20",
        }
    ]
    again = acme.call("2026-11-03T12:00:00+01:00", US, 60)
    assert effects_of(again, "topup_requested") == [], "one request until the money arrives"
    paid = acme.send(
        "payment.received", "2026-11-04T09:00:00+01:00", amount="25.00", method="direct_debit"
    )
    assert effects_of(paid, "credit")[0]["clause"] == "AGB 4.2.1"
    assert acme.balance == "28.91"  # 10.00 - 2.90 - 2.90 - 0.29 + 25.00
    assert acme.engine.account("acme")["autoprepay"]["topup_pending"] is False


def test_clinq_sd_1_3_from_minus_10_eur_an_invoice_is_issued_on_the_next_20th(engine):
    # CLINQ SD 1.3: from a negative credit of -10 EUR an invoice on the 20th of the month.
    acme = Customer(engine)
    acme.open()
    small = acme.call("2026-11-03T10:00:00+01:00", US, 30 * 60)  # -8.70
    assert effects_of(small, "deadline_set") == []
    crossing = acme.call("2026-11-03T11:00:00+01:00", US, 5 * 60)  # -10.15
    assert effects_of(crossing, "deadline_set") == [
        {
            "kind": "deadline_set",
            "clause": "CLINQ SD 1.3",
            "terms_version": "2026-01-01",
            "deadline": "negative_credit_invoice",
            "date": "2026-11-20",
        }
    ]
    acme.call("2026-11-04T11:00:00+01:00", US, 60)  # -10.44: no second deadline
    assert [d["kind"] for d in engine.account("acme")["deadlines"]] == [
        "recurring_fees",
        "monthly_invoice",
        "inactivity_check",
        "negative_credit_invoice",
    ]
    early = acme.send("clock", "2026-11-19T23:59:59+01:00")
    assert effects_of(early, "invoice_issued") == []
    due = acme.send("clock", "2026-11-20T00:00:00+01:00")
    assert effects_of(due, "invoice_issued") == [
        {
            "kind": "invoice_issued",
            "clause": "CLINQ SD 1.3",
            "terms_version": "2026-01-01",
            "invoice": "2026-000001",
            "amount": "10.44",
            "date": "2026-11-20",
            "due": "2026-11-20",
        }
    ]
    # The credit is still below -10.00 EUR: the run comes again on the next 20th.
    assert [
        d["date"]
        for d in engine.account("acme")["deadlines"]
        if d["kind"] == "negative_credit_invoice"
    ] == ["2026-12-20"]
    # The monthly invoice for November adds VAT (19 % of 10.44 = 1.98) and claims only that:
    # the 10.44 are claimed by the invoice of the 20th already.
    (monthly,) = effects_of(acme.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    assert (monthly["clause"], monthly["amount"], monthly["amount_due"]) == (
        "AGB 4.3.1",
        "12.42",
        "1.98",
    )


def test_clinq_sd_1_3_the_invoice_lapses_when_the_credit_recovered_before_the_20th(engine):
    acme = Customer(engine)
    acme.open()
    acme.call("2026-11-03T10:00:00+01:00", US, 40 * 60)  # -11.60, due 2026-11-20
    acme.send("credit.topped_up", "2026-11-10T09:00:00+01:00", amount="20.00")
    lapsed = acme.send("clock", "2026-11-20T08:00:00+01:00")
    assert effects_of(lapsed, "invoice_issued") == []
    assert effects_of(lapsed, "deadline_lapsed")[0]["clause"] == "CLINQ SD 1.3"


def test_premium_base_price_and_extra_users_are_charged_monthly_in_advance(engine):
    # AGB 4.4.1: recurring claims fall due on the first of each month; the opening month is
    # charged for its remaining days (Platform: recurring-fees). Premium prices are samples.
    acme = Customer(engine)
    opened = acme.open(plan="clinq-premium", at="2026-11-16T09:00:00+01:00", users=())
    assert effects_of(opened, "charge")[0]["amount"] == "14.95"  # 29.90 x 15/30
    assert effects_of(opened, "charge")[0]["clause"] == "CLINQ SD 2.6"
    acme.send("user.added", "2026-11-16T09:00:00+01:00", user="anna")
    second = acme.send("user.added", "2026-11-16T09:00:00+01:00", user="ben")
    assert effects_of(second, "charge")[0]["amount"] == "4.95"  # 9.90 x 15/30
    first_of_december = acme.send("clock", "2026-12-01T00:00:00+01:00")
    fees = [e for e in effects_of(first_of_december, "charge") if e["item"] != "vat"]
    assert [(e["item"], e["amount"]) for e in fees] == [
        ("base_fee", "29.90"),
        ("additional_user_fee", "9.90"),
    ]
    fees_due = [
        e["date"]
        for e in effects_of(first_of_december, "deadline_set")
        if e["deadline"] == "recurring_fees"
    ]
    assert fees_due == ["2027-01-01"]
    # 29.90 + 9.90 for December, and November's 19.90 plus 19 % VAT (3.78) invoiced on 1 December.
    assert acme.balance == "-63.48"


def test_a_clock_far_in_the_future_fires_every_month_in_order(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium", at="2026-11-30T09:00:00+01:00")
    result = acme.send("clock", "2027-02-15T00:00:00+01:00")
    fees = [e["period"] for e in effects_of(result, "charge") if e["item"] == "base_fee"]
    assert fees == ["2026-12", "2027-01", "2027-02"]


def test_the_same_event_twice_charges_once(engine):
    acme = Customer(engine)
    acme.open()
    call = acme.event("call", "2026-11-03T10:00:00+01:00", user="anna", to=US, duration_s=600)
    assert engine.handle(call)["status"] == "applied"
    assert engine.handle(call) == {"id": call["id"], "status": "duplicate", "effects": []}
    batch = engine.handle_many([call, call])
    assert [r["status"] for r in batch] == ["duplicate", "duplicate"]
    assert acme.balance == "-2.90"


def test_duplicates_within_one_batch_are_applied_once(engine):
    acme = Customer(engine)
    acme.open()
    call = acme.event("call", "2026-11-03T10:00:00+01:00", user="anna", to=US, duration_s=600)
    assert [r["status"] for r in engine.handle_many([call, call])] == ["applied", "duplicate"]
    assert acme.balance == "-2.90"


def test_a_rejected_event_leaves_no_trace_in_the_ledger(engine):
    acme = Customer(engine)
    acme.open()
    before = engine.ledger("acme")
    refused = acme.call("2026-11-03T10:00:00+01:00", "112", 60, caller_country="FR")
    assert refused["status"] == "rejected"
    assert engine.ledger("acme") == before
    assert acme.balance == "0.00"


def test_an_invalid_event_names_the_field_and_changes_nothing(engine):
    acme = Customer(engine)
    acme.open()
    good = acme.event("credit.topped_up", "2026-11-03T10:00:00+01:00", amount="5.00")
    bad = acme.event("credit.topped_up", "2026-11-03T10:00:00+01:00", amount=5.0)
    try:
        engine.handle_many([good, bad])
    except EventInvalid as exc:
        assert (exc.index, exc.field) == (1, "/amount")
    else:
        raise AssertionError("the batch was accepted")
    assert acme.balance == "0.00"
    assert engine.handle(good)["status"] == "applied"


def test_events_for_an_account_never_opened_are_refused(engine):
    stranger = Customer(engine, "nobody")
    result = stranger.send("credit.topped_up", "2026-11-03T10:00:00+01:00", amount="5.00")
    assert (result["status"], result["clause"]) == ("rejected", "CLINQ SD 1.2")
    assert engine.account("nobody") is None


def test_an_account_is_opened_once(engine):
    acme = Customer(engine)
    acme.open()
    again = acme.send(
        "account.opened",
        "2026-11-05T09:00:00+01:00",
        plan="clinq",
        customer_type="business",
        billing_method="prepay",
        country="DE",
        area_code="0211",
    )
    assert (again["status"], again["clause"]) == ("rejected", "CLINQ SD 1.2")


def test_events_before_the_terms_existed_are_refused_with_the_missing_clause(engine):
    acme = Customer(engine)
    result = acme.open(at="2019-06-01T09:00:00+02:00", users=())
    assert result["status"] == "rejected"
    assert result["clause"].startswith("CLINQ SD") or result["clause"] == "Price list: zones"


def test_a_quote_shows_the_effects_and_stores_nothing(engine):
    acme = Customer(engine)
    acme.open()
    call = acme.event("call", "2026-11-03T10:00:00+01:00", user="anna", to=US, duration_s=600)
    quote = engine.quote(call)
    assert effects_of(quote, "charge")[0]["amount"] == "2.90"
    assert acme.balance == "0.00"
    assert engine.handle(call)["status"] == "applied"


def test_advance_fires_the_deadlines_of_every_account(engine):
    for name in ("a1", "a2"):
        Customer(engine, name).open(plan="clinq-premium")
    results = engine.advance(datetime.fromisoformat("2026-12-01T06:00:00+01:00"))
    assert [r["id"] for r in results] == [
        "clock:a1:2026-12-01T06:00:00+01:00",
        "clock:a2:2026-12-01T06:00:00+01:00",
    ]
    assert engine.advance(datetime.fromisoformat("2026-12-01T06:00:00+01:00")) == []


def test_every_effect_names_its_clause_and_terms_version(engine):
    acme = Customer(engine)
    acme.open(
        plan="clinq-premium",
        billing_method="autoprepay",
        autoprepay={"threshold": "5.00", "amount": "25.00"},
    )
    results = [
        acme.call("2026-11-03T10:00:00+01:00", US, 3600),
        acme.call("2026-11-03T10:00:00+01:00", "+33612345678", 60),
        acme.send("clock", "2026-12-21T00:00:00+01:00"),
    ]
    effects = [e for r in results for e in r["effects"]]
    assert effects
    assert all(e["clause"] and e["terms_version"] for e in effects)


def test_the_balance_is_the_sum_of_the_ledger(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium")
    acme.send("credit.topped_up", "2026-11-03T09:00:00+01:00", amount="12.34")
    acme.call("2026-11-03T10:00:00+01:00", US, 3600)
    with engine.store.unit(commit=False) as unit:
        total = unit.ledger_sum("acme")
    assert format_amount(from_cents(total)) == acme.balance
