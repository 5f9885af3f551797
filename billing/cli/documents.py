"""``billing documents archive|verify``: issued documents archived once, and checked (GoBD)."""

from __future__ import annotations

import argparse
import sys

from billing.cli.common import cli_actor, terms_of
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``documents`` command and its actions, added to the ``billing`` parser."""
    parser = commands.add_parser(
        "documents", help="issued invoices and credit notes as archived (GoBD)"
    )
    sub = parser.add_subparsers(dest="documents_command", required=True)
    archive = sub.add_parser(
        "archive",
        help="render and archive every issued document not archived yet (after billing db "
        "upgrade to migration 0018, or after a crash between issuing and archiving)",
    )
    archive.add_argument("--db", help="database URL")
    archive.set_defaults(handler=cmd_archive)
    verify = sub.add_parser(
        "verify",
        help="check every archived file against its SHA-256 and the hash in the audit chain",
    )
    verify.add_argument("--db", help="database URL")
    verify.set_defaults(handler=cmd_verify)


def cmd_archive(args: argparse.Namespace) -> int:
    """Exit 0 when every issued document is archived, 1 when one could not be rendered."""
    # Imported here: the archive loads the PDF, signing and e-invoice libraries.
    from engine.documents.archive import archive_missing

    catalog = terms_of(args)
    with Store(args.db) as store:
        report = archive_missing(store, catalog, actor=cli_actor())
    for (kind, number), error in sorted(report.failed.items()):
        print(f"error: {kind.replace('_', ' ')} {number} not archived: {error}", file=sys.stderr)
    invoices, notes = report.archived["invoice"], report.archived["credit_note"]
    print(f"archived {len(invoices)} invoices and {len(notes)} credit notes")
    return 1 if report.failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every archived file matches its hashes, 1 otherwise."""
    from engine.documents.archive import verify
    from engine.ledger import document_archive

    with Store(args.db) as store, store.db.connect() as connection:
        problems = list(verify(connection))
        missing = len(document_archive.unarchived(connection, "invoice")) + len(
            document_archive.unarchived(connection, "credit_note")
        )
    for problem in problems:
        print(f"CHANGED: {problem}")
    if problems:
        return 1
    note = f"; {missing} issued not archived yet (billing documents archive)" if missing else ""
    print("OK: every archived document matches its SHA-256 and its audit entry" + note)
    return 0
