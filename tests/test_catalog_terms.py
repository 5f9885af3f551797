"""The shipped catalog states the contract's figures, at the dates they apply."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from engine.catalog import NotInForce, Period

TODAY = date(2026, 11, 21)


def test_a_returned_direct_debit_costs_a_flat_9_80_eur(catalog):
    assert catalog.at(TODAY).clause("AGB 4.2.3")["flat_fee"] == Decimal("9.80")


def test_the_postal_request_to_settle_a_negative_credit_costs_3_90_eur(catalog):
    assert catalog.at(TODAY).clause("AGB 4.1.4")["handling_fee"] == Decimal("3.90")


def test_a_refund_keeps_a_handling_fee_of_6_00_eur_including_vat(catalog):
    refund = catalog.at(TODAY).clause("AGB 1.4.1")
    assert refund["handling_fee"] == Decimal("6.00")
    assert set(refund["required_documents"]) == {
        "customer_number",
        "bank_or_card_account",
        "identity_card_copy",
    }


def test_default_interest_is_5_points_for_consumers_and_8_for_businesses(catalog):
    interest = catalog.at(TODAY).clause("AGB 4.4.4")
    assert interest["consumer_margin"] == Decimal("5.00")
    assert interest["business_margin"] == Decimal("8.00")
    assert interest.spec("business_margin").unit == "percentage_points"


def test_objections_are_due_within_eight_weeks_with_the_section_193_shift(catalog):
    objection = catalog.at(TODAY).clause("AGB 4.5.1")
    assert objection["objection_period"] == Period(8, "weeks")
    assert objection.spec("objection_period").shift == "bgb-193"


def test_clinq_terminates_with_one_full_business_day_to_a_month_end(catalog):
    termination = catalog.at(TODAY).clause("CLINQ SD 1.4")
    assert termination["notice_period"] == Period(1, "business_days")
    assert termination.spec("notice_period").deadline_rule == "full-days-before-month-end"
    assert termination.file.overrides == ("AGB 1.2.1", "AGB 1.1.2")


def test_the_negative_credit_invoice_comes_on_the_20th_from_minus_10_eur(catalog):
    credit = catalog.at(TODAY).clause("CLINQ SD 1.3")
    assert credit["invoice_threshold"] == Decimal("-10.00")
    assert credit["invoice_day"] == 20


def test_clinq_includes_60_free_minutes_to_german_networks_and_no_itemised_bill(catalog):
    clinq = catalog.at(TODAY).plan("clinq")
    assert clinq["free_minutes"] == 60
    assert set(clinq["free_minutes_zones"]) == {"de_landline", "de_mobile"}
    assert clinq["free_minutes_carry_over"] is False
    assert clinq["local_numbers"] == 3
    assert clinq["monthly_price"] == Decimal("0.00")
    assert clinq.source("monthly_price") == "contract"
    assert clinq["itemised_bill"] is False


def test_premium_has_the_eu_flat_ten_numbers_and_an_itemised_bill(catalog):
    premium = catalog.at(TODAY).plan("clinq-premium")
    assert {"eu_landline", "eu_mobile"} <= set(premium["flat_rate_zones"])
    assert premium["local_numbers"] == 10
    assert premium["itemised_bill"] is True


def test_prices_the_documents_do_not_state_are_marked_as_samples(catalog):
    terms = catalog.at(TODAY)
    premium = terms.plan("clinq-premium")
    assert premium.source("monthly_price") == "sample"
    assert premium.source("additional_user_fee") == "sample"
    rates = terms.rates("sipgate-team")
    assert rates.source("de_landline") == "sample"
    assert rates.source("emergency") == "statute"


def test_every_zone_has_a_rate_and_a_billing_increment(catalog):
    terms = catalog.at(TODAY)
    rates = terms.rates("sipgate-team")
    zones = catalog.file("Price list: zones").parameters
    assert all(isinstance(rates[zone], Decimal) for zone in zones)
    assert (rates["first_increment"], rates["next_increment"]) == (60, 60)


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("+4921112345678", "de_landline"),
        ("+4917612345678", "de_mobile"),
        ("+498001234567", "de_freephone"),
        ("+499001234567", "de_premium_rate"),
        ("+4911833", "de_directory"),
        ("110", "emergency"),
        ("112", "emergency"),
        ("+33123456789", "eu_landline"),
        ("+33612345678", "eu_mobile"),
        ("+436641234567", "eu_mobile"),
        ("+12125550100", "world"),
        ("+41441234567", "world"),
        ("999", None),
    ],
)
def test_a_number_belongs_to_the_zone_of_its_longest_prefix(catalog, number, zone):
    assert catalog.at(TODAY).zones.zone_of(number) == zone


def test_the_base_rate_in_force_follows_the_bundesbank_table(catalog):
    base_rate = catalog.file("BGB § 247")
    assert base_rate.value_at("rate", date(2013, 6, 30)) == Decimal("-0.13")
    assert base_rate.value_at("rate", date(2024, 1, 1)) == Decimal("3.62")
    assert base_rate.value_at("rate", date(2026, 11, 21)) == Decimal("1.27")


def test_blocking_follows_section_45k_tkg_before_and_section_61_tkg_after_december_2021(
    catalog,
):
    blocking = catalog.file("TKG § 61")
    assert blocking.value_at("minimum_arrears", date(2021, 11, 30)) == Decimal("75.00")
    assert blocking.value_at("minimum_arrears", date(2021, 12, 1)) == Decimal("100.00")


def test_the_terms_version_is_the_latest_effective_date_on_or_before_the_instant(catalog):
    assert catalog.at(date(2026, 6, 30)).version == "2026-01-01"
    # 2020-09-01: Ireland's temporary 21 % (UStG § 3a, destination VAT of consumers)
    assert catalog.at(date(2020, 12, 31)).version == "2020-09-01"
    assert catalog.at(date(2020, 8, 31)).version == "2020-07-01"
    assert catalog.at(date(2021, 1, 1)).version == "2021-01-01"


def test_an_instant_is_dated_in_europe_berlin(catalog):
    just_before_midnight_utc = datetime(2020, 12, 31, 23, 30, tzinfo=UTC)
    assert catalog.local_date(just_before_midnight_utc) == date(2021, 1, 1)
    assert catalog.at(just_before_midnight_utc).version == "2021-01-01"
    vat = catalog.at(just_before_midnight_utc).clause("UStG § 12")
    assert vat["standard_rate"] == Decimal("19.00")


def test_an_instant_without_offset_is_refused(catalog):
    with pytest.raises(ValueError, match="no UTC offset"):
        catalog.at(datetime(2026, 1, 1, 12, 0))


def test_terms_before_a_clause_exists_are_an_error_never_a_silent_zero(catalog):
    with pytest.raises(NotInForce, match=r"CLINQ SD 1\.4.*first version starts 2020-01-01"):
        catalog.at(date(2019, 5, 1)).clause("CLINQ SD 1.4")
    with pytest.raises(NotInForce, match="no terms are in force on 2001-12-31"):
        catalog.at(date(2001, 12, 31))
    with pytest.raises(NotInForce, match="no parameter 'fee'"):
        catalog.at(TODAY).clause("AGB 4.2.3")["fee"]
    with pytest.raises(NotInForce, match=r"AGB 99\.9 is not in the catalog"):
        catalog.at(TODAY).clause("AGB 99.9")


def test_the_catalog_is_immutable_once_loaded(catalog):
    version = catalog.file("AGB 4.2.3").versions[0]
    with pytest.raises(TypeError):
        version.values["flat_fee"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        version.effective_from = TODAY + timedelta(days=1)  # type: ignore[misc]


def test_every_numeric_parameter_says_which_change_hurts_the_customer(catalog):
    for terms_file in catalog.files:
        for spec in terms_file.parameters.values():
            if spec.type in ("money", "rate", "percent", "integer", "period"):
                assert spec.disadvantage in ("increase", "decrease"), (terms_file.path, spec.name)
