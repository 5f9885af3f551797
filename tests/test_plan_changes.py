"""Plan changes between CLINQ and CLINQ Premium (Platform: plan-changes; CLINQ SD 2.1, 2.2).

November 2026 has 30 days. CLINQ Premium costs 29.90 EUR a month and 9.90 EUR per additional
user (samples, tariffs/plans/clinq-premium.yaml); CLINQ is free of charge (CLINQ SD 2.6).
"""

from __future__ import annotations

import io
import json
from datetime import datetime

from pypdf import PdfReader

from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.documents.invoice_pdf import render_invoice
from engine.documents.itemised_bill import ItemisedBillRefused, itemised_bill
from engine.engine import Engine
from engine.rules import OracleDecider
from tests.conftest import Customer, effects_of

DECISION = "Platform: plan-changes"
EU_LANDLINE = "+33112345678"  # 0.0290 EUR/min (sipgate team sample)
DE_MOBILE = "+4917612345678"  # 0.0690 EUR/min


def upgraded_customer(engine) -> Customer:
    """acme on CLINQ since 2 November with anna, ben and carl (two beyond the one included)."""
    acme = Customer(engine)
    acme.open(users=("anna", "ben", "carl"))
    return acme


def test_an_upgrade_on_the_11th_charges_the_rest_of_the_month_by_days(engine):
    acme = upgraded_customer(engine)
    result = acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium")
    assert result["status"] == "applied"
    (changed,) = effects_of(result, "plan_changed")
    assert changed["clause"] == DECISION
    assert changed["terms_version"] == "2026-01-01"
    assert (changed["previous_plan"], changed["plan"], changed["direction"]) == (
        "clinq",
        "clinq-premium",
        "upgrade",
    )
    assert changed["effective_at"] == "2026-11-11T10:00:00+01:00"  # at once
    assert changed["agb_8_notice_needed"] is False  # the customer asked for it
    assert changed["local_numbers"] == 10
    assert changed["changes"]["local_numbers"] == {"from": 3, "to": 10}
    assert changed["changes"]["itemised_bill"] == {"from": False, "to": True}
    base, users = effects_of(result, "charge")
    # Days 11 to 30 of November, both counted: 20 of 30 days.
    # Base price: 29.90 x 20 / 30 = 19.9333... -> 19.93 EUR (rounded once, half up).
    assert (base["item"], base["amount"], base["clause"]) == ("base_fee", "19.93", "CLINQ SD 2.6")
    assert (base["prorated_from"], base["prorated_to"], base["days"], base["month_days"]) == (
        "2026-11-11",
        "2026-11-30",
        20,
        30,
    )
    assert base["rule"] == DECISION
    # Two additional users: 9.90 x 2 x 20 / 30 = 396 / 30 = 13.20 EUR.
    assert (users["item"], users["amount"], users["users"]) == ("additional_user_fee", "13.20", 2)
    # 19.93 + 13.20 = 33.13 EUR charged against the credit.
    assert acme.balance == "-33.13"
    assert engine.account("acme")["plan"] == "clinq-premium"


def test_the_invoice_lists_the_part_month_items_with_their_periods(engine):
    acme = upgraded_customer(engine)
    acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium")
    acme.send("clock", "2026-12-01T06:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        invoices = unit.load_invoices(["acme"])["acme"]
    # The credit fell below -10.00 EUR: the 20th invoiced the outstanding amount (CLINQ SD 1.3).
    (invoice,) = [i for i in invoices if i.kind == "monthly"]
    items = {item["item"]: item for item in invoice.detail["items"]}
    base = items["base_fee@clinq-premium@2026-11-11@2026-11-30"]
    assert (base["kind"], base["net"], base["plan"]) == ("base_fee", "19.93", "clinq-premium")
    assert (base["period_start"], base["period_end"]) == ("2026-11-11", "2026-11-30")
    assert items["additional_user_fee@clinq-premium@2026-11-11@2026-11-30"]["net"] == "13.20"
    # 33.13 net + 19 % VAT 6.2947 -> 6.29 = 39.42 gross.
    assert (invoice.detail["net"], invoice.detail["vat"], invoice.detail["gross"]) == (
        "33.13",
        "6.29",
        "39.42",
    )
    text = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(render_invoice(invoice))).pages
    )
    assert "CLINQ Premium Grundgebühr 11.–30.11.2026" in text
    assert "CLINQ Premium Weitere Nutzer 11.–30.11.2026" in text
    # December is a whole month of CLINQ Premium: 29.90 + 2 x 9.90 = 49.70 EUR in advance.
    december = [r for r in engine.ledger("acme") if r["detail"].get("period") == "2026-12"]
    assert sorted(r["amount"] for r in december) == ["-19.80", "-29.90"]


