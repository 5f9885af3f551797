"""Safe to operate (issue 25): demo data only on request (item 4), a login limit every worker
sees (item 5), and an audit verification that says what it cannot know and has a checkpoint
of its own (item 7).

Two tests start the real ``billing serve`` on a free port (as tests/test_serve_granian.py
does): an empty database given with ``--db`` gets no demo and no token, and two gunicorn
workers refuse the sixth failed login of a minute whichever of them answers.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select

import billing.serve as serve_module
from billing.cli.main import main
from billing.demo_story import STORY
from billing.serve import CheckpointSchedule, demo_wanted, serve, write_checkpoint
from billing.wsgi import create_app
from engine.access import people
from engine.access.people import create_person
from engine.ledger import audit
from engine.ledger.store import Store
from engine.ledger.tables import accounts, api_tokens, audit_log, login_attempts
from tests.test_serve_granian import free_port

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
BILLING = str(Path(sys.executable).parent / "billing")
TOKEN = re.compile(r"\bbt_[A-Za-z0-9_-]+")


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    """No setting of the developer's shell reaches these tests."""
    for name in (
        "DATABASE_URL",
        "BILLING_AUDIT_KEY",
        "BILLING_AUDIT_KEY_FILE",
        audit.CHECKPOINT_DIR_ENV,
        "BILLING_LOGIN_LIMIT_ACCOUNT",
        "BILLING_LOGIN_LIMIT_ADDRESS",
        "BILLING_GUNICORN_OPTIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BILLING_SECRET_KEY", "operator-safety-tests")
    monkeypatch.setenv("BILLING_EXPORT_DIR", str(tmp_path / "exports"))  # the scheduler's files


def _environment(**settings: str) -> dict[str, str]:
    """The environment of a ``billing serve`` started by a test."""
    names = ("DATABASE_URL", "BILLING_AUDIT_KEY", "BILLING_LOGIN_LIMIT", "BILLING_GUNICORN")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    environment.pop(audit.CHECKPOINT_DIR_ENV, None)
    # the scheduler's files (docs/jobs.md) into a folder of the test, not the checkout's var/
    exports = tempfile.mkdtemp(prefix="billing-operator-safety-exports-")
    defaults = {"BILLING_SECRET_KEY": "operator-safety-tests", "BILLING_EXPORT_DIR": exports}
    return environment | defaults | settings


