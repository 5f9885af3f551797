"""Two ``billing serve`` processes with the scheduler on, one PostgreSQL (issue 27): started on
a database whose previous month is not invoiced yet (the 1st is a missed occurrence for both),
they issue each invoice once, write each file once, and leave one run per job and due instant.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine.engine import Engine
from engine.ledger.store import Store
from engine.ledger.tables import invoices, job_runs
from tests.test_jobs import open_month

pytestmark = pytest.mark.postgresql


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def previous_month() -> str:
    """The month the scheduler invoices now: the one before Berlin's today (the servers'
    scheduler reads the wall clock, so this test does too)."""
    first = datetime.now(ZoneInfo("Europe/Berlin")).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def test_two_servers_issue_each_invoice_once_and_write_each_file_once(
    postgres, tmp_path, catalog, decider
):
    url = postgres()
    month = previous_month()
    engine = Engine(url, catalog=catalog, decider=decider)
    open_month(engine, month)
    engine.close()
    environment = {
        **os.environ,
        "BILLING_EXPORT_DIR": str(tmp_path / "exports"),
        "BILLING_AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "BILLING_AUDIT_KEY_FILE": str(tmp_path / "audit.key"),
    }
    environment.pop("BILLING_SMTP_HOST", None)
    billing = str(Path(sys.executable).parent / "billing")
    servers, logs = [], []
    for number in range(2):
        log = open(tmp_path / f"serve-{number}.log", "wb")  # noqa: SIM115 (closed below)
        logs.append(log)
        command = [billing, "serve", "--port", str(free_port()), "--db", url, "--workers", "1"]
        command += ["--no-demo", "--no-webhooks"]
        servers.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        )
    try:
        deadline = time.monotonic() + 120
        datev = tmp_path / "exports" / f"EXTF_Buchungsstapel_{month}.csv"
        while time.monotonic() < deadline:
            with Store(url, upgrade=False) as store, store.db.connect() as connection:
                done = connection.execute(
                    select(func.count())
                    .select_from(job_runs)
                    .where(
                        job_runs.c.job.in_(("invoices", "datev", "clock", "checkpoint")),
                        job_runs.c.status == "succeeded",
                    )
                ).scalar_one()
            if done >= 4 and datev.is_file():
                break
            assert all(server.poll() is None for server in servers), "a server stopped"
            time.sleep(0.5)
        else:
            raise AssertionError("the scheduled jobs did not run")
        time.sleep(3)  # both servers' first passes are over
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=60)
        for log in logs:
            log.close()
    said = [(tmp_path / f"serve-{n}.log").read_text() for n in range(2)]
    assert all("billing: scheduler on" in text for text in said)
    issued_lines = [
        line for text in said for line in text.splitlines() if "invoices issued" in line
    ]
    assert len(issued_lines) == 1 and f"invoices issued for {month}" in issued_lines[0]
    with Store(url, upgrade=False) as store, store.db.connect() as connection:
        rows = connection.execute(select(job_runs)).all()
        numbers = connection.execute(
            select(invoices.c.account, invoices.c.kind, invoices.c.issued_on)
        ).all()
    assert len(numbers) == len(set(numbers)) == 3  # each invoice once
    keys = [(row.job, row.due_at) for row in rows]
    assert len(keys) == len(set(keys))
    assert {row.status for row in rows} == {"succeeded"}
    assert {row.attempts for row in rows if row.job in ("invoices", "datev")} == {1}
    (datev_run,) = [row for row in rows if row.job == "datev"]
    assert '"status": "written"' in datev_run.outcome  # written by one server, once
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [datev.name]
