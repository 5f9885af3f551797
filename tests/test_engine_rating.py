"""Rating calls: free minutes, the EU flat rate, emergency calls, prices at the call's start."""

from __future__ import annotations

from engine.engine import Engine
from tests.conftest import Customer, effects_of

LANDLINE = "+4921112345678"
MOBILE = "+4917612345678"
US = "+12125550100"


def test_clinq_sd_2_1_free_minutes_are_one_pool_for_all_users(engine):
    # CLINQ SD 2.1: 60 free minutes per month to German landline and mobile, used by all users.
    acme = Customer(engine)
    acme.open(users=("anna", "ben"))
    first = acme.call("2026-11-03T10:00:00+01:00", LANDLINE, 40 * 60, user="anna")
    second = acme.call("2026-11-03T11:00:00+01:00", MOBILE, 20 * 60, user="ben")
    assert [e["minutes"] for e in effects_of(first, "free_minutes_used")] == [40]
    assert [e["minutes"] for e in effects_of(second, "free_minutes_used")] == [20]
    assert effects_of(second, "free_minutes_used")[0]["clause"] == "CLINQ SD 2.1"
    third = acme.call("2026-11-03T12:00:00+01:00", LANDLINE, 60, user="anna")
    assert effects_of(third, "free_minutes_used") == []
    assert effects_of(third, "charge")[0]["amount"] == "0.02"  # 1 min x 0.0179, half up
    assert acme.engine.account("acme")["free_minutes_left"]["minutes"] == 0


def test_clinq_sd_2_1_a_call_longer_than_the_free_minutes_left_is_split(engine):
    acme = Customer(engine)
    acme.open()
    acme.call("2026-11-03T10:00:00+01:00", LANDLINE, 50 * 60)
    split = acme.call("2026-11-03T11:00:00+01:00", MOBILE, 15 * 60)
    (free,) = effects_of(split, "free_minutes_used")
    (charge,) = effects_of(split, "charge")
    assert (free["minutes"], free["left_seconds"]) == (10, 0)
    assert (charge["billed_seconds"], charge["charged_seconds"]) == (900, 300)
    assert charge["amount"] == "0.35"  # 5 min x 0.0690 = 0.345, half up
    assert charge["clause"] == "AGB 3.4"
    assert acme.balance == "-0.35"


def test_clinq_sd_2_1_unused_free_minutes_do_not_carry_over_to_the_next_month(engine):
    acme = Customer(engine)
    acme.open()
    acme.call("2026-11-30T23:00:00+01:00", LANDLINE, 10 * 60)
    december = acme.call("2026-12-01T00:30:00+01:00", LANDLINE, 60 * 60)
    assert effects_of(december, "free_minutes_used")[0]["minutes"] == 60
    assert effects_of(december, "charge")[0]["amount"] == "0.00"


def test_the_month_of_the_free_minutes_is_the_month_in_berlin(engine):
    acme = Customer(engine)
    acme.open()
    acme.call("2026-11-30T10:00:00+01:00", LANDLINE, 60 * 60)
    # 23:30 UTC on 30 November is already 1 December in Berlin: a new pool.
    result = acme.call("2026-11-30T23:30:00Z", LANDLINE, 60)
    assert effects_of(result, "free_minutes_used")[0]["minutes"] == 1


def test_free_minutes_do_not_cover_calls_abroad(engine):
    acme = Customer(engine)
    acme.open()
    result = acme.call("2026-11-03T10:00:00+01:00", US, 61)
    assert effects_of(result, "free_minutes_used") == []
    assert effects_of(result, "charge")[0]["amount"] == "0.58"  # 2 started minutes x 0.29


def test_clinq_sd_2_2_premium_calls_to_eu_networks_are_flat_rate(engine):
    # CLINQ SD 2.2: the EU all-net flat rate; flat-rate calls are not on the itemised bill.
    acme = Customer(engine)
    acme.open(plan="clinq-premium")
    for number in ("+33612345678", "+31201234567", MOBILE):
        (charge,) = effects_of(acme.call("2026-11-03T10:00:00+01:00", number, 3600), "charge")
        assert (charge["amount"], charge["flat_rate"], charge["clause"]) == (
            "0.00",
            True,
            "CLINQ SD 2.2",
        )
    world = effects_of(acme.call("2026-11-03T11:00:00+01:00", US, 600), "charge")[0]
    assert (world["amount"], "flat_rate" in world) == ("2.90", False)


def test_clinq_sd_3_1_emergency_calls_are_free_from_germany_with_a_german_account(engine):
    acme = Customer(engine)
    acme.open()
    result = acme.call("2026-11-03T10:00:00+01:00", "112", 300)
    assert result["status"] == "applied"
    assert effects_of(result, "charge")[0] == {
        "kind": "charge",
        "clause": "CLINQ SD 3.1",
        "terms_version": "2026-01-01",
        "amount": "0.00",
        "item": "call",
        "user": "anna",
        "to": "112",
        "zone": "emergency",
        "duration_s": 300,
        "charged_seconds": 0,
    }


def test_clinq_sd_3_1_emergency_calls_are_impossible_from_abroad_or_without_a_german_account(
    engine,
):
    acme = Customer(engine)
    acme.open()
    abroad = acme.call("2026-11-03T10:00:00+01:00", "110", 60, caller_country="FR")
    assert (abroad["status"], abroad["clause"]) == ("rejected", "CLINQ SD 3.1")
    assert "outside of Germany" in abroad["reason"]
    austrian = Customer(engine, "wien")
    austrian.open(country="AT")
    refused = austrian.call("2026-11-03T10:00:00+01:00", "112", 60)
    assert (refused["status"], refused["clause"]) == ("rejected", "CLINQ SD 3.1")


def test_agb_3_4_a_call_is_priced_with_the_tariff_in_force_at_its_start(catalog_copy, decider):
    # AGB 3.4: a new price list starting during a call does not change that call's price.
    rates = catalog_copy / "tariffs/rates/sipgate-team.yaml"
    text = rates.read_text()
    new_version = text[text.index("  - effective_from: 2020-01-01") :].replace(
        "2020-01-01", "2026-12-01"
    )
    new_version = new_version.replace('world: "0.2900 EUR/min"', 'world: "0.3900 EUR/min"')
    rates.write_text(text + new_version)
    from engine.catalog import load_catalog

    engine = Engine(f"sqlite:///{catalog_copy / 'l.sqlite'}", load_catalog(catalog_copy), decider)
    acme = Customer(engine)
    acme.open()
    before = acme.call("2026-11-30T23:50:00+01:00", US, 30 * 60)  # ends 00:20 on 1 December
    after = acme.call("2026-12-01T00:30:00+01:00", US, 30 * 60)
    assert effects_of(before, "charge")[0]["amount"] == "8.70"
    assert effects_of(after, "charge")[0]["amount"] == "11.70"
    assert effects_of(after, "charge")[0]["terms_version"] == "2026-12-01"
    engine.close()


def test_a_number_no_zone_covers_is_refused(engine):
    acme = Customer(engine)
    acme.open()
    result = acme.call("2026-11-03T10:00:00+01:00", "999", 60)
    assert (result["status"], result["clause"]) == ("rejected", "Price list: zones")


def test_only_users_of_the_account_can_call(engine):
    acme = Customer(engine)
    acme.open()
    result = acme.call("2026-11-03T10:00:00+01:00", LANDLINE, 60, user="mallory")
    assert (result["status"], result["clause"]) == ("rejected", "CLINQ SD 2.1")
