# PYTHON_ARGCOMPLETE_OK
"""The ``billing`` command line.

Each command group lives in its own module of ``billing.cli`` and adds its commands to the
parser built here; what the groups share is in ``billing.cli.common``. No group imports this
module.

Shell completion (bash, zsh) comes from argcomplete: ``eval "$(.venv/bin/register-python-
argcomplete billing .venv/bin/billing)"`` (docs/cli.md); clause names complete from
``billing.cli.terms.complete_clause``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import argcomplete

from billing.cli import (
    access,
    bank,
    catalog,
    contract,
    credit_notes,
    documents,
    events,
    interchange,
    invoices,
    jobs,
    operations,
    terms,
    webhooks,
)
from engine.catalog import CatalogInvalid, NotInForce


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
    # ``billing --help`` lists the commands in the order they are added here, the order
    # operators know: a group whose commands sit apart in that list has one adder for each.
    catalog.add_commands(commands)  # validate, conformance, examples
    terms.add_commands(commands)  # terms, clauses
    events.add_commands(commands)  # replay, account, demo
    contract.add_commands(commands)  # liability, availability
    operations.add_serve_command(commands)
    access.add_commands(commands)  # token, user
    invoices.add_commands(commands)
    interchange.add_commands(commands)  # zm, sepa, datev
    bank.add_commands(commands)  # bank statements in (issue 28)
    operations.add_outbox_command(commands)
    jobs.add_commands(commands)  # the scheduled jobs (issue 27)
    access.add_audit_commands(commands)
    webhooks.add_commands(commands)
    operations.add_db_command(commands)
    credit_notes.add_commands(commands)
    documents.add_commands(commands)  # archive, verify (issue 24)
    return parser


def package_version() -> str:
    """The installed package's version (pyproject.toml), as ``billing --version`` prints it."""
    try:
        return version("clinq-billing")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
