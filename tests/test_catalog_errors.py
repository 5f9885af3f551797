"""A broken catalog file fails with its file, line, column and JSON pointer; all faults at once."""

from __future__ import annotations

from pathlib import Path

from billing.cli.main import main
from engine.catalog.loader import load_files
from tests.conftest import edit

FEE = "rules/agb/4.2.3-returned-direct-debit.yaml"


def shipped_file_count(root: Path) -> int:
    return len(list(root.glob("rules/*/*.yaml")) + list(root.glob("tariffs/**/*.yaml")))


def errors_of(root: Path) -> list[str]:
    return [str(error) for error in load_files(root).errors]


def test_the_shipped_catalog_has_no_error(catalog_copy):
    result = load_files(catalog_copy)
    assert result.errors == []
    assert result.file_count == len(result.files) == shipped_file_count(catalog_copy)


def test_a_duplicate_key_names_both_lines(catalog_copy):
    edit(
        catalog_copy / FEE,
        '      flat_fee: "9.80 EUR"\n',
        '      flat_fee: "9.80 EUR"\n      flat_fee: "12.00 EUR"\n',
    )
    assert errors_of(catalog_copy) == [
        f"{FEE}:28:7: duplicate key 'flat_fee' (first at line 27) (at /versions/0/values/flat_fee)"
    ]


def test_an_unknown_key_is_refused(catalog_copy):
    edit(
        catalog_copy / FEE,
        "    disadvantage: increase\n",
        "    disadvantage: increase\n    colour: red\n",
    )
    assert errors_of(catalog_copy) == [
        f"{FEE}:14:5: unknown key 'colour' (at /parameters/flat_fee/colour)"
    ]


def test_money_written_as_a_yaml_number_is_refused(catalog_copy):
    edit(catalog_copy / FEE, 'flat_fee: "9.80 EUR"', "flat_fee: 9.80")
    assert errors_of(catalog_copy) == [
        f"{FEE}:27:17: 9.8 is a YAML number; write decimals as quoted strings with their unit, "
        'like "9.80 EUR", "0.0179 EUR/min" or "5.00 %" (at /versions/0/values/flat_fee)'
    ]


def test_a_value_of_the_wrong_type_names_the_type_it_needs(catalog_copy):
    edit(catalog_copy / FEE, 'flat_fee: "9.80 EUR"', 'flat_fee: "9,80 €"')
    assert errors_of(catalog_copy) == [
        f"{FEE}:27:17: flat_fee (money): expected money like '9.80 EUR', got '9,80 €' "
        "(at /versions/0/values/flat_fee)"
    ]


def test_an_integer_where_a_boolean_belongs_is_refused(catalog_copy):
    edit(catalog_copy / FEE, "lower_damage_provable: true", "lower_damage_provable: 1")
    assert errors_of(catalog_copy) == [
        f"{FEE}:28:30: lower_damage_provable (boolean): expected true or false, got 1 "
        "(at /versions/0/values/lower_damage_provable)"
    ]


def test_a_date_that_is_not_iso_is_refused(catalog_copy):
    edit(catalog_copy / FEE, "effective_from: 2009-07-03", "effective_from: 03.07.2009")
    assert errors_of(catalog_copy) == [
        f"{FEE}:25:21: '03.07.2009' does not match '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' "
        "(at /versions/0/effective_from)"
    ]


def test_a_date_that_does_not_exist_is_refused(catalog_copy):
    edit(catalog_copy / FEE, "effective_from: 2009-07-03", "effective_from: 2009-02-30")
    assert errors_of(catalog_copy) == [
        f"{FEE}:25:21: '2009-02-30' is not a 'date' (at /versions/0/effective_from)"
    ]


NEW_VERSION = """  - effective_from: {date}
    values:
      flat_fee: "12.00 EUR"
      lower_damage_provable: true
      itemised_higher_costs_chargeable: true
"""


def test_versions_out_of_order_are_refused(catalog_copy):
    path = catalog_copy / FEE
    path.write_text(path.read_text() + NEW_VERSION.format(date="2001-01-01"))
    assert errors_of(catalog_copy) == [
        f"{FEE}:53:21: effective_from 2001-01-01 comes before the previous version's 2009-07-03; "
        "versions must be in ascending order without overlap (at /versions/1/effective_from)"
    ]


def test_two_versions_from_the_same_day_overlap_and_are_refused(catalog_copy):
    path = catalog_copy / FEE
    path.write_text(path.read_text() + NEW_VERSION.format(date="2009-07-03"))
    assert errors_of(catalog_copy) == [
        f"{FEE}:53:21: effective_from 2009-07-03 repeats the previous version's 2009-07-03; "
        "versions must be in ascending order without overlap (at /versions/1/effective_from)"
    ]


