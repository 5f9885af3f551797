# PYTHON_ARGCOMPLETE_OK
"""The ``billing`` command line.

Shell completion (bash, zsh) comes from argcomplete: ``eval "$(register-python-argcomplete
billing)"``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from engine.catalog import PROJECT_ROOT, Catalog, CatalogInvalid, NotInForce, load_catalog
from engine.catalog.coverage import (
    clause_tests,
    coverage,
    load_not_encoded,
    numbered_clauses,
    render_markdown,
)
from engine.catalog.loader import load_files
from engine.catalog.values import format_value, value_to_json
from engine.core.money import from_cents
from engine.engine import Engine


def catalog_root(value: str | None) -> Path:
    """The catalog folder: the argument, else $BILLING_CATALOG, else this project."""
    return Path(value or os.environ.get("BILLING_CATALOG") or PROJECT_ROOT)


DB_HELP = (
    "database whose publications belong to the terms "
    "(default: $DATABASE_URL or var/billing.sqlite, if it exists)"
)


def terms_of(args: argparse.Namespace) -> Catalog:
    """The catalog every reader sees: the files plus every publication in the database."""
    from engine.drafting.publishing import terms_catalog
    from engine.ledger.store import Store

    root = catalog_root(getattr(args, "catalog", None))
    url = getattr(args, "db", None) or os.environ.get("DATABASE_URL")
    if url is None:
        default = PROJECT_ROOT / "var" / "billing.sqlite"
        if not default.exists():
            return load_catalog(root)  # no database yet, so nothing is published
        url = f"sqlite:///{default}"
    with Store(url) as store, store.db.connect() as connection:
        return terms_catalog(connection, root)


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
    import argcomplete

    argcomplete.autocomplete(parser)  # answers the shell's completion request, else nothing
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
    parser.add_argument("--version", action="version", version=f"billing {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="validate every catalog file")
    validate.add_argument("root", nargs="?", help="catalog folder (default: this project)")
    validate.add_argument(
        "--strict", action="store_true", help="exit 1 also on statute-conformance warnings"
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

    terms = commands.add_parser("terms", help="show the terms in force")
    terms_commands = terms.add_subparsers(dest="terms_command", required=True, metavar="ACTION")
    show = terms_commands.add_parser("show", help="one clause's parameters in force at a date")
    show.add_argument("clause", help='a citation, e.g. "AGB 4.2.3", or a plan id, e.g. clinq')
    show.add_argument(
        "--at", type=parse_instant, help="date or instant (default: now, the computer's clock)"
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--catalog", help="catalog folder")
    show.add_argument("--db", help=DB_HELP)
    show.set_defaults(handler=cmd_terms_show)
    listing = terms_commands.add_parser("list", help="every file's version in force at a date")
    listing.add_argument("--at", required=True, type=parse_instant, help="date or instant")
    listing.add_argument("--catalog", help="catalog folder")
    listing.add_argument("--db", help=DB_HELP)
    listing.set_defaults(handler=cmd_terms_list)
    export = terms_commands.add_parser(
        "export", help="write drafts (and publications) as catalog files for review in git"
    )
    export.add_argument("--out", default="exports", help="folder to write into (default: exports)")
    export.add_argument("--db", help="database URL")
    export.add_argument("--published", action="store_true", help="also the published versions")
    export.add_argument(
        "--in-place",
        action="store_true",
        help="write the publications not yet in the catalog's files into those files "
        "(for git); drafts never go there",
    )
    export.add_argument("--catalog", help="catalog folder")
    export.set_defaults(handler=cmd_terms_export)
    history = terms_commands.add_parser("history", help="every version of one clause")
    history.add_argument("clause", help='a citation, e.g. "AGB 4.2.3"')
    history.add_argument("--catalog", help="catalog folder")
    history.add_argument("--db", help=DB_HELP)
    history.set_defaults(handler=cmd_terms_history)
    impact = terms_commands.add_parser(
        "impact",
        help="replay a period under the terms in force and under a draft, side by side "
        "(nothing is written)",
    )
    impact.add_argument(
        "draft",
        metavar="DRAFT_FILE",
        type=Path,
        help="a catalog file whose last version is the draft (as 'terms export' writes it), "
        "or one version's YAML with --file",
    )
    impact.add_argument("--file", help="the catalog file the draft belongs to")
    impact.add_argument(
        "--from",
        dest="first",
        metavar="DATE",
        type=date.fromisoformat,
        help="first day (YYYY-MM-DD; default: the last complete month of the stored events)",
    )
    impact.add_argument(
        "--to", dest="last", metavar="DATE", type=date.fromisoformat, help="last day (inclusive)"
    )
    impact.add_argument("--json", action="store_true", help="print JSON")
    impact.add_argument("--catalog", help="catalog folder")
    impact.add_argument("--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)")
    impact.set_defaults(handler=cmd_terms_impact)

    clauses = commands.add_parser("clauses", help="the clause table of both documents")
    target = clauses.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="FILE", help="write the table to FILE")
    target.add_argument("--check", metavar="FILE", help="fail if FILE is not up to date")
    clauses.add_argument("--catalog", help="catalog folder")
    clauses.add_argument("--db", help=DB_HELP)
    clauses.set_defaults(handler=cmd_clauses)

    replay = commands.add_parser("replay", help="apply the events of a JSON Lines file in order")
    replay.add_argument("file", help="one event per line (- for standard input)")
    replay.add_argument("--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)")
    replay.add_argument("--batch", type=int, default=2000, help="events per transaction")
    replay.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes applying the file on one PostgreSQL, accounts split by a stable hash "
        "(docs/scaling.md); SQLite takes only 1",
    )
    replay.set_defaults(handler=cmd_replay)

    account = commands.add_parser("account", help="show an account")
    account_commands = account.add_subparsers(dest="account_command", required=True)
    show_account = account_commands.add_parser(
        "show", help="plan, balance, free minutes, deadlines"
    )
    show_account.add_argument("id")
    show_account.add_argument("--json", action="store_true", help="print JSON")
    show_account.add_argument(
        "--at", type=parse_instant, help="month for the free minutes (default: latest event)"
    )
    show_account.add_argument("--db", help="database URL")
    show_account.set_defaults(handler=cmd_account_show)

    demo = commands.add_parser("demo", help="write a generated month of events as JSON Lines")
    demo.add_argument("--month", default="2026-11", help="YYYY-MM")
    demo.add_argument("--accounts", type=int, default=100)
    demo.add_argument("--calls", type=int, default=10_000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--format",
        choices=("jsonl", "batch"),
        default="jsonl",
        help="jsonl: one event a line (billing replay); "
        'batch: {"events": [...]} for POST /api/v1/events',
    )
    demo.set_defaults(handler=cmd_demo)

    liability = commands.add_parser("liability", help="cap the claims of one damaging event")
    liability.add_argument("claims", help="CSV file: customer,claim (EUR, e.g. 20000.00)")
    liability.add_argument("--at", required=True, type=parse_instant, help="date of the event")
    liability.add_argument(
        "--intent", action="store_true", help="the damage was caused intentionally"
    )
    liability.add_argument("--db", help=DB_HELP)
    liability.set_defaults(handler=cmd_liability)

    availability = commands.add_parser("availability", help="yearly availability from outages")
    availability.add_argument("--year", type=int, required=True)
    availability.add_argument("--db", help="database URL")
    availability.set_defaults(handler=cmd_availability)

    serve = commands.add_parser(
        "serve", help="run the API with gunicorn (demo data on first start)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)")
    serve.add_argument("--no-demo", action="store_true", help="do not load demo data")
    serve.add_argument(
        "--no-webhooks",
        action="store_true",
        help="do not start the webhook delivery loop (run billing webhooks deliver elsewhere)",
    )
    serve.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default="gunicorn",
        help="the HTTP server (granian: about 1 ms less CPU per request, benchmarks/README.md)",
    )
    serve.set_defaults(handler=cmd_serve)

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("name")
    create.add_argument("--role", required=True, help="billing-service, reader or finance")
    create.add_argument("--db", help="database URL")
    create.set_defaults(handler=cmd_token_create)
    revoke = token_commands.add_parser("revoke", help="revoke a token")
    revoke.add_argument("name")
    revoke.add_argument("--db", help="database URL")
    revoke.set_defaults(handler=cmd_token_revoke)
    tokens = token_commands.add_parser("list", help="list tokens (never their secrets)")
    tokens.add_argument("--db", help="database URL")
    tokens.set_defaults(handler=cmd_token_list)

    user = commands.add_parser("user", help="people who use the admin UI")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create_user = user_commands.add_parser(
        "create", help="create a person; password prompted (or one line of stdin)"
    )
    create_user.add_argument("email")
    create_user.add_argument("--role", required=True, help="product, legal or viewer")
    create_user.add_argument("--db", help="database URL")
    create_user.set_defaults(handler=cmd_user_create)
    people = user_commands.add_parser("list", help="everyone, with role and state")
    people.add_argument("--db", help="database URL")
    people.set_defaults(handler=cmd_user_list)
    for action, text in (
        ("disable", "refuse logins and end every session of the person"),
        ("enable", "allow logins again"),
        ("set-password", "a new password (prompted, or one line of stdin); ends the sessions"),
    ):
        change = user_commands.add_parser(action, help=text)
        change.add_argument("email")
        change.add_argument("--db", help="database URL")
        change.set_defaults(handler=cmd_user_change, user_action=action)
    set_role = user_commands.add_parser("set-role", help="a new role; ends the sessions")
    set_role.add_argument("email")
    set_role.add_argument("role", help="product, legal or viewer")
    set_role.add_argument("--db", help="database URL")
    set_role.set_defaults(handler=cmd_user_change, user_action="set-role")

    invoices = commands.add_parser("invoices", help="monthly invoices")
    invoice_commands = invoices.add_subparsers(dest="invoices_command", required=True)
    run = invoice_commands.add_parser("run", help="issue the invoices of a month (idempotent)")
    run.add_argument("--month", required=True, help="YYYY-MM")
    run.add_argument("--db", help="database URL")
    run.set_defaults(handler=cmd_invoices_run)
    pdf = invoice_commands.add_parser("pdf", help="write one invoice as PDF")
    pdf.add_argument("number")
    pdf.add_argument("--out", help="file to write (default: Rechnung-NUMBER.pdf)")
    pdf.add_argument("--db", help="database URL")
    pdf.set_defaults(handler=cmd_invoices_pdf)
    xml = invoice_commands.add_parser(
        "xml", help="write one invoice as a structured e-invoice (EN 16931, XRechnung 3.0)"
    )
    xml.add_argument("number")
    xml.add_argument(
        "--format",
        default="xrechnung-cii",
        choices=["xrechnung-cii", "xrechnung-ubl", "factur-x"],
        help="xrechnung-cii (XRechnung 3.0, UN/CEFACT CII; default), xrechnung-ubl (XRechnung "
        "3.0, UBL 2.1) or factur-x (the XML a ZUGFeRD / Factur-X EN 16931 PDF embeds)",
    )
    xml.add_argument("--out", help="file to write (default: Rechnung-NUMBER.xrechnung.xml)")
    xml.add_argument("--db", help="database URL")
    xml.set_defaults(handler=cmd_invoices_xml)

    zm = commands.add_parser("zm", help="EU sales list (Zusammenfassende Meldung, § 18a UStG)")
    zm_commands = zm.add_subparsers(dest="zm_command", required=True)
    zm_export = zm_commands.add_parser(
        "export", help="write a quarter's reverse-charge services per VAT id as ELSTER CSV"
    )
    zm_export.add_argument("--quarter", required=True, help="YYYY-Qn, e.g. 2026-Q4")
    zm_export.add_argument("--out", help="file to write (default: stdout)")
    zm_export.add_argument("--db", help="database URL")
    zm_export.set_defaults(handler=cmd_zm_export)

    sepa = commands.add_parser("sepa", help="SEPA direct debits")
    sepa_commands = sepa.add_subparsers(dest="sepa_command", required=True)
    sepa_export = sepa_commands.add_parser(
        "export", help="write the pain.008 file of a collection date (exactly once)"
    )
    sepa_export.add_argument("--collection-date", required=True, help="YYYY-MM-DD")
    sepa_export.add_argument("--scheme", default="CORE", help="CORE (default) or B2B")
    sepa_export.add_argument(
        "--created-at",
        help="the file's creation instant (default: the start of the last submission day)",
    )
    sepa_export.add_argument("--out", help="file to write (default: stdout)")
    sepa_export.add_argument("--db", help="database URL")
    sepa_export.set_defaults(handler=cmd_sepa_export)
    sepa_import = sepa_commands.add_parser(
        "import",
        help="apply the returns and rejects of a bank file (camt.054 or pain.002), once",
    )
    sepa_import.add_argument("file", help="the camt.054 or pain.002 XML file from the bank")
    sepa_import.add_argument("--db", help="database URL")
    sepa_import.add_argument("--json", action="store_true", help="print the report as JSON")
    sepa_import.set_defaults(handler=cmd_sepa_import)

    datev = commands.add_parser("datev", help="bookings for the accountant (DATEV)")
    datev_commands = datev.add_subparsers(dest="datev_command", required=True)
    datev_export = datev_commands.add_parser(
        "export", help="the month's DATEV Buchungsstapel (EXTF 700, format version 13)"
    )
    datev_export.add_argument("--month", required=True, help="YYYY-MM")
    datev_export.add_argument(
        "--created-at", help="the header's creation instant (default: the start of next month)"
    )
    datev_export.add_argument("--out", help="file to write (default: stdout)")
    datev_export.add_argument("--db", help="database URL")
    datev_export.set_defaults(handler=cmd_datev_export)

    outbox_parser = commands.add_parser("outbox", help="notifications to customers")
    outbox_commands = outbox_parser.add_subparsers(dest="outbox_command", required=True)
    send = outbox_commands.add_parser("send", help="send queued notifications by SMTP")
    send.add_argument("--db", help="database URL")
    send.set_defaults(handler=cmd_outbox_send)

    audit_parser = commands.add_parser("audit", help="the audit log")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check the audit log's hash chain")
    verify.add_argument("--db", help="database URL")
    verify.add_argument(
        "--checkpoint", metavar="FILE", help="also compare with a checkpoint (finds truncation)"
    )
    verify.set_defaults(handler=cmd_audit_verify)
    checkpoint = audit_commands.add_parser(
        "checkpoint", help="write the log's head (count, last hash; HMAC-signed) for safekeeping"
    )
    checkpoint.add_argument("--out", metavar="FILE", help="file to write (default: stdout)")
    checkpoint.add_argument("--db", help="database URL")
    checkpoint.set_defaults(handler=cmd_audit_checkpoint)

    from billing.cli.webhooks import add_commands as add_webhook_commands

    add_webhook_commands(commands)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the Alembic migrations")
    upgrade.add_argument("--db", help="database URL")
    upgrade.set_defaults(handler=cmd_db_upgrade)

    from billing.cli.credit_notes import add_commands as add_credit_note_commands

    add_credit_note_commands(commands)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    root = catalog_root(args.root)
    if not root.is_dir():
        problem = "does not exist" if not root.exists() else "is not a folder"
        print(f"error: {root} {problem}; give a catalog folder", file=sys.stderr)
        return 2
    result = load_files(root)
    warnings = []
    if not result.errors:
        from engine.catalog.conformance import check, load_comparisons

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
    if warnings:
        print(
            f"warnings: {len(warnings)} differences from the statutes in terms version "
            f"{warnings[0].terms_version} (details: billing conformance)"
        )
        for warning in warnings:
            print(f"  {warning}")
    return 1 if warnings and args.strict else 0


def parse_day_or_today(text: str) -> date | datetime:
    """A date or instant as for --at elsewhere, or ``today`` (the clock, read here only)."""
    return now_for_query() if text == "today" else parse_instant(text)


def cmd_conformance(args: argparse.Namespace) -> int:
    from engine.catalog.conformance import check, load_comparisons

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
        print(f"\n{warning.clause} vs {warning.statute}: favours {warning.favours}, {lawful}")
        print(
            f"  clause:  {warning.clause_value}"
            + (f" ({warning.parameter})" * bool(warning.parameter))
        )
        print(f"  statute: {warning.statute_value} (since {warning.since})")
        print(f"  {warning.message}")
        print(f"  {warning.explanation}")
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    from engine.drafting.examples import run_examples

    catalog = load_catalog(catalog_root(args.catalog))
    citation = _resolve(catalog, args.clause) if args.clause else None
    outcomes = run_examples(catalog, citation)
    failed = [o for o in outcomes if not o.passed]
    for outcome in outcomes:
        line = f"{'ok  ' if outcome.passed else 'FAIL'}  {outcome.example.title}"
        print(line + ("" if outcome.passed else f"\n      {outcome.reason}"))
    if not outcomes:
        print(f"no examples{f' for {citation}' if citation else ''}")
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _resolve(catalog: Catalog, name: str) -> str:
    return catalog.plan_citation(name) if name in catalog.plans else name


def package_version() -> str:
    """The installed package's version (pyproject.toml), as ``billing --version`` prints it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clinq-billing")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def now_for_query() -> datetime:
    """Now, for a person's question without ``--at`` (``billing terms show``) or ``--at today``.

    The one place the command line reads the wall clock: a default for a human's query, never
    an input of a computation (those take the instant of their event).
    """
    return datetime.now(UTC)


