"""The contract's life, clause by clause, with concrete dates (AGB 1, 9; CLINQ SD 1.1, 1.4)."""

from __future__ import annotations

from engine.catalog import load_catalog
from engine.engine import Engine
from tests.conftest import Customer, edit, effects_of

US = "+12125550100"


def kinds(result: dict) -> list[str]:
    return [e["kind"] for e in result["effects"]]


# -- conclusion --------------------------------------------------------------------------------


def test_clinq_sd_1_1_the_order_confirmation_concludes_the_contract(engine):
    acme = Customer(engine)
    acme.open(at="2026-03-02T09:00:00+01:00")
    ordered = acme.send("order.received", "2026-03-02T09:00:00+01:00")
    assert [(e["deadline"], e["date"]) for e in effects_of(ordered, "deadline_set")] == [
        ("deemed_acceptance", "2026-03-12"),
        ("order_binding", "2026-04-02"),  # bound until the end of 04-01 (AGB 1.1.1)
    ]
    confirmed = acme.send("order.confirmed", "2026-03-04T15:00:00+01:00")
    assert effects_of(confirmed, "contract_concluded") == [
        {
            "kind": "contract_concluded",
            "clause": "CLINQ SD 1.1",
            "terms_version": "2026-01-01",
            "date": "2026-03-04",
        }
    ]
    assert effects_of(acme.send("clock", "2026-04-02T00:00:00+02:00"), "order_lapsed") == []


def test_agb_1_1_1_acceptance_is_deemed_ten_days_after_the_order_if_activated(engine):
    acme = Customer(engine)
    acme.open(at="2026-03-02T09:00:00+01:00")
    acme.send("order.received", "2026-03-02T09:00:00+01:00")
    acme.send("account.activated", "2026-03-05T10:00:00+01:00")
    assert effects_of(acme.send("clock", "2026-03-11T23:00:00+01:00"), "contract_concluded") == []
    deemed = acme.send("clock", "2026-03-12T00:00:00+01:00")
    (concluded,) = effects_of(deemed, "contract_concluded")
    assert (concluded["clause"], concluded["date"]) == ("AGB 1.1.1", "2026-03-12")


def test_agb_1_1_1_an_order_not_accepted_binds_the_customer_for_30_days_only(engine):
    # Ordered Monday 2026-03-02: the 30 days run from 03-03 to the end of Wednesday 04-01
    # (BGB §§ 187 (1), 188 (1)); the order lapses on 04-02.
    acme = Customer(engine)
    acme.open(at="2026-03-02T09:00:00+01:00")
    acme.send("order.received", "2026-03-02T09:00:00+01:00")
    no_activation = acme.send("clock", "2026-03-12T12:00:00+01:00")
    assert effects_of(no_activation, "contract_concluded") == []
    assert effects_of(acme.send("clock", "2026-04-01T23:59:00+02:00"), "order_lapsed") == []
    lapsed = acme.send("clock", "2026-04-02T00:00:00+02:00")
    assert effects_of(lapsed, "order_lapsed")[0]["date"] == "2026-04-02"
    late = acme.send("order.confirmed", "2026-04-02T12:00:00+02:00")
    assert (late["status"], late["clause"]) == ("rejected", "CLINQ SD 1.1")


# -- termination -------------------------------------------------------------------------------


def test_clinq_sd_1_4_a_notice_on_friday_28_august_ends_the_contract_on_30_september(engine):
    acme = Customer(engine)
    acme.open(at="2026-06-01T09:00:00+02:00")
    notice = acme.send(
        "termination.received", "2026-08-28T16:00:00+02:00", by="customer", channel="email"
    )
    (ends,) = effects_of(notice, "contract_ends")
    assert (ends["clause"], ends["date"]) == ("CLINQ SD 1.4", "2026-09-30")
    assert effects_of(notice, "notice_sent")[0]["template"] == "termination_confirmation"


def test_clinq_sd_1_4_a_notice_on_thursday_27_august_ends_the_contract_on_31_august(engine):
    acme = Customer(engine)
    acme.open(at="2026-06-01T09:00:00+02:00")
    notice = acme.send(
        "termination.received", "2026-08-27T16:00:00+02:00", by="provider", channel="letter"
    )
    assert effects_of(notice, "contract_ends")[0]["date"] == "2026-08-31"


def test_clinq_sd_1_4_good_friday_is_no_business_day_for_the_notice(engine):
    acme = Customer(engine)
    acme.open(at="2029-01-02T09:00:00+01:00")
    notice = acme.send(
        "termination.received", "2029-03-29T10:00:00+02:00", by="customer", channel="fax"
    )
    assert effects_of(notice, "contract_ends")[0]["date"] == "2029-04-30"


