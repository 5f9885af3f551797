"""The ``billing`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from engine.catalog import PROJECT_ROOT, Catalog, CatalogInvalid, NotInForce, load_catalog
from engine.catalog.coverage import coverage, load_not_encoded, numbered_clauses, render_markdown
from engine.catalog.loader import load_files
from engine.catalog.values import Period, format_value


def catalog_root(value: str | None) -> Path:
    """The catalog folder: the argument, else $BILLING_CATALOG, else this project."""
    return Path(value or os.environ.get("BILLING_CATALOG") or PROJECT_ROOT)


def parse_instant(text: str) -> date | datetime:
    """A date (YYYY-MM-DD, Europe/Berlin) or an RFC 3339 instant with offset."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or an instant with offset"
        ) from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +01:00 or Z")
    return instant


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CatalogInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"FAILED: {len(exc.errors)} errors", file=sys.stderr)
        return 1
    except NotInForce as exc:
        at = getattr(args, "at", None)
        print(f"error: {exc}" + (f" (asked for {at.isoformat()})" if at else ""), file=sys.stderr)
        return 2
    except BrokenPipeError:
        sys.stderr.close()
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="billing", description="CLINQ billing platform: terms catalog and engine."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="validate every catalog file")
    validate.add_argument("root", nargs="?", help="catalog folder (default: this project)")
    validate.set_defaults(handler=cmd_validate)

    terms = commands.add_parser("terms", help="show the terms in force")
    terms_commands = terms.add_subparsers(dest="terms_command", required=True, metavar="ACTION")
    show = terms_commands.add_parser("show", help="one clause's parameters in force at a date")
    show.add_argument("clause", help='a citation, e.g. "AGB 4.2.3", or a plan id, e.g. clinq')
    show.add_argument("--at", required=True, type=parse_instant, help="date or instant")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--catalog", help="catalog folder")
    show.set_defaults(handler=cmd_terms_show)
    listing = terms_commands.add_parser("list", help="every file's version in force at a date")
    listing.add_argument("--at", required=True, type=parse_instant, help="date or instant")
    listing.add_argument("--catalog", help="catalog folder")
    listing.set_defaults(handler=cmd_terms_list)
    history = terms_commands.add_parser("history", help="every version of one clause")
    history.add_argument("clause", help='a citation, e.g. "AGB 4.2.3"')
    history.add_argument("--catalog", help="catalog folder")
    history.set_defaults(handler=cmd_terms_history)

    clauses = commands.add_parser("clauses", help="the clause table of both documents")
    target = clauses.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="FILE", help="write the table to FILE")
    target.add_argument("--check", metavar="FILE", help="fail if FILE is not up to date")
    clauses.add_argument("--catalog", help="catalog folder")
    clauses.set_defaults(handler=cmd_clauses)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    result = load_files(catalog_root(args.root))
    for error in result.errors:
        print(error)
    if result.errors:
        print(f"FAILED: {len(result.errors)} errors in {result.file_count} files")
        return 1
    print(f"OK: {result.file_count} files")
    return 0


def _resolve(catalog: Catalog, name: str) -> str:
    return catalog.plan_citation(name) if name in catalog.plans else name


def _jsonable(value):
    if isinstance(value, Period):
        return value.to_yaml()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def cmd_terms_show(args: argparse.Namespace) -> int:
    catalog = load_catalog(catalog_root(args.catalog))
    terms = catalog.at(args.at)
    in_force = terms.clause(_resolve(catalog, args.clause))
    terms_file = in_force.file
    if args.json:
        document = {
            "clause": in_force.citation,
            "title": terms_file.title,
            "file": terms_file.path,
            "terms_version": terms.version,
            "effective_from": in_force.effective_from.isoformat(),
            "parameters": {
                name: {
                    "type": spec.type,
                    "value": _jsonable(in_force[name]),
                    "source": in_force.source(name),
                    "disadvantage": spec.disadvantage,
                    "description": spec.description,
                }
                for name, spec in terms_file.parameters.items()
            },
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    print(f"{in_force.citation}: {terms_file.title}")
    print(f"  file: {terms_file.path}")
    print(
        f"  in force on {catalog.local_date(args.at).isoformat()}: version of "
        f"{in_force.effective_from.isoformat()} (terms version {terms.version})"
    )
    width = max(map(len, terms_file.parameters))
    for name, spec in terms_file.parameters.items():
        value = format_value(spec.type, in_force[name])
        source = in_force.source(name)
        marker = f"  [{source}]" if source != "contract" else ""
        rule = f" ({spec.deadline_rule}, shift {spec.shift})" if spec.type == "period" else ""
        print(f"  {name:<{width}}  {value}{rule}{marker}")
        print(f"  {'':<{width}}  {spec.description}")
    return 0


def cmd_terms_list(args: argparse.Namespace) -> int:
    catalog = load_catalog(catalog_root(args.catalog))
    terms = catalog.at(args.at)
    day = catalog.local_date(args.at).isoformat()
    print(f"Terms in force on {day}: terms version {terms.version}")
    for in_force in terms.in_force():
        samples = [n for n in in_force.file.parameters if in_force.source(n) == "sample"]
        note = f"  ({len(samples)} sample values)" if samples else ""
        print(
            f"  {in_force.citation:<26} since {in_force.effective_from.isoformat()}  "
            f"{in_force.file.title}{note}"
        )
    return 0


def cmd_terms_history(args: argparse.Namespace) -> int:
    catalog = load_catalog(catalog_root(args.catalog))
    terms_file = catalog.file(_resolve(catalog, args.clause))
    print(f"{terms_file.citation}: {terms_file.title} ({terms_file.path})")
    for version in terms_file.versions:
        print(
            f"  from {version.effective_from.isoformat()}"
            + (f": {version.note}" if version.note else "")
        )
        for name, parameter_value in version.values.items():
            spec = terms_file.parameters[name]
            print(f"    {name} = {format_value(spec.type, parameter_value.value)}")
    return 0


def cmd_clauses(args: argparse.Namespace) -> int:
    root = catalog_root(args.catalog)
    catalog = load_catalog(root)
    rows, problems = coverage(
        catalog,
        numbered_clauses(root / "docs" / "source-documents"),
        load_not_encoded(root),
    )
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    table = render_markdown(rows, catalog)
    if args.write:
        Path(args.write).write_text(table, encoding="utf-8")
        print(f"wrote {args.write}: {len(rows)} clauses")
    elif args.check:
        current = Path(args.check).read_text(encoding="utf-8") if Path(args.check).exists() else ""
        if current != table:
            print(f"{args.check} is out of date: run `make clauses`", file=sys.stderr)
            return 1
        print(f"OK: {args.check} lists all {len(rows)} clauses")
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
