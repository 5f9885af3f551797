"""The runs of the jobs in ``job_runs`` (migration 0022): claimed once, leased, retried.

A run is the row of one job at one due instant (``UNIQUE(job, due_at)``). A node claims a new
run by inserting its row in a transaction of its own: a second node's insert fails, so the
run is that node's alone. A run held by a node that died (``running`` past its lease) and a
failed run whose retry is due are claimed again by a compare-and-set update on their status
and attempts: of two nodes trying, one updates the row, the other finds it changed. Only the
node holding the claim (same attempt) may record its end. On PostgreSQL a runner also holds
an advisory lock per job while it runs (:func:`job_lock`): a ``running`` row of a job whose
lock is free belongs to a node that is gone, whatever its lease says.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from engine.ledger.store import Store
from engine.ledger.tables import job_runs

STATUSES = ("running", "succeeded", "failed")


def stamp(instant: datetime) -> str:
    """An instant as ``job_runs`` keeps it: UTC, whole seconds, comparable as text."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant_of(text_: str) -> datetime:
    return datetime.fromisoformat(text_.replace("Z", "+00:00"))


def this_node() -> str:
    """The name of this process in ``job_runs.node``: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Run:
    """One row of ``job_runs`` as read."""

    id: int
    job: str
    due_at: str
    status: str
    attempts: int
    node: str | None
    started_at: str | None
    finished_at: str | None
    lease_until: str | None
    next_attempt_at: str | None
    error: str | None
    outcome: dict[str, Any] | None

    @property
    def due(self) -> datetime:
        return instant_of(self.due_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "due_at": self.due_at,
            "status": self.status,
            "attempts": self.attempts,
            "node": self.node,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "next_attempt_at": self.next_attempt_at,
            "error": self.error,
            "outcome": self.outcome,
        }


def _run(row) -> Run:
    values = dict(row._mapping)
    values["outcome"] = json.loads(values["outcome"]) if values["outcome"] else None
    return Run(**values)


def run_by_id(connection: Connection, run_id: int) -> Run | None:
    row = connection.execute(select(job_runs).where(job_runs.c.id == run_id)).first()
    return _run(row) if row is not None else None


def last_due(connection: Connection, job: str) -> datetime | None:
    """The newest due instant of ``job`` with a row, whatever its status (None: never run)."""
    value = connection.execute(
        select(func.max(job_runs.c.due_at)).where(job_runs.c.job == job)
    ).scalar()
    return instant_of(value) if value else None


def runs(connection: Connection, job: str | None = None, limit: int = 50) -> list[Run]:
    """The newest runs (of one job, or all), newest due instant first."""
    query = select(job_runs).order_by(job_runs.c.due_at.desc(), job_runs.c.id.desc()).limit(limit)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    return [_run(row) for row in connection.execute(query)]


def last_runs(connection: Connection) -> dict[str, Run]:
    """Each job's run of its newest due instant."""
    newest = (
        select(job_runs.c.job, func.max(job_runs.c.due_at).label("due_at"))
        .group_by(job_runs.c.job)
        .subquery()
    )
    query = select(job_runs).join(
        newest, and_(job_runs.c.job == newest.c.job, job_runs.c.due_at == newest.c.due_at)
    )
    return {row.job: _run(row) for row in connection.execute(query)}


def last_failures(connection: Connection, limit: int = 20) -> list[Run]:
    """Failed runs, newest first (retried or waiting for a person)."""
    query = (
        select(job_runs)
        .where(job_runs.c.status == "failed")
        .order_by(job_runs.c.due_at.desc())
        .limit(limit)
    )
    return [_run(row) for row in connection.execute(query)]


def to_claim_again(
    connection: Connection, until: datetime, now: datetime, max_attempts: int
) -> list[Run]:
    """Runs due by ``until`` to claim again at ``now``: held past their lease (their node
    died), or failed with a retry due and attempts left."""
    moment = stamp(now)
    query = select(job_runs).where(
        job_runs.c.due_at <= stamp(until),
        or_(
            and_(job_runs.c.status == "running", job_runs.c.lease_until < moment),
            and_(
                job_runs.c.status == "failed",
                job_runs.c.next_attempt_at <= moment,
                job_runs.c.attempts < max_attempts,
            ),
        ),
    )
    return [_run(row) for row in connection.execute(query.order_by(job_runs.c.due_at))]


def running_of(connection: Connection, job: str) -> list[Run]:
    """The ``running`` rows of ``job`` (with its advisory lock held: orphans of a dead node)."""
    query = select(job_runs).where(job_runs.c.job == job, job_runs.c.status == "running")
    return [_run(row) for row in connection.execute(query)]


