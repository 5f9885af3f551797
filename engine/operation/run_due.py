"""Running every job due up to an instant, each due run once (Platform: schedule).

``run_due(database, until)`` is the one path of the scheduler in ``billing serve`` (every
minute, ``until`` the wall clock) and of ``billing jobs run-due --until`` (cron, catch-up by
hand): the runs due up to ``until`` that have no row yet, the runs of dead nodes and the
failed runs whose retry is due, in the order of their due instants, jobs due at the same
instant in the order of the file. A job never run before starts from its newest occurrence; a
job that runs every missed occurrence (``each_missed``) catches up in order, the others run
their newest one. Each run is claimed in ``job_runs`` (engine/operation/runs.py), so on any
number of nodes it runs once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.engine import Engine
from engine.ledger import audit
from engine.operation import runs
from engine.operation.exports import export_dir as default_export_dir
from engine.operation.jobs import JOBS, JobContext, SmtpFromEnvironment
from engine.operation.schedule import ZONE, Job, Schedule, schedule_of

log = logging.getLogger("billing.jobs")
JobBody = Callable[[JobContext], dict[str, Any]]
# Runs of a job catching up with its newest occurrence only are kept this long, then pruned.
_KEEP_PASSES = timedelta(days=1)


@dataclass(frozen=True)
class RunReport:
    """What became of one due run in this pass: succeeded, failed, or skipped (another node
    holds it)."""

    job: str
    due: datetime
    status: str
    run_id: int | None = None
    attempts: int = 0
    summary: str = ""
    error: str | None = None
    retry_at: str | None = None
    outcome: dict[str, Any] | None = None

    def line(self) -> str:
        """One line for the command line and the log."""
        head = f"{self.job} {self.due.astimezone(ZONE).isoformat()}"
        if self.status == "succeeded":
            return f"{head} succeeded (run {self.run_id}): {self.summary}"
        if self.status == "failed":
            then = (
                f"; retried after {self.retry_at}" if self.retry_at else "; not retried by itself"
            )
            return f"{head} FAILED (run {self.run_id}, attempt {self.attempts}): {self.error}{then}"
        return f"{head} skipped: {self.summary}"

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "due_at": runs.stamp(self.due),
            "status": self.status,
            "run": self.run_id,
            "attempts": self.attempts,
            "summary": self.summary,
            "error": self.error,
            "retry_at": self.retry_at,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class _Due:
    due: datetime
    order: int
    job: Job
    seen: runs.Run | None  # None: a new run; else a run to claim again


class _Pass:
    """One pass of :func:`run_due`: the engine, the folders, the clock and the job bodies."""

    def __init__(self, engine: Engine, now, export_dir, checkpoint_dir, smtp, bodies) -> None:
        self.engine = engine
        self.store = engine.store
        self.now: Callable[[], datetime] = (lambda: now) if now else (lambda: datetime.now(UTC))
        self.export_dir = default_export_dir(export_dir)
        self.checkpoint_dir = (
            Path(checkpoint_dir) if checkpoint_dir else audit.checkpoint_folder(self.store.db.url)
        )
        self.smtp = smtp
        self.bodies = bodies
        self.postgresql = self.store.db.dialect.name == "postgresql"

    def due_runs(self, schedule: Schedule, until: datetime) -> list[_Due]:
        """What is due up to ``until``, in order: new occurrences, dead nodes' and retries."""
        found: list[_Due] = []
        order = {job.name: index for index, job in enumerate(schedule.jobs)}
        with self.store.db.connect() as connection:
            for job in schedule.jobs:
                last = runs.last_due(connection, job.name)
                if last is not None and job.each_missed:
                    instants = job.occurrences(last, until)
                else:
                    newest = job.newest(until)
                    instants = [newest] if newest and (last is None or newest > last) else []
                found += [_Due(i, order[job.name], job, None) for i in instants]
            again = runs.to_claim_again(connection, until, self.now(), schedule.max_attempts)
            if self.postgresql:  # with the job's lock free, a running row's node is gone
                again += [
                    run
                    for job in schedule.jobs
                    for run in runs.running_of(connection, job.name)
                    if run.due <= until and run.id not in {r.id for r in again}
                ]
        for run in again:
            if run.job in order:
                found.append(_Due(run.due, order[run.job], schedule.job(run.job), run))
        return sorted(found, key=lambda d: (d.due, d.order))

    def run(self, schedule: Schedule, item: _Due) -> RunReport:
        """Claim ``item`` and run it, holding the job's lock on PostgreSQL."""
        job = item.job
        with runs.job_lock(self.store, job.name) as locked:
            if not locked:
                return RunReport(job.name, item.due, "skipped", summary="another node runs it")
            now = self.now()
            lease_until = now + job.lease
            if item.seen is None:
                run = runs.claim_new(self.store, job.name, item.due, now, lease_until)
            else:
                run = runs.claim_again(
                    self.store, item.seen, now, lease_until, ignore_lease=self.postgresql
                )
            if run is None:
                return RunReport(job.name, item.due, "skipped", summary="claimed by another node")
            return self.execute(schedule, job, run)

    def execute(self, schedule: Schedule, job: Job, run: runs.Run) -> RunReport:
        """Run the job's body for the claimed ``run`` and record how it ended."""
        due = run.due.astimezone(ZONE)  # events, files and reports carry local instants
        context = JobContext(
            engine=self.engine,
            due=due,
            now=self.now(),
            export_dir=self.export_dir,
            checkpoint_dir=self.checkpoint_dir,
            smtp=self.smtp,
        )
        try:
            outcome = self.bodies[job.name](context)
        except Exception as exc:  # recorded on the run, retried with backoff; never lost
            log.exception("job %s of %s failed", job.name, run.due_at)
            error = f"{type(exc).__name__}: {exc}"
            now = self.now()
            retry = (
                now + schedule.delay_after(run.attempts)
                if run.attempts < schedule.max_attempts
                else None
            )
            runs.fail(self.store, run, error, now, retry)
            return RunReport(
                job.name,
                due,
                "failed",
                run.id,
                run.attempts,
                error=error,
                retry_at=runs.stamp(retry) if retry else None,
            )
        outcome = {"clause": job.clause, **outcome}
        if not runs.succeed(self.store, run, outcome, self.now()):
            log.warning("job %s of %s: the claim was taken over meanwhile", job.name, run.due_at)
        if not job.each_missed:
            runs.prune(self.store, job.name, run.due - _KEEP_PASSES)
        summary = str(outcome.get("summary", ""))
        return RunReport(
            job.name, due, "succeeded", run.id, run.attempts, summary, None, None, outcome
        )