def _get(port: int, path: str, headers=None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _started(command: list[str], port: int, environment: dict, log: Path) -> subprocess.Popen:
    """``billing serve`` started, once its /health answers; output and errors into ``log``."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"billing serve ended: {log.read_text()}")
        try:
            if _get(port, "/health")[0] == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise AssertionError("billing serve did not come up")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


# -- item 4: demo data only on request -------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "demo", "supplied", "default_existed", "wanted"),
    [
        ("make run: default database, created now", None, None, False, True),
        ("default database that existed before", None, None, True, False),
        ("--db URL of an empty database", None, "postgresql://db/billing", False, False),
        ("$DATABASE_URL of an empty database", None, "sqlite:////srv/billing.sqlite", False, False),
        ("--demo with --db", True, "postgresql://db/billing", False, True),
        ("--demo on the default database that existed", True, None, True, True),
        ("--no-demo on a new default database", False, None, False, False),
        ("--no-demo with --db", False, "postgresql://db/billing", False, False),
    ],
)
def test_the_demo_is_loaded_only_into_a_new_default_database_or_on_request(
    case, demo, supplied, default_existed, wanted
):
    assert demo_wanted(demo, supplied, default_existed) is wanted, case


@pytest.fixture
def served_in_process(clean_environment, tmp_path, monkeypatch):
    """``serve()`` up to the server's start, on a default database in ``tmp_path`` and with a
    small demo month; the server itself does not run."""
    default = f"sqlite:///{tmp_path / 'var' / 'billing.sqlite'}"
    monkeypatch.setattr(serve_module, "default_database_url", lambda: default)
    real_load = serve_module.load_demo
    monkeypatch.setattr(serve_module, "load_demo", lambda url: real_load(url, 2, 20))
    monkeypatch.setattr(serve_module._Server, "run", lambda self: None)

    def run(database_url=None, demo=None) -> str:
        serve("127.0.0.1", free_port(), 1, database_url, demo=demo, webhooks=False)
        return default

    return run


def _accounts_and_tokens(url: str) -> tuple[int, int]:
    db = create_engine(url)
    try:
        with db.connect() as connection:
            held = connection.execute(select(func.count()).select_from(accounts)).scalar_one()
            tokens = connection.execute(select(func.count()).select_from(api_tokens)).scalar_one()
    finally:
        db.dispose()
    return held, tokens


def test_make_run_loads_the_demo_into_the_new_default_database_and_only_then(
    served_in_process, tmp_path, capsys
):
    default = served_in_process()  # a fresh clone: no var/billing.sqlite yet
    err = capsys.readouterr().err
    assert TOKEN.search(err) and "demo data loaded" in err
    assert _accounts_and_tokens(default) == (2 + len(STORY), 1)
    # the checkpoint written at start (after the demo token's audit entry; by the scheduler's
    # first pass, docs/jobs.md) is found by verify
    folder = tmp_path / "var" / "audit-checkpoints"
    assert audit.newest_checkpoint(folder).name in err
    assert main(["audit", "verify", "--db", default, "--require-checkpoint"]) == 0
    served_in_process()  # the second start: the default database exists now
    err = capsys.readouterr().err
    assert not TOKEN.search(err) and "demo data loaded" not in err


def test_no_demo_keeps_even_a_new_default_database_empty(served_in_process, capsys):
    default = served_in_process(demo=False)
    assert not TOKEN.search(capsys.readouterr().err)
    assert _accounts_and_tokens(default) == (0, 0)


def test_database_url_and_db_get_the_demo_only_with_demo(
    served_in_process, tmp_path, monkeypatch, capsys
):
    from_environment = f"sqlite:///{tmp_path / 'from-environment.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", from_environment)
    served_in_process()
    err = capsys.readouterr().err
    assert not TOKEN.search(err) and "billing serve --demo loads it" in err
    assert _accounts_and_tokens(from_environment) == (0, 0)
    monkeypatch.delenv("DATABASE_URL")
    named = f"sqlite:///{tmp_path / 'named.sqlite'}"
    served_in_process(named, demo=True)
    assert TOKEN.search(capsys.readouterr().err)
    assert _accounts_and_tokens(named) == (2 + len(STORY), 1)
    served_in_process(named, demo=True)  # not empty any more: nothing loaded, nothing printed
    err = capsys.readouterr().err
    assert not TOKEN.search(err) and "holds events already" in err
    assert _accounts_and_tokens(named) == (2 + len(STORY), 1)


def test_billing_serve_with_db_on_an_empty_file_loads_no_demo_and_prints_no_token(tmp_path):
    database = tmp_path / "production.sqlite"
    database.touch()  # empty, as an operator's new database is
    url = f"sqlite:///{database}"
    port = free_port()
    log = tmp_path / "serve.log"
    command = [BILLING, "serve", "--port", str(port), "--db", url, "--no-webhooks"]
    process = _started(command, port, _environment(), log)
    _stop(process)
    output = log.read_text()
    assert f"billing: database {url}" in output
    assert not TOKEN.search(output) and "demo data loaded" not in output
    assert _accounts_and_tokens(url) == (0, 0)


# -- item 5: the login limit holds across workers --------------------------------------------


def _login_attempt(port: int, email: str, password: str) -> int:
    """One login from a new browser: the form (its session cookie and CSRF token), then the
    POST, each on a connection of its own."""
    _, headers, page = _get(port, "/admin/login")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/admin/login",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _held_connection(port: int) -> socket.socket:
    """A connection that sends nothing: a sync worker accepts it and waits on it, so the
    other worker answers every request until it is closed."""
    held = socket.create_connection(("127.0.0.1", port), timeout=30)
    time.sleep(0.5)  # accepted by an idle worker before the next request arrives
    return held


def test_two_gunicorn_workers_refuse_the_sixth_failed_login_of_a_minute(tmp_path):
    url = f"sqlite:///{tmp_path / 'served.sqlite'}"
    with Store(url) as store, store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    port = free_port()
    log = tmp_path / "serve.log"
    command = [BILLING, "serve", "--port", str(port), "--db", url, "--workers", "2"]
    command += ["--no-demo", "--no-webhooks"]
    # Sync workers answer one connection at a time, so a held connection decides which worker
    # answers; the access log names the worker process (%(p)s) that answered each request.
    options = {
        "worker_class": "sync",
        "threads": 1,
        "access_log_format": "worker=%(p)s %(m)s %(U)s %(s)s",
    }
    environment = _environment(BILLING_GUNICORN_OPTIONS=json.dumps(options))
    process = _started(command, port, environment, log)
    try:
        # the held connections overlap (the first closes while the second is held), so an
        # ExitStack closes whichever are still open if a login attempt raises
        with contextlib.ExitStack() as held:
            # one worker waits on the first held connection: the other answers
            first = held.enter_context(_held_connection(port))
            statuses = [_login_attempt(port, "legal@example.com", "wrong!") for _ in range(3)]
            second = held.enter_context(_held_connection(port))  # taken by the worker that answered
            first.close()  # the first worker answers the rest
            statuses += [_login_attempt(port, "legal@example.com", "wrong!") for _ in range(7)]
            # the right password too: the account is over its limit for this minute
            statuses.append(_login_attempt(port, "legal@example.com", PASSWORD))
            second.close()
    finally:
        _stop(process)
    assert statuses == [401] * 5 + [429] * 6
    answered = re.findall(r"worker=<(\d+)> POST /admin/login (\d+)", log.read_text())
    assert len(answered) == 11
    workers = [worker for worker, _ in answered]
    assert len(set(workers[:3])) == 1 and len(set(workers[3:])) == 1, answered
    assert workers[0] != workers[3], f"one worker answered all: {answered}"


@pytest.fixture
def two_workers(engine, catalog, decider, monkeypatch):
    """Two applications on one database, as two server processes are (each its own engine)."""
    from engine.engine import Engine

    monkeypatch.setattr(people, "PASSWORD_METHOD", "pbkdf2:sha256:1000")
    other = Engine(engine.store.url, catalog=catalog, decider=decider)
    apps = [create_app(engine=engine), create_app(engine=other)]
    for app in apps:
        app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    yield apps, engine
    other.close()


def _attempt(app, password: str, address: str = "198.51.100.7") -> tuple[int, dict]:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    page = client.get("/admin/login").data
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    response = client.post(
        "/admin/login",
        data={"email": "legal@example.com", "password": password, "csrf_token": token},
    )
    return response.status_code, dict(response.headers)


def test_the_count_of_failed_logins_is_shared_through_the_database(two_workers):
    apps, engine = two_workers
    statuses = [_attempt(apps[number % 2], "wrong!")[0] for number in range(5)]
    assert statuses == [401] * 5
    status, headers = _attempt(apps[1], PASSWORD)  # the sixth, the right password, other app
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert _attempt(apps[0], "wrong!", address="203.0.113.9")[0] == 429  # per account
    with engine.store.db.connect() as connection:
        kept = connection.execute(select(login_attempts.c.key)).scalars().all()
    # only the five failures count, under both keys; the refused attempts left no row
    assert sorted(kept) == ["account:legal@example.com"] * 5 + ["address:198.51.100.7"] * 5


def test_a_minute_later_the_account_may_try_again_and_old_rows_are_deleted(two_workers):
    apps, engine = two_workers
    for _ in range(5):
        assert _attempt(apps[0], "wrong!")[0] == 401
    assert _attempt(apps[1], "wrong!")[0] == 429
    later = NOW + timedelta(minutes=1, seconds=1)
    for app in apps:
        app.config["BILLING_NOW"] = lambda: later
    assert _attempt(apps[1], PASSWORD)[0] == 302  # within 30 an hour, past 5 a minute
    an_hour_later = NOW + timedelta(hours=1, seconds=1)
    for app in apps:
        app.config["BILLING_NOW"] = lambda: an_hour_later
    assert _attempt(apps[0], "wrong!")[0] == 401
    with engine.store.db.connect() as connection:
        instants = connection.execute(select(login_attempts.c.at)).scalars().all()
    assert len(instants) == 2  # this failure under both keys; the five of an hour ago are gone


# -- item 7: audit verify and checkpoints ----------------------------------------------------


@pytest.fixture
def audited(clean_environment, tmp_path, monkeypatch):
    """An SQLite database with four audit entries; its URL."""
    monkeypatch.setattr(people, "PASSWORD_METHOD", "pbkdf2:sha256:1000")
    url = f"sqlite:///{tmp_path / 'audited.sqlite'}"
    with Store(url) as store, store.db.begin() as connection:
        for number in range(4):
            create_person(connection, f"p{number}@example.com", "viewer", PASSWORD)
    return url


def _verify(capsys, *arguments: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["audit", "verify", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _delete_newest(url: str, number: int | None = None) -> None:
    with Store(url) as store, store.db.begin() as connection:
        ids = connection.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()))
        doomed = [row.id for row in ids][:number]
        connection.execute(delete(audit_log).where(audit_log.c.id.in_(doomed)))


def test_verify_without_a_checkpoint_says_what_it_cannot_know_on_an_emptied_log(audited, capsys):
    _delete_newest(audited)  # every entry
    status, out, _ = _verify(capsys, "--db", audited)
    assert status == 0
    assert not out.startswith("OK: 0 entries, the hash chain is intact")
    assert out.startswith("OK: 0 entries chained; no checkpoint given (none in ")
    assert "removed newest entries or an emptied log cannot be detected" in out
    assert "(billing audit checkpoint)" in out
    status, out, _ = _verify(capsys, "--db", audited, "--require-checkpoint")
    assert status == 3 and out.startswith("NO CHECKPOINT: 0 entries chained")


def test_verify_compares_with_the_newest_checkpoint_of_the_folder(audited, tmp_path, capsys):
    folder = tmp_path / "audit-checkpoints"  # next to the SQLite database: the default
    older = write_checkpoint(audited, folder, NOW - timedelta(hours=1))
    _delete_newest(audited, 1)  # three entries when the newer one is taken ...
    with Store(audited) as store, store.db.begin() as connection:
        create_person(connection, "p4@example.com", "viewer", PASSWORD)  # ... then four again
    newest = write_checkpoint(audited, folder, NOW)
    assert older.name == "audit-checkpoint-20261121T090000Z.json"
    assert newest.name == "audit-checkpoint-20261121T100000Z.json"
    status, out, err = _verify(capsys, "--db", audited)
    assert status == 0 and f"agrees with the checkpoint {newest} of 2026-11-21T10:00:00" in out
    assert f"comparing with the newest checkpoint in {folder}" in err
    _delete_newest(audited, 2)
    status, out, _ = _verify(capsys, "--db", audited)
    assert status == 1
    assert "holds 2 entries, but the checkpoint of 2026-11-21T10:00:00+00:00 counted 4" in out
    assert f"(compared with the checkpoint {newest})" in out
    status, out, _ = _verify(capsys, "--db", audited, "--require-checkpoint")
    assert status == 1


def test_the_checkpoint_folder_may_be_configured(audited, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "elsewhere"
    monkeypatch.setenv(audit.CHECKPOINT_DIR_ENV, str(folder))
    with Store(audited) as store, store.db.connect() as connection:
        assert audit.checkpoint_folder(connection.engine.url) == folder
    write_checkpoint(audited, folder, NOW)
    _delete_newest(audited)
    status, out, _ = _verify(capsys, "--db", audited)
    assert status == 1 and "holds 0 entries" in out and "counted 4" in out


def test_each_database_other_than_an_sqlite_file_has_a_checkpoint_folder_of_its_own():
    from sqlalchemy.engine import make_url

    first = audit.checkpoint_folder(make_url("postgresql://u:secret@db.example:5432/billing"))
    second = audit.checkpoint_folder(make_url("postgresql://u@db.example/billing_test"))
    assert first.parent == second.parent and first.parent.name == "audit-checkpoints"
    assert first.name == "postgresql-db.example-5432-billing" and "secret" not in str(first)
    assert first != second


def test_the_serve_checkpoint_writer_writes_what_verify_checkpoint_accepts(
    audited, tmp_path, capsys
):
    folder = tmp_path / "checkpoints"
    path = write_checkpoint(audited, folder, NOW)
    assert path == folder / "audit-checkpoint-20261121T100000Z.json"
    document = json.loads(path.read_text())
    assert document["count"] == 4 and document["at"] == "2026-11-21T10:00:00+00:00"
    status, out, _ = _verify(capsys, "--db", audited, "--checkpoint", str(path))
    assert status == 0 and f"agrees with the checkpoint {path}" in out
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left behind
    # the schedule of billing serve: one now (the wall clock), and a failure only said
    written = CheckpointSchedule(audited, folder).write()
    assert written is not None and audit.newest_checkpoint(folder) == written
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert CheckpointSchedule(audited, blocked).write() is None
    assert "audit checkpoint not written" in capsys.readouterr().err


def test_the_checkpoint_schedule_writes_on_its_thread_until_stopped(audited, tmp_path):
    folder = tmp_path / "checkpoints"
    schedule = CheckpointSchedule(audited, folder, interval=0.05)
    schedule.start()
    deadline = time.monotonic() + 30
    while audit.newest_checkpoint(folder) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    schedule.stop()
    assert audit.newest_checkpoint(folder) is not None
    assert not schedule._thread.is_alive()
