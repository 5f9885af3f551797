"""Clause examples (docs/catalog.md, "Examples"): every example of the catalog holds, one test
id each; the runner says why one does not; the loader locates faults of examples."""

from __future__ import annotations

import dataclasses

import pytest

from billing.cli.main import main
from engine.catalog import CatalogInvalid, load_catalog, load_files
from engine.drafting.examples import catalog_examples, examples_of, run_example, run_examples
from tests.conftest import edit

FEE_FILE = "rules/agb/4.2.3-returned-direct-debit.yaml"
SHIPPED = catalog_examples(load_catalog())


@pytest.mark.parametrize("example", SHIPPED, ids=[e.title for e in SHIPPED])
def test_example(catalog, decider, example):
    outcome = run_example(catalog, example, decider)
    assert outcome.passed, outcome.reason


# Figures no account event applies: they act on publishing, documents or reports.
NOT_EVENT_DRIVEN = {
    "AGB 6.1": "the liability cap: billing liability (engine/contract/liability.py)",
    "AGB 8.1": "notice of price increases: the admin UI's publishing "
    "(engine/drafting/publishing.py)",
    "AGB 8.3": "business price adjustments: publishing",
    "AGB 8.4": "notice of AGB changes: publishing",
    "AGB 8.5": "notice of service description changes: publishing",
    "TKG § 57": "statutory rules for term changes: publishing",
    "BGB § 357": "the statutory refund period: a conformance comparison (AGB 9.3 applies)",
    "CLINQ SD 2.3": "yearly availability: billing availability (engine/contract/availability.py)",
    "CLINQ SD 2.5": "the itemised bill's price: a document, not an effect",
    "UStG § 14": "the e-invoice duty decides an invoice's format (tests/test_einvoice.py)",
    "Platform: provider": "details and turnover for documents and the e-invoice duty",
}


def test_every_clause_with_a_fee_a_deadline_or_a_rate_has_an_example(catalog):
    without = {
        f.citation
        for f in catalog.files
        if any(p.type in ("money", "period", "rate", "percent") for p in f.parameters.values())
        and not examples_of(f)
    }
    assert without == set(NOT_EVENT_DRIVEN)


def test_a_failing_example_says_what_was_expected_and_what_came(catalog, decider):
    (example,) = [e for e in catalog_examples(catalog, "AGB 4.2.3") if "9.80" in e.name]
    spec = {
        **example.spec,
        "expect": [
            {"kind": "charge", "amount": "5.00", "clause": "AGB 4.2.3", "day": "2026-03-10"}
        ],
        "expect_not": [{"kind": "charge", "item": "returned_debit_fee"}],
    }
    outcome = run_example(catalog, dataclasses.replace(example, spec=spec), decider)
    assert not outcome.passed
    assert outcome.reason.startswith(
        "expected a charge of 5.00 EUR citing AGB 4.2.3 on 2026-03-10; got: charge of 20.00 EUR "
        "(item returned_debit) citing AGB 4.2.3 on 2026-03-10; charge of 9.80 EUR "
        "(item returned_debit_fee) citing AGB 4.2.3 on 2026-03-10"
    )
    assert outcome.reason.endswith(
        "; expected no charge (item returned_debit_fee); got: charge of 9.80 EUR "
        "(item returned_debit_fee) citing AGB 4.2.3 on 2026-03-10"
    )


def test_a_new_fee_breaks_a_later_example_but_not_an_earlier_one(catalog_copy, decider):
    path = catalog_copy / FEE_FILE
    path.write_text(
        path.read_text()
        + """  - effective_from: 2026-03-05
    values:
      flat_fee: "12.00 EUR"
      lower_damage_provable: true
      itemised_higher_costs_chargeable: true
"""
    )
    outcomes = run_examples(load_catalog(catalog_copy), "AGB 4.2.3", decider=decider)
    failed = [o for o in outcomes if not o.passed]
    assert [o.example.name for o in failed] == ["a returned direct debit costs 9.80 EUR"]
    assert "charge of 12.00 EUR (item returned_debit_fee)" in failed[0].reason
    # The version's own examples take over from its date; the earlier ones still hold.
    path.write_text(
        path.read_text()
        + """    examples:
      - name: from 5 March 2026 a returned direct debit costs 12.00 EUR
        account: {billing_method: autoprepay}
        events:
          - {at: 2026-03-04, type: direct_debit.returned, amount: "20.00"}
          - {at: 2026-03-10, type: direct_debit.returned, amount: "20.00"}
        expect:
          - {kind: charge, item: returned_debit_fee, amount: "9.80", day: 2026-03-04}
          - {kind: charge, item: returned_debit_fee, amount: "12.00", day: 2026-03-10}
"""
    )
    catalog = load_catalog(catalog_copy)
    outcomes = run_examples(catalog, "AGB 4.2.3", decider=decider)
    assert all(o.passed for o in outcomes), [o.reason for o in outcomes]
    (terms_file,) = [f for f in catalog.files if f.path == FEE_FILE]
    retired = [e for e in examples_of(terms_file, retired=True) if e.retired_by]
    assert [(e.name, e.retired_by) for e in retired] == [
        ("a returned direct debit costs 9.80 EUR", "version 2026-03-05"),
        ("a proven lower damage replaces the flat fee", "version 2026-03-05"),
        ("itemised higher costs replace the flat fee", "version 2026-03-05"),
    ]