def test_agb_1_2_2_a_termination_by_phone_is_refused(engine):
    acme = Customer(engine)
    acme.open()
    call = acme.send(
        "termination.received", "2026-11-05T10:00:00+01:00", by="customer", channel="phone"
    )
    assert (call["status"], call["clause"]) == ("rejected", "CLINQ SD 1.4")
    assert "AGB 1.2.2" in call["reason"]
    web = acme.send(
        "termination.received", "2026-11-05T10:00:00+01:00", by="customer", channel="web"
    )
    assert web["status"] == "rejected"


def test_agb_1_2_1_products_without_their_own_rule_end_30_days_to_a_month_end(
    catalog_copy, decider
):
    edit(
        catalog_copy / "tariffs/plans/clinq.yaml",
        "termination_rule: CLINQ SD 1.4",
        "termination_rule: AGB 1.2.1",
    )
    engine = Engine(f"sqlite:///{catalog_copy / 'l.sqlite'}", load_catalog(catalog_copy), decider)
    acme = Customer(engine)
    acme.open(at="2026-01-02T09:00:00+01:00")
    notice = acme.send(
        "termination.received", "2026-01-15T10:00:00+01:00", by="customer", channel="email"
    )
    (ends,) = effects_of(notice, "contract_ends")
    assert (ends["clause"], ends["date"]) == ("AGB 1.2.1", "2026-02-28")
    engine.close()


def test_clinq_sd_1_4_after_the_end_no_fees_and_the_account_stays_usable(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium", at="2026-08-03T09:00:00+02:00")
    acme.send("termination.received", "2026-08-27T16:00:00+02:00", by="customer", channel="email")
    ended = acme.send("clock", "2026-09-01T00:00:00+02:00")
    assert effects_of(ended, "contract_ended")[0]["date"] == "2026-08-31"
    assert effects_of(ended, "contract_ended")[0]["account_free_of_charge"] is True
    assert [e for e in effects_of(ended, "charge") if e["item"] == "base_fee"] == [], (
        "no base price for September"
    )
    assert acme.call("2026-09-02T10:00:00+02:00", US, 60)["status"] == "applied"
    again = acme.send(
        "termination.received", "2026-09-03T10:00:00+02:00", by="customer", channel="email"
    )
    assert again["status"] == "rejected"


def test_agb_1_3_1_misuse_ends_the_contract_at_once(engine):
    acme = Customer(engine)
    acme.open()
    notice = acme.send(
        "termination.received",
        "2026-11-05T10:00:00+01:00",
        by="provider",
        channel="letter",
        extraordinary={"reason": "misuse"},
    )
    assert [
        (e["kind"], e.get("date")) for e in notice["effects"] if e["kind"].startswith("contract")
    ] == [
        ("contract_ends", "2026-11-05"),
        ("contract_ended", "2026-11-05"),
    ]
    assert effects_of(notice, "contract_ends")[0]["clause"] == "AGB 1.3.1"


def test_agb_1_3_1_the_grounds_are_the_providers_and_one_returned_debit_is_not_enough(engine):
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "20.00"})
    by_customer = acme.send(
        "termination.received",
        "2026-11-05T10:00:00+01:00",
        by="customer",
        channel="email",
        extraordinary={"reason": "insolvency"},
    )
    assert (by_customer["status"], by_customer["clause"]) == ("rejected", "AGB 1.3.1")
    acme.send("direct_debit.returned", "2026-11-06T10:00:00+01:00", amount="20.00")
    once = acme.send(
        "termination.received",
        "2026-11-07T10:00:00+01:00",
        by="provider",
        channel="letter",
        extraordinary={"reason": "returned_debits"},
    )
    assert (once["status"], once["clause"]) == ("rejected", "AGB 1.3.1")
    second = acme.send("direct_debit.returned", "2026-11-08T10:00:00+01:00", amount="20.00")
    assert effects_of(second, "termination_ground")[0]["count"] == 2
    twice = acme.send(
        "termination.received",
        "2026-11-09T10:00:00+01:00",
        by="provider",
        channel="letter",
        extraordinary={"reason": "returned_debits"},
    )
    assert effects_of(twice, "contract_ends")[0]["date"] == "2026-11-09"


# -- withdrawal --------------------------------------------------------------------------------


