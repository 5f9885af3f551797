"""Which numbered clause of the source documents is encoded where, or why it is not.

The clause table (``docs/clauses.md``) is generated from three inputs: the source documents
(every numbered clause), the catalog (which file encodes which citation) and
``docs/not-encoded.yaml`` (why a clause is not machine-applicable). No clause may be missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.catalog.catalog import Catalog
from engine.catalog.loader import read_checked

# (document, citation prefix, file in docs/source-documents/, first line of the body)
SOURCE_DOCUMENTS = (
    ("agb", "AGB", "siggate-agb.de.txt", "## 1. Vertragsschluss"),
    ("clinq-sd", "CLINQ SD", "clinq-service-description.en.txt", "1. general terms"),
)
_NUMBERED = re.compile(r"^(?:#{1,3} )?(\d+(?:\.\d+)*)\.?\s+(\S.*)$")


@dataclass(frozen=True)
class NumberedClause:
    """A numbered clause as it appears in a source document."""

    citation: str
    number: str
    opening: str


@dataclass(frozen=True)
class CoverageRow:
    clause: NumberedClause
    status: str  # "encoded", "heading" or "not encoded"
    detail: str
    tests: tuple[str, ...] = ()


_TEST_NAME = re.compile(r"^def (test_(agb|clinq_sd)_((?:\d+_)*\d+)_[a-z]\w*)\(", re.MULTILINE)


def clause_tests(tests_dir: Path) -> dict[str, list[str]]:
    """Scenario tests named after a clause (``test_agb_4_2_3_...``), by citation."""
    found: dict[str, list[str]] = {}
    for path in sorted(tests_dir.glob("test_*.py")):
        for name, document, number in _TEST_NAME.findall(path.read_text(encoding="utf-8")):
            prefix = "AGB" if document == "agb" else "CLINQ SD"
            citation = f"{prefix} {number.replace('_', '.')}"
            found.setdefault(citation, []).append(f"{path.name}::{name}")
    return found


def numbered_clauses(documents_dir: Path) -> list[NumberedClause]:
    """Every numbered clause of both documents, in order; a repeated number is "(second)"."""
    clauses: list[NumberedClause] = []
    for _document, prefix, file_name, body_start in SOURCE_DOCUMENTS:
        lines = (documents_dir / file_name).read_text(encoding="utf-8").splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(body_start))
        seen: set[str] = set()
        for line in lines[start:]:
            match = _NUMBERED.match(line)
            if not match:
                continue
            number, text = match.groups()
            citation = f"{prefix} {number}" + (" (second)" if number in seen else "")
            seen.add(number)
            opening = text if len(text) <= 60 else text[:57].rstrip() + "..."
            clauses.append(NumberedClause(citation, number, opening))
    return clauses


def source_text(documents_dir: Path, citation: str) -> str | None:
    """The words of a numbered clause as the source document has them (for the admin UI)."""
    for _document, prefix, file_name, body_start in SOURCE_DOCUMENTS:
        if not citation.startswith(prefix + " "):
            continue
        number = citation.removeprefix(prefix + " ")
        lines = (documents_dir / file_name).read_text(encoding="utf-8").splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(body_start))
        collected: list[str] | None = None
        for line in lines[start:]:
            match = _NUMBERED.match(line)
            if match and collected is not None:
                break
            if match and match.group(1) == number:
                collected = [line.lstrip("# ")]
            elif collected is not None and not line.startswith("# Allgemeine"):
                collected.append(line)
        return "\n".join(collected).strip() if collected else None
    return None


def load_not_encoded(root: Path) -> dict[str, dict[str, str]]:
    """``docs/not-encoded.yaml`` below ``root``, checked against its schema, by clause."""
    entries = read_checked(root / "docs" / "not-encoded.yaml", root, "not-encoded.schema.json")
    return {entry["clause"]: entry for entry in entries}


def coverage(
    catalog: Catalog,
    clauses: list[NumberedClause],
    not_encoded: dict[str, dict[str, str]],
    tests: dict[str, list[str]] | None = None,
) -> tuple[list[CoverageRow], list[str]]:
    """One row per numbered clause, and every inconsistency found (empty when complete)."""
    encoded = {f.citation: f for f in catalog.files}
    cited = {c.citation for c in clauses}
    rows: list[CoverageRow] = []
    problems: list[str] = []
    for clause in clauses:
        terms_file = encoded.get(clause.citation)
        reason = not_encoded.get(clause.citation)
        has_children = any(other.citation.startswith(clause.citation + ".") for other in clauses)
        if terms_file is not None:
            named = tuple((tests or {}).get(clause.citation, ()))
            rows.append(CoverageRow(clause, "encoded", f"`{terms_file.path}`", named))
            if reason is not None:
                problems.append(f"{clause.citation} is encoded and also listed as not encoded")
        elif reason is not None:
            detail = reason["reason"]
            if "covered_by" in reason:
                detail += f" Applied through {reason['covered_by']}."
            rows.append(CoverageRow(clause, "not encoded", detail))
        elif has_children:
            rows.append(CoverageRow(clause, "heading", "Section heading; its clauses follow."))
        else:
            problems.append(
                f"{clause.citation} is neither encoded in the catalog nor listed with a "
                "reason in docs/not-encoded.yaml"
            )
    for citation in not_encoded:
        if citation not in cited:
            problems.append(f"docs/not-encoded.yaml lists {citation}, which no document numbers")
    for citation in tests or {}:
        if citation not in encoded:
            problems.append(f"tests are named after {citation}, which no catalog file encodes")
    return rows, problems


def render_markdown(rows: list[CoverageRow], catalog: Catalog) -> str:
    """The clause table as Markdown."""
    counts = {status: sum(r.status == status for r in rows) for status in ("encoded", "heading")}
    other = [f for f in catalog.files if f.document not in ("agb", "clinq-sd")]
    lines = [
        "# Clause table",
        "",
        "Generated by `billing clauses --write docs/clauses.md` from the source documents, the",
        "catalog and `docs/not-encoded.yaml`; a test fails when it is out of date. Every numbered",
        "clause of the AGB and of the CLINQ service description (CLINQ SD) is listed: the file",
        "that encodes it, or why it is not machine-applicable.",
        "",
        f"{len(rows)} numbered clauses: {counts['encoded']} encoded, {counts['heading']} section",
        f"headings, {len(rows) - counts['encoded'] - counts['heading']} not machine-applicable.",
        "",
        "Scenario tests are named after their clause (`test_agb_4_2_3_...`); the last column",
        "lists them.",
        "",
        "| Clause | Opening words | Status | Encoded in / reason | Tests |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        opening = row.clause.opening.replace("|", "\\|")
        detail = row.detail.replace("|", "\\|")
        tests = "<br>".join(f"`{t}`" for t in row.tests)
        lines.append(f"| {row.clause.citation} | {opening} | {row.status} | {detail} | {tests} |")
    lines += [
        "",
        "## Files that encode no numbered clause",
        "",
        "Statutes the documents rely on, platform decisions where they leave a choice open,",
        "and the price list they refer to without stating it (all its figures are samples).",
        "",
        "| Citation | Title | File |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {f.citation} | {f.title} | `{f.path}` |" for f in other]
    return "\n".join(lines) + "\n"