def test_a_later_version_changes_the_value_only_from_its_date(catalog_copy):
    from datetime import date
    from decimal import Decimal

    from engine.catalog import load_catalog

    path = catalog_copy / FEE
    path.write_text(path.read_text() + NEW_VERSION.format(date="2027-01-04"))
    catalog = load_catalog(catalog_copy)
    assert catalog.at(date(2027, 1, 3)).clause("AGB 4.2.3")["flat_fee"] == Decimal("9.80")
    assert catalog.at(date(2027, 1, 4)).clause("AGB 4.2.3")["flat_fee"] == Decimal("12.00")
    assert catalog.at(date(2027, 1, 4)).version == "2027-01-04"


def test_a_missing_value_is_an_error_never_a_silent_zero(catalog_copy):
    edit(catalog_copy / FEE, '      flat_fee: "9.80 EUR"\n', "")
    assert errors_of(catalog_copy) == [
        f"{FEE}:26:5: no value for parameter 'flat_fee' in the version of 2009-07-03 "
        "(a missing value is an error, never zero) (at /versions/0/values)"
    ]


def test_a_value_for_an_undeclared_parameter_is_refused(catalog_copy):
    edit(
        catalog_copy / FEE,
        '      flat_fee: "9.80 EUR"\n',
        '      flat_fee: "9.80 EUR"\n      fee: "1.00 EUR"\n',
    )
    assert errors_of(catalog_copy) == [
        f"{FEE}:28:7: parameter 'fee' is not declared in /parameters (at /versions/0/values/fee)"
    ]


def test_a_reference_to_a_clause_that_does_not_exist_is_refused(catalog_copy):
    edit(catalog_copy / FEE, "see_also: [AGB 1.3.1]", "see_also: [AGB 1.3.1, AGB 4.2.9]")
    assert errors_of(catalog_copy) == [
        f"{FEE}:7:23: AGB 4.2.9 is not in the catalog (at /see_also/1)"
    ]


def test_a_plan_naming_an_unknown_zone_is_refused(catalog_copy):
    plan = "tariffs/plans/clinq.yaml"
    edit(
        catalog_copy / plan,
        "free_minutes_zones: [de_landline, de_mobile]",
        "free_minutes_zones: [de_landline, de_mobil]",
    )
    assert errors_of(catalog_copy) == [
        f"{plan}:83:41: free_minutes_zones: 'de_mobil' is not a known zone (de_directory, "
        "de_freephone, de_landline, de_mobile, de_premium_rate, emergency, eu_landline, "
        "eu_mobile, world) (at /versions/0/values/free_minutes_zones/1)"
    ]


def test_a_prefix_in_two_zones_is_refused(catalog_copy):
    zones = "tariffs/zones.yaml"
    edit(catalog_copy / zones, 'de_freephone: ["+49800"]', 'de_freephone: ["+49800", "+4915"]')
    assert errors_of(catalog_copy) == [
        f"{zones}:70:32: prefix '+4915' is in zone 'de_mobile' and 'de_freephone'; a number must "
        "belong to exactly one zone (at /versions/0/values/de_freephone/1)"
    ]


def test_a_zone_without_a_rate_is_refused(catalog_copy):
    rates = "tariffs/rates/sipgate-team.yaml"
    edit(
        catalog_copy / rates,
        "  world: {type: rate, description: Rest of the world, "
        'label_de: "Minutenpreis Übriges Ausland", disadvantage: increase}\n',
        "",
    )
    edit(catalog_copy / rates, '      world: "0.2900 EUR/min"\n', "")
    assert errors_of(catalog_copy) == [
        f"{rates}:9:1: no rate for zone 'world': every zone needs one (no silent zero) "
        "(at /parameters)"
    ]


def test_a_file_whose_name_disagrees_with_its_clause_is_refused(catalog_copy):
    edit(catalog_copy / FEE, 'section: "4.2.3"', 'section: "4.2.4"')
    assert errors_of(catalog_copy) == [
        f"{FEE}:2:34: the file name must start with '4.2.4-' to encode AGB 4.2.4 "
        "(the path is the clause's identity) (at /source/section)"
    ]


def test_a_yaml_syntax_error_is_located(catalog_copy):
    edit(catalog_copy / FEE, "title: Returned direct debit (Rücklastschrift)", "title: [unclosed")
    assert errors_of(catalog_copy) == [
        f"{FEE}:2:7: YAML syntax: expected ',' or ']', but got ':' (at /)"
    ]


def test_a_yaml_file_in_the_wrong_place_is_refused(catalog_copy):
    (catalog_copy / "rules" / "agb" / "extra").mkdir()
    (catalog_copy / "rules" / "agb" / "extra" / "x.yaml").write_text("title: x\n")
    (error,) = errors_of(catalog_copy)
    assert error.startswith("rules/agb/extra/x.yaml:1:1: not a place for a catalog file")


