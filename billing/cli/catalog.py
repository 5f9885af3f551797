"""``billing validate|conformance|examples``: the catalog's files, checked three ways."""

from __future__ import annotations

import argparse
import json
import sys

from billing.cli.common import catalog_root, parse_day_or_today, resolve_clause
from engine.catalog import Catalog, CatalogInvalid, load_catalog
from engine.catalog.conformance import check, load_comparisons
from engine.catalog.loader import load_files
from engine.drafting.examples import run_examples


def add_commands(commands) -> None:
    """The ``validate``, ``conformance`` and ``examples`` commands, added to ``billing``."""
    validate = commands.add_parser("validate", help="validate every catalog file")
    validate.add_argument("root", nargs="?", help="catalog folder (default: this project)")
    validate.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 also on statute-conformance warnings against the customer that the engine "
        "does not override (mandatory: true applies the statute)",
    )
    validate.add_argument(
        "--quiet",
        action="store_true",
        help="one line for the statute-conformance warnings instead of one per difference "
        "(make run: the server's addresses stay the first thing to read)",
    )
    validate.set_defaults(handler=cmd_validate)

    conformance = commands.add_parser(
        "conformance", help="where clauses differ from the statutes they must satisfy"
    )
    conformance.add_argument(
        "--at",
        type=parse_day_or_today,
        help="date, instant or 'today' (default: the newest terms version of the catalog)",
    )
    conformance.add_argument("--json", action="store_true", help="print JSON")
    conformance.add_argument("--catalog", help="catalog folder")
    conformance.set_defaults(handler=cmd_conformance)
    examples = commands.add_parser(
        "examples", help="run the clause examples (all, or one clause's); exit 1 on a failure"
    )
    examples.add_argument("clause", nargs="?", help='e.g. "AGB 4.2.3" or clinq-premium')
    examples.add_argument("--catalog", help="catalog folder (default: this project)")
    examples.set_defaults(handler=cmd_examples)


def cmd_validate(args: argparse.Namespace) -> int:
    root = catalog_root(args.root)
    if not root.is_dir():
        problem = "does not exist" if not root.exists() else "is not a folder"
        print(f"error: {root} {problem}; give a catalog folder", file=sys.stderr)
        return 2
    result = load_files(root)
    warnings = []
    if not result.errors:
        catalog = Catalog(result.files, root)
        try:
            warnings = check(catalog.at(catalog.editions[-1]), load_comparisons(catalog, root))
        except CatalogInvalid as exc:
            result.errors.extend(exc.errors)
    for error in result.errors:
        print(error)
    if result.errors:
        print(f"FAILED: {len(result.errors)} errors in {result.file_count} files")
        return 1
    print(f"OK: {result.file_count} files")
    if warnings and args.quiet:
        applied = sum(1 for w in warnings if w.applied)
        print(
            f"{len(warnings)} differences from the statutes ({applied} applied as the statute "
            "says; details: billing conformance)"
        )
    elif warnings:
        print(
            f"warnings: {len(warnings)} differences from the statutes in terms version "
            f"{warnings[0].terms_version} (details: billing conformance)"
        )
        for warning in warnings:
            print(f"  {warning}")
    # --strict fails on what nobody resolved: a clause against the customer that the engine
    # does not override with a mandatory statute (rules/conformance.yaml, mandatory: true)
    unresolved = [w for w in warnings if not w.conforms and not w.applied]
    if unresolved and args.strict:
        print(f"strict: {len(unresolved)} differences against the customer are not applied")
    return 1 if unresolved and args.strict else 0


def cmd_conformance(args: argparse.Namespace) -> int:
    catalog = load_catalog(catalog_root(args.catalog))
    comparisons = load_comparisons(catalog)
    day = catalog.local_date(args.at) if args.at is not None else catalog.editions[-1]
    terms = catalog.at(day)
    warnings = check(terms, comparisons)
    if args.json:
        document = {
            "at": day.isoformat(),
            "terms_version": terms.version,
            "comparisons": len(comparisons),
            "warnings": [warning.to_json() for warning in warnings],
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    print(
        f"Terms in force on {day.isoformat()} (terms version {terms.version}): "
        f"{len(warnings)} of {len(comparisons)} comparisons with the statutes differ"
    )
    for warning in warnings:
        lawful = "lawful" if warning.conforms else "the statute prevails"
        engine = (
            f"APPLIED: the engine applies {warning.applied_value}"
            if warning.applied
            else "shown only: the engine applies the clause"
        )
        print(
            f"\n{warning.clause} vs {warning.statute}: favours {warning.favours}, {lawful}; "
            f"{engine}"
        )
        print(
            f"  clause:  {warning.clause_value}"
            + (f" ({warning.parameter})" * bool(warning.parameter))
        )
        print(f"  statute: {warning.statute_value} (since {warning.since})")
        print(f"  {warning.message}")
        print(f"  {warning.explanation}")
        if warning.statute_wording:
            print(f"  wording: {warning.statute_wording} ({warning.statute_source})")
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    catalog = load_catalog(catalog_root(args.catalog))
    citation = resolve_clause(catalog, args.clause) if args.clause else None
    outcomes = run_examples(catalog, citation)
    failed = [o for o in outcomes if not o.passed]
    for outcome in outcomes:
        line = f"{'ok  ' if outcome.passed else 'FAIL'}  {outcome.example.title}"
        print(line + ("" if outcome.passed else f"\n      {outcome.reason}"))
    if not outcomes:
        print(f"no examples{f' for {citation}' if citation else ''}")
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
