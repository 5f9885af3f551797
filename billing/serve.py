"""``billing serve``: the API and the admin UI under gunicorn (or Granian), with demo data.

The database is created and migrated on start. When it holds no events yet and ``--no-demo``
is not given, a generated demo month is loaded and a demo token created and printed once, so
a newcomer can call the API at once. Workers create their engine after the fork (durable-rules'
host does not survive ``fork()``); requests of one account are serialised by the database.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys

from gunicorn.app.base import BaseApplication
from sqlalchemy import func, select

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


def serve(
    host: str,
    port: int,
    workers: int,
    database_url: str | None,
    demo: bool,
    webhooks: bool = True,
    server: str = "gunicorn",
) -> None:
    """Migrate, load demo data if empty, print the banner, run gunicorn (and the webhook
    delivery process); :class:`PortInUse` before any of it when the port is taken."""
    check_port(host, port)
    url = database_url or default_database_url()
    with Store(url) as store, store.db.connect() as connection:  # create and migrate
        audit.audit_key(connection, create=True)  # the audit key, made on first start (0600)
        key = (
            f"${audit.KEY_ENV}"
            if os.environ.get(audit.KEY_ENV) is not None
            else str(audit.key_path(connection.engine.url))
        )
    secret = load_demo(url) if demo else None
    base = f"http://{host}:{port}"
    print(f"billing: database {url}", file=sys.stderr)
    print(f"billing: audit key {key} (back it up; see docs/security.md)", file=sys.stderr)
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
    try:
        if server == "granian":
            _run_granian(host, port, workers, url)
        else:
            _Server(options, url).run()
    finally:
        if delivery is not None:
            stop_delivery(delivery)


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
