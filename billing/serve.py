"""``billing serve``: the API and the admin UI under gunicorn (or Granian), demo data on request.

The database is created and migrated on start. The demo month (20 accounts, a demo token
printed once) is loaded only where the quick start needs it: into the default embedded
database when this start created it (``make run`` on a fresh clone), or into any empty
database with ``--demo``; never into a database named by ``--db`` or ``$DATABASE_URL``
without ``--demo``, and never with ``--no-demo`` (:func:`demo_wanted`). Workers create their
engine after the fork (durable-rules' host does not survive ``fork()``); requests of one
account are serialised by the database. The jobs of Platform: schedule (the clock, the
invoice run, SEPA and DATEV files, the outbox, webhooks, the audit checkpoint) run in the
serving process (:class:`JobScheduler`, docs/jobs.md) unless ``--no-scheduler``: then
``billing jobs run-due`` runs them (cron), and this process writes only its audit checkpoints,
at start and every hour (:class:`CheckpointSchedule`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from gunicorn.app.base import BaseApplication
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from billing.demo_story import apply_story
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.delivery.webhook_delivery import spawn_delivery, stop_delivery
from engine.engine import Engine
from engine.ledger import audit
from engine.ledger.store import Store, default_database_url
from engine.ledger.tables import api_tokens, events
from engine.operation.run_due import run_due


class _Server(BaseApplication):
    def __init__(self, options: dict, database_url: str):
        self.options = options
        self.database_url = database_url
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(self.database_url)


class PortInUse(Exception):
    """The port ``billing serve`` should listen on is taken; the message says what to try."""


def _can_bind(host: str, port: int) -> bool:
    """Whether gunicorn could listen on ``host:port`` (it binds with SO_REUSEADDR too)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def check_port(host: str, port: int) -> None:
    """Refuse a busy port at once with a one-line hint, instead of gunicorn's retry loop."""
    if _can_bind(host, port):
        return
    free = next((p for p in range(port + 1, min(port + 50, 65536)) if _can_bind(host, p)), None)
    hint = f"; try --port {free}" if free else "; choose another with --port"
    raise PortInUse(f"port {port} is in use{hint}")


def load_demo(database_url: str, accounts: int = 20, calls: int = 2000) -> str | None:
    """Replay a demo month into an empty database and create a demo token; its secret or None.

    The generated month (billing/demo.py, as ``billing demo`` writes it) with the story of
    billing/demo_story.py: German master data, SEPA mandates, a collection and its returns, an
    objection, a plan change, customers abroad (docs/walkthroughs.md runs on it). The warnings
    loading it would log (unsigned invoices without a certificate, AGB 4.3.2) are counted, not
    printed: the banner says where to look.
    """
    with Store(database_url) as store, store.db.connect() as connection:
        has_events = connection.execute(select(func.count()).select_from(events)).scalar_one()
        has_tokens = connection.execute(select(func.count()).select_from(api_tokens)).scalar_one()
    secret = None
    if not has_events:
        engine = Engine(database_url)
        with _quiet_warnings():
            apply_story(engine, accounts, calls)
        if not has_tokens:
            secret = create_token(engine.store, "demo", "billing-service")
        engine.close()
    return secret


