"""``billing replay|account|demo|clock``: apply events, show an account's state, generate
events, advance the platform's clock beyond what the API takes (an operator's command)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from billing.cli.common import (
    OptionError,
    cli_actor,
    instant_option,
    parse_instant,
    positive_number,
)
from billing.demo import month_of_events
from billing.replay import BATCH, SLICE, replay
from billing.replay_workers import WorkersNeedPostgres, check_database, replay_parallel
from engine.engine import Engine
from engine.events import FIRST_YEAR, LAST_YEAR, EventInvalid, parse_event
from engine.ledger import audit
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
    replay_parser.add_argument(
        "--batch",
        type=positive_number,
        help=f"lines per transaction (default {BATCH:,}; with --workers, {SLICE:,} per process)",
    )
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
    add_clock_command(commands)


def add_clock_command(commands) -> None:
    """``billing clock advance``: the jump the API refuses (Platform: clock), audited."""
    clock = commands.add_parser(
        "clock", help="advance the platform's clock (an operator's command)"
    )
    clock_commands = clock.add_subparsers(dest="clock_command", required=True)
    advance = clock_commands.add_parser(
        "advance",
        help="fire every deadline due up to an instant, however far ahead (audited)",
        description="Fire every deadline due up to --until (invoices, direct debits, default, "
        "deletion of ended accounts) for one account or all, as POST /api/v1/clock does, but "
        "without its limit (Platform: clock): months or years of the contract at once, which "
        "cannot be undone. Refused without --i-know; recorded in the audit log.",
    )
    advance.add_argument(
        "--until",
        required=True,
        help="an instant with its UTC offset, e.g. 2027-01-01T00:00:00+01:00",
    )
    advance.add_argument("--account", help="only this account (default: every account)")
    advance.add_argument(
        "--i-know",
        action="store_true",
        dest="i_know",
        help="confirm: every deadline due up to --until fires now and cannot be taken back",
    )
    advance.add_argument("--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)")
    advance.set_defaults(handler=cmd_clock_advance)


def cmd_replay(args: argparse.Namespace) -> int:
    if args.workers != 1:
        return _replay_with_workers(args)
    engine = Engine(args.db)
    try:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
        with stream:
            summary = replay(engine, stream, sys.stdout, batch_size=args.batch or BATCH)
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
            url, stream, sys.stdout, workers=args.workers, batch_size=args.batch or SLICE
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


def cmd_clock_advance(args: argparse.Namespace) -> int:
    """Apply ``engine.advance(until, account)``; audited before it runs, so none goes unlogged."""
    try:
        until = instant_option("--until", args.until, "2027-01-01T00:00:00+01:00")
        if not FIRST_YEAR <= until.year <= LAST_YEAR:
            raise OptionError(
                f"--until: {args.until!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}"
            )
        # the account as a clock event (and POST /api/v1/clock) checks it
        parse_event(
            {"id": "x", "type": "clock", "account": args.account or "x", "at": until.isoformat()}
        )
    except OptionError as exc:
        print(f"billing clock advance: {exc}", file=sys.stderr)
        return 2
    except EventInvalid as exc:
        name = {"/at": "--until", "/account": "--account"}.get(exc.field, exc.field)
        print(f"billing clock advance: {name}: {exc.message}", file=sys.stderr)
        return 2
    which = f"account {args.account}" if args.account else "every account"
    if not args.i_know:
        print(
            f"billing clock advance: refused without --i-know: every deadline of {which} due up "
            f"to {until.isoformat()} would fire now (invoices, direct debits, default, deletion "
            "of ended accounts) and cannot be taken back; check --until and --account, then "
            "add --i-know",
            file=sys.stderr,
        )
        return 2
    engine = Engine(args.db)
    try:
        with engine.store.db.begin() as connection:
            audit.record(
                connection,
                cli_actor(),
                "clock_advanced",
                at=datetime.now(UTC),  # when the operator ran it: the command line is an edge
                until=until.isoformat(),
                account=args.account,
            )
        results = engine.advance(until, args.account)
    finally:
        engine.close()
    for result in results:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")
    effects = sum(len(result.get("effects", ())) for result in results)
    print(
        f"advanced {which} to {until.isoformat()}: {len(results)} clock events, {effects} effects",
        file=sys.stderr,
    )
    return 0
