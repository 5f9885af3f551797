"""The database: Alembic creates exactly the tables the code uses; SQLite runs in WAL mode."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from engine.ledger.store import Store
from engine.ledger.tables import metadata


def test_the_migrations_create_exactly_the_declared_tables(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'm.sqlite'}")
    with store.db.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, metadata) == []
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    store.close()


def test_upgrading_twice_is_harmless(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    Store(url).close()
    Store(url).close()
