"""``billing serve``, ``billing outbox``, ``billing db upgrade``: running the platform.

Three adders, not one: ``billing --help`` lists commands in the order they are added, and
these three sit apart in that list.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from billing.cli.common import cli_actor, positive_number
from engine.delivery.notifications import SmtpConfigurationError, SmtpSettings
from engine.engine import Engine
from engine.ledger.store import Store
from engine.services import mail_delivery


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
        "--no-scheduler",
        action="store_true",
        help="do not run the scheduled jobs here (cron runs billing jobs run-due; docs/jobs.md)",
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
    outbox_parser = commands.add_parser(
        "outbox", help="e-mails to customers: notices, invoices, credit notes (docs/mail.md)"
    )
    outbox_commands = outbox_parser.add_subparsers(dest="outbox_command", required=True)
    send = outbox_commands.add_parser(
        "send", help="send the due e-mails by SMTP (BILLING_SMTP_HOST, docs/mail.md)"
    )
    send.add_argument("--db", help="database URL")
    send.add_argument("--limit", type=positive_number, help="send at most this many messages")
    send.set_defaults(handler=cmd_outbox_send)
    listing = outbox_commands.add_parser("list", help="the newest messages and their status")
    listing.add_argument("--status", choices=OUTBOX_STATUSES, help="only messages in this status")
    listing.add_argument(
        "--limit", type=positive_number, default=200, help="at most (default: 200)"
    )
    listing.add_argument("--db", help="database URL")
    listing.set_defaults(handler=cmd_outbox_list)
    bounce = outbox_commands.add_parser(
        "bounce", help="record a bounce that came after sending: the message becomes failed"
    )
    bounce.add_argument("message_id", metavar="MESSAGE_ID", help="the bounced Message-ID")
    bounce.add_argument("--reason", required=True, help="why it bounced (the DSN's text)")
    bounce.add_argument("--db", help="database URL")
    bounce.set_defaults(handler=cmd_outbox_bounce)


OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "no_address", "skipped")


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
            scheduler=not args.no_scheduler,
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
    try:
        settings = SmtpSettings.from_environment()
    except SmtpConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings is None:
        print(
            "error: set BILLING_SMTP_HOST (and optionally _PORT, _USER, _PASSWORD, _FROM, "
            "_STARTTLS, _TIMEOUT, _CA_FILE; docs/mail.md) to send; until then the e-mails stay "
            "queued in the database outbox",
            file=sys.stderr,
        )
        return 2
    engine = Engine(args.db)
    try:  # the one sending service the scheduler calls too (the windows run from receipt)
        report = mail_delivery.send_outbox(engine, settings, sending_instant(), limit=args.limit)
    finally:
        engine.close()
    for error in report.errors:
        print(f"billing: {error}", file=sys.stderr)
    print(
        f"sent {report.sent}, without an e-mail address {report.no_address}, failed "
        f"{report.failed}, to retry later {report.retry_later}, still queued {report.still_queued}"
    )
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        rows = mail_delivery.outbox_rows(store, status=args.status, limit=args.limit)
    if not rows:
        print("no messages" + (f" with status {args.status}" if args.status else ""))
        return 0
    print("id\tkind\tdocument\taccount\trecipient\tstatus\tattempts\tsent_at / error")
    for row in rows:
        what = row.sent_at if row.status == "sent" else row.error or ""
        if row.status == "failed":
            retry = row.next_attempt_at
            what = f"{row.error} ({f'next attempt {retry}' if retry else 'gave up'})"
        fields = (row.id, row.kind, row.document or row.publication or "", row.account)
        fields += (row.recipient or "-", row.status, row.attempts, what or "")
        print("\t".join(str(field) for field in fields))
    return 0


def cmd_outbox_bounce(args: argparse.Namespace) -> int:
    try:
        with Store(args.db) as store:
            number = mail_delivery.record_bounce(
                store, args.message_id, args.reason, actor=cli_actor(), at=sending_instant()
            )
    except mail_delivery.BounceRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"message {number} recorded as failed: bounced ({args.reason.strip()})")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        print(f"database at the newest schema: {store.url}")
    return 0
