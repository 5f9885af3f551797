"""The admin UI's Jobs page: the jobs of Platform: schedule with their last and next runs,
outcomes, the files they wrote (downloads from the export folder, by name only) and failed
runs with their error and a Retry button (finance, legal, operator; audited; docs/jobs.md).
"""

from __future__ import annotations

import io
import mimetypes

from flask import abort, flash, redirect, render_template, send_file, url_for

from admin_ui.views import _engine, _now, _person, bp
from engine.ledger import audit
from engine.operation import runs
from engine.operation.exports import export_dir, find_export
from engine.operation.run_due import overview
from engine.operation.schedule import local_time, schedule_of

RETRY_ROLES = ("finance", "legal", "operator")


def may_retry(role: str) -> bool:
    return role in RETRY_ROLES


@bp.app_template_filter("local_time")
def _local_time(stamp: str | None) -> str:
    """Runs' UTC stamps in Europe/Berlin, as the schedule is written."""
    return local_time(stamp)


@bp.get("/jobs")
def jobs_view():
    engine = _engine()
    now = _now()
    schedule = schedule_of(engine.catalog, now)
    with engine.store.db.connect() as connection:
        jobs = overview(connection, schedule, now)
        recent = runs.runs(connection, limit=50)
        failures = runs.last_failures(connection)
    folder = export_dir()
    files = sorted(
        {
            item["name"]
            for run in recent
            for item in (run.outcome or {}).get("files", ())
            if find_export(folder, item["name"]) is not None
        }
    )
    return render_template(
        "jobs.html",
        jobs=jobs,
        recent=recent,
        failures=failures,
        files=files,
        folder=folder,
        may_retry=may_retry(_person().role),
    )


@bp.get("/jobs/files/<name>")
def job_file(name: str):
    """One file of the export folder, by its name alone (no path: anything else is 404)."""
    path = find_export(export_dir(), name)
    if path is None:
        abort(404)
    # Read whole (files of a month or a collection date), so no file handle outlives the answer.
    return send_file(
        io.BytesIO(path.read_bytes()),
        mimetype=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        as_attachment=True,
        download_name=path.name,
    )


@bp.post("/jobs/runs/<int:run_id>/retry")
def job_retry(run_id: int):
    """A failed run gets a new round of attempts; the scheduler runs it on its next pass."""
    person = _person()
    if not may_retry(person.role):
        flash(f"A {person.role} may not retry a job; ask finance, legal or an operator.", "error")
        return jobs_view(), 403
    with _engine().store.db.begin() as connection:
        found = runs.run_by_id(connection, run_id)
        if found is None:
            abort(404)
        if runs.mark_for_retry(connection, run_id, _now()) is None:
            flash(f"Run {run_id} is {found.status}, not failed: nothing to retry.", "error")
            return jobs_view(), 409
        audit.record(
            connection,
            person.email,
            "job_retried",
            at=_now(),
            run=run_id,
            job=found.job,
            due_at=found.due_at,
            error=found.error,
        )
    flash(f"Run {run_id} ({found.job}) will run again on the scheduler's next pass.", "info")
    return redirect(url_for("admin.jobs_view")), 303
