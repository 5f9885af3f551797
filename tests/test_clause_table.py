"""Every numbered clause of both documents is in the clause table: encoded, or why not."""

from __future__ import annotations

import re
import textwrap

import pytest

from billing.cli.main import main
from engine.catalog import PROJECT_ROOT, Catalog, CatalogInvalid
from engine.catalog.coverage import (
    CODE_LIMIT,
    CoverageRow,
    NumberedClause,
    cited_clauses,
    clause_code,
    clause_tests,
    coverage,
    load_not_encoded,
    numbered_clauses,
    render_markdown,
)

DOCS = PROJECT_ROOT / "docs"


def test_both_documents_are_parsed_to_every_numbered_clause():
    citations = [c.citation for c in numbered_clauses(DOCS / "source-documents")]
    assert len(citations) == len(set(citations)) == 124
    assert citations[:3] == ["AGB 1", "AGB 1.1", "AGB 1.1.1"]
    assert {"AGB 4.2.3", "AGB 12.7", "CLINQ SD 1.4", "CLINQ SD 3.1"} <= set(citations)
    # The service description numbers two clauses 2.2.
    assert "CLINQ SD 2.2 (second)" in citations


def test_no_clause_is_silently_missing(catalog):
    rows, problems = coverage(
        catalog,
        numbered_clauses(DOCS / "source-documents"),
        load_not_encoded(PROJECT_ROOT),
    )
    assert problems == []
    status = {row.clause.citation: row.status for row in rows}
    for encoded in (
        "AGB 1.2.2",
        "AGB 4.2.3",
        "AGB 4.4.4",
        "AGB 6.1",
        "CLINQ SD 1.3",
        "CLINQ SD 2.1",
    ):
        assert status[encoded] == "encoded"
    assert status["AGB 7.1.1"] == "not encoded"
    assert status["AGB 4.2"] == "heading"


def test_a_clause_without_file_or_reason_is_reported(catalog):
    not_encoded = load_not_encoded(PROJECT_ROOT)
    del not_encoded["AGB 12.7"]
    not_encoded["AGB 13.1"] = {"clause": "AGB 13.1", "reason": "does not exist"}
    not_encoded["AGB 4.2.3"] = {"clause": "AGB 4.2.3", "reason": "is encoded after all"}
    _, problems = coverage(catalog, numbered_clauses(DOCS / "source-documents"), not_encoded)
    assert sorted(problems) == [
        "AGB 12.7 is neither encoded in the catalog nor listed with a reason in "
        "docs/not-encoded.yaml",
        "AGB 4.2.3 is encoded and also listed as not encoded",
        "docs/not-encoded.yaml lists AGB 13.1, which no document numbers",
    ]


def test_a_malformed_reason_list_is_located(catalog_copy):
    path = catalog_copy / "docs" / "not-encoded.yaml"
    path.write_text(
        path.read_text().replace("  reason: German law applies; no parameter.", "  why: x")
    )
    with pytest.raises(CatalogInvalid) as raised:
        load_not_encoded(catalog_copy)
    assert [str(e) for e in raised.value.errors] == [
        "docs/not-encoded.yaml:94:3: 'reason' is a required property (at /41)",
        "docs/not-encoded.yaml:95:3: unknown key 'why' (at /41/why)",
    ]


def test_every_clause_of_the_lifecycle_issue_points_to_its_file_and_a_test(catalog):
    rows, problems = coverage(
        catalog,
        numbered_clauses(DOCS / "source-documents"),
        load_not_encoded(PROJECT_ROOT),
        clause_tests(PROJECT_ROOT / "tests"),
    )
    assert problems == []
    by_clause = {row.clause.citation: row for row in rows}
    for citation in (
        "AGB 1.1.1",
        "CLINQ SD 1.1",
        "CLINQ SD 1.4",
        "AGB 1.2.1",
        "AGB 1.2.2",
        "AGB 1.3.1",
        "AGB 9.1",
        "AGB 1.4.1",
        "AGB 1.4.3",
        "AGB 1.5",
        "AGB 4.1.4",
        "AGB 4.2.3",
        "AGB 4.2.2",
        "AGB 4.2.4",
        "AGB 4.4.1",
        "AGB 4.4.2",
        "AGB 4.4.4",
        "AGB 4.4.3",
        "AGB 2.11",
        "AGB 4.5.1",
        "AGB 4.5.2",
        "AGB 4.5.3",
        "AGB 4.5.4",
        "AGB 4.4.5",
        "AGB 5.5",
        "AGB 6.1",
        "AGB 12.4",
        "AGB 12.5",
        "CLINQ SD 2.3",
    ):
        row = by_clause[citation]
        assert row.status == "encoded" and row.tests, citation