@contextlib.contextmanager
def _quiet_warnings() -> Iterator[None]:
    """Hold back the log's warnings while the demo loads: the demo's business invoices are
    unsigned where no certificate is configured (AGB 4.3.2), which ``billing invoices pdf``
    and the admin UI's customer page say where it matters."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def demo_wanted(demo: bool | None, supplied_url: str | None, default_existed: bool) -> bool:
    """Whether ``billing serve`` loads the demo month (into a database without events).

    ``demo``: True for ``--demo`` (any empty database), False for ``--no-demo`` (never), None
    when neither was given: then only the default embedded database, and only when it did not
    exist before this start (``default_existed``), gets it; a database the operator named with
    ``--db`` or ``$DATABASE_URL`` (``supplied_url``) never does.
    """
    if demo is not None:
        return demo
    return supplied_url is None and not default_existed


def _sqlite_file_exists(url: str) -> bool:
    """Whether the SQLite database file of ``url`` exists (False for other databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return Path(parsed.database).exists()


def serve(
    host: str,
    port: int,
    workers: int,
    database_url: str | None,
    demo: bool | None = None,
    webhooks: bool = True,
    server: str = "gunicorn",
    scheduler: bool = True,
) -> None:
    """Migrate, load demo data where wanted (:func:`demo_wanted`), print the banner, run
    gunicorn (and the webhook delivery process, and the job scheduler, or without it the
    audit checkpoints); :class:`PortInUse` before any of it when the port is taken."""
    check_port(host, port)
    supplied = database_url or os.environ.get("DATABASE_URL") or None
    url = supplied or default_database_url()
    wanted = demo_wanted(demo, supplied, default_existed=_sqlite_file_exists(url))
    with Store(url) as store, store.db.connect() as connection:  # create and migrate
        audit.audit_key(connection, create=True)  # the audit key, made on first start (0600)
        key = (
            f"${audit.KEY_ENV}"
            if os.environ.get(audit.KEY_ENV) is not None
            else str(audit.key_path(connection.engine.url))
        )
        folder = audit.checkpoint_folder(connection.engine.url)
        empty = connection.execute(select(events.c.seq).limit(1)).first() is None
    secret = load_demo(url) if wanted and empty else None
    print(f"billing: database {url}", file=sys.stderr)
    print(f"billing: audit key {key} (back it up; see docs/security.md)", file=sys.stderr)
    _print_demo_note(wanted, empty)
    if scheduler:
        schedule: JobScheduler | CheckpointSchedule = JobScheduler(url)
        print(
            "billing: scheduler on: the jobs of Platform: schedule run here, each due run once "
            "across servers (billing jobs list; --no-scheduler to run them from cron)",
            file=sys.stderr,
        )
    else:
        schedule = CheckpointSchedule(url, folder)
        schedule.write()  # one at start, then every hour
        print(
            "billing: scheduler off (--no-scheduler): run  billing jobs run-due --until NOW  "
            "from cron (docs/jobs.md)",
            file=sys.stderr,
        )
    _print_addresses(f"http://{host}:{port}", secret)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "preload_app": False,
        "accesslog": "-",
        "timeout": 120,
    }
    # Other gunicorn settings for a deployment or a measurement (benchmarks/README.md), e.g.
    # BILLING_GUNICORN_OPTIONS='{"threads": 2, "keepalive": 5}'.
    options.update(json.loads(os.environ.get("BILLING_GUNICORN_OPTIONS") or "{}"))
    # One webhook delivery loop beside the workers (issue 15): a process of its own, so that
    # the gunicorn workers never deliver and nothing is sent twice by design.
    delivery = spawn_delivery(url) if webhooks else None
    if delivery is not None:
        print(f"billing: webhook delivery loop (pid {delivery.pid})", file=sys.stderr)
    schedule.start()
    try:
        if server == "granian":
            _run_granian(host, port, workers, url)
        else:
            _Server(options, url).run()
    finally:
        schedule.stop()
        if delivery is not None:
            stop_delivery(delivery)


def _print_addresses(base: str, secret: str | None) -> None:
    """Where to go next: the admin UI, the API and its reference, and the demo token if one was
    just made (with a first call to try); printed last before the server's own log."""
    lines = [
        "",
        "billing: ready. Where to go next:",
        f"  admin UI       {base}/admin/  (people: billing user create EMAIL --role legal)",
        f"  API reference  {base}/api/v1/docs  (OpenAPI: {base}/api/v1/openapi.json)",
        f"  health         {base}/health",
    ]
    if secret:
        lines += [
            f"  demo token     {secret}  (demo data loaded; shown only now)",
            "  the demo       docs/walkthroughs.md#the-demo: who is who, what to run",
            f"  try            curl -H 'Authorization: Bearer {secret}' "
            f"{base}/api/v1/accounts/acct-100001",
        ]
    else:
        lines.append("  a token        billing token create NAME --role billing-service")
    lines.append("")
    print("\n".join(lines), file=sys.stderr)


def _print_demo_note(wanted: bool, empty: bool) -> None:
    """Why no demo month is loaded into a database without events, or into one with events
    although ``--demo`` asked for it."""
    if empty and not wanted:
        print(
            "billing: no demo data: the database was named by --db or $DATABASE_URL, existed "
            "before, or --no-demo was given (billing serve --demo loads it into an empty one)",
            file=sys.stderr,
        )
    elif wanted and not empty:
        print("billing: the database holds events already: no demo data loaded", file=sys.stderr)


