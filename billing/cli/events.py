"""``billing replay|account|demo``: apply events, show an account's state, generate events."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from billing.cli.common import parse_instant
from billing.demo import month_of_events
from billing.replay import replay
from billing.replay_workers import WorkersNeedPostgres, check_database, replay_parallel
from engine.engine import Engine
from engine.ledger.store import Store, default_database_url


def add_commands(commands) -> None:
    """The ``replay``, ``account`` and ``demo`` commands, added to the ``billing`` parser."""
    replay_parser = commands.add_parser(
        "replay", help="apply the events of a JSON Lines file in order"
    )
    replay_parser.add_argument("file", help="one event per line (- for standard input)")
    replay_parser.add_argument(
        "--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)"
    )
    replay_parser.add_argument("--batch", type=int, default=2000, help="events per transaction")
    replay_parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes applying the file on one PostgreSQL, accounts split by a stable hash "
        "(docs/scaling.md); SQLite takes only 1",
    )
    replay_parser.set_defaults(handler=cmd_replay)

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


def cmd_replay(args: argparse.Namespace) -> int:
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


def cmd_demo(args: argparse.Namespace) -> int:
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