def _engine_of(database: str | Engine | None) -> tuple[Engine, bool]:
    if isinstance(database, Engine):
        return database, False
    return Engine(database), True


def run_due(
    database: str | Engine | None,
    until: datetime,
    *,
    now: datetime | None = None,
    export_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    smtp: Any = SmtpFromEnvironment,
    bodies: Mapping[str, JobBody] = JOBS,
    on_run: Callable[[RunReport], None] | None = None,
) -> list[RunReport]:
    """Run every job due up to ``until`` not run yet, in order; the reports of this pass.

    ``database``: a URL (an engine is made and closed) or an :class:`Engine` (kept, as the
    scheduler of ``billing serve`` does). ``now``: the wall clock for claims, leases and
    retries (default: read at each step; an edge, docs/engine.md). ``on_run`` hears each
    report as it ends (the command line prints it at once).
    """
    if until.tzinfo is None:
        raise ValueError("until needs a UTC offset")
    engine, own = _engine_of(database)
    try:
        run_pass = _Pass(engine, now, export_dir, checkpoint_dir, smtp, bodies)
        schedule = schedule_of(engine.catalog, until)
        reports = []
        for item in run_pass.due_runs(schedule, until):
            report = run_pass.run(schedule, item)
            reports.append(report)
            if on_run is not None:
                on_run(report)
        return reports
    finally:
        if own:
            engine.close()


def retry_run(
    database: str | Engine | None,
    run_id: int,
    *,
    now: datetime | None = None,
    export_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    smtp: Any = SmtpFromEnvironment,
    bodies: Mapping[str, JobBody] = JOBS,
) -> RunReport:
    """A person's retry of a failed run, now (``billing jobs retry``): a new round of
    attempts. ValueError if there is no such run or it has not failed."""
    engine, own = _engine_of(database)
    try:
        run_pass = _Pass(engine, now, export_dir, checkpoint_dir, smtp, bodies)
        with engine.store.db.begin() as connection:
            run = runs.mark_for_retry(connection, run_id, run_pass.now())
            if run is None:
                found = runs.run_by_id(connection, run_id)
                state = f"is {found.status}" if found else "does not exist"
                raise ValueError(f"run {run_id} {state}: only a failed run is retried")
        schedule = schedule_of(engine.catalog, run.due)
        return run_pass.run(schedule, _Due(run.due, 0, schedule.job(run.job), run))
    finally:
        if own:
            engine.close()


def overview(connection, schedule: Schedule, now: datetime) -> list[dict[str, Any]]:
    """Each job as ``billing jobs list`` and the admin UI's Jobs page show it: its schedule,
    clause, catch-up rule, last run (with outcome or error) and next due instant."""
    last = runs.last_runs(connection)
    rows = []
    for job in schedule.jobs:
        run = last.get(job.name)
        upcoming = job.next_after(now)
        rows.append(
            {
                "job": job.name,
                "cron": job.cron,
                "clause": job.clause,
                "catch_up": "each" if job.each_missed else "latest",
                "lease_minutes": int(job.lease.total_seconds() // 60),
                "last_run": run.to_json() if run else None,
                "next_run": runs.stamp(upcoming) if upcoming else None,
            }
        )
    return rows
