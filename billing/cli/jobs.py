"""``billing jobs list|run-due|retry``: the scheduled jobs of Platform: schedule (docs/jobs.md).

``run-due`` is the path ``billing serve``'s scheduler takes every minute, for servers run
with ``--no-scheduler`` (cron) and for catching up by hand. The wall clock is read here, at the
door: it decides what is due, never what a job books or writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from billing.cli.common import OptionError, cli_actor, instant_option
from engine.engine import Engine
from engine.events import FIRST_YEAR, LAST_YEAR
from engine.ledger import audit
from engine.operation import runs
from engine.operation.run_due import RunReport, overview, retry_run, run_due
from engine.operation.schedule import local_time, schedule_of


def add_commands(commands) -> None:
    """The ``jobs`` command and its actions, added to the ``billing`` parser."""
    jobs = commands.add_parser("jobs", help="the scheduled jobs: list, run what is due, retry")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = job_commands.add_parser(
        "list", help="each job with its schedule, last run, outcome and next run"
    )
    listing.add_argument("--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    listing.set_defaults(handler=cmd_jobs_list)
    due = job_commands.add_parser(
        "run-due",
        help="run, in order, every job due up to an instant that has not run yet",
        description="Run every job of Platform: schedule due up to --until that has not run "
        "yet, the failed runs whose retry is due and the runs of servers that died, in the "
        "order of their due instants; each run once, on any number of servers. Exit 1 if a "
        "run failed. An --until beyond the wall clock plus Platform: clock's tolerance is "
        "refused without --i-know (audited), as billing clock advance.",
    )
    due.add_argument(
        "--until",
        required=True,
        help="an instant with its UTC offset, e.g. 2026-12-02T09:00:00+01:00",
    )
    due.add_argument(
        "--i-know",
        action="store_true",
        dest="i_know",
        help="confirm an --until in the future: its deadlines fire now and cannot be taken back",
    )
    due.add_argument("--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)")
    due.add_argument("--json", action="store_true", help="one JSON line per run")
    due.set_defaults(handler=cmd_jobs_run_due)
    retry = job_commands.add_parser("retry", help="run a failed run again now (audited)")
    retry.add_argument("run_id", type=int, metavar="RUN_ID")
    retry.add_argument("--db", help="database URL (default: $DATABASE_URL or var/billing.sqlite)")
    retry.set_defaults(handler=cmd_jobs_retry)


def wall_clock() -> datetime:
    """The wall clock of ``billing jobs``: an edge (docs/engine.md)."""
    return datetime.now(UTC)


def cmd_jobs_list(args: argparse.Namespace) -> int:
    now = wall_clock()
    engine = Engine(args.db)
    try:
        schedule = schedule_of(engine.catalog, now)
        with engine.store.db.connect() as connection:
            rows = overview(connection, schedule, now)
            failures = [run.to_json() for run in runs.last_failures(connection)]
    finally:
        engine.close()
    if args.json:
        print(json.dumps({"jobs": rows, "failed_runs": failures}, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        last = row["last_run"]
        if last is None:
            said = "never run"
        elif last["status"] == "failed":
            said = f"run {last['id']} of {local_time(last['due_at'])} FAILED: {last['error']}"
        else:
            summary = (last["outcome"] or {}).get("summary", "")
            said = f"run {last['id']} of {local_time(last['due_at'])} {last['status']}" + (
                f": {summary}" if summary else ""
            )
        print(
            f"{row['job']:<11} {row['cron']:<16} ({row['clause']}; catch-up {row['catch_up']})\n"
            f"{'':<11} last: {said}\n{'':<11} next: {local_time(row['next_run'], 'none')}"
        )
    for failure in failures:
        retry = local_time(failure["next_attempt_at"], "only by billing jobs retry")
        print(
            f"failed: run {failure['id']} {failure['job']} {local_time(failure['due_at'])} "
            f"(attempt {failure['attempts']}; retry {retry}): {failure['error']}"
        )
    return 0


def _until(args: argparse.Namespace, now: datetime, tolerance: timedelta) -> datetime:
    until = instant_option("--until", args.until, "2026-12-02T09:00:00+01:00")
    if not FIRST_YEAR <= until.year <= LAST_YEAR:
        raise OptionError(
            f"--until: {args.until!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}"
        )
    if until > now + tolerance and not args.i_know:
        raise OptionError(
            f"refused without --i-know: --until {until.isoformat()} lies more than "
            f"{int(tolerance.total_seconds() // 60)} minutes after the wall clock "
            f"({now.isoformat(timespec='seconds')}, Platform: clock); every job due up to it "
            "would run now (invoices, direct debits, files) and cannot be taken back; check "
            "--until, then add --i-know"
        )
    return until


def cmd_jobs_run_due(args: argparse.Namespace) -> int:
    now = wall_clock()
    engine = Engine(args.db)
    try:
        tolerance = timedelta(
            minutes=engine.catalog.at(now).clause("Platform: clock")["future_tolerance_minutes"]
        )
        try:
            until = _until(args, now, tolerance)
        except OptionError as exc:
            print(f"billing jobs run-due: {exc}", file=sys.stderr)
            return 2
        if until > now + tolerance:  # with --i-know: audited before it runs
            with engine.store.db.begin() as connection:
                audit.record(
                    connection, cli_actor(), "jobs_run_ahead", at=now, until=until.isoformat()
                )
        reports = run_due(engine, until, on_run=lambda report: _print_report(report, args.json))
    finally:
        engine.close()
    failed = [r for r in reports if r.status == "failed"]
    if not args.json:
        done = sum(1 for r in reports if r.status == "succeeded")
        print(
            f"{len(reports)} runs due up to {until.isoformat()}: {done} succeeded, "
            f"{len(failed)} failed",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _print_report(report: RunReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, separators=(",", ":")), flush=True)
    else:
        print(report.line(), flush=True)


def cmd_jobs_retry(args: argparse.Namespace) -> int:
    now = wall_clock()
    engine = Engine(args.db)
    try:
        with engine.store.db.connect() as connection:
            found = runs.run_by_id(connection, args.run_id)
        if found is None or found.status != "failed":
            state = f"is {found.status}" if found else "does not exist"
            print(
                f"billing jobs retry: run {args.run_id} {state}: only a failed run is retried",
                file=sys.stderr,
            )
            return 2
        with engine.store.db.begin() as connection:
            audit.record(
                connection, cli_actor(), "job_retried", at=now, run=args.run_id, job=found.job
            )
        report = retry_run(engine, args.run_id)
    finally:
        engine.close()
    print(report.line())
    return 1 if report.status != "succeeded" else 0