def test_docs_clauses_md_is_up_to_date(catalog, capsys):
    rows, _ = coverage(
        catalog,
        numbered_clauses(DOCS / "source-documents"),
        load_not_encoded(PROJECT_ROOT),
        clause_tests(PROJECT_ROOT / "tests"),
    )
    assert (DOCS / "clauses.md").read_text(encoding="utf-8") == render_markdown(rows, catalog)
    assert main(["clauses", "--check", str(DOCS / "clauses.md")]) == 0
    assert "lists all 124 clauses" in capsys.readouterr().out


def rows_by_clause(catalog):
    rows, problems = coverage(
        catalog,
        numbered_clauses(DOCS / "source-documents"),
        load_not_encoded(PROJECT_ROOT),
        clause_tests(PROJECT_ROOT / "tests"),
    )
    assert problems == []
    return {row.clause.citation: row for row in rows}


def test_the_row_of_agb_4_2_3_leads_from_its_file_to_its_function_to_its_tests(catalog):
    row = rows_by_clause(catalog)["AGB 4.2.3"]
    assert row.detail == "`rules/agb/4.2.3-returned-direct-debit.yaml`"
    assert "engine/payments/payment_terms.py::return_direct_debit" in row.code
    assert any(test.startswith("test_payment_terms.py::test_agb_4_2_3_") for test in row.tests)
    line = next(
        line
        for line in render_markdown(list(rows_by_clause(catalog).values()), catalog).splitlines()
        if line.startswith("| AGB 4.2.3 |")
    )
    cells = [cell.strip() for cell in line.strip("|").split(" | ")]
    assert cells[3] == "`rules/agb/4.2.3-returned-direct-debit.yaml`"
    assert "`engine/payments/payment_terms.py::return_direct_debit`" in cells[4].split("<br>")
    assert cells[5].startswith("`test_payment_terms.py::test_agb_4_2_3_")


def test_a_citation_of_a_clause_is_not_one_of_its_heading(catalog):
    assert [c for _, c in cited_clauses('book("fee", "AGB 4.2.3")  # AGB 4.2.3.')] == [
        "AGB 4.2.3",
        "AGB 4.2.3",
    ]
    assert [c for _, c in cited_clauses("AGB 4.2, AGB 4.2. and AGB 4.23")] == [
        "AGB 4.2",
        "AGB 4.2",
        "AGB 4.23",
    ]
    rows = rows_by_clause(catalog)
    assert "engine/payments/payment_terms.py::return_direct_debit" in rows["AGB 4.2.3"].code
    for heading in ("AGB 4", "AGB 4.2"):
        assert "engine/payments/payment_terms.py::return_direct_debit" not in rows[heading].code


def test_lists_and_ranges_cite_each_clause_and_examples_cite_nothing():
    def cited(text):
        return [citation for _, citation in cited_clauses(text)]

    assert cited("(AGB 8.1, 8.2, 8.4-8.6; CLINQ SD 1.1 or 1.4)") == [
        "AGB 8.1",
        "AGB 8.2",
        "AGB 8.4",
        "AGB 8.5",
        "AGB 8.6",
        "CLINQ SD 1.1",
        "CLINQ SD 1.4",
    ]
    assert cited("AGB 8.2 / 8.6 and AGB 4.5.1-4.5.3") == [
        "AGB 8.2",
        "AGB 8.6",
        "AGB 4.5.1",
        "AGB 4.5.2",
        "AGB 4.5.3",
    ]
    # A number that is an amount or a period is not a clause.
    assert cited("AGB 4.2.3, 9.80 EUR; AGB 4.4.4, 5 % and AGB 1.1.1, 30 days") == [
        "AGB 4.2.3",
        "AGB 4.4.4",
        "AGB 1.1.1",
    ]
    assert cited("help='e.g. \"AGB 4.2.3\"', f\"(cite like 'AGB 4.2.3')\"") == []
    assert cited('"""The version of ``citation`` (``"AGB 4.2.3"``); `AGB 4.2.3` too."""') == []


