"""The database: Alembic creates exactly the tables the code uses; SQLite runs in WAL mode."""

from __future__ import annotations

import pytest
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


@pytest.mark.postgresql
def test_a_dropped_database_connection_is_replaced_and_the_event_applied(
    postgres, catalog, decider
):
    """The pool does not ping each connection before use (a round trip per transaction); a
    connection the server dropped is detected, discarded and the transaction tried again."""
    from sqlalchemy import create_engine, text

    from engine.engine import Engine
    from tests.conftest import Customer

    url = postgres()
    engine = Engine(url, catalog=catalog, decider=decider)
    try:
        acme = Customer(engine)
        acme.open()
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        admin.dispose()
        assert dropped >= 1  # the engine's pooled connection is gone
        result = acme.send("credit.topped_up", "2026-11-03T10:00:00+01:00", amount="20.00")
        assert result["status"] == "applied"
        assert acme.balance == "20.00"
    finally:
        engine.close()


def test_an_account_is_written_in_the_columns_of_its_table():
    # The account upsert binds a tuple per account in ACCOUNT_COLUMNS order (issue 13).
    from engine.ledger.store import ACCOUNT_COLUMNS
    from engine.ledger.tables import accounts

    assert tuple(column.name for column in accounts.c) == ACCOUNT_COLUMNS