def test_agb_9_3_after_a_withdrawal_the_credit_is_refunded_within_14_days_by_bgb_357(engine):
    anna = Customer(engine, "anna")
    anna.open(at="2026-03-02T12:00:00+01:00", customer_type="consumer")
    anna.send("credit.topped_up", "2026-03-02T12:05:00+01:00", amount="10.00")
    withdrawn = anna.send("withdrawal.received", "2026-03-05T09:00:00+01:00", channel="fax")
    # AGB 9.3's 30 days would end Tuesday 2026-04-07 (past Easter); BGB § 357 (1) is mandatory
    # (§ 361 (2)) and shorter: 14 days end Thursday 2026-03-19.
    assert effects_of(withdrawn, "refund_approved")[0]["date"] == "2026-03-19"
    assert [(e["item"], e["amount"]) for e in effects_of(withdrawn, "charge")] == [
        ("withdrawal_refund", "10.00")
    ]


def test_agb_9_1_a_consumer_may_withdraw_within_two_weeks_extended_past_a_sunday(engine):
    # Concluded Sunday 2026-03-01; two weeks end Sunday 2026-03-15, so Monday 2026-03-16 counts.
    anna = Customer(engine, "anna")
    anna.open(at="2026-03-01T12:00:00+01:00", customer_type="consumer")
    anna.send("credit.topped_up", "2026-03-01T12:05:00+01:00", amount="25.00")
    withdrawn = anna.send("withdrawal.received", "2026-03-16T09:00:00+01:00", channel="email")
    assert effects_of(withdrawn, "contract_ends")[0]["clause"] == "AGB 9.1"
    assert effects_of(withdrawn, "refund_approved") == [
        {
            "kind": "refund_approved",
            "clause": "AGB 9.3",
            "terms_version": "2026-01-01",
            "amount": "25.00",
            "date": "2026-03-30",  # BGB § 357 (1): 14 days, not AGB 9.3's 30
            "statute": "BGB § 357 (1)",
        }
    ]
    assert anna.balance == "0.00"
    assert anna.call("2026-03-17T10:00:00+01:00", US, 60)["status"] == "rejected"


def test_agb_9_1_a_late_withdrawal_is_refused(engine):
    anna = Customer(engine, "anna")
    anna.open(at="2026-03-01T12:00:00+01:00", customer_type="consumer")
    late = anna.send("withdrawal.received", "2026-03-17T09:00:00+01:00", channel="letter")
    assert (late["status"], late["clause"]) == ("rejected", "AGB 9.1")
    assert "2026-03-16" in late["reason"]


def test_agb_9_2_sending_the_withdrawal_in_time_suffices(engine):
    anna = Customer(engine, "anna")
    anna.open(at="2026-03-01T12:00:00+01:00", customer_type="consumer")
    posted = anna.send(
        "withdrawal.received", "2026-03-18T09:00:00+01:00", channel="letter", sent_on="2026-03-16"
    )
    assert posted["status"] == "applied"


def test_agb_9_1_business_customers_cannot_withdraw(engine):
    acme = Customer(engine)
    acme.open(at="2026-03-02T12:00:00+01:00", customer_type="business")
    refused = acme.send("withdrawal.received", "2026-03-03T09:00:00+01:00", channel="email")
    assert (refused["status"], refused["clause"]) == ("rejected", "AGB 9.1")


# -- refund of credit --------------------------------------------------------------------------


def ended_customer(engine, credit: str, name: str = "acme") -> Customer:
    acme = Customer(engine, name)
    acme.open(at="2026-06-01T09:00:00+02:00")
    acme.send("credit.topped_up", "2026-06-01T09:05:00+02:00", amount=credit)
    acme.send("termination.received", "2026-08-27T16:00:00+02:00", by="customer", channel="email")
    acme.send("clock", "2026-09-01T00:00:00+02:00")
    return acme


ALL_DOCUMENTS = ["customer_number", "bank_or_card_account", "identity_card_copy"]


def test_agb_1_4_1_a_credit_of_25_eur_refunds_19_eur(engine):
    acme = ended_customer(engine, "25.00")
    refund = acme.send("refund.requested", "2026-09-10T10:00:00+02:00", documents=ALL_DOCUMENTS)
    assert effects_of(refund, "refund_approved")[0]["amount"] == "19.00"
    assert [(e["item"], e["amount"]) for e in effects_of(refund, "charge")] == [
        ("refund", "19.00"),
        ("refund_fee", "6.00"),
    ]
    assert acme.balance == "0.00"


def test_agb_1_4_1_a_credit_of_6_eur_or_less_refunds_nothing(engine):
    acme = ended_customer(engine, "6.00")
    refused = acme.send("refund.requested", "2026-09-10T10:00:00+02:00", documents=ALL_DOCUMENTS)
    assert (refused["status"], refused["clause"]) == ("rejected", "AGB 1.4.1")
    assert acme.balance == "6.00"


