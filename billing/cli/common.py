"""What the command groups of the ``billing`` command line share.

Where the catalog and the terms in force come from, how dates, instants and options are read,
who the actor of a change is, where generated files go. Every group module imports this one;
it imports no group and never ``billing.cli.main``, so the groups form no import circle.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.access.people import PersonError
from engine.catalog import PROJECT_ROOT, Catalog, load_catalog
from engine.contract.publications import terms_catalog
from engine.ledger.store import Store

if TYPE_CHECKING:  # the document commands import the service itself when they run
    from engine.services.documents import DocumentNotFound, DocumentUnavailable

DB_HELP = (
    "database whose publications belong to the terms "
    "(default: $DATABASE_URL or var/billing.sqlite, if it exists)"
)


def positive_number(text: str) -> int:
    """An option's value that must be a whole number of at least 1 (argparse ``type``)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number, not {text!r}")
    return int(text)


def catalog_root(value: str | None) -> Path:
    """The catalog folder: the argument, else $BILLING_CATALOG, else this project."""
    return Path(value or os.environ.get("BILLING_CATALOG") or PROJECT_ROOT)


def terms_of(args: argparse.Namespace) -> Catalog:
    """The catalog every reader sees: the files plus every publication in the database."""
    root = catalog_root(getattr(args, "catalog", None))
    url = getattr(args, "db", None) or os.environ.get("DATABASE_URL")
    if url is None:
        default = PROJECT_ROOT / "var" / "billing.sqlite"
        if not default.exists():
            return load_catalog(root)  # no database yet, so nothing is published
        url = f"sqlite:///{default}"
    with Store(url) as store, store.db.connect() as connection:
        return terms_catalog(connection, root)


def resolve_clause(catalog: Catalog, name: str) -> str:
    """A clause's citation from a citation or a plan id (``clinq`` names its plan's clause)."""
    return catalog.plan_citation(name) if name in catalog.plans else name


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


def now_for_query() -> datetime:
    """Now, for a person's question without ``--at`` (``billing terms show``) or ``--at today``.

    The one place the command line reads the wall clock: a default for a human's query, never
    an input of a computation (those take the instant of their event).
    """
    return datetime.now(UTC)


def parse_day_or_today(text: str) -> date | datetime:
    """A date or instant as for --at elsewhere, or ``today`` (the clock, read here only)."""
    return now_for_query() if text == "today" else parse_instant(text)


class OptionError(ValueError):
    """A command-line option's value the command cannot use; the message names the option."""


def instant_option(name: str, text: str | None, example: str) -> datetime | None:
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


def document_refused(refusal: DocumentNotFound | DocumentUnavailable) -> int:
    """Say on standard error why a document cannot be written; the exit status to return.

    An unknown number is a usage error (2), a document that exists but not in the form asked
    for is a failure (1); the messages are the ones operators' scripts have always seen.
    """
    if isinstance(refusal, LookupError):  # DocumentNotFound; DocumentUnavailable is not one
        print(f"error: no {refusal.kind} {refusal.number!r}", file=sys.stderr)
        return 2
    print(
        f"error: no e-invoice for {refusal.kind} {refusal.number}: {refusal.reason}",
        file=sys.stderr,
    )
    return 1


def cli_actor() -> str:
    """Who made a change on the command line, for the audit log: the operating system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


def read_password() -> str:
    """Prompted twice without echo on a terminal; else the first line of standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise PersonError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")
