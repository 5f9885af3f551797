"""Statute conformance: where a clause differs from the statute it must satisfy (issue 10).

The comparisons are declared in rules/conformance.yaml; each difference is a warning naming the
clause, the statute, both values, since when the statute says so and which side it favours.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.catalog import CatalogInvalid, Period, load_catalog
from engine.catalog.conformance import _period_order, check, conformance_warnings, load_comparisons
from tests.conftest import edit

TODAY = date(2026, 11, 21)
PASSWORD = "correct horse battery staple"
JSON_KEYS = {
    "clause",
    "parameter",
    "statute",
    "statute_parameter",
    "clause_value",
    "statute_value",
    "since",
    "favours",
    "conforms",
    "message",
    "explanation",
    "terms_version",
    "mandatory",
    "applied",
    "applied_value",
    "statute_wording",
    "statute_source",
}


def warnings_at(catalog, day: date = TODAY):
    return conformance_warnings(catalog, day)


def warning(catalog, clause: str, statute: str, parameter: str | None, day: date = TODAY):
    found = [
        w
        for w in warnings_at(catalog, day)
        if (w.clause, w.statute, w.parameter) == (clause, statute, parameter)
    ]
    assert len(found) == 1, [str(w) for w in warnings_at(catalog, day)]
    return found[0]


def pairs(catalog, day: date) -> set[tuple[str, str]]:
    return {(w.clause, w.statute) for w in warnings_at(catalog, day)}


# -- one scenario per warning ------------------------------------------------------------------


@pytest.mark.parametrize("clause", ["AGB 8.1", "AGB 8.4", "AGB 8.5", "AGB 8.6"])
def test_tkg_57_six_weeks_notice_meet_the_one_month_minimum_and_stay_under_two_months(
    catalog, clause
):
    found = warning(catalog, clause, "TKG § 57 (2)", "notice_period")
    assert (found.clause_value, found.statute_value) == (
        "6 weeks",
        "at least 1 month, at most 2 months",
    )
    assert (found.since, found.favours, found.conforms) == ("2021-12-01", "customer", True)
    assert "The minimum is met and the maximum is not exceeded: lawful" in found.message
    assert found.explanation
    # mandatory, but the six weeks are better for the customer than one month: the clause applies
    assert (found.mandatory, found.applied, found.applied_value) == (True, False, "6 weeks")


@pytest.mark.parametrize("clause", ["AGB 8.2", "AGB 8.6"])
def test_tkg_57_a_four_week_termination_window_is_shorter_than_three_months_against_the_customer(
    catalog, clause
):
    found = warning(catalog, clause, "TKG § 57 (1)", "termination_window")
    assert (found.clause_value, found.statute_value) == ("4 weeks", "3 months")
    assert (found.since, found.favours, found.conforms) == ("2021-12-01", "provider", False)
    assert "Against the customer: the statute prevails over the clause." in found.message
    # TKG § 71 (1): mandatory, so the engine applies the three months, citing the statute
    assert (found.mandatory, found.applied, found.applied_value) == (True, True, "3 months")
    assert "Mandatory: the engine applies 3 months (TKG § 57 (1))." in found.message
    assert "dem Endnutzer zugeht" in found.statute_wording
    assert found.statute_source.startswith("https://www.gesetze-im-internet.de/tkg_2021/")


def test_tkg_57_every_end_user_holds_the_right_so_agb_8_2_is_widened_to_businesses(catalog):
    found = warning(catalog, "AGB 8.2", "TKG § 57 (1)", "entitled_customers")
    assert (found.clause_value, found.statute_value) == ("consumer", "consumer, business")
    assert (found.favours, found.applied, found.applied_value) == (
        "provider",
        True,
        "consumer, business",
    )


def test_tkg_57_2_one_month_notice_applies_to_business_price_changes_of_agb_8_3(catalog):
    found = warning(catalog, "AGB 8.3", "TKG § 57 (2)", "minimum_notice")
    assert (found.clause_value, found.applied, found.applied_value) == ("0 days", True, "1 month")


def test_a_difference_that_is_not_mandatory_is_only_shown(catalog):
    found = warning(catalog, "AGB 4.4.4", "BGB § 288 (2)", "business_margin")
    assert (found.mandatory, found.applied) == (False, False)


def test_a_mandatory_comparison_must_quote_the_statute(catalog_copy):
    path = catalog_copy / "rules/conformance.yaml"
    source = "  statute_source: https://www.gesetze-im-internet.de/tkg_2021/__57.html\n"
    path.write_text(path.read_text(encoding="utf-8").replace(source, "", 1), encoding="utf-8")
    with pytest.raises(CatalogInvalid, match="give statute_wording and statute_source"):
        load_comparisons(load_catalog(catalog_copy))


def test_bgb_288_2_eight_points_for_businesses_are_less_than_nine_in_the_customers_favour(
    catalog,
):
    found = warning(catalog, "AGB 4.4.4", "BGB § 288 (2)", "business_margin")
    assert (found.clause_value, found.statute_value) == (
        "8.00 percentage points",
        "9.00 percentage points",
    )
    assert (found.since, found.favours, found.conforms) == ("2014-07-29", "customer", True)
    assert "In the customer's favour" in found.message


def test_bgb_288_5_the_40_eur_flat_fee_the_agb_do_not_claim_favours_the_customer(catalog):
    found = warning(catalog, "AGB 4.4.4", "BGB § 288 (5)", None)
    assert (found.clause_value, found.statute_value) == ("0.00 EUR (not stated)", "40.00 EUR")
    assert (found.since, found.favours, found.conforms) == ("2014-07-29", "customer", True)
    assert "revenue left on the table" in found.explanation


def test_bgb_357_1_a_refund_within_30_days_is_later_than_14_days_against_the_customer(catalog):
    found = warning(catalog, "AGB 9.3", "BGB § 357 (1)", "refund_within")
    assert (found.clause_value, found.statute_value) == ("30 days", "14 days")
    assert (found.since, found.favours, found.conforms) == ("2014-06-13", "provider", False)


def test_ustg_14_3_the_qualified_signature_agb_4_3_2_promises_is_no_longer_required(catalog):
    found = warning(catalog, "AGB 4.3.2", "UStG § 14 (3)", "signed_for_input_tax_deduction")
    assert (found.clause_value, found.statute_value) == ("yes", "no")
    assert (found.since, found.favours, found.conforms) == ("2011-07-01", "neither", True)
    assert "obsolete burden on the provider" in found.explanation


def test_tkg_61_the_platform_protects_businesses_from_blocking_too_in_the_customers_favour(
    catalog,
):
    found = warning(catalog, "Platform: blocking", "TKG § 61", "customer_types")
    assert (found.clause_value, found.statute_value) == ("consumer, business", "consumer")
    assert (found.since, found.favours, found.conforms) == ("2021-12-01", "customer", True)


def test_every_warning_names_both_citations_both_values_and_since_when_in_its_message(catalog):
    found = warnings_at(catalog)
    assert len(found) == 13
    for item in found:
        assert item.clause in item.message and item.statute in item.message
        assert item.clause_value in item.message and item.statute_value in item.message
        assert f"(since {item.since})" in item.message
        assert item.favours in ("customer", "provider", "neither")
        assert item.terms_version == "2026-01-01"


# -- the date decides ---------------------------------------------------------------------------


def test_before_2014_neither_tkg_57_nor_the_nine_points_exist_and_eight_matches_eight(catalog):
    assert pairs(catalog, date(2013, 1, 1)) == {("AGB 4.3.2", "UStG § 14 (3)")}


def test_the_statute_versions_take_effect_on_their_own_dates(catalog):
    assert ("AGB 9.3", "BGB § 357 (1)") not in pairs(catalog, date(2014, 6, 12))
    between = pairs(catalog, date(2014, 7, 28))
    assert ("AGB 9.3", "BGB § 357 (1)") in between
    assert ("AGB 4.4.4", "BGB § 288 (2)") not in between
    assert ("AGB 4.4.4", "BGB § 288 (2)") in pairs(catalog, date(2014, 7, 29))
    before = pairs(catalog, date(2021, 11, 30))
    after = pairs(catalog, date(2021, 12, 1))
    assert after - before == {
        ("AGB 8.1", "TKG § 57 (2)"),
        ("AGB 8.2", "TKG § 57 (1)"),
        ("AGB 8.3", "TKG § 57 (2)"),
        ("AGB 8.4", "TKG § 57 (2)"),
        ("AGB 8.5", "TKG § 57 (2)"),
        ("AGB 8.6", "TKG § 57 (2)"),
        ("AGB 8.6", "TKG § 57 (1)"),
        ("Platform: blocking", "TKG § 61"),
    }
    assert pairs(catalog, date(2011, 6, 30)) == set()


def test_since_is_the_first_day_of_the_statutes_unbroken_run_of_that_value(catalog_copy):
    # A later version of BGB § 288 that changes nothing compared keeps the date of 2014.
    edit(
        catalog_copy / "rules/law/bgb-288-default-interest.yaml",
        '      business_flat_fee: "40.00 EUR"\n',
        '      business_flat_fee: "40.00 EUR"\n'
        "  - effective_from: 2027-01-01\n"
        "    source: statute\n"
        "    values:\n"
        '      consumer_margin: "5.00 %"\n'
        '      business_margin: "9.00 %"\n'
        '      business_flat_fee: "40.00 EUR"\n',
    )
    catalog = load_catalog(catalog_copy)
    found = warning(catalog, "AGB 4.4.4", "BGB § 288 (2)", "business_margin", date(2027, 2, 1))
    assert (found.since, found.terms_version) == ("2014-07-29", "2027-01-01")


# -- data-driven: the comparisons are YAML legal edits ------------------------------------------


def test_a_clause_brought_in_line_with_the_statute_has_no_warning(catalog_copy):
    edit(
        catalog_copy / "rules/agb/9.3-withdrawal-refund.yaml",
        "      refund_within: {days: 30}\n",
        "      refund_within: {days: 30}\n"
        "  - effective_from: 2027-01-01\n"
        "    values:\n"
        "      refund_within: {days: 14}\n",
    )
    catalog = load_catalog(catalog_copy)
    assert ("AGB 9.3", "BGB § 357 (1)") in pairs(catalog, date(2026, 12, 31))
    assert ("AGB 9.3", "BGB § 357 (1)") not in pairs(catalog, date(2027, 1, 1))


def test_bgb_288_1_five_points_for_consumers_agree_with_the_statute_so_no_warning(catalog):
    comparisons = load_comparisons(catalog)
    assert any(c.statute_citation == "BGB § 288 (1)" for c in comparisons)
    assert all(w.statute != "BGB § 288 (1)" for w in warnings_at(catalog))


def test_a_comparison_legal_adds_to_rules_conformance_yaml_is_checked(catalog_copy):
    with (catalog_copy / "rules/conformance.yaml").open("a", encoding="utf-8") as file:
        file.write(
            "- clause: AGB 4.4.4\n"
            "  parameter: consumer_margin\n"
            "  statute: BGB § 288\n"
            "  provision: (2) sentence 1\n"
            "  statute_parameter: business_margin\n"
            "  explanation: A deliberately wrong comparison of consumers with businesses.\n"
        )
    catalog = load_catalog(catalog_copy)
    found = warning(catalog, "AGB 4.4.4", "BGB § 288 (2) sentence 1", "consumer_margin")
    assert (found.clause_value, found.favours) == ("5.00 percentage points", "customer")


def test_a_comparison_naming_an_undeclared_parameter_is_an_error_at_its_line(catalog_copy):
    edit(
        catalog_copy / "rules/conformance.yaml",
        "  parameter: refund_within\n",
        "  parameter: refund_in\n",
    )
    with pytest.raises(CatalogInvalid) as raised:
        load_comparisons(load_catalog(catalog_copy))
    (error,) = raised.value.errors
    assert error.path == "rules/conformance.yaml"
    assert error.message == "AGB 9.3 declares no parameter 'refund_in'"
    text = (catalog_copy / "rules/conformance.yaml").read_text().splitlines()
    assert text[error.line - 1] == "  parameter: refund_in"


def test_a_comparison_of_a_period_with_money_is_refused(catalog_copy):
    edit(
        catalog_copy / "rules/conformance.yaml",
        "  statute_parameter: refund_within\n",
        "  statute_parameter: refund_within\n  better_for_customer: addition\n",
    )
    with pytest.raises(CatalogInvalid, match="a period changes by increase or decrease"):
        load_comparisons(load_catalog(catalog_copy))


def test_periods_are_ordered_only_where_every_start_date_agrees():
    assert _period_order(Period(6, "weeks"), Period(1, "months")) == 1
    assert _period_order(Period(6, "weeks"), Period(2, "months")) == -1
    assert _period_order(Period(4, "weeks"), Period(3, "months")) == -1
    assert _period_order(Period(2, "weeks"), Period(14, "days")) == 0
    assert _period_order(Period(30, "days"), Period(1, "months")) is None
    assert _period_order(Period(12, "months"), Period(1, "years")) == 0


def test_check_is_pure_and_skips_statutes_not_yet_in_force(catalog):
    comparisons = load_comparisons(catalog)
    assert check(catalog.at(date(2010, 1, 1)), comparisons) == []
    assert check(catalog.at(TODAY), comparisons) == check(catalog.at(TODAY), comparisons)


# -- command line -------------------------------------------------------------------------------


def test_billing_validate_lists_the_warnings_after_ok_and_exits_0(catalog_copy, capsys):
    assert main(["validate", str(catalog_copy)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"OK: \d+ files", out[0])
    assert out[1] == (
        "warnings: 13 differences from the statutes in terms version 2028-01-01 "
        "(details: billing conformance)"
    )
    assert (
        "  AGB 4.4.4 business_margin vs BGB § 288 (2): 8.00 percentage points vs "
        "9.00 percentage points (statute since 2014-07-29); favours customer"
    ) in out


def test_make_run_s_quiet_validate_says_the_warnings_in_one_line(catalog_copy, capsys):
    # make run: the server's addresses and the demo token stay the first thing to read
    assert main(["validate", "--quiet", str(catalog_copy)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"OK: \d+ files", out[0])
    assert out[1:] == [
        "13 differences from the statutes (5 applied as the statute says; "
        "details: billing conformance)"
    ]


def test_billing_validate_strict_exits_1_on_warnings_and_0_without(catalog_copy, capsys):
    # every difference against the customer is overridden by a mandatory statute: strict passes
    assert main(["validate", "--strict", str(catalog_copy)]) == 0
    path = catalog_copy / "rules/conformance.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            '  mandatory: true\n  statute_wording: "§ 357 (1) BGB',
            '  statute_wording: "§ 357 (1) BGB',
        )
    )
    assert main(["validate", "--strict", str(catalog_copy)]) == 1  # AGB 9.3's 30 days stand
    assert "strict: 1 differences against the customer are not applied" in capsys.readouterr().out
    (catalog_copy / "rules/conformance.yaml").write_text("[]\n", encoding="utf-8")
    assert main(["validate", "--strict", str(catalog_copy)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("OK: ")


def test_billing_validate_reports_a_fault_of_the_comparisons_as_an_error(catalog_copy, capsys):
    edit(catalog_copy / "rules/conformance.yaml", "statute: BGB § 357\n", "statute: BGB § 358\n")
    assert main(["validate", str(catalog_copy)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert re.match(r"rules/conformance.yaml:\d+:\d+: BGB § 358 is not in the catalog", out[0])
    assert out[-1].startswith("FAILED: 1 errors")


def test_billing_conformance_json_has_the_warnings_of_the_date(capsys):
    assert main(["conformance", "--at", "2026-11-21", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["at"], document["terms_version"]) == ("2026-11-21", "2026-01-01")
    assert (document["comparisons"], len(document["warnings"])) == (14, 13)
    for item in document["warnings"]:
        assert set(item) == JSON_KEYS
    first = document["warnings"][0]
    assert {k: first[k] for k in ("clause", "statute", "clause_value", "statute_value")} == {
        "clause": "AGB 8.2",
        "statute": "TKG § 57 (1)",
        "clause_value": "consumer",
        "statute_value": "consumer, business",
    }
    assert (first["mandatory"], first["applied"]) == (True, True)
    assert main(["conformance", "--at", "2013-01-01", "--json"]) == 0
    early = json.loads(capsys.readouterr().out)["warnings"]
    assert [(w["clause"], w["statute"]) for w in early] == [("AGB 4.3.2", "UStG § 14 (3)")]


def test_billing_conformance_defaults_to_the_newest_terms_version_and_reads_as_text(capsys):
    assert main(["conformance"]) == 0
    out = capsys.readouterr().out
    newest = load_catalog().editions[-1].isoformat()
    assert out.startswith(f"Terms in force on {newest} (terms version {newest}): 13 of 14")
    assert (
        "AGB 9.3 vs BGB § 357 (1): favours provider, the statute prevails; "
        "APPLIED: the engine applies 14 days" in out
    )
    assert (
        "AGB 4.4.4 vs BGB § 288 (2): favours customer, lawful; "
        "shown only: the engine applies the clause" in out
    )
    assert (
        "AGB 8.2 vs TKG § 57 (1): favours provider, the statute prevails; "
        "APPLIED: the engine applies 3 months" in out
    )
    assert main(["conformance", "--at", "today"]) == 0
    assert "comparisons with the statutes differ" in capsys.readouterr().out


def test_billing_conformance_before_the_catalog_starts_is_an_error(capsys):
    assert main(["conformance", "--at", "1999-01-01"]) == 2
    assert "no terms are in force on 1999-01-01" in capsys.readouterr().err


# -- admin UI (Flask test client) ----------------------------------------------------------------


@pytest.fixture
def viewer(tmp_path, catalog, decider):
    from engine.engine import Engine

    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
    with engine.store.db.begin() as connection:
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    app = create_app(engine=engine)
    app.config.update(
        SECRET_KEY="test", BILLING_NOW=lambda: datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    )
    client = app.test_client()
    page = client.get("/admin/login").data
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    response = client.post(
        "/admin/login",
        data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    yield client
    engine.close()


def test_the_conformance_page_lists_the_warnings_of_today_and_of_a_chosen_date(viewer):
    page = viewer.get("/admin/conformance").get_data(as_text=True)
    assert 'id="nav-conformance"' in page
    assert "13 warnings" in page and "on 2026-11-21 (terms version 2026-01-01)" in page
    assert page.count("<tr>") == 14  # a header and one row per warning
    # the page marks the same differences applied as billing conformance
    assert page.count('<td class="engine applied">') == 5  # 8.2 (twice), 8.3, 8.6, 9.3
    assert '<td class="engine applied">applied: 3 months (TKG § 57 (1))</td>' in page
    assert "8.00 percentage points" in page and "9.00 percentage points" in page
    assert '<td class="favours disadvantage">provider</td>' in page
    early = viewer.get("/admin/conformance?at=2013-01-01").get_data(as_text=True)
    assert "1 warning\non 2013-01-01" in early and "UStG § 14 (3)" in early
    assert "TKG § 57" not in early


def test_the_conformance_page_refuses_a_wrong_date_and_one_before_the_catalog(viewer):
    page = viewer.get("/admin/conformance?at=21.11.2026").get_data(as_text=True)
    assert "&#39;21.11.2026&#39; is not a date (YYYY-MM-DD); showing 2026-11-21." in page
    assert "13 warnings" in page
    early = viewer.get("/admin/conformance?at=1999-01-01").get_data(as_text=True)
    assert "no terms are in force on 1999-01-01" in early
    assert 'id="conformance"' not in early


def test_the_conformance_page_needs_a_login(tmp_path, catalog, decider):
    from engine.engine import Engine

    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
    try:
        response = create_app(engine=engine).test_client().get("/admin/conformance")
        assert response.status_code == 302
        assert "/admin/login" in response.headers["Location"]
    finally:
        engine.close()
