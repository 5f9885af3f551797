"""Which numbered clause of the source documents is encoded where, or why it is not.

The clause table (``docs/clauses.md``) is generated from three inputs: the source documents
(every numbered clause), the catalog (which file encodes which citation) and
``docs/not-encoded.yaml`` (why a clause is not machine-applicable). No clause may be missing.
Two more columns lead from a clause to where it is applied: the platform's Python code whose
source cites it (:func:`clause_code`) and the scenario tests named after it
(:func:`clause_tests`).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.catalog.catalog import Catalog
from engine.catalog.loader import PROJECT_ROOT, read_checked

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
    code: tuple[str, ...] = ()  # "engine/x.py::function", or "engine/x.py" for module level


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


# The platform's Python packages whose source is searched for citations, in the order the Code
# column lists them (the engine first).
CODE_PACKAGES = ("engine", "billing", "api", "admin_ui")
# At most this many entries of the Code column per clause, then "and N more".
CODE_LIMIT = 8

_NUMBER = r"\d+(?:\.\d+)*"
# Not followed by another ".digit" or digit: the number is complete (4.2 is not 4.2.3's start).
_COMPLETE = r"(?!\.?\d)"
# A citation as the code writes it: document prefix and number, optionally a range ("8.1-8.6").
_CITATION = re.compile(
    rf"(?<![\w.])(AGB|CLINQ SD) ({_NUMBER}){_COMPLETE}(?:\s*[-–]\s*({_NUMBER}){_COMPLETE})?"
)
# A list continuing a citation: ", 4.2.2", " or 8.6", " / 8.6", ", 4.5.1-4.5.4". A number
# followed by a unit or a word (", 12 months", ", 9.80 EUR") is not a clause.
_CONTINUATION = re.compile(
    rf"\s*(?:,|/|&|\b(?:and|or|und|oder)\b)\s*({_NUMBER}){_COMPLETE}"
    rf"(?:\s*[-–]\s*({_NUMBER}){_COMPLETE})?"
    r"(?!\s*(?:%|€|(?!(?:and|or|und|oder)\b)[^\W\d_]))"
)
# An example of how to cite, not a citation: right after "e.g." / "for example" / "like".
_EXAMPLE_BEFORE = re.compile(r"(?:\be\.g\.|\bfor example|\blike)\s*[\"'`]?$")
_INLINE_LITERAL = re.compile(r"``.*?``|`[^`\n]*`")


def _expand(first: str, last: str | None) -> list[str]:
    """The numbers of a citation or range: ``("8.4", "8.6")`` is 8.4, 8.5 and 8.6."""
    if last is None:
        return [first]
    start, end = first.split("."), last.split(".")
    if len(end) < len(start):  # "4.5.1-4" means 4.5.1 to 4.5.4
        end = start[: len(start) - len(end)] + end
    if start[:-1] != end[:-1] or not 0 <= int(end[-1]) - int(start[-1]) <= 50:
        return [first, last]
    parent = ".".join(start[:-1])
    return [f"{parent}.{n}" if parent else str(n) for n in range(int(start[-1]), int(end[-1]) + 1)]


def cited_clauses(text: str) -> Iterator[tuple[int, str]]:
    """Every clause ``text`` cites, as (offset of the citation, citation).

    The number must be complete: a citation of 4.2.3 is not one of 4.2. Lists and ranges after
    the prefix cite each clause (``AGB 8.1, 8.4-8.6`` cites 8.1, 8.4, 8.5 and 8.6). Examples are
    skipped: a citation inside an inline literal (between backticks) or right after "e.g.",
    "for example" or "like" (``cite like 'AGB 4.2.3'``).
    """
    for match in _CITATION.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.start())
        line = text[line_start : len(text) if line_end < 0 else line_end]
        column = match.start() - line_start
        if _EXAMPLE_BEFORE.search(line[:column]) or any(
            literal.start() < column < literal.end() for literal in _INLINE_LITERAL.finditer(line)
        ):
            continue
        prefix, first, last = match.groups()
        numbers = _expand(first, last)
        position = match.end()
        while continued := _CONTINUATION.match(text, position):
            numbers += _expand(*continued.groups())
            position = continued.end()
        for number in dict.fromkeys(numbers):
            yield match.start(), f"{prefix} {number}"


def _scopes(tree: ast.Module) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function and class, decorators included."""
    scopes: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, outer: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{outer}.{child.name}" if outer else child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                scopes.append((first, child.end_lineno or child.lineno, name))
                visit(child, name)
            elif not isinstance(child, ast.expr):  # an expression holds no function or class
                visit(child, outer)

    visit(tree, "")
    return scopes


