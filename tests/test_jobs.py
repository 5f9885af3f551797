"""The month runs itself (issue 27): the jobs of Platform: schedule, each due run once.

A month of two customers is invoiced, mailed (a real SMTP server, tests/smtp_sink.py) and
collected by ``billing jobs run-due``; a restart after a missed 1st catches up once; a failing
job is retried with backoff; a dead node's run is taken over; a file is never overwritten.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from billing.cli.main import main
from engine.catalog.loader import load_files
from engine.engine import Engine
from engine.ledger.store import Store
from engine.ledger.tables import invoices, job_runs, outbox
from engine.operation import runs
from engine.operation.exports import ExportConflict, find_export, write_export
from engine.operation.jobs import JOBS, JobContext
from engine.operation.run_due import run_due
from engine.operation.schedule import schedule_of
from tests.conftest import Customer, edit
from tests.smtp_sink import SmtpSink

ADDRESS = {"street": "Königsallee 1", "postal_code": "40212", "city": "Düsseldorf", "country": "DE"}
BERLIN = "+01:00"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def open_month(engine: Engine, month: str = "2026-11") -> None:
    """A German business (postpay, SEPA mandate, VAT id, e-mail) and a consumer (prepay,
    e-mail), with calls in ``month``."""
    day = f"{month}-02T09:00:00{BERLIN}"
    business = Customer(engine, "firma")
    business.open(
        at=day,
        plan="clinq-premium",
        billing_method="postpay",
        customer={
            "name": "Lastschrift GmbH",
            "email": "buchhaltung@lastschrift.example",
            "address": ADDRESS,
            "vat_id": "DE111111125",
        },
    )
    business.send(
        "mandate.granted",
        f"{month}-02T10:00:00{BERLIN}",
        reference="CLINQ-firma-1",
        signed_on=f"{month}-01",
        debtor_name="Lastschrift GmbH",
        iban="DE02120300000000202051",
    )
    business.call(f"{month}-05T10:00:00{BERLIN}", "+4921155555", 600)
    consumer = Customer(engine, "kundin")
    consumer.open(
        at=day,
        plan="clinq-premium",
        customer_type="consumer",
        customer={"name": "Erika Muster", "email": "erika@example.com", "address": ADDRESS},
    )
    consumer.send("credit.topped_up", f"{month}-02T10:00:00{BERLIN}", amount="50.00")
    consumer.call(f"{month}-04T10:00:00{BERLIN}", "+4917012345678", 300)


@pytest.fixture
def month(tmp_path, catalog, decider, monkeypatch) -> str:
    """A SQLite ledger with November 2026 of two customers; export and checkpoint folders in
    ``tmp_path``."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = Engine(url, catalog=catalog, decider=decider)
    open_month(engine)
    engine.close()
    monkeypatch.setenv("BILLING_EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("BILLING_AUDIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.delenv("BILLING_SMTP_HOST", raising=False)
    return url


def issued_count(url: str) -> int:
    with Store(url) as store, store.db.connect() as connection:
        return connection.execute(select(func.count()).select_from(invoices)).scalar_one()


def rows_of(url: str) -> list:
    with Store(url) as store, store.db.connect() as connection:
        return list(connection.execute(select(job_runs).order_by(job_runs.c.id)))


def attachments(message) -> list:
    return [part for part in message.iter_attachments()]


def test_run_due_invoices_mails_and_writes_the_sepa_file_once(month, tmp_path, monkeypatch, capsys):
    with SmtpSink() as sink:
        monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("BILLING_SMTP_PORT", str(sink.port))
        status = main(["jobs", "run-due", "--until", "2026-12-02T09:00:00+01:00", "--db", month])
        out = capsys.readouterr().out
        assert status == 0, out
        assert "invoices 2026-12-01T00:00:00+01:00 succeeded" in out
        assert "2 invoices issued for 2026-11" in out
        issued = issued_count(month)
        # One e-mail per invoice: the business's of the 20th (its negative credit, CLINQ SD
        # 1.3) and of the month, the consumer's of the month; each with its document.
        assert issued == 3 and len(sink.messages) == 3
        by_recipient: dict[str, list] = {}
        for _, rcpts, message in sink.messages:
            (rcpt,) = rcpts
            by_recipient.setdefault(rcpt, []).append(message)
        assert sorted(by_recipient) == ["buchhaltung@lastschrift.example", "erika@example.com"]
        from facturx import get_xml_from_pdf

        for message in by_recipient["buchhaltung@lastschrift.example"]:
            (pdf,) = attachments(message)
            assert pdf.get_content_type() == "application/pdf"
            xml = get_xml_from_pdf(io.BytesIO(pdf.get_content()), check_xsd=False)[1]
            assert b"CrossIndustryInvoice" in xml  # Factur-X (the rules: the test below)
        (message,) = by_recipient["erika@example.com"]
        (pdf,) = attachments(message)
        assert pdf.get_content_type() == "application/pdf"
        assert not get_xml_from_pdf(io.BytesIO(pdf.get_content()), check_xsd=False)[1]
        datev = tmp_path / "exports" / "EXTF_Buchungsstapel_2026-11.csv"
        assert datev.is_file()

        # Again: nothing due, nothing sent, nothing issued.
        assert main(["jobs", "run-due", "--until", "2026-12-02T09:00:00+01:00", "--db", month]) == 0
        assert len(sink.messages) == 3 and issued_count(month) == issued
        assert "0 runs due" in capsys.readouterr().err

    # The collection date is beyond the wall clock's tolerance: refused without --i-know.
    later = ["jobs", "run-due", "--until", "2026-12-10T09:00:00+01:00", "--db", month]
    if datetime.now(UTC) < instant("2026-12-09T09:00:00+01:00"):
        assert main(later) == 2
        assert "refused without --i-know" in capsys.readouterr().err
    monkeypatch.delenv("BILLING_SMTP_HOST")
    assert main([*later, "--i-know"]) == 0
    out = capsys.readouterr().out
    with Store(month) as store, store.unit(commit=False) as unit:
        collected = unit.invoice("2026-000002").detail["direct_debit"]["collection_date"]
    assert collected == "2026-12-09"
    name = f"pain.008-{collected}-CORE.xml"
    assert f"SEPA files: {name}" in out
    written = tmp_path / "exports" / name
    assert (
        b"<PmtInfId>" in written.read_bytes() and b"DE02120300000000202051" in written.read_bytes()
    )
    statuses = {(row.job, row.due_at): row.status for row in rows_of(month)}
    assert set(statuses.values()) == {"succeeded"}
    assert statuses[("sepa", "2026-12-08T06:00:00Z")] == "succeeded"


def test_the_business_invoice_mailed_passes_the_official_rules(month, rules, monkeypatch):
    from facturx import get_xml_from_pdf

    with SmtpSink() as sink:
        monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("BILLING_SMTP_PORT", str(sink.port))
        assert main(["jobs", "run-due", "--until", "2026-12-01T06:00:00+01:00", "--db", month]) == 0
    (message, *_) = [
        m for _, rcpts, m in sink.messages if "buchhaltung@lastschrift.example" in rcpts
    ]
    (pdf,) = attachments(message)
    filename, xml = get_xml_from_pdf(io.BytesIO(pdf.get_content()), check_xsd=False)
    assert filename == "factur-x.xml"
    errors = rules.errors("factur-x", xml) + rules.errors("en16931-cii", xml)
    assert not errors, [(e.id, e.text) for e in errors]


def test_a_restart_after_a_missed_first_catches_up_once(month, catalog, decider):
    engine = Engine(month, catalog=catalog, decider=decider)
    try:
        # The server ran last on 30 November, was down over the 1st, starts on the 3rd.
        first = run_due(engine, instant("2026-11-30T12:00:00+01:00"), smtp=None)
        # Never run before: each job starts from its newest occurrence (1 November's run).
        assert [r.summary for r in first if r.job == "invoices"] == [
            "0 invoices issued for 2026-10"
        ]
        before = issued_count(month)
        restarted = run_due(engine, instant("2026-12-03T10:00:00+01:00"), smtp=None)
        runs_of_invoices = [r for r in restarted if r.job == "invoices"]
        assert [r.summary for r in runs_of_invoices] == ["2 invoices issued for 2026-11"]
        assert issued_count(month) == before + 2
        clock_days = [r.due.isoformat() for r in restarted if r.job == "clock"]
        assert clock_days == [f"2026-12-0{d}T00:15:00+01:00" for d in (1, 2, 3)]  # each day
        assert [r.job for r in restarted if r.job == "checkpoint"] == ["checkpoint"]  # newest
        again = run_due(engine, instant("2026-12-03T10:00:00+01:00"), smtp=None)
        assert again == [] and issued_count(month) == before + 2
    finally:
        engine.close()


def test_a_failing_job_is_retried_after_backoff_then_succeeds(month, catalog, decider, capsys):
    calls = []

    def flaky(ctx):
        calls.append(ctx.due)
        if len(calls) == 1:
            raise RuntimeError("the accountant's share is offline")
        return {"summary": "written"}

    bodies = {**JOBS, "datev": flaky}
    engine = Engine(month, catalog=catalog, decider=decider)
    now = instant("2026-12-02T07:00:00+01:00")
    try:
        reports = run_due(engine, now, now=now, smtp=None, bodies=bodies)
        (failed,) = [r for r in reports if r.job == "datev"]
        assert failed.status == "failed" and "the accountant's share is offline" in failed.error
        assert failed.retry_at == "2026-12-02T06:01:00Z"  # retry_first_seconds: 60
        assert main(["jobs", "list", "--db", month]) == 0
        # people read the schedule's zone: the retry of 06:01 UTC is 07:01 in Berlin
        assert "(attempt 1; retry 2026-12-02 07:01 CET)" in capsys.readouterr().out
        # Not before its backoff: a pass 30 s later leaves it.
        soon = now + timedelta(seconds=30)
        assert [r.job for r in run_due(engine, soon, now=soon, smtp=None, bodies=bodies)] == []
        later = now + timedelta(minutes=2)
        retried = [
            r
            for r in run_due(engine, later, now=later, smtp=None, bodies=bodies)
            if r.job == "datev"
        ]
        assert [(r.status, r.attempts, r.run_id) for r in retried] == [
            ("succeeded", 2, failed.run_id)
        ]
        assert calls == [instant("2026-12-02T06:00:00+01:00")] * 2  # the same due instant
    finally:
        engine.close()


def test_failed_runs_give_up_after_max_attempts_and_a_person_retries(
    month, catalog, decider, capsys
):
    def broken(ctx):
        raise RuntimeError("disk full")

    engine = Engine(month, catalog=catalog, decider=decider)
    now = instant("2026-12-02T07:00:00+01:00")
    try:
        bodies = {**JOBS, "datev": broken}
        for step in range(6):
            at = now + timedelta(hours=2 * step)
            run_due(engine, now, now=at, smtp=None, bodies=bodies)
        (row,) = [r for r in rows_of(month) if r.job == "datev"]
        assert row.status == "failed" and row.attempts == 5 and row.next_attempt_at is None
        assert row.error == "RuntimeError: disk full"
    finally:
        engine.close()
    assert main(["jobs", "retry", str(row.id), "--db", month]) == 0
    assert "datev 2026-12-02T06:00:00+01:00 succeeded" in capsys.readouterr().out
    assert main(["jobs", "retry", str(row.id), "--db", month]) == 2
    assert "is succeeded: only a failed run is retried" in capsys.readouterr().err


def test_a_running_run_whose_lease_ended_is_taken_over(month, catalog, decider):
    engine = Engine(month, catalog=catalog, decider=decider)
    due = instant("2026-12-01T00:00:00+01:00")
    try:
        store = engine.store
        # A node claimed the invoice run at 00:00:05 and died: its lease lasts 120 minutes.
        dead = runs.claim_new(store, "invoices", due, due, due + timedelta(minutes=120))
        assert runs.claim_new(store, "invoices", due, due, due) is None  # claimed once
        within = due + timedelta(minutes=30)
        reports = run_due(engine, due, now=within, smtp=None)
        assert "invoices" not in {r.job for r in reports}  # still held
        after = due + timedelta(minutes=121)
        reports = run_due(engine, due, now=after, smtp=None)
        (taken,) = [r for r in reports if r.job == "invoices"]
        assert taken.run_id == dead.id and taken.attempts == 2 and taken.status == "succeeded"
        assert taken.summary == "2 invoices issued for 2026-11"
        # The dead node, come back, cannot record its end over the new one's.
        assert not runs.succeed(store, dead, {"summary": "late"}, after)
    finally:
        engine.close()


def test_an_export_with_other_bytes_is_never_overwritten(tmp_path, month, catalog, decider):
    folder = tmp_path / "files"
    assert write_export(folder, "EXTF_Buchungsstapel_2026-11.csv", b"one") == "written"
    assert write_export(folder, "EXTF_Buchungsstapel_2026-11.csv", b"one") == "unchanged"
    with pytest.raises(ExportConflict, match="never overwritten"):
        write_export(folder, "EXTF_Buchungsstapel_2026-11.csv", b"two")
    assert (folder / "EXTF_Buchungsstapel_2026-11.csv").read_bytes() == b"one"
    assert [p.name for p in folder.iterdir()] == ["EXTF_Buchungsstapel_2026-11.csv"]
    assert find_export(folder, "../files/EXTF_Buchungsstapel_2026-11.csv") is None
    assert find_export(folder, ".hidden") is None
    # The DATEV job meets a different file: the run fails, saying so, and the file stays.
    exports = tmp_path / "exports"
    write_export(exports, "EXTF_Buchungsstapel_2026-11.csv", b"someone else's")
    engine = Engine(month, catalog=catalog, decider=decider)
    at = instant("2026-12-02T07:00:00+01:00")
    try:
        reports = run_due(engine, at, now=at, smtp=None)
    finally:
        engine.close()
    (datev,) = [r for r in reports if r.job == "datev"]
    assert datev.status == "failed" and "never overwritten" in datev.error
    assert (exports / "EXTF_Buchungsstapel_2026-11.csv").read_bytes() == b"someone else's"


def test_a_sepa_file_recorded_but_not_written_is_written_when_the_run_resumes(
    tmp_path, month, catalog, decider
):
    """A run that stopped between recording the batch (sepa_export) and writing its file is
    taken over with the same due instant: the file lands, with the recorded bytes."""
    engine = Engine(month, catalog=catalog, decider=decider)
    due = instant("2026-12-08T07:00:00+01:00")
    context = JobContext(engine, due, due, tmp_path / "exports", tmp_path / "checkpoints", None)
    try:
        run_due(engine, due, now=due, smtp=None)
        written = tmp_path / "exports" / "pain.008-2026-12-09-CORE.xml"
        first = written.read_bytes()
        written.unlink()  # as if the node had died before writing it
        outcome = JOBS["sepa"](context)
        assert [f["name"] for f in outcome["files"]] == [written.name]
        assert outcome["files"][0]["total"] == "5.49"  # a string of the exact amount
        assert written.read_bytes() == first
        assert JOBS["sepa"](context)["summary"] == "no SEPA file due"  # there now: nothing
    finally:
        engine.close()


def test_the_schedule_is_in_the_catalog(catalog):
    schedule = schedule_of(catalog, instant("2026-12-01T00:00:00+01:00"))
    assert schedule.names == (
        "clock",
        "invoices",
        "sepa",
        "outbox",
        "webhooks",
        "checkpoint",
        "datev",
    )
    assert set(schedule.names) == set(JOBS)
    invoices_job = schedule.job("invoices")
    assert invoices_job.clause == "AGB 4.3.1" and invoices_job.each_missed
    assert invoices_job.next_after(instant("2026-12-01T00:00:00+01:00")) == instant(
        "2027-01-01T00:00:00+01:00"
    )
    # Summer time: 00:15 Berlin is 22:15 UTC the day before.
    assert schedule.job("clock").newest(instant("2027-07-01T12:00:00+02:00")) == instant(
        "2027-07-01T00:15:00+02:00"
    )


def test_a_bad_cron_line_is_refused_with_file_line_and_pointer(catalog_copy):
    path = catalog_copy / "rules" / "platform" / "schedule.yaml"
    edit(path, 'invoices_cron: "0 0 1 * *"', 'invoices_cron: "0 0 32 * *"')
    (error,) = [str(e) for e in load_files(catalog_copy).errors]
    assert "rules/platform/schedule.yaml" in error
    line = 1 + path.read_text().splitlines().index('      invoices_cron: "0 0 32 * *"')
    assert f":{line}:" in error
    assert "/versions/0/values/invoices_cron" in error and "cron" in error


def test_run_due_refuses_an_until_without_offset_and_jobs_list_json(month, capsys):
    assert main(["jobs", "run-due", "--until", "2026-12-02T09:00:00", "--db", month]) == 2
    assert "UTC offset" in capsys.readouterr().err
    assert main(["jobs", "list", "--json", "--db", month]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [job["job"] for job in listing["jobs"]][:2] == ["clock", "invoices"]
    assert all(job["last_run"] is None for job in listing["jobs"])


def test_without_smtp_the_outbox_job_says_what_stays_queued(month, catalog, decider):
    engine = Engine(month, catalog=catalog, decider=decider)
    at = instant("2026-12-01T00:05:00+01:00")
    try:
        reports = run_due(engine, at, now=at, smtp=None)
    finally:
        engine.close()
    (sent,) = [r for r in reports if r.job == "outbox"]
    assert sent.status == "succeeded"
    assert sent.summary == "SMTP not configured: 3 messages stay queued"
    with Store(month) as store, store.db.connect() as connection:
        assert connection.execute(select(func.count()).select_from(outbox)).scalar_one() == 3


def test_the_export_folder_serves_only_its_own_files(tmp_path):
    folder = tmp_path / "exports"
    write_export(folder, "pain.008-2026-12-09-CORE.xml", b"<x/>")
    (tmp_path / "secret.txt").write_text("no")
    assert (
        find_export(folder, "pain.008-2026-12-09-CORE.xml")
        == (folder / "pain.008-2026-12-09-CORE.xml").resolve()
    )
    for name in ("../secret.txt", "..", "/etc/passwd", "sub/x", "", ".pain.tmp"):
        assert find_export(folder, name) is None
    assert isinstance(Path(folder), Path)
