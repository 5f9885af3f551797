"""Every numbered clause of both documents is in the clause table: encoded, or why not."""

from __future__ import annotations

import pytest

from billing.cli.main import main
from engine.catalog import PROJECT_ROOT, CatalogInvalid
from engine.catalog.coverage import (
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