def _enclosing(scopes: list[tuple[int, int, str]], line: int) -> str:
    """The qualified name of the innermost function or class around ``line``; "" at module level."""
    around = [scope for scope in scopes if scope[0] <= line <= scope[1]]
    return max(around, key=lambda scope: (scope[0], -scope[1]))[2] if around else ""


def clause_code(root: Path, packages: Sequence[str] = CODE_PACKAGES) -> dict[str, list[str]]:
    """The functions, classes and modules whose source cites a clause, by citation.

    Every ``*.py`` below ``root/<package>`` is searched, strings, docstrings and comments alike
    (:func:`cited_clauses`). An occurrence belongs to its innermost enclosing function or class
    (``engine/x.py::Class.method``), at module level to the module (``engine/x.py``). Each clause
    lists every place once: by package in the order of ``packages``, then by path and name; no
    line numbers, since code moves.
    """
    found: dict[str, set[tuple[int, str, str]]] = {}
    for rank, package in enumerate(packages):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            text = path.read_text(encoding="utf-8")
            citations = list(cited_clauses(text))
            if not citations:
                continue
            try:
                scopes = _scopes(ast.parse(text, relative))
            except SyntaxError:
                scopes = []  # unparsable (being edited): every citation belongs to the module
            line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
            for offset, citation in citations:
                line = bisect.bisect_right(line_starts, offset)
                found.setdefault(citation, set()).add((rank, relative, _enclosing(scopes, line)))
    return {
        citation: [f"{path}::{name}" if name else path for _rank, path, name in sorted(places)]
        for citation, places in sorted(found.items())
    }


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
    code: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[CoverageRow], list[str]]:
    """One row per numbered clause, and every inconsistency found (empty when complete).

    ``code`` is :func:`clause_code` by citation; by default that of the platform the catalog
    belongs to: the catalog's root when it holds the engine, else this project (a folder with
    the catalog only is applied by this project's code).
    """
    if code is None:
        root = catalog.root
        code = clause_code(root if root and (root / CODE_PACKAGES[0]).is_dir() else PROJECT_ROOT)
    encoded = {f.citation: f for f in catalog.files}
    cited = {c.citation for c in clauses}
    rows: list[CoverageRow] = []
    problems: list[str] = []
    for clause in clauses:
        terms_file = encoded.get(clause.citation)
        reason = not_encoded.get(clause.citation)
        has_children = any(other.citation.startswith(clause.citation + ".") for other in clauses)
        places = tuple(code.get(clause.citation, ()))
        if terms_file is not None:
            named = tuple((tests or {}).get(clause.citation, ()))
            rows.append(CoverageRow(clause, "encoded", f"`{terms_file.path}`", named, places))
            if reason is not None:
                problems.append(f"{clause.citation} is encoded and also listed as not encoded")
        elif reason is not None:
            detail = reason["reason"]
            if "covered_by" in reason:
                detail += f" Applied through {reason['covered_by']}."
            rows.append(CoverageRow(clause, "not encoded", detail, code=places))
        elif has_children:
            heading = "Section heading; its clauses follow."
            rows.append(CoverageRow(clause, "heading", heading, code=places))
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
        "The Code column lists the functions, classes and modules of the platform's Python",
        f"code ({', '.join(f'`{p}/`' for p in CODE_PACKAGES)}, in that order, then by path and",
        "name) whose source cites the clause in a string, docstring or comment, each once: an",
        "occurrence belongs to its innermost enclosing function or class, at module level to the",
        "module. A citation must be complete (`AGB 4.2` does not match `AGB 4.2.3`); a list",
        "or range cites each clause (`AGB 8.1, 8.4-8.6`); an example (between backticks, or",
        'right after "e.g." or "like") cites nothing. No line numbers, since code moves. More',
        f'than {CODE_LIMIT} places are cut to the first {CODE_LIMIT} and "and N more".',
        "",
        "Scenario tests are named after their clause (`test_agb_4_2_3_...`); the last column",
        "lists them.",
        "",
        "| Clause | Opening words | Status | Encoded in / reason | Code | Tests |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        opening = row.clause.opening.replace("|", "\\|")
        detail = row.detail.replace("|", "\\|")
        places = [f"`{place}`" for place in row.code[:CODE_LIMIT]]
        if len(row.code) > CODE_LIMIT:
            places.append(f"and {len(row.code) - CODE_LIMIT} more")
        code = "<br>".join(places)
        tests = "<br>".join(f"`{t}`" for t in row.tests)
        lines.append(
            f"| {row.clause.citation} | {opening} | {row.status} | {detail} | {code} | {tests} |"
        )
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