def test_a_call_is_rated_under_the_plan_in_force_at_its_start(engine):
    acme = upgraded_customer(engine)
    # 10 minutes to a French landline under CLINQ: 10 x 0.0290 = 0.29 EUR.
    before = acme.call("2026-11-11T09:00:00+01:00", EU_LANDLINE, 600)
    assert effects_of(before, "charge")[0]["amount"] == "0.29"
    acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium")
    after = acme.call("2026-11-11T10:00:00+01:00", EU_LANDLINE, 600)
    (flat,) = effects_of(after, "charge")
    assert (flat["amount"], flat.get("flat_rate"), flat["clause"]) == ("0.00", True, "CLINQ SD 2.2")
    # A call that started before the upgrade, reported late, keeps CLINQ's price (AGB 3.4).
    late = acme.call("2026-11-11T09:59:00+01:00", EU_LANDLINE, 600)
    assert effects_of(late, "charge")[0]["amount"] == "0.29"
    assert effects_of(late, "charge")[0]["clause"] == "AGB 3.4"


def test_a_downgrade_takes_effect_at_month_end_and_clinq_starts_with_a_full_pool(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium", users=("anna",))
    # Opened 2 November: 29.90 x 29 / 30 = 28.9033... -> 28.90 EUR.
    assert acme.balance == "-28.90"
    requested = acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq")
    (scheduled,) = effects_of(requested, "plan_change_scheduled")
    assert (scheduled["effective_on"], scheduled["direction"]) == ("2026-12-01", "downgrade")
    assert (scheduled["local_numbers_kept"], scheduled["local_numbers_released"]) == (3, 7)
    assert scheduled["agb_8_notice_needed"] is False
    assert "ersten 3" in scheduled["notice"] and "01.12.2026" in scheduled["notice"]
    assert effects_of(requested, "charge") == []  # November stays paid, nothing refunded
    assert effects_of(requested, "deadline_set")[0]["date"] == "2026-12-01"
    # Still Premium until the month ends: a German mobile call is in the flat.
    november = acme.call("2026-11-30T23:00:00+01:00", DE_MOBILE, 3000)
    assert effects_of(november, "charge")[0]["flat_rate"] is True
    # On 1 December CLINQ is in force, even before the clock ran: the pool starts full.
    # 50 minutes of the 60: 600 seconds left, nothing charged.
    december = acme.call("2026-12-01T10:00:00+01:00", DE_MOBILE, 3000)
    (changed,) = effects_of(december, "plan_changed")
    assert (changed["plan"], changed["effective_at"]) == ("clinq", "2026-12-01T00:00:00+01:00")
    (pool,) = effects_of(december, "free_minutes_pool")
    assert (pool["month"], pool["minutes"], pool["left_seconds"]) == ("2026-12", 60, 3600)
    (released,) = effects_of(december, "local_numbers_released")
    assert (released["kept"], released["released"], released["date"]) == (3, 7, "2026-12-01")
    (evn,) = effects_of(december, "itemised_bill_ended")
    assert evn["clause"] == "CLINQ SD 2.5" and "AGB 4.4.5" in evn["traffic_data"]
    (used,) = effects_of(december, "free_minutes_used")
    assert (used["minutes"], used["left_seconds"]) == (50, 600)
    # The December fees are CLINQ's: nothing.
    clock = acme.send("clock", "2026-12-02T06:00:00+01:00")
    assert [e for e in effects_of(clock, "charge") if e["item"] == "base_fee"] == []
    assert engine.account("acme")["plan"] == "clinq"
    with engine.store.unit(commit=False) as unit:
        monthly = [i for i in unit.load_invoices(["acme"])["acme"] if i.kind == "monthly"]
    assert [(i.period, i.detail["plan"]) for i in monthly] == [("2026-11", "clinq-premium")]
    # November's itemised bill (a Premium month) stays available; December's is refused.
    assert itemised_bill(engine, "acme", "2026-11")["account"] == "acme"
    try:
        itemised_bill(engine, "acme", "2026-12")
    except ItemisedBillRefused as refused:
        assert refused.clause == "CLINQ SD 2.5"
    else:
        raise AssertionError("December is a CLINQ month: no itemised bill")


def test_a_request_for_the_current_plan_cancels_a_pending_downgrade(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium")
    acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq")
    kept = acme.send("plan.changed", "2026-11-20T10:00:00+01:00", plan="clinq-premium")
    (cancelled,) = effects_of(kept, "plan_change_cancelled")
    assert (cancelled["plan"], cancelled["effective_on"]) == ("clinq", "2026-12-01")
    assert effects_of(kept, "charge") == []
    clock = acme.send("clock", "2026-12-01T06:00:00+01:00")
    assert effects_of(clock, "plan_changed") == []
    assert [e["amount"] for e in effects_of(clock, "charge") if e["item"] == "base_fee"] == [
        "29.90"
    ]


def test_an_upgrade_on_a_later_day_is_charged_from_that_day(engine):
    acme = Customer(engine)
    acme.open()
    requested = acme.send(
        "plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium", effective="2026-11-20"
    )
    assert effects_of(requested, "plan_change_scheduled")[0]["effective_on"] == "2026-11-20"
    assert (
        effects_of(acme.call("2026-11-19T12:00:00+01:00", EU_LANDLINE, 600), "charge")[0]["amount"]
        == "0.29"
    )
    # The first event of 20 November (here a call at 00:00) finds the upgrade in force.
    first = acme.call("2026-11-20T00:00:00+01:00", EU_LANDLINE, 600)
    assert effects_of(first, "plan_changed")[0]["effective_at"] == "2026-11-20T00:00:00+01:00"
    base, call = effects_of(first, "charge")
    # Days 20 to 30: 11 of 30. 29.90 x 11 / 30 = 10.9633... -> 10.96 EUR (one user, no extra).
    assert (base["item"], base["amount"], base["days"]) == ("base_fee", "10.96", 11)
    assert (call["item"], call["amount"], call["flat_rate"]) == ("call", "0.00", True)
    clock = acme.send("clock", "2026-11-20T06:00:00+01:00")
    assert effects_of(clock, "plan_changed") == [] and effects_of(clock, "charge") == []
    assert acme.balance == "-11.25"  # 0.29 + 10.96


def test_an_upgrade_from_the_first_of_a_month_is_charged_once_by_the_monthly_fees(engine):
    acme = Customer(engine)
    acme.open()
    acme.send(
        "plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium", effective="2026-12-01"
    )
    clock = acme.send("clock", "2026-12-01T06:00:00+01:00")
    assert effects_of(clock, "plan_changed")[0]["effective_at"] == "2026-12-01T00:00:00+01:00"
    # No part month: December's fee in advance is the Premium one, 29.90 EUR, once.
    assert [(e["item"], e["amount"]) for e in effects_of(clock, "charge")] == [
        ("base_fee", "29.90")
    ]
    # An upgrade at once after the month's fees were charged (CLINQ: nothing) pays the whole
    # month pro rata: 31 of 31 days of December, 29.90 EUR.
    firm = Customer(engine, "firm")
    firm.open()
    firm.send("clock", "2026-12-01T00:00:00+01:00")
    upgrade = firm.send("plan.changed", "2026-12-01T00:00:00+01:00", plan="clinq-premium")
    assert [(e["amount"], e["days"]) for e in effects_of(upgrade, "charge")] == [("29.90", 31)]


def ledger_and_account(engine) -> tuple:
    return engine.ledger("acme"), engine.account("acme")


def test_refused_changes_name_the_reason_and_leave_no_trace(engine):
    acme = Customer(engine)
    acme.open()
    before = ledger_and_account(engine)
    cases = [
        ({"plan": "clinq"}, "already on clinq"),
        ({"plan": "clinq-ultra"}, "'clinq-ultra' is not in the catalog"),
        ({"plan": "clinq-premium", "effective": "2026-11-10"}, "before the day of the request"),
    ]
    for fields, reason in cases:
        result = acme.send("plan.changed", "2026-11-11T10:00:00+01:00", **fields)
        assert result["status"] == "rejected", fields
        assert reason in result["reason"]
        assert result["clause"] == DECISION
        assert ledger_and_account(engine) == before
    premium = Customer(engine, "firm")
    premium.open(plan="clinq-premium")
    mid_month = premium.send(
        "plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq", effective="2026-11-20"
    )
    assert mid_month["status"] == "rejected"
    assert "effective: a downgrade takes effect at the end of a month" in mid_month["reason"]


def test_no_change_on_a_contract_that_is_over(engine):
    anna = Customer(engine, "anna")
    anna.open(at="2026-03-02T12:00:00+01:00", customer_type="consumer")
    anna.send("withdrawal.received", "2026-03-05T09:00:00+01:00", channel="email")
    before = engine.ledger("anna")
    refused = anna.send("plan.changed", "2026-03-06T09:00:00+01:00", plan="clinq-premium")
    assert refused["status"] == "rejected"
    assert "withdrawn" in refused["reason"] and "can no longer be changed" in refused["reason"]
    assert engine.ledger("anna") == before
    assert engine.account("anna")["plan"] == "clinq"


def test_no_downgrade_after_the_contract_ends(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium")
    ends = acme.send(
        "termination.received", "2026-11-05T10:00:00+01:00", by="customer", channel="email"
    )
    last_day = effects_of(ends, "contract_ends")[0]["date"]
    assert last_day <= "2026-12-01"
    refused = acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq")
    assert refused["status"] == "rejected"
    assert f"the contract ends on {last_day}" in refused["reason"]
    # On a CLINQ contract past its last day, even before the clock ended it, no upgrade either.
    free = Customer(engine, "free")
    free.open()
    ends = free.send(
        "termination.received", "2026-11-05T10:00:00+01:00", by="customer", channel="email"
    )
    last_day = effects_of(ends, "contract_ends")[0]["date"]
    late = free.send("plan.changed", f"{last_day}T12:00:00+01:00", plan="clinq-premium")
    assert late["status"] == "rejected" and "the contract ends on" in late["reason"]


def scenario() -> list[dict]:
    acme = Customer(None)
    events = [
        acme.event(
            "account.opened",
            "2026-11-02T09:00:00+01:00",
            plan="clinq",
            customer_type="business",
            billing_method="prepay",
            country="DE",
            area_code="0211",
        ),
        acme.event("user.added", "2026-11-02T09:00:00+01:00", user="anna"),
        acme.event("user.added", "2026-11-02T09:00:00+01:00", user="ben"),
        acme.event(
            "call", "2026-11-05T09:00:00+01:00", user="anna", to=EU_LANDLINE, duration_s=600
        ),
        acme.event("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium"),
        acme.event("call", "2026-11-12T09:00:00+01:00", user="ben", to=EU_LANDLINE, duration_s=600),
        acme.event("plan.changed", "2026-11-20T10:00:00+01:00", plan="clinq"),
        acme.event("clock", "2026-12-01T06:00:00+01:00"),
        acme.event("call", "2026-12-02T09:00:00+01:00", user="anna", to=DE_MOBILE, duration_s=3000),
    ]
    return events


def test_replay_gives_the_same_results_and_ledger(tmp_path, catalog, decider):
    first = Engine(f"sqlite:///{tmp_path / 'a.sqlite'}", catalog, decider)
    second = Engine(f"sqlite:///{tmp_path / 'b.sqlite'}", catalog, decider)
    try:
        together = first.handle_many(scenario())
        one_by_one = [second.handle(event) for event in scenario()]
        assert together == one_by_one
        assert {r["status"] for r in together} == {"applied"}
        assert first.ledger("acme") == second.ledger("acme")
        # The same events again are duplicates and change nothing.
        again = first.handle_many(scenario())
        assert {r["status"] for r in again} == {"duplicate"}
        assert first.ledger("acme") == second.ledger("acme")
    finally:
        first.close()
        second.close()


def test_durable_rules_and_the_oracle_rate_a_plan_change_alike(tmp_path, catalog, decider):
    with_durable = Engine(f"sqlite:///{tmp_path / 'd.sqlite'}", catalog, decider)
    with_oracle = Engine(f"sqlite:///{tmp_path / 'o.sqlite'}", catalog, OracleDecider())
    try:
        first = with_durable.handle_many(scenario())
        second = with_oracle.handle_many(scenario())
    finally:
        with_durable.close()
        with_oracle.close()
    assert json.dumps(first) == json.dumps(second)
    flat = [e for r in first for e in effects_of(r, "charge") if e.get("flat_rate")]
    assert len(flat) == 1  # ben's call of 12 November, under Premium


def test_the_quote_endpoint_previews_a_plan_change_and_stores_nothing(engine):
    acme = upgraded_customer(engine)
    app = create_app(engine=engine)
    client = app.test_client()
    secret = create_token(engine.store, "svc", "billing-service")
    event = acme.event("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium")
    quoted = client.post(
        "/api/v1/quote",
        data=json.dumps(event),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert quoted.status_code == 200
    assert [e["amount"] for e in effects_of(quoted.json, "charge")] == ["19.93", "13.20"]
    assert effects_of(quoted.json, "plan_changed")[0]["changes"]["monthly_price"] == {
        "from": "0.00",
        "to": "29.90",
    }
    assert engine.account("acme")["plan"] == "clinq"
    assert engine.account("acme")["balance"] == "0.00"
    unknown = client.post(
        "/api/v1/quote",
        data=json.dumps(dict(event, plan="Premium!")),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert (unknown.status_code, unknown.json["error"]["field"]) == (400, "/plan")


def test_the_clock_applies_a_due_downgrade_before_the_month_fees(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium")
    acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq")
    engine.advance(datetime.fromisoformat("2026-12-01T06:00:00+01:00"))
    assert engine.account("acme")["plan"] == "clinq"
    december = [r for r in engine.ledger("acme") if r["detail"].get("period") == "2026-12"]
    assert december == []


def test_a_downgrade_takes_effect_on_the_first_even_on_a_holiday_and_is_never_shifted(engine):
    """The effective day of a downgrade is a date, not a period the customer must keep: § 193
    BGB does not move it. Requested the day before, on and after the month's last day around
    New Year (Thu 31 Dec 2026; Fri 1 Jan 2027 is a public holiday in NRW)."""
    days = {
        "2026-12-30T12:00:00+01:00": "2027-01-01",  # the day before the month's last day
        "2026-12-31T12:00:00+01:00": "2027-01-01",  # the last day: the holiday, not 4 Jan
        "2027-01-01T12:00:00+01:00": "2027-02-01",  # the day after: the next month's end
    }
    for n, (at, effective) in enumerate(days.items()):
        customer = Customer(engine, f"neujahr-{n}")
        customer.open("2026-12-01T09:00:00+01:00", plan="clinq-premium")
        requested = customer.send("plan.changed", at, plan="clinq")
        (scheduled,) = effects_of(requested, "plan_change_scheduled")
        assert scheduled["effective_on"] == effective, at


# -- prices quoted to the customer (PAngV § 3) -------------------------------------------------


def test_a_consumer_is_quoted_the_new_plans_prices_with_vat_a_business_net_plus_vat(engine):
    # CLINQ Premium: 29.90 EUR net a month, 9.90 EUR per further user; 19 % VAT (UStG § 12)
    # makes 35.581 -> 35.58 EUR and 11.781 -> 11.78 EUR, rounded once, half up (Platform: money)
    anna = Customer(engine, "anna")
    anna.open(customer_type="consumer")
    upgraded = anna.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium")
    (changed,) = effects_of(upgraded, "plan_changed")
    assert changed["notice"] == (
        "Ihr Wechsel zu CLINQ Premium ist wirksam. Monatlicher Grundpreis von CLINQ Premium: "
        "35,58 € inkl. 19 % USt; je weiterem Nutzer: 11,78 € inkl. 19 % USt."
    )
    acme = Customer(engine, "acme")
    acme.open(customer_type="business")
    upgraded = acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium")
    (changed,) = effects_of(upgraded, "plan_changed")
    assert "29,90 € zzgl. USt; je weiterem Nutzer: 9,90 € zzgl. USt." in changed["notice"]
    downgrade = anna.send("plan.changed", "2026-11-12T10:00:00+01:00", plan="clinq")
    (scheduled,) = effects_of(downgrade, "plan_change_scheduled")
    assert "Monatlicher Grundpreis von CLINQ: 0,00 € inkl. 19 % USt" in scheduled["notice"]