def test_all_faults_of_a_run_are_reported_not_only_the_first(catalog_copy):
    edit(catalog_copy / FEE, 'flat_fee: "9.80 EUR"', "flat_fee: 9.80")
    edit(
        catalog_copy / "rules/agb/4.1.4-negative-balance-without-mandate.yaml",
        "disadvantage: increase",
        "disadvantage: upward",
    )
    edit(
        catalog_copy / "rules/agb/1.5-inactive-accounts.yaml",
        "notice_channel: email",
        "notice_channel: email\n      extra: 1",
    )
    errors = errors_of(catalog_copy)
    assert [e.split(":", 1)[0] for e in errors] == [
        "rules/agb/1.5-inactive-accounts.yaml",
        "rules/agb/4.1.4-negative-balance-without-mandate.yaml",
        FEE,
    ]


def test_billing_validate_prints_ok_or_every_error_and_exits_1(catalog_copy, capsys):
    assert main(["validate", str(catalog_copy)]) == 0
    count = shipped_file_count(catalog_copy)
    assert capsys.readouterr().out.splitlines()[0] == f"OK: {count} files"  # then warnings
    edit(catalog_copy / FEE, 'flat_fee: "9.80 EUR"', "flat_fee: 9.80")
    assert main(["validate", str(catalog_copy)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{FEE}:27:17: 9.8 is a YAML number")
    assert out[-1] == f"FAILED: 1 errors in {count} files"


def test_a_parameter_without_its_german_label_is_refused(catalog_copy, capsys):
    """Customer letters name each changed parameter in German (AGB 8): no English fallback."""
    edit(catalog_copy / FEE, "    label_de: Pauschale für eine Rücklastschrift\n", "")
    assert main(["validate", str(catalog_copy)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{FEE}:10:5: 'label_de' is a required property (at /parameters/flat_fee)"


def test_a_catalog_loaded_again_reads_each_changed_file_again_and_locates_its_faults_anew(
    catalog_copy,
):
    """Checking a draft loads the catalog again; what is kept between loads (each file's
    parsed content, each content's schema verdict) never hides a change or moves a fault."""
    edit(
        catalog_copy / FEE,
        "    disadvantage: increase\n",
        "    disadvantage: increase\n    colour: red\n",
    )
    unknown = "unknown key 'colour' (at /parameters/flat_fee/colour)"
    assert errors_of(catalog_copy) == [f"{FEE}:14:5: {unknown}"]
    assert errors_of(catalog_copy) == [f"{FEE}:14:5: {unknown}"]  # the same, loaded again
    # The same content two lines further down: the kept verdict, located in the new text.
    text = (catalog_copy / FEE).read_text(encoding="utf-8")
    (catalog_copy / FEE).write_text("# moved\n# down\n" + text, encoding="utf-8")
    assert errors_of(catalog_copy) == [f"{FEE}:16:5: {unknown}"]
    edit(catalog_copy / FEE, "    colour: red\n", "")
    assert errors_of(catalog_copy) == []


def test_each_load_gets_data_of_its_own(catalog_copy):
    from engine.catalog.yaml_source import read_yaml_file

    first = read_yaml_file(catalog_copy / FEE, FEE)
    first.data["versions"][0]["values"]["flat_fee"] = "99.00 EUR"
    again = read_yaml_file(catalog_copy / FEE, FEE)
    assert again.data["versions"][0]["values"]["flat_fee"] == "9.80 EUR"


def test_what_a_process_keeps_between_loads_stays_within_its_bounds(catalog_copy, monkeypatch):
    """Drafts come and go (each a new content): the kept parses and verdicts start afresh
    when they would pass their bounds, and the loads stay right."""
    from engine.catalog import loader, yaml_source

    monkeypatch.setattr(loader, "SCHEMA_VERDICTS_KEPT", 20_000)
    monkeypatch.setattr(loader, "_schema_verdicts", {})
    monkeypatch.setattr(loader, "_schema_verdicts_size", [0])
    monkeypatch.setattr(yaml_source, "FILES_KEPT", 50_000)
    monkeypatch.setattr(yaml_source, "_kept_files", {})
    monkeypatch.setattr(yaml_source, "_kept_size", [0])
    for fee in ("9.80", "9.90", "10.00"):
        edit(catalog_copy / FEE, 'flat_fee: "9.80 EUR"', f'flat_fee: "{fee} EUR"')
        assert errors_of(catalog_copy) == []
        edit(catalog_copy / FEE, f'flat_fee: "{fee} EUR"', 'flat_fee: "9.80 EUR"')
        largest_file = max(len(kept) for kept in yaml_source._kept_files.values())
        assert yaml_source._kept_size[0] <= 50_000 + 2 * largest_file
        assert loader._schema_verdicts_size[0] <= 20_000 + 10_000
