"""Shared fixtures: the shipped catalog, and a writable copy of it for breaking files."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest

from engine.catalog import PROJECT_ROOT, Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A copy of the project's catalog (rules, tariffs, schemas, docs) to modify in a test."""
    for folder in ("rules", "tariffs", "schemas", "docs"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must occur exactly once) by ``new`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="session")
def rules(tmp_path_factory):
    """The official e-invoice rules (XSD, CEN EN 16931, KoSIT XRechnung, Factur-X), compiled once
    per run from ../shared/validation/; skipped without them unless REQUIRE_XRECHNUNG_RULES=1."""
    from tests import einvoice_rules

    if not einvoice_rules.available():
        reason = f"the official e-invoice rules are not in {einvoice_rules.VALIDATION}"
        if os.environ.get("REQUIRE_XRECHNUNG_RULES") == "1":
            pytest.fail(f"REQUIRE_XRECHNUNG_RULES=1 but {reason}")
        pytest.skip(reason)
    return einvoice_rules.compile_rules(tmp_path_factory.mktemp("schematron"))


@pytest.fixture(scope="session")
def decider():
    """One durable-rules host for the whole run (each host starts threads of its own)."""
    from engine.rules import Decider

    return Decider()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the session and a migrated template database.

    Tests marked ``postgresql`` skip where PostgreSQL is not installed, unless
    REQUIRE_POSTGRESQL=1 (CI sets it): then a missing server fails the run.
    """
    from sqlalchemy import create_engine, text

    from engine.ledger.store import Store
    from tests.postgres_server import PostgresServer, binaries

    if binaries() is None:
        if os.environ.get("REQUIRE_POSTGRESQL") == "1":
            pytest.fail("PostgreSQL is required (REQUIRE_POSTGRESQL=1) but not installed")
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer()
    admin_url = server.start()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE billing_template"))
    Store(admin_url.rsplit("/", 1)[0] + "/billing_template").close()
    databases = itertools.count(1)

    def fresh_database() -> str:
        name = f"billing_{next(databases)}"
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name} TEMPLATE billing_template"))
        return admin_url.rsplit("/", 1)[0] + f"/{name}"

    yield fresh_database
    admin.dispose()
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request, tmp_path):
    """Each engine test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return request.getfixturevalue("postgres")()


@pytest.fixture
def engine(database_url, catalog, decider):
    from engine.engine import Engine

    engine = Engine(database_url, catalog=catalog, decider=decider)
    yield engine
    engine.close()


class Customer:
    """An account in a scenario: sends its events with ids of their own and keeps results."""

    def __init__(self, engine, name: str = "acme"):
        self.engine = engine
        self.name = name
        self.sent = 0

    def event(self, type_: str, at: str, **fields) -> dict:
        self.sent += 1
        return {
            "id": f"{self.name}-{self.sent}",
            "type": type_,
            "account": self.name,
            "at": at,
            **fields,
        }

    def send(self, type_: str, at: str, **fields) -> dict:
        return self.engine.handle(self.event(type_, at, **fields))

    def open(self, at: str = "2026-11-02T09:00:00+01:00", users=("anna",), **fields) -> dict:
        opened = {
            "plan": "clinq",
            "customer_type": "business",
            "billing_method": "prepay",
            "country": "DE",
            "area_code": "0211",
            **fields,
        }
        result = self.send("account.opened", at, **opened)
        for user in users:
            self.send("user.added", at, user=user)
        return result

    def call(self, at: str, to: str, duration_s: int, user: str = "anna", **fields) -> dict:
        return self.send("call", at, user=user, to=to, duration_s=duration_s, **fields)

    @property
    def balance(self) -> str:
        return self.engine.account(self.name)["balance"]


def effects_of(result: dict, kind: str) -> list[dict]:
    return [e for e in result["effects"] if e["kind"] == kind]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report, so fixtures can tell whether the test failed."""
    outcome = yield
    setattr(item, f"report_{call.when}", outcome.get_result())
