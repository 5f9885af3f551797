"""``billing terms show|list|export|history|impact|publish`` and ``billing clauses``."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from billing.cli.common import (
    DB_HELP,
    catalog_root,
    cli_actor,
    now_for_query,
    parse_instant,
    terms_of,
)
from engine.access.people import list_people
from engine.catalog import Catalog, CatalogInvalid, NotInForce, load_catalog
from engine.catalog.coverage import (
    clause_tests,
    coverage,
    load_not_encoded,
    numbered_clauses,
    render_markdown,
)
from engine.catalog.loader import load_files, new_versions
from engine.catalog.model import CITATION_FORMATS, citation_of
from engine.catalog.values import format_value, value_to_json
from engine.contract.publications import publication_versions, terms_catalog
from engine.drafting.impact import (
    ImpactRefused,
    Period,
    default_period,
    describe,
    draft_from_file,
    draft_impact,
)
from engine.drafting.publication_preview import sample_letters
from engine.drafting.publishing import indent_version
from engine.drafting.terms_publishing import publish_version
from engine.engine import Engine
from engine.ledger.store import Store
from engine.ledger.tables import drafts


def add_commands(commands) -> None:
    """The ``terms`` command with its actions, then ``clauses``, added to ``billing``."""
    terms = commands.add_parser("terms", help="show the terms in force")
    actions = terms.add_subparsers(dest="terms_command", required=True, metavar="ACTION")
    _add_show_and_list(actions)
    _add_export(actions)
    history = actions.add_parser("history", help="every version of one clause")
    history.add_argument(
        "clause", help='a citation, e.g. "AGB 4.2.3" or 4.2.3'
    ).completer = complete_clause  # argcomplete reads it
    history.add_argument("--catalog", help="catalog folder")
    history.add_argument("--db", help=DB_HELP)
    history.set_defaults(handler=cmd_terms_history)
    _add_impact(actions)
    _add_publish(actions)

    clauses = commands.add_parser("clauses", help="the clause table of both documents")
    target = clauses.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="FILE", help="write the table to FILE")
    target.add_argument("--check", metavar="FILE", help="fail if FILE is not up to date")
    clauses.add_argument("--catalog", help="catalog folder")
    clauses.add_argument("--db", help=DB_HELP)
    clauses.set_defaults(handler=cmd_clauses)


def _add_show_and_list(actions) -> None:
    show = actions.add_parser("show", help="one clause's parameters in force at a date")
    show.add_argument(
        "clause", help='a citation, e.g. "AGB 4.2.3" or 4.2.3, or a plan id, e.g. clinq'
    ).completer = complete_clause  # argcomplete reads it
    show.add_argument(
        "--at", type=parse_instant, help="date or instant (default: now, the computer's clock)"
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--catalog", help="catalog folder")
    show.add_argument("--db", help=DB_HELP)
    show.set_defaults(handler=cmd_terms_show)
    listing = actions.add_parser("list", help="every file's version in force at a date")
    listing.add_argument("--at", required=True, type=parse_instant, help="date or instant")
    listing.add_argument("--catalog", help="catalog folder")
    listing.add_argument("--db", help=DB_HELP)
    listing.set_defaults(handler=cmd_terms_list)


def _add_export(actions) -> None:
    export = actions.add_parser(
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


def _add_impact(actions) -> None:
    impact = actions.add_parser(
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


def _add_publish(actions) -> None:
    publish = actions.add_parser(
        "publish",
        help="publish a reviewed version from git with the admin UI's checks, notices, examples "
        "and audit entry (AGB 8)",
    )
    publish.add_argument(
        "draft",
        metavar="FILE",
        type=Path,
        help="the catalog file from git whose last version is to be published, or one "
        "version's YAML with --file",
    )
    publish.add_argument("--file", help="the catalog file the version belongs to")
    publish.add_argument(
        "--effective",
        required=True,
        type=date.fromisoformat,
        metavar="DATE",
        help="the version's effective_from (YYYY-MM-DD): says which version is meant",
    )
    publish.add_argument("--reason", default="", help="the reason customers are told (AGB 8.1)")
    publish.add_argument(
        "--ground",
        help="the ground of a price increase for consumers (AGB 8.1): "
        "vat_change, regulator_order or supplier_price_increase",
    )
    publish.add_argument(
        "--as",
        dest="actor",
        metavar="EMAIL",
        help="the legal person who publishes (a person of the admin UI with the role legal; "
        "needed unless --dry-run)",
    )
    publish.add_argument(
        "--dry-run", action="store_true", help="only check: print what the admin UI's Check shows"
    )
    publish.add_argument("--catalog", help="catalog folder")
    publish.add_argument("--db", help=DB_HELP)
    publish.set_defaults(handler=cmd_terms_publish)


class ClauseNotFound(NotInForce):
    """What a person typed names no clause, or more than one; the message says which exist."""


def find_clause(catalog: Catalog, name: str) -> str:
    """The citation a person means: ``AGB 4.2.3``, ``agb 4.2.3``, a plan id (``clinq``), or a
    bare number (``4.2.3``, ``§ 286``) that exactly one document has.

    A number several documents have is refused listing them; an unknown name is refused with
    the nearest names ("did you mean").
    """
    typed = " ".join(name.split())
    if typed in catalog.plans:
        return catalog.plan_citation(typed)
    citations = [f.citation for f in catalog.files]
    by_fold = {c.casefold(): c for c in citations}
    if typed.casefold() in by_fold:
        return by_fold[typed.casefold()]
    bare = typed.removeprefix("§").strip().casefold()
    holders = [c for c in citations if section_of(c).casefold() == bare]
    if len(holders) == 1:
        return holders[0]
    if holders:
        raise ClauseNotFound(
            f"{typed} is in more than one document: {' and '.join(holders)}; name one, "
            f'e.g. billing terms show "{holders[0]}"'
        )
    raise ClauseNotFound(f"{typed} is not in the catalog" + did_you_mean(typed, citations))


def section_of(citation: str) -> str:
    """``4.2.3`` of ``AGB 4.2.3``, ``286`` of ``BGB § 286``, ``sepa`` of ``Platform: sepa``."""
    return citation.rsplit(" ", 1)[-1]


def did_you_mean(typed: str, citations: list[str]) -> str:
    """``; did you mean AGB 4.2.3 or AGB 4.2.2?``: the nearest citations (difflib)."""
    by_fold = {c.casefold(): c for c in citations}
    by_section: dict[str, list[str]] = {}
    for citation in citations:
        by_section.setdefault(section_of(citation).casefold(), []).append(citation)
    near = difflib.get_close_matches(typed.casefold(), by_fold, n=3, cutoff=0.6)
    bare = typed.removeprefix("§").strip().casefold()
    near_sections = difflib.get_close_matches(bare, by_section, n=3, cutoff=0.75)
    names = [by_fold[n] for n in near] + [c for s in near_sections for c in by_section[s]]
    names = list(dict.fromkeys(names))[:3]
    if not names:
        return "; billing terms list --at DATE lists every clause"
    listed = ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]
    return f"; did you mean {listed}?"


_SOURCE = re.compile(
    r"^source:\s*\{\s*document:\s*([a-z-]+)\s*,\s*section:\s*\"?([^\",}]+?)\"?\s*\}", re.MULTILINE
)


def clause_names(root: Path) -> list[str]:
    """Every clause's citation and every plan id of the catalog at ``root``, cheaply: from the
    ``source:`` line of each file, without loading or checking the catalog (for completion)."""
    names = []
    for path in sorted([*root.glob("rules/*/*.yaml"), *root.glob("tariffs/**/*.yaml")]):
        try:
            head = path.read_text(encoding="utf-8")[:4000]
        except (OSError, UnicodeDecodeError):
            continue
        found = _SOURCE.search(head)
        if found and found.group(1) in CITATION_FORMATS:
            names.append(citation_of(found.group(1), found.group(2).strip()))
        if path.parent.name == "plans" and path.parent.parent.name == "tariffs":
            names.append(path.stem)
    return names


def complete_clause(prefix: str, parsed_args: argparse.Namespace, **_: object) -> list[str]:
    """Shell completion of ``terms show|history CLAUSE`` (argcomplete): the citations and plan
    ids, and the bare numbers once a digit is typed."""
    names = clause_names(catalog_root(getattr(parsed_args, "catalog", None)))
    if prefix[:1].isdigit():
        names += [section_of(n) for n in names if section_of(n)[:1].isdigit()]
    return [n for n in dict.fromkeys(names) if n.startswith(prefix)]


def cmd_terms_show(args: argparse.Namespace) -> int:
    catalog = terms_of(args)
    if args.at is None:
        args.at = now_for_query()
    terms = catalog.at(args.at)
    try:
        citation = find_clause(catalog, args.clause)
    except ClauseNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    in_force = terms.clause(citation)
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
    try:
        terms_file = catalog.file(find_clause(catalog, args.clause))
    except ClauseNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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


def cmd_terms_export(args: argparse.Namespace) -> int:
    """Publications (and drafts) as catalog files: into the catalog itself, or a copy to diff.

    Only publications a file does not hold yet are written, so exporting twice, or loading
    after an export, never counts a version twice.
    """
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


def cmd_terms_impact(args: argparse.Namespace) -> int:
    """``billing terms impact`` (engine/drafting/impact.py): reads the database, writes nothing."""
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


def cmd_terms_publish(args: argparse.Namespace) -> int:
    """``billing terms publish``: the admin UI's *Publish* (or *Check* with ``--dry-run``)
    through the one publishing service, engine/drafting/terms_publishing.py."""
    engine = Engine(args.db, catalog=load_catalog(catalog_root(args.catalog)))
    try:
        return _publish(engine, args)
    except (ImpactRefused, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.close()


def _publish(engine: Engine, args: argparse.Namespace) -> int:
    file, text = draft_from_file(args.draft, engine.catalog, args.file)
    terms_file = next((f for f in engine.catalog.files if f.path == file), None)
    if terms_file is None:
        raise ImpactRefused(f"there is no catalog file {file}")
    effective = re.search(r"^effective_from:\s*(\S+)", text, re.MULTILINE)
    if effective is None or effective.group(1) != args.effective.isoformat():
        found = effective.group(1) if effective else "none"
        raise ImpactRefused(
            f"the last version of {args.draft} takes effect {found}, not {args.effective}: "
            "--effective names the version to publish"
        )
    if any(v.effective_from == args.effective for v in terms_file.versions):
        raise ImpactRefused(
            f"the catalog's {file} already holds a version of {args.effective}: publish with "
            "the catalog as deployed (--catalog, e.g. the main branch) and the merge request's "
            "file as FILE"
        )
    refused = _actor_refusal(engine, args)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    done = publish_version(
        engine,
        terms_file,
        text,
        actor=args.actor or cli_actor(),
        notified_at=publishing_instant(),
        reason=args.reason,
        ground=args.ground,
        dry_run=args.dry_run,
    )
    if args.dry_run or done.refused:
        print(describe_check(engine, terms_file, done, args.reason))
        return 1 if done.refused else 0
    assessment = done.check.assessment
    # Imported here, not at the top: the mail service loads the documents' texts (about 0.4 s
    # every other terms command, and every completion of a clause name, would pay at startup).
    from engine.services import mail_delivery

    print(
        f"Published {assessment.citation} from {assessment.effective_from} "
        f"(publication {done.publication}); "
        f"{mail_delivery.publication_said(engine.store, done.publication)}."
    )
    return 0


def publishing_instant() -> datetime:
    """When the command publishes: the wall clock, read at the door (the engine never does)."""
    return datetime.now(UTC)


def _actor_refusal(engine: Engine, args: argparse.Namespace) -> str | None:
    """The admin UI's rule: only legal publishes (AGB 8); a dry run may be anyone's."""
    if args.actor is None:
        return None if args.dry_run else "name the legal person who publishes: --as EMAIL"
    with engine.store.db.connect() as connection:
        person = next((p for p in list_people(connection) if p["email"] == args.actor), None)
    if person is None or person["disabled_at"]:
        return f"{args.actor} is no enabled person of the admin UI (billing people list)"
    if person["role"] != "legal":
        return (
            "Only legal publishes changes of the terms (AGB 8); "
            f"{args.actor} is {person['role']}: ask legal to review this version."
        )
    return None


def describe_check(engine: Engine, terms_file, done, reason: str) -> str:
    """What the admin UI's *Check* shows for a version, as text."""
    lines = [f"Check of {terms_file.citation} ({terms_file.path})"]
    for error in done.check.errors:
        where = f"line {error['line']}: " if error["line"] else ""
        lines.append(f"  error: {where}{error['message']}")
    assessment = done.check.assessment
    if assessment is not None:
        lines.append(f"  effective from {assessment.effective_from}")
        for change in assessment.changes:
            if change.effect != "unchanged":
                lines.append(
                    f"  {change.name}: {change.before} -> {change.after} ({change.effect})"
                )
    for outcome in done.check.examples:
        verdict = "ok  " if outcome.passed else "FAIL"
        lines.append(f"  example {verdict} {outcome.example.title}")
    shown = done.preview
    if shown is not None:
        lines.append(
            f"  notice: {shown.notice_clause or 'none (only to the customers advantage)'}; "
            f"earliest effective date {shown.earliest}; notifies {shown.consumers} consumers "
            f"and {shown.businesses} businesses"
        )
        lines += [f"  needs: {need}" for need in shown.needs]
    lines += [f"  refused: {problem}" for problem in done.problems]
    if assessment is not None and not done.check.errors:
        with engine.store.db.connect() as connection:
            letters = sample_letters(
                connection,
                engine.catalog,
                terms_file,
                assessment,
                reason=reason,
                notified_at=publishing_instant(),
            )
        for label, letter in letters:
            lines += ["", f"--- letter to {label} ---", letter.body]
    lines.append("" if done.problems else "\npublishable: yes")
    return "\n".join(lines).rstrip("\n")