def test_each_citation_belongs_to_its_innermost_function_class_or_module(tmp_path):
    (tmp_path / "engine" / "payments").mkdir(parents=True)
    (tmp_path / "engine" / "payments" / "fees.py").write_text(
        textwrap.dedent(
            '''\
            """Fees (AGB 4.2.3)."""

            # -- returned direct debits (AGB 4.2.3, 1.3.1) --


            def return_direct_debit(booking):
                """The flat fee of AGB 4.2.3."""
                booking.book("returned_debit_fee", 980, "AGB 4.2.3")

                def waive():
                    return "AGB 4.2.4"

                return waive


            class Dunning:
                """AGB 4.4.2"""

                @rule("AGB 4.4.3")
                def remind(self):
                    return "AGB 4.4.2"
            '''
        )
    )
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "app.py").write_text('SUMMARY = "An invoice as PDF (AGB 4.2.3)"\n')
    (tmp_path / "engine" / "broken.py").write_text("def half(:\n    'AGB 1.3.1'\n")
    code = clause_code(tmp_path)
    assert code == {
        "AGB 1.3.1": ["engine/broken.py", "engine/payments/fees.py"],
        "AGB 4.2.3": [
            "engine/payments/fees.py",
            "engine/payments/fees.py::return_direct_debit",
            "api/app.py",
        ],
        "AGB 4.2.4": ["engine/payments/fees.py::return_direct_debit.waive"],
        "AGB 4.4.2": [
            "engine/payments/fees.py::Dunning",
            "engine/payments/fees.py::Dunning.remind",
        ],
        "AGB 4.4.3": ["engine/payments/fees.py::Dunning.remind"],
    }
    assert clause_code(tmp_path) == code


def test_the_code_column_is_capped_and_has_no_line_numbers(catalog):
    clause = NumberedClause("AGB 8", "8", "Änderungen")
    places = tuple(f"engine/m{i:02}.py::f" for i in range(CODE_LIMIT + 3))
    table = render_markdown([CoverageRow(clause, "heading", "Heading.", (), places)], catalog)
    row = next(line for line in table.splitlines() if line.startswith("| AGB 8 |"))
    assert row == (
        "| AGB 8 | Änderungen | heading | Heading. | "
        + "<br>".join(f"`{place}`" for place in places[:CODE_LIMIT])
        + "<br>and 3 more |  |"
    )
    assert "| Clause | Opening words | Status | Encoded in / reason | Code | Tests |" in table
    for row in rows_by_clause(catalog).values():
        assert list(row.code) == list(dict.fromkeys(row.code)), row.clause.citation
        for place in row.code:
            assert re.fullmatch(r"(engine|billing|api|admin_ui)/[\w/]+\.py(::[\w.]+)?", place)


def test_the_code_is_that_of_the_platform_the_catalog_belongs_to(catalog, tmp_path):
    clauses = numbered_clauses(DOCS / "source-documents")
    not_encoded = load_not_encoded(PROJECT_ROOT)
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "x.py").write_text("def f():\n    return 'AGB 4.2.3'\n")
    elsewhere = Catalog(catalog.files, tmp_path)
    rows, _ = coverage(elsewhere, clauses, not_encoded)
    assert {row.clause.citation: row.code for row in rows if row.code} == {
        "AGB 4.2.3": ("engine/x.py::f",)
    }
    # A folder with the catalog only is applied by this project's code.
    rows, _ = coverage(Catalog(catalog.files, tmp_path / "catalog-only"), clauses, not_encoded)
    assert rows == coverage(catalog, clauses, not_encoded)[0]
    rows, _ = coverage(catalog, clauses, not_encoded, code={})
    assert all(row.code == () for row in rows)