def test_agb_1_4_1_the_request_needs_every_document_and_an_ended_contract(engine):
    acme = Customer(engine)
    acme.open()
    acme.send("credit.topped_up", "2026-11-03T10:00:00+01:00", amount="50.00")
    running = acme.send("refund.requested", "2026-11-04T10:00:00+01:00", documents=ALL_DOCUMENTS)
    assert (running["status"], running["clause"]) == ("rejected", "AGB 1.4.1")
    ended = ended_customer(engine, "50.00", name="ended")
    lacking = ended.send(
        "refund.requested", "2026-09-10T10:00:00+02:00", documents=["customer_number"]
    )
    assert lacking["reason"] == "the request lacks: bank_or_card_account, identity_card_copy"


def test_agb_1_4_3_the_claim_expires_three_years_after_the_termination_took_effect(engine):
    # Ended 2026-08-31; three years end Friday 2029-08-31.
    acme = ended_customer(engine, "25.00")
    late = acme.send("refund.requested", "2029-09-01T10:00:00+02:00", documents=ALL_DOCUMENTS)
    assert (late["status"], late["clause"]) == ("rejected", "AGB 1.4.3")
    in_time = acme.send("refund.requested", "2029-08-31T10:00:00+02:00", documents=ALL_DOCUMENTS)
    assert in_time["status"] == "applied"


# -- inactive accounts and deletion ------------------------------------------------------------


def test_agb_1_5_an_account_unused_for_more_than_a_year_is_noticed_then_deleted(engine):
    # Last use Thursday 2025-03-05. A year later, on 2026-03-06, the e-mail goes out; four weeks
    # end on Good Friday 2026-04-03 and move to Tuesday 2026-04-07; deletion on 2026-04-08.
    acme = Customer(engine)
    acme.open(at="2025-03-05T09:00:00+01:00")
    assert effects_of(acme.send("clock", "2026-03-05T23:00:00+01:00"), "notice_sent") == []
    noticed = acme.send("clock", "2026-03-06T08:00:00+01:00")
    assert effects_of(noticed, "notice_sent")[0]["template"] == "inactive_account_deletion"
    assert [
        e["date"]
        for e in effects_of(noticed, "deadline_set")
        if e["deadline"] == "inactive_deletion"
    ] == ["2026-04-08"]
    assert effects_of(acme.send("clock", "2026-04-07T23:00:00+02:00"), "account_deleted") == []
    deleted = acme.send("clock", "2026-04-08T00:00:00+02:00")
    assert effects_of(deleted, "account_deleted")[0]["clause"] == "AGB 1.5"
    refused = acme.send("credit.topped_up", "2026-04-09T10:00:00+02:00", amount="5.00")
    assert refused["status"] == "rejected"


def test_agb_1_5_any_use_after_the_notice_keeps_the_account(engine):
    acme = Customer(engine)
    acme.open(at="2025-03-05T09:00:00+01:00")
    acme.send("clock", "2026-03-06T08:00:00+01:00")
    acme.send("activity", "2026-03-20T10:00:00+01:00", kind="objection")
    kept = acme.send("clock", "2026-04-08T00:00:00+02:00")
    assert effects_of(kept, "account_deleted") == []
    assert effects_of(kept, "deadline_lapsed")[0]["clause"] == "AGB 1.5"
    assert [
        e["date"] for e in effects_of(kept, "deadline_set") if e["deadline"] == "inactivity_check"
    ] == ["2027-03-21"]


def test_agb_1_5_use_during_the_year_postpones_the_check(engine):
    acme = Customer(engine)
    acme.open(at="2025-03-05T09:00:00+01:00")
    acme.call("2025-10-01T10:00:00+02:00", US, 60)
    checked = acme.send("clock", "2026-03-06T08:00:00+01:00")
    assert effects_of(checked, "notice_sent") == []
    assert [
        e["date"]
        for e in effects_of(checked, "deadline_set")
        if e["deadline"] == "inactivity_check"
    ] == ["2026-10-02"]


def test_clinq_sd_1_4_an_ended_account_is_deleted_on_request_a_running_one_is_not(engine):
    acme = ended_customer(engine, "0.01")
    deleted = acme.send("data_deletion.requested", "2026-09-10T10:00:00+02:00", scope="account")
    assert effects_of(deleted, "account_deleted")[0]["clause"] == "CLINQ SD 1.4"
    running = Customer(engine, "running")
    running.open()
    refused = running.send("data_deletion.requested", "2026-11-10T10:00:00+01:00", scope="account")
    assert (refused["status"], refused["clause"]) == ("rejected", "CLINQ SD 1.4")