def write_checkpoint(database_url: str, folder: Path, at: datetime) -> Path:
    """An audit checkpoint of ``at`` into ``folder`` (engine.ledger.audit.write_checkpoint),
    on a connection of its own; the file's path."""
    with Store(database_url, upgrade=False) as store, store.db.connect() as connection:
        return audit.write_checkpoint(connection, folder, at=at)


class CheckpointSchedule:
    """Audit checkpoints of the served database into ``folder``: :meth:`write` once, then
    every ``interval`` seconds on a daemon thread of the serving process until :meth:`stop`.

    This thread is an edge of the platform: it reads the wall clock (``datetime.now``) for
    each checkpoint's instant and file name; nothing below it does. A failed write is reported
    on standard error and tried again at the next interval; it never stops the server. Each
    checkpoint opens a database connection of its own and closes it, so a gunicorn worker
    forked from this process meanwhile inherits no connection of the thread.
    """

    def __init__(self, database_url: str, folder: Path, interval: float = 3600.0):
        self.database_url = database_url
        self.folder = folder
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="billing-audit-checkpoints", daemon=True
        )

    def write(self) -> Path | None:
        """One checkpoint now (the wall clock); its path, or None when it could not be written."""
        try:
            path = write_checkpoint(self.database_url, self.folder, datetime.now(UTC))
        except Exception as exc:  # disk full, database away: said, and tried again later
            print(f"billing: audit checkpoint not written to {self.folder}: {exc}", file=sys.stderr)
            return None
        print(f"billing: audit checkpoint {path} (one every hour)", file=sys.stderr)
        return path

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.write()


class JobScheduler:
    """The jobs of Platform: schedule in the serving process: an APScheduler
    ``BackgroundScheduler`` with one interval job, every ``interval`` seconds from the start
    (coalesced, never two at once), running :func:`engine.operation.run_due.run_due` up to the
    wall clock. So a server catches up at once on start: one down over the 1st issues the
    invoices when it starts, once, however many servers start (docs/jobs.md).

    This thread is an edge of the platform: it reads the wall clock for what is due. It keeps
    one engine for its runs, made on its first run; a failure is said on standard error and
    the next minute tries again (the failed run itself is retried by its backoff).
    """

    def __init__(self, database_url: str, interval: float = 60.0):
        from apscheduler.schedulers.background import BackgroundScheduler

        self.database_url = database_url
        self.interval = interval
        self._engine: Engine | None = None
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        self._scheduler.add_job(
            self.run_once,
            "interval",
            seconds=self.interval,
            next_run_time=datetime.now(UTC),  # catch up at once
            coalesce=True,
            max_instances=1,
            id="billing-run-due",
        )
        self._scheduler.start()

    def run_once(self) -> None:
        """One pass of every due job up to now; each run that did something is said."""
        try:
            if self._engine is None:
                self._engine = Engine(self.database_url)
            for report in run_due(self._engine, datetime.now(UTC)):
                if report.status == "failed" or report.job in _SAID_JOBS:
                    print(f"billing: job {report.line()}", file=sys.stderr, flush=True)
        except Exception as exc:  # the database is away: said, tried again next minute
            print(f"billing: scheduler pass failed: {exc}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self._engine is not None:
            self._engine.close()


# The jobs whose every run the server's log says; the passes every minute only when they fail.
_SAID_JOBS = frozenset({"clock", "invoices", "sepa", "datev", "checkpoint"})


def _run_granian(host: str, port: int, workers: int, database_url: str) -> None:
    """The same application under Granian (a Rust HTTP server, WSGI interface): each worker
    process makes the application from ``billing.wsgi.create_app`` after it started, with the
    database from ``$DATABASE_URL``; 4 threads per worker, as gunicorn's. Measured in
    benchmarks/README.md: 0.8-1.5 ms less server CPU per single post than gunicorn."""
    from granian import Granian
    from granian.constants import Interfaces

    os.environ["DATABASE_URL"] = database_url  # read by create_app in every worker
    Granian(
        "billing.wsgi:create_app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=4,
        factory=True,
        log_access=True,
    ).serve()
