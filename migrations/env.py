"""Alembic environment: migrations run on the connection billing hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from engine.ledger.tables import metadata

config = context.config
connection = config.attributes.get("connection")


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as fresh:
        run(fresh)
