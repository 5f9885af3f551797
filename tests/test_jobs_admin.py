"""The admin UI's Jobs page (issue 27): runs and their outcomes, files to download (from the
export folder only, by name), failed runs with a Retry for finance, legal and operators."""

from __future__ import annotations

from datetime import datetime

import pytest

from billing.wsgi import create_app
from engine.access.people import create_person
from engine.operation import runs
from engine.operation.jobs import JOBS
from engine.operation.run_due import run_due
from tests.test_admin import PASSWORD, csrf, login
from tests.test_jobs import open_month

NOW = datetime.fromisoformat("2026-12-02T09:00:00+01:00")


@pytest.fixture
def jobs_client(tmp_path, catalog, decider, monkeypatch):
    from engine.engine import Engine

    monkeypatch.setenv("BILLING_EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("BILLING_AUDIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    (tmp_path / "secret.txt").write_text("not for download")
    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
    open_month(engine)

    def broken(ctx):
        raise RuntimeError("the bank's share is full")

    run_due(engine, NOW, now=NOW, smtp=None, bodies={**JOBS, "sepa": broken})
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with engine.store.db.begin() as connection:
        for email, role in (
            ("fin@example.com", "finance"),
            ("viewer@example.com", "viewer"),
            ("product@example.com", "product"),
        ):
            create_person(connection, email, role, PASSWORD)
    yield app.test_client(), engine
    engine.close()


def failed_run(engine) -> runs.Run:
    with engine.store.db.connect() as connection:
        (run,) = runs.last_failures(connection)
    return run


def test_the_jobs_page_shows_runs_files_and_failures(jobs_client):
    client, _ = jobs_client
    login(client, "viewer@example.com")
    page = client.get("/admin/jobs")
    assert page.status_code == 200
    text = page.data.decode()
    assert 'id="nav-jobs"' in text and "2 invoices issued for 2026-11" in text
    assert "EXTF_Buchungsstapel_2026-11.csv" in text
    assert " CET" in text and "Z<" not in text  # run instants in Europe/Berlin, not UTC stamps
    assert "RuntimeError: the bank&#39;s share is full" in text
    assert 'id="retry-' not in text  # a viewer reads only
    download = client.get("/admin/jobs/files/EXTF_Buchungsstapel_2026-11.csv")
    assert download.status_code == 200 and download.data.startswith(b'"EXTF"')
    assert "attachment" in download.headers["Content-Disposition"]
    for name in ("..%2Fsecret.txt", "../secret.txt", "%2E%2E", ".hidden", "nothing.csv"):
        assert client.get(f"/admin/jobs/files/{name}").status_code == 404, name


def test_finance_retries_a_failed_run_and_the_next_pass_runs_it(jobs_client):
    client, engine = jobs_client
    run = failed_run(engine)
    login(client, "product@example.com")
    token = csrf(client.get("/admin/jobs").data)
    refused = client.post(f"/admin/jobs/runs/{run.id}/retry", data={"csrf_token": token})
    assert refused.status_code == 403
    client.post("/admin/logout", data={"csrf_token": token})
    login(client, "fin@example.com")
    page = client.get("/admin/jobs").data
    assert f'id="retry-{run.id}"'.encode() in page
    without = client.post(f"/admin/jobs/runs/{run.id}/retry", data={})
    assert without.status_code in (400, 403)  # no CSRF token: refused, nothing changed
    assert failed_run(engine).attempts == run.attempts
    retried = client.post(f"/admin/jobs/runs/{run.id}/retry", data={"csrf_token": csrf(page)})
    assert retried.status_code == 303
    assert failed_run(engine).attempts == 0
    assert "retried run" in client.get("/admin/audit").data.decode()
    # The scheduler's next pass runs it (now without the fault).
    reports = run_due(engine, NOW, now=NOW, smtp=None)
    assert [(r.job, r.status) for r in reports] == [("sepa", "succeeded")]
    page = client.get("/admin/jobs").data
    assert b"No failed runs." in page
    again = client.post(f"/admin/jobs/runs/{run.id}/retry", data={"csrf_token": csrf(page)})
    assert again.status_code == 409
    assert (
        client.post("/admin/jobs/runs/999/retry", data={"csrf_token": csrf(page)}).status_code
        == 404
    )
