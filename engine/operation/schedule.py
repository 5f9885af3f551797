"""The jobs of Platform: schedule and their due instants, from the catalog's crontab lines.

A job's line is read by APScheduler (``CronTrigger.from_crontab``) in Europe/Berlin; a due
instant is one occurrence of it. The jobs run in the order of their due instants, jobs due at
the same instant in the order of the file (``rules/platform/schedule.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from engine.catalog import Catalog
from engine.catalog.values import CRON_ZONE

CITATION = "Platform: schedule"
ZONE = ZoneInfo(CRON_ZONE)
# Looking back for a job's newest occurrence: from an hour, doubled up to two years (a line
# like "0 0 29 2 *" fires once in four years: such a job starts at its next occurrence).
_FIRST_LOOK_BACK = timedelta(hours=1)
_LONGEST_LOOK_BACK = timedelta(days=800)


@dataclass(frozen=True)
class Job:
    """One job of Platform: schedule: its crontab line, catch-up rule, lease and clause."""

    name: str
    cron: str
    each_missed: bool
    lease: timedelta
    clause: str

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone=ZONE)

    def next_after(self, instant: datetime) -> datetime | None:
        """The first due instant strictly after ``instant``."""
        return _next(self.trigger(), instant + timedelta(seconds=1))

    def newest(self, until: datetime) -> datetime | None:
        """The newest due instant at or before ``until`` (None if none within two years)."""
        trigger = self.trigger()
        back = _FIRST_LOOK_BACK
        while back <= _LONGEST_LOOK_BACK:
            found = None
            instant = _next(trigger, until - back)
            while instant is not None and instant <= until:
                found = instant
                instant = _next(trigger, instant + timedelta(seconds=1))
            if found is not None:
                return found
            back *= 2
        return None

    def occurrences(self, after: datetime, until: datetime) -> list[datetime]:
        """Every due instant after ``after`` up to ``until``, in order."""
        trigger = self.trigger()
        found = []
        instant = _next(trigger, after + timedelta(seconds=1))
        while instant is not None and instant <= until:
            found.append(instant)
            instant = _next(trigger, instant + timedelta(seconds=1))
        return found


def _next(trigger: CronTrigger, start: datetime) -> datetime | None:
    """The trigger's first fire time at or after ``start`` (whole seconds)."""
    return trigger.get_next_fire_time(None, start.astimezone(ZONE).replace(microsecond=0))


@dataclass(frozen=True)
class Schedule:
    """The jobs in the file's order, and the retry rule every failed run follows."""

    jobs: tuple[Job, ...]
    retry_first: timedelta
    retry_max: timedelta
    max_attempts: int

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(f"no job {name!r} in {CITATION} ({', '.join(self.names)})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(job.name for job in self.jobs)

    def delay_after(self, attempts: int) -> timedelta:
        """How long a run waits after its ``attempts``-th failed attempt: doubling, capped."""
        seconds = self.retry_first.total_seconds() * 2 ** max(attempts - 1, 0)
        return min(timedelta(seconds=seconds), self.retry_max)


def schedule_of(catalog: Catalog, at: datetime) -> Schedule:
    """The schedule in force at ``at``: one job per ``<name>_cron`` parameter, in file order."""
    terms = catalog.at(at).clause(CITATION)
    jobs = tuple(
        Job(
            name=name,
            cron=terms[f"{name}_cron"],
            each_missed=terms[f"{name}_each_missed"],
            lease=timedelta(minutes=terms[f"{name}_lease_minutes"]),
            clause=terms.clause_of(f"{name}_cron"),
        )
        for parameter in terms.file.parameters
        if parameter.endswith("_cron")
        for name in (parameter.removesuffix("_cron"),)
    )
    return Schedule(
        jobs=jobs,
        retry_first=timedelta(seconds=terms["retry_first_seconds"]),
        retry_max=timedelta(seconds=terms["retry_max_seconds"]),
        max_attempts=terms["max_attempts"],
    )


def local_time(stamp: str | None, empty: str = "") -> str:
    """A stamp of ``job_runs`` (UTC, ``2026-12-06T23:15:00Z``) as people in Germany read it,
    in the schedule's zone: ``2026-12-07 00:15 CET`` (JSON keeps the UTC stamp)."""
    if not stamp:
        return empty
    instant = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(ZONE)
    return instant.strftime("%Y-%m-%d %H:%M %Z")