def cmd_terms_show(args: argparse.Namespace) -> int:
    catalog = terms_of(args)
    if args.at is None:
        args.at = now_for_query()
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
            "origin": in_force.version.origin,
            "parameters": {
                name: {
                    "type": spec.type,
                    "value": value_to_json(spec.type, in_force[name]),
                    "source": in_force.source(name),
                    "disadvantage": spec.disadvantage,
                    "description": spec.description,
                    "label_de": spec.label_de,
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
    if in_force.version.origin != "file":
        print(f"  published: {in_force.version.origin}")
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
    catalog = terms_of(args)
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
    catalog = terms_of(args)
    terms_file = catalog.file(_resolve(catalog, args.clause))
    print(f"{terms_file.citation}: {terms_file.title} ({terms_file.path})")
    for version in terms_file.versions:
        origin = f" ({version.origin})" if version.origin != "file" else ""
        print(
            f"  from {version.effective_from.isoformat()}{origin}"
            + (f": {version.note}" if version.note else "")
        )
        for name, parameter_value in version.values.items():
            spec = terms_file.parameters[name]
            print(f"    {name} = {format_value(spec.type, parameter_value.value)}")
    return 0


def cmd_terms_impact(args: argparse.Namespace) -> int:
    """``billing terms impact``: see engine/drafting/impact.py; reads the database, writes nothing."""
    from engine.drafting.impact import (
        ImpactRefused,
        Period,
        default_period,
        describe,
        draft_from_file,
        draft_impact,
    )
    from engine.drafting.publishing import terms_catalog
    from engine.ledger.store import Store

    root = catalog_root(args.catalog)
    try:
        with Store(args.db) as store, store.db.connect() as connection:
            catalog = terms_catalog(connection, root)
            file, text = draft_from_file(args.draft, catalog, args.file)
            if args.first is None and args.last is None:
                period = default_period(connection, catalog)
                if period is None:
                    raise ImpactRefused("the database holds no events: give --from and --to")
            elif args.first is None or args.last is None:
                raise ImpactRefused("give both --from and --to (or neither)")
            else:
                period = Period(args.first, args.last)
            impact = draft_impact(connection, root, file, text, period)
    except (ImpactRefused, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(impact.to_json(), indent=2, ensure_ascii=False))
    else:
        print(describe(impact))
    return 0


def cmd_clauses(args: argparse.Namespace) -> int:
    root = catalog_root(args.catalog)
    catalog = terms_of(args)
    rows, problems = coverage(
        catalog,
        numbered_clauses(root / "docs" / "source-documents"),
        load_not_encoded(root),
        clause_tests(root / "tests"),
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


def cmd_replay(args: argparse.Namespace) -> int:
    from billing.replay import replay

    if args.workers != 1:
        return _replay_with_workers(args)
    engine = Engine(args.db)
    try:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
        with stream:
            summary = replay(engine, stream, sys.stdout, batch_size=args.batch)
    finally:
        engine.close()
    print(summary.describe(), file=sys.stderr)
    return 1 if summary.invalid or summary.conflict else 0


def _replay_with_workers(args: argparse.Namespace) -> int:
    """``billing replay --workers N`` (billing/replay_workers.py)."""
    from billing.replay_workers import WorkersNeedPostgres, check_database, replay_parallel
    from engine.ledger.store import Store, default_database_url

    url = args.db or default_database_url()
    try:
        check_database(url, args.workers)
    except (WorkersNeedPostgres, ValueError) as exc:
        print(f"billing replay: {exc}", file=sys.stderr)
        return 2
    Store(url).close()  # create and migrate once, before the workers start
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    with stream:
        summary = replay_parallel(
            url, stream, sys.stdout, workers=args.workers, batch_size=args.batch
        )
    print(summary.describe(), file=sys.stderr)
    return 1 if summary.invalid or summary.conflict else 0


def cmd_account_show(args: argparse.Namespace) -> int:
    engine = Engine(args.db)
    try:
        at = args.at if isinstance(args.at, datetime) or args.at is None else None
        if args.at is not None and at is None:
            at = datetime.combine(args.at, datetime.min.time()).replace(tzinfo=UTC)
        account = engine.account(args.id, at)
    finally:
        engine.close()
    if account is None:
        print(f"error: no account {args.id!r}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(account, ensure_ascii=False, indent=2))
        return 0
    print(f"{account['id']}: {account['plan']}, {account['customer_type']}, {account['status']}")
    print(f"  billing method  {account['billing_method']}")
    print(f"  balance         {account['balance']} EUR")
    free = account["free_minutes_left"]
    print(f"  free minutes    {free['minutes']} left in {free['month']}")
    print(f"  users           {', '.join(account['users']) or '-'}")
    for deadline in account["deadlines"]:
        print(f"  due {deadline['date']}  {deadline['kind']} ({deadline['clause']})")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from engine.ledger.store import Store

    with Store(args.db) as store:
        print(f"database at the newest schema: {store.url}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from billing.demo import month_of_events

    events = month_of_events(args.month, args.accounts, args.calls, args.seed)
    if args.format == "batch":
        batch = list(events)
        if len(batch) > 10_000:
            print(f"error: {len(batch)} events; a batch holds at most 10,000", file=sys.stderr)
            return 2
        sys.stdout.write(json.dumps({"events": batch}, separators=(",", ":")) + "\n")
        return 0
    for event in events:
        sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    return 0


def cmd_liability(args: argparse.Namespace) -> int:
    """AGB 6.1: 12,500 EUR per customer, 10 million EUR per event, proportional reduction."""
    import csv

    from engine.contract.liability import cap_claims
    from engine.core.money import format_amount, parse_amount

    claims = {}
    with open(args.claims, encoding="utf-8", newline="") as source:
        for number, row in enumerate(csv.reader(source), start=1):
            if not row or row[0].strip().lower() == "customer":
                continue
            try:
                claims[row[0].strip()] = parse_amount(row[1].strip())
            except (IndexError, ValueError) as exc:
                print(f"error: {args.claims}:{number}: {exc}", file=sys.stderr)
                return 1
    catalog = terms_of(args)
    paid = cap_claims(claims, catalog.at(args.at), intentional=args.intent)
    print("customer,claim,paid")
    for name, claim in claims.items():
        print(f"{name},{format_amount(claim)},{format_amount(paid[name])}")
    total = sum(paid.values())
    print(f"total,{format_amount(sum(claims.values()))},{format_amount(total)}", file=sys.stderr)
    return 0


def cmd_availability(args: argparse.Namespace) -> int:
    """CLINQ SD 2.3: the year's average availability, maintenance excluded, against 99 %."""
    from engine.contract.availability import availability
    from engine.ledger.store import Store

    with Store(args.db) as store, store.unit(commit=False) as unit:
        outages = unit.outage_payloads()
    report = availability(outages, args.year, terms_of(args))
    print(report.describe())
    return 0 if report.met else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from billing.serve import PortInUse, serve

    try:
        serve(
            args.host,
            args.port,
            args.workers,
            args.db,
            demo=not args.no_demo,
            webhooks=not args.no_webhooks,
            server=args.server,
        )
    except PortInUse as exc:
        print(f"billing: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from engine.access.tokens import TokenError, create_token
    from engine.ledger.store import Store

    try:
        with Store(args.db) as store:
            secret = create_token(store, args.name, args.role, actor=_cli_actor())
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(secret)
    print(f"token {args.name!r} ({args.role}) created; it is shown only now", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from engine.access.tokens import TokenError, revoke_token
    from engine.ledger.store import Store

    try:
        with Store(args.db) as store:
            revoke_token(store, args.name, actor=_cli_actor())
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"token {args.name!r} revoked")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from engine.access.tokens import list_tokens
    from engine.ledger.store import Store

    with Store(args.db) as store:
        tokens = list_tokens(store)
    for token in tokens:
        state = f"revoked {token['revoked_at']}" if token["revoked_at"] else "active"
        print(f"{token['name']}\t{token['role']}\tcreated {token['created_at']}\t{state}")
    return 0


def _cli_actor() -> str:
    """Who made a change on the command line, for the audit log: the operating system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


def _read_password() -> str:
    """Prompted twice without echo on a terminal; else the first line of standard input."""
    import getpass

    from engine.access.people import PersonError

    if sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise PersonError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_create(args: argparse.Namespace) -> int:
    from engine.access.people import PersonError, create_person
    from engine.ledger.store import Store

    try:
        password = _read_password()
        with Store(args.db) as store, store.db.begin() as connection:
            create_person(connection, args.email, args.role, password, actor=_cli_actor())
    except PersonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.email} ({args.role}) can log in at /admin/login")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from engine.access.people import list_people
    from engine.ledger.store import Store

    with Store(args.db) as store, store.db.connect() as connection:
        people = list_people(connection)
    for person in people:
        state = f"disabled {person['disabled_at']}" if person["disabled_at"] else "active"
        print(f"{person['email']}\t{person['role']}\tcreated {person['created_at']}\t{state}")
    return 0


def cmd_user_change(args: argparse.Namespace) -> int:
    """disable, enable, set-role, set-password: each ends the person's sessions and is audited."""
    from engine.access import people
    from engine.ledger.store import Store

    actor = _cli_actor()
    try:
        password = _read_password() if args.user_action == "set-password" else None
        with Store(args.db) as store, store.db.begin() as connection:
            if args.user_action == "disable":
                people.disable_person(connection, args.email, actor=actor)
                done = "disabled; their sessions have ended"
            elif args.user_action == "enable":
                people.enable_person(connection, args.email, actor=actor)
                done = "enabled"
            elif args.user_action == "set-role":
                people.set_role(connection, args.email, args.role, actor=actor)
                done = f"now has the role {args.role}; their sessions have ended"
            else:
                people.set_password(connection, args.email, password, actor=actor)
                done = "has a new password; their sessions have ended"
    except people.PersonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.email} {done}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from engine.ledger import audit
    from engine.ledger.store import Store

    checkpoint = None
    if args.checkpoint:
        try:
            checkpoint = json.loads(Path(args.checkpoint).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the checkpoint {args.checkpoint}: {exc}", file=sys.stderr)
            return 2
    with Store(args.db) as store, store.db.connect() as connection:
        problems = audit.verify(connection)
        if checkpoint is not None:
            problems += audit.check_checkpoint(connection, checkpoint)
        count = audit.count(connection)
        legacy = audit.legacy_count(connection)
    for problem in problems:
        print(f"TAMPERED: {problem}")
    if problems:
        return 1
    note = f" ({legacy} unkeyed legacy entries from before the audit key)" if legacy else ""
    against = f"; it agrees with the checkpoint {args.checkpoint}" if checkpoint else ""
    print(f"OK: {count} entries{note}, the hash chain is intact{against}")
    return 0


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from engine.ledger import audit
    from engine.ledger.store import Store

    with Store(args.db) as store, store.db.begin() as connection:
        document = audit.checkpoint(connection, at=datetime.now(UTC))
    text = json.dumps(document, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            f"wrote {args.out}: {document['count']} entries; keep it where the database's "
            "writers cannot change it",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


def cmd_terms_export(args: argparse.Namespace) -> int:
    """Publications (and drafts) as catalog files: into the catalog itself, or a copy to diff.

    Only publications a file does not hold yet are written, so exporting twice, or loading
    after an export, never counts a version twice.
    """
    from sqlalchemy import select

    from engine.catalog.loader import new_versions
    from engine.drafting.publishing import indent_version, publication_versions
    from engine.ledger.store import Store
    from engine.ledger.tables import drafts

    root = catalog_root(args.catalog)
    out = Path(args.out)
    if not args.in_place and out.resolve() == root.resolve():
        print(
            "error: --out is the catalog itself; use --in-place to write the publications "
            "there (drafts never go into the catalog)",
            file=sys.stderr,
        )
        return 2
    with Store(args.db) as store, store.db.connect() as connection:
        published = publication_versions(connection)
        rows = connection.execute(
            select(drafts).where(drafts.c.status == "draft").order_by(drafts.c.id)
        ).all()
    if args.in_place or args.published:
        checked = load_files(root, appended=published)
        if checked.errors:
            raise CatalogInvalid(checked.errors)
    fresh = new_versions(root, published) if (args.in_place or args.published) else {}
    appended = {
        file: "".join(f"  # {item.origin}\n{item.text}" for item in items)
        for file, items in fresh.items()
    }
    if args.in_place:
        for file, text in appended.items():
            path = root / file
            path.write_text(
                path.read_text(encoding="utf-8").rstrip("\n") + "\n" + text, encoding="utf-8"
            )
            print(f"wrote {path}")
        if not appended:
            print("nothing to export: the files hold every publication")
        return 0
    for row in rows:
        appended[row.file] = appended.get(row.file, "") + (
            f"  # draft {row.id} by {row.author}, {row.updated_at}\n" + indent_version(row.text)
        )
    for file, text in appended.items():
        source = (root / file).read_text(encoding="utf-8").rstrip("\n") + "\n"
        target = out / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source + text, encoding="utf-8")
        print(f"wrote {target}")
    if not appended:
        print("no drafts to export")
    return 0


def cmd_outbox_send(args: argparse.Namespace) -> int:
    from engine.delivery.notifications import SmtpSettings, send_queued
    from engine.ledger.store import Store

    settings = SmtpSettings.from_environment()
    if settings is None:
        print(
            "error: set BILLING_SMTP_HOST (and optionally _PORT, _USER, _PASSWORD, _FROM, "
            "_STARTTLS) to send; until then notifications stay in the database outbox",
            file=sys.stderr,
        )
        return 2
    with Store(args.db) as store, store.db.begin() as connection:
        counts = send_queued(connection, settings)
    print(f"sent {counts['sent']}, without an e-mail address {counts['no_address']}")
    return 0


def cmd_invoices_run(args: argparse.Namespace) -> int:
    """The month's invoices come with the clock passing the month's end (Platform: invoicing)."""
    from zoneinfo import ZoneInfo

    from engine.core.deadlines import last_day_of_month

    try:
        year, month = map(int, args.month.split("-"))
        first_after = last_day_of_month(year, month) + timedelta(days=1)
    except ValueError:
        print(f"error: {args.month!r} is not a month (YYYY-MM)", file=sys.stderr)
        return 2
    engine = Engine(args.db)
    try:
        until = datetime.combine(first_after, time.min, ZoneInfo("Europe/Berlin"))
        results = engine.advance(until)
    finally:
        engine.close()
    issued = [
        e
        for r in results
        for e in r["effects"]
        if e["kind"] == "invoice_issued" and e.get("period") == args.month
    ]
    print(f"{len(issued)} invoices issued for {args.month} ({len(results)} accounts advanced)")
    return 0


def _stored_invoice(args: argparse.Namespace):
    """Invoice ``args.number`` from the database, or None after saying it does not exist."""
    from engine.ledger.store import Store

    with Store(args.db) as store, store.unit(commit=False) as unit:
        invoice = unit.invoice(args.number)
    if invoice is None or not invoice.detail:
        print(f"error: no invoice {args.number!r}", file=sys.stderr)
        return None
    return invoice


def cmd_invoices_xml(args: argparse.Namespace) -> int:
    from engine.documents.einvoice import EInvoiceUnavailable, build_einvoice, filename

    invoice = _stored_invoice(args)
    if invoice is None:
        return 2
    try:
        document = build_einvoice(invoice, args.format)
    except EInvoiceUnavailable as exc:
        print(f"error: no e-invoice for invoice {invoice.number}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out or filename(invoice.number, args.format))
    out.write_bytes(document)
    print(f"wrote {out}")
    return 0


class OptionError(ValueError):
    """A command-line option's value the command cannot use; the message names the option."""


def _instant_option(name: str, text: str | None, example: str) -> datetime | None:
    """An option holding an instant with its UTC offset (e.g. ``--created-at``), or None."""
    if not text:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise OptionError(f"{name}: {text!r} is not an instant with its UTC offset ({example})")
    return instant


def write_output(out: str | None, data: bytes) -> None:
    """A generated file to ``--out``, or to standard output when none is given."""
    if out:
        Path(out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def cmd_sepa_export(args: argparse.Namespace) -> int:
    from engine.interchange.sepa_export import ExportRefused, export
    from engine.ledger.store import Store

    try:
        day = date.fromisoformat(args.collection_date)
    except ValueError:
        print(f"error: --collection-date: {args.collection_date!r} is not a date", file=sys.stderr)
        return 2
    try:
        created = _instant_option("--created-at", args.created_at, "2026-11-27T08:00:00+01:00")
    except OptionError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    catalog = terms_of(args)
    with Store(args.db) as store:
        try:
            result = export(store, catalog, day, args.scheme, created)
        except ExportRefused as refused:
            print(f"error: {refused.field}: {refused.message}", file=sys.stderr)
            return 1
    write_output(args.out, result.xml)
    state = "written" if result.created else "as recorded before"
    print(
        f"{result.scheme} {result.collection_date}: {result.count} debits, "
        f"{from_cents(result.total_cents)} EUR, message {result.message_id} ({state})"
        + (f", {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def cmd_sepa_import(args: argparse.Namespace) -> int:
    """Exit 0 whatever was matched; 1 only for a file that cannot be read as a bank file."""
    from engine.interchange.sepa_returns import ReturnFileInvalid, import_returns

    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        print(f"error: {args.file}: {error.strerror or error}", file=sys.stderr)
        return 1
    engine = Engine(args.db)
    try:
        report = import_returns(engine, data)
    except ReturnFileInvalid as refused:
        print(f"error: {args.file}: {refused.field}: {refused.message}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(
        f"{report.message} {report.message_id}: {report.count('applied')} applied, "
        f"{report.count('already_imported')} already imported, "
        f"{report.count('unmatched')} unmatched, {report.count('rejected')} rejected"
        + (f", {report.other} not returns" if report.other else "")
    )
    for outcome in report.outcomes:
        tx = outcome.transaction
        line = f"  {outcome.status}: {tx.end_to_end_id} {tx.amount} EUR {tx.reason_code}"
        if outcome.event is not None:
            line += f" account {outcome.event['account']} event {outcome.event['id']}"
        if outcome.status == "applied":
            fees = [e for e in outcome.effects if e.get("item") == "returned_debit_fee"]
            line += f", fee {fees[0]['amount']} EUR" if fees else ", no fee"
        if outcome.reason:
            line += f": {outcome.reason}"
        print(line)
    for batch in report.rejected_batches:
        print(f"  rejected batch: {batch}, nothing was collected, nothing to reverse")
    return 0


def cmd_invoices_pdf(args: argparse.Namespace) -> int:
    from engine.documents import invoice_filename
    from engine.documents.signing import SigningKey, invoice_document

    invoice = _stored_invoice(args)
    if invoice is None:
        return 2
    out = Path(args.out or invoice_filename(invoice.number))
    out.write_bytes(invoice_document(invoice, terms_of(args), SigningKey.from_environment()))
    kind = invoice.detail.get("einvoice", {}).get("format", "pdf")
    print(f"wrote {out}" + (" (ZUGFeRD / Factur-X EN 16931)" if kind != "pdf" else ""))
    return 0


def cmd_datev_export(args: argparse.Namespace) -> int:
    from engine.interchange.datev import DatevRefused, export, parse_month
    from engine.ledger.store import Store

    try:
        parse_month(args.month)
    except DatevRefused as refused:
        print(f"error: --month: {refused.message}", file=sys.stderr)
        return 2
    try:
        created = _instant_option("--created-at", args.created_at, "2026-12-01T00:00:00+01:00")
    except OptionError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    catalog = terms_of(args)
    with Store(args.db) as store:
        try:
            data, batch = export(store, catalog, args.month, created)
        except DatevRefused as refused:
            print(f"error: {refused.field}: {refused.message}", file=sys.stderr)
            return 1
    write_output(args.out, data)
    print(
        f"DATEV {args.month}: {len(batch.postings)} bookings"
        + (f", {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def cmd_zm_export(args: argparse.Namespace) -> int:
    """The EU sales list of a quarter (§ 18a UStG) from the issued invoices, as CSV."""
    from engine.interchange.eu_sales_list import Quarter, issued_window, sales_list, to_csv
    from engine.ledger.store import Store

    try:
        quarter = Quarter.parse(args.quarter)
    except ValueError as error:
        print(f"error: --quarter: {error}", file=sys.stderr)
        return 2
    rounding = terms_of(args).at(quarter.last_day).money.rounding
    from engine.ledger.credit_note_store import credit_notes_issued_between

    with Store(args.db) as store, store.unit(commit=False) as unit:
        documents = unit.invoices_issued_between(*issued_window(quarter))
        notes = credit_notes_issued_between(
            unit.connection, quarter.first_day.isoformat(), quarter.last_day.isoformat()
        )
    lines = sales_list(documents, quarter, notes)
    text = to_csv(lines, rounding)
    write_output(args.out, text.encode("utf-8"))
    print(
        f"EU sales list {quarter}: {len(lines)} VAT ids, "
        f"{from_cents(sum(line.net_cents for line in lines))} EUR net"
        + (f", {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0
