"""``billing serve``, ``billing outbox send``, ``billing db upgrade``: running the platform.

Three adders, not one: ``billing --help`` lists commands in the order they are added, and
these three sit apart in that list.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from engine.delivery.notifications import SmtpSettings, send_queued
from engine.engine import Engine
from engine.ledger.store import Store


def add_serve_command(commands) -> None:
    """The ``serve`` command, added to the ``billing`` parser."""
    serve_parser = commands.add_parser(
        "serve",
        help="run the API with gunicorn (demo data on the first start of the default database)",
    )
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    serve_parser.add_argument("--workers", type=int, default=2)
    serve_parser.add_argument(
        "--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)"
    )
    demo = serve_parser.add_mutually_exclusive_group()
    demo.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="load the demo month into the database if it is empty, even one given by --db or "
        "$DATABASE_URL (default: only into the default database, when this start creates it)",
    )
    demo.add_argument(
        "--no-demo",
        dest="demo",
        action="store_false",
        help="do not load demo data, not even into a new default database",
    )
    serve_parser.add_argument(
        "--no-webhooks",
        action="store_true",
        help="do not start the webhook delivery loop (run billing webhooks deliver elsewhere)",
    )
    serve_parser.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default="gunicorn",
        help="the HTTP server (granian: about 1 ms less CPU per request, benchmarks/README.md)",
    )
    serve_parser.set_defaults(handler=cmd_serve)


def add_outbox_command(commands) -> None:
    """The ``outbox`` command and its action, added to the ``billing`` parser."""
    outbox_parser = commands.add_parser("outbox", help="notifications to customers")
    outbox_commands = outbox_parser.add_subparsers(dest="outbox_command", required=True)
    send = outbox_commands.add_parser("send", help="send queued notifications by SMTP")
    send.add_argument("--db", help="database URL")
    send.set_defaults(handler=cmd_outbox_send)


def add_db_command(commands) -> None:
    """The ``db`` command and its action, added to the ``billing`` parser."""
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the Alembic migrations")
    upgrade.add_argument("--db", help="database URL")
    upgrade.set_defaults(handler=cmd_db_upgrade)


def cmd_serve(args: argparse.Namespace) -> int:
    # Imported here, not at the top: billing.serve loads the whole web application (Flask,
    # the API, the admin UI, gunicorn), which only this command runs; at the top every
    # command would pay for it at startup and fail with it if the web side cannot load.
    from billing.serve import PortInUse, serve

    try:
        serve(
            args.host,
            args.port,
            args.workers,
            args.db,
            demo=args.demo,
            webhooks=not args.no_webhooks,
            server=args.server,
        )
    except PortInUse as exc:
        print(f"billing: {exc}", file=sys.stderr)
        return 1
    return 0


def sending_instant() -> datetime:
    """When the messages leave: the wall clock, read at the door; the engine receives it as the
    ``notice.delivered`` events' instant (their receipt follows Platform: receipt)."""
    return datetime.now(UTC)


def cmd_outbox_send(args: argparse.Namespace) -> int:
    settings = SmtpSettings.from_environment()
    if settings is None:
        print(
            "error: set BILLING_SMTP_HOST (and optionally _PORT, _USER, _PASSWORD, _FROM, "
            "_STARTTLS) to send; until then notifications stay in the database outbox",
            file=sys.stderr,
        )
        return 2
    with Store(args.db) as store, store.db.begin() as connection:
        counts, delivered = send_queued(connection, settings, sending_instant())
    if delivered:  # the windows of AGB 8 / TKG § 57 run from receipt: the engine records it
        engine = Engine(args.db)
        try:
            for start in range(0, len(delivered), 1000):
                engine.handle_many(delivered[start : start + 1000])
        finally:
            engine.close()
    print(f"sent {counts['sent']}, without an e-mail address {counts['no_address']}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        print(f"database at the newest schema: {store.url}")
    return 0
