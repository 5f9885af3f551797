"""``billing serve``: the API and the admin UI under gunicorn (or Granian), demo data on request.

The database is created and migrated on start. The demo month (20 accounts, a demo token
printed once) is loaded only where the quick start needs it: into the default embedded
database when this start created it (``make run`` on a fresh clone), or into any empty
database with ``--demo``; never into a database named by ``--db`` or ``$DATABASE_URL``
without ``--demo``, and never with ``--no-demo`` (:func:`demo_wanted`). Workers create their
engine after the fork (durable-rules' host does not survive ``fork()``); requests of one
account are serialised by the database. An audit checkpoint is written at start and every
hour by a thread of the serving process (:class:`CheckpointSchedule`).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from gunicorn.app.base import BaseApplication
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from billing.demo import month_of_events
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.delivery.webhook_delivery import spawn_delivery, stop_delivery
from engine.engine import Engine
from engine.ledger import audit
from engine.ledger.store import Store, default_database_url
from engine.ledger.tables import api_tokens, events


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
    """Replay a demo month into an empty database and create a demo token; its secret or None."""
    with Store(database_url) as store, store.db.connect() as connection:
        has_events = connection.execute(select(func.count()).select_from(events)).scalar_one()
        has_tokens = connection.execute(select(func.count()).select_from(api_tokens)).scalar_one()
    secret = None
    if not has_events:
        engine = Engine(database_url)
        batch: list = []
        for event in month_of_events("2026-11", accounts, calls, seed=1):
            batch.append(event)
            if len(batch) == 1000:
                engine.handle_many(batch)
                batch.clear()
        if batch:
            engine.handle_many(batch)
        if not has_tokens:
            secret = create_token(engine.store, "demo", "billing-service")
        engine.close()
    return secret


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
) -> None:
    """Migrate, load demo data where wanted (:func:`demo_wanted`), write an audit checkpoint,
    print the banner, run gunicorn (and the webhook delivery process and the checkpoint
    schedule); :class:`PortInUse` before any of it when the port is taken."""
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
    schedule = CheckpointSchedule(url, folder)
    schedule.write()  # one at start, then every hour
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
    """Where the admin UI and the API answer, and the demo token if one was just made."""
    print(f"billing: admin UI {base}/admin/", file=sys.stderr)
    print(
        f"billing: API {base}/api/v1 (OpenAPI at {base}/api/v1/openapi.json), health {base}/health",
        file=sys.stderr,
    )
    if secret:
        print(f"billing: demo data loaded; a token for it (shown once): {secret}", file=sys.stderr)
        print(
            f"billing: try  curl -H 'Authorization: Bearer {secret}' "
            f"{base}/api/v1/accounts/acct-000000",
            file=sys.stderr,
        )
    else:
        print(
            "billing: create a token with  billing token create NAME --role billing-service",
            file=sys.stderr,
        )


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