def claim_new(
    store: Store, job: str, due: datetime, now: datetime, lease_until: datetime
) -> Run | None:
    """Claim the run of ``job`` at ``due`` by inserting its row; None if a row exists."""
    values = {
        "job": job,
        "due_at": stamp(due),
        "status": "running",
        "attempts": 1,
        "node": this_node(),
        "started_at": stamp(now),
        "lease_until": stamp(lease_until),
    }
    try:
        with store.db.begin() as connection:
            run_id = connection.execute(insert(job_runs).values(**values)).inserted_primary_key[0]
            return run_by_id(connection, run_id)
    except IntegrityError:
        return None  # another node claimed it first


def claim_again(
    store: Store, seen: Run, now: datetime, lease_until: datetime, *, ignore_lease: bool = False
) -> Run | None:
    """Claim ``seen`` again if it is still as seen (status and attempts): compare and set.

    A ``running`` row only when its lease ended (or ``ignore_lease``: its job's advisory lock
    shows its node is gone); a ``failed`` one whatever its retry time (the caller checked it).
    """
    condition = [
        job_runs.c.id == seen.id,
        job_runs.c.status == seen.status,
        job_runs.c.attempts == seen.attempts,
    ]
    if seen.status == "running" and not ignore_lease:
        condition.append(job_runs.c.lease_until < stamp(now))
    with store.db.begin() as connection:
        changed = connection.execute(
            update(job_runs)
            .where(*condition)
            .values(
                status="running",
                attempts=seen.attempts + 1,
                node=this_node(),
                started_at=stamp(now),
                finished_at=None,
                lease_until=stamp(lease_until),
                next_attempt_at=None,
            )
        ).rowcount
        return run_by_id(connection, seen.id) if changed == 1 else None


def _holder(run: Run) -> list:
    """The claim that may record a run's end: the same row, attempt and node, still running."""
    return [
        job_runs.c.id == run.id,
        job_runs.c.attempts == run.attempts,
        job_runs.c.node == run.node,
        job_runs.c.status == "running",
    ]


def succeed(store: Store, run: Run, outcome: dict[str, Any], now: datetime) -> bool:
    """Record the run's outcome; False if its claim was taken over meanwhile."""
    with store.db.begin() as connection:
        return (
            connection.execute(
                update(job_runs)
                .where(*_holder(run))
                .values(
                    status="succeeded",
                    finished_at=stamp(now),
                    lease_until=None,
                    error=None,
                    outcome=json.dumps(outcome, ensure_ascii=False, sort_keys=True),
                )
            ).rowcount
            == 1
        )


def fail(store: Store, run: Run, error: str, now: datetime, retry_at: datetime | None) -> bool:
    """Record the run as failed with ``error``; tried again at ``retry_at`` (None: never by
    itself)."""
    with store.db.begin() as connection:
        return (
            connection.execute(
                update(job_runs)
                .where(*_holder(run))
                .values(
                    status="failed",
                    finished_at=stamp(now),
                    lease_until=None,
                    error=error,
                    next_attempt_at=stamp(retry_at) if retry_at else None,
                )
            ).rowcount
            == 1
        )


def mark_for_retry(connection: Connection, run_id: int, now: datetime) -> Run | None:
    """A person's retry of a failed run: a new round of attempts from ``now``; None if the
    run is not failed (the caller says so)."""
    changed = connection.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id, job_runs.c.status == "failed")
        .values(attempts=0, next_attempt_at=stamp(now))
    ).rowcount
    return run_by_id(connection, run_id) if changed == 1 else None


def prune(store: Store, job: str, before: datetime) -> None:
    """Forget the succeeded runs of ``job`` due before ``before`` (jobs that catch up with
    their newest occurrence only: a pass every minute need not stay for ever)."""
    with store.db.begin() as connection:
        connection.execute(
            delete(job_runs).where(
                job_runs.c.job == job,
                job_runs.c.status == "succeeded",
                job_runs.c.due_at < stamp(before),
            )
        )


def _lock_key(job: str) -> int:
    """A stable signed 64-bit key per job for PostgreSQL's advisory locks."""
    digest = hashlib.sha256(f"billing-job:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def job_lock(store: Store, job: str) -> Iterator[bool]:
    """On PostgreSQL: hold the job's advisory lock (``pg_try_advisory_lock``) on a connection
    of its own for the block; yields whether it was taken (False: a node runs the job now).
    Elsewhere yields True: SQLite serialises its writers, the claims decide."""
    if store.db.dialect.name != "postgresql":
        yield True
        return
    key = _lock_key(job)
    with store.db.connect() as connection:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        connection.commit()  # a session lock: it outlives the transaction, not the connection
        try:
            yield bool(taken)
        finally:
            if taken:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