def test_faults_in_examples_are_located(catalog_copy):
    path = catalog_copy / FEE_FILE
    edit(path, "at: 2026-03-02,", "at: 2026-02-30,")
    edit(path, 'proven_lower_damage: "3.00"', 'proven_lower_damage: "3.00", colour: red')
    lines = path.read_text().splitlines()

    def line(text: str) -> int:
        return next(i for i, content in enumerate(lines, 1) if text in content)

    assert [str(e) for e in load_files(catalog_copy).errors] == [
        f"{FEE_FILE}:{line('02-30')}:18: '2026-02-30' is not a date or time: day is out of range "
        "for month (at /versions/0/examples/0/events/0/at)",
        f"{FEE_FILE}:{line('colour')}:105: 'colour' is not a field of a direct_debit.returned "
        "event (its fields: amount, end_to_end_id, invoice, itemised_higher_costs, "
        "proven_lower_damage, reason_code) (at /versions/0/examples/1/events/0/colour)",
    ]
    edit(path, 'amount: "9.80", clause', "amount: 9.80, clause")
    lines = path.read_text().splitlines()
    (error,) = load_files(catalog_copy).errors
    assert error.line == line("9.80, clause")
    assert error.pointer == "/versions/0/examples/0/expect/1/amount"
    assert "9.8 is a YAML number" in error.message


def test_billing_examples_runs_one_clause_and_exits_1_on_a_failure(capsys, catalog_copy):
    assert main(["examples", "AGB 4.2.3"]) == 0
    out = capsys.readouterr().out
    assert "ok    AGB 4.2.3: a returned direct debit costs 9.80 EUR" in out
    assert out.rstrip().endswith("3 passed, 0 failed")
    edit(catalog_copy / FEE_FILE, 'flat_fee: "9.80 EUR"', 'flat_fee: "9.90 EUR"')
    assert main(["examples", "AGB 4.2.3", "--catalog", str(catalog_copy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  AGB 4.2.3: a returned direct debit costs 9.80 EUR" in out
    assert "expected a charge of 9.80 EUR (item returned_debit_fee) citing AGB 4.2.3" in out


def test_an_invalid_example_event_fails_validation(catalog_copy):
    edit(catalog_copy / FEE_FILE, "method: direct_debit}", "method: cash}")
    with pytest.raises(CatalogInvalid) as raised:
        load_catalog(catalog_copy)
    (error,) = raised.value.errors
    assert error.pointer == "/versions/0/examples/0/events/0/method"


def test_agb_8_6_an_example_publishes_a_change_as_legal_would_and_the_notice_rules_apply(
    catalog_copy, decider
):
    path = catalog_copy / "rules/agb/8.6-change-notice-and-termination.yaml"
    text = path.read_text()
    path.write_text(text.replace("      at: 2026-11-19 10:00\n", "      at: 2026-12-22 10:00\n", 1))
    (error,) = load_files(catalog_copy).errors
    assert error.pointer == "/examples/0/publication/at"
    assert error.message == "the publication must come before the example's first event"
    # six weeks before the change of 2027-01-19 have begun: too late to publish it
    path.write_text(text.replace("      at: 2026-11-19 10:00\n", "      at: 2026-12-10 10:00\n", 1))
    catalog = load_catalog(catalog_copy)
    first = catalog_examples(catalog, "AGB 8.6")[0]
    outcome = run_example(catalog, first, decider)
    assert not outcome.passed
    assert "the publication is refused: AGB 8.4 needs the customers to be notified" in (
        outcome.reason
    )
