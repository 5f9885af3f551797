"""Shared fixtures: the shipped catalog, and a writable copy of it for breaking files."""

from __future__ import annotations

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
def decider():
    """One durable-rules host for the whole run (each host starts threads of its own)."""
    from engine.rules import Decider

    return Decider()


@pytest.fixture
def engine(tmp_path, catalog, decider):
    from engine.engine import Engine

    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
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
