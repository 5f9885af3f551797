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
