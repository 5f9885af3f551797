"""A single event on PostgreSQL writes its rows through psycopg's pipeline with the COMMIT, in
one round trip (engine/ledger/pipeline.py, issue 13); the rows are exactly those SQLite writes
statement by statement, and those a batch writes.

The events are a slice of the golden month (tests/replay_golden.py): openings, users, top-ups,
calls, payments and the clocks that issue November's invoices and set deadlines, with a webhook
subscription so that the outbox is written too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.delivery.webhooks import EVENT_TYPES, add_subscription
from engine.engine import Engine
from engine.ledger import tables
from engine.ledger.store import EVENT_COLUMNS
from tests.replay_golden import golden_events

# Every table a transaction of events writes to.
WRITTEN = (
    "events",
    "ledger_entries",
    "accounts",
    "deadlines",
    "invoices",
    "invoice_counters",
    "effect_shapes",
    "sepa_mandate_references",
    "webhook_messages",
)
NOW = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def slice_of_the_golden_month() -> list[dict]:
    return [e for e in golden_events() if int(e["account"].rsplit("-", 1)[1]) < 4]


def subscribed_engine(url: str, catalog, decider) -> Engine:
    engine = Engine(url, catalog=catalog, decider=decider)
    with engine.store.db.begin() as connection:
        add_subscription(
            connection,
            "http://127.0.0.1:9/hooks",
            sorted(EVENT_TYPES),
            created_by="test",
            at=NOW,
            allow_private=True,
        )
    return engine


def rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the written tables, by primary key (booleans compare with SQLite's 0/1)."""
    found = {}
    with engine.store.db.connect() as connection:
        for name in WRITTEN:
            table = tables.metadata.tables[name]
            query = select(table).order_by(*table.primary_key.columns)
            found[name] = [tuple(row) for row in connection.execute(query)]
    return found


@pytest.mark.postgresql
def test_single_posts_on_postgresql_write_the_rows_of_sqlite_and_of_a_batch(
    postgres, tmp_path, catalog, decider
):
    events = slice_of_the_golden_month()
    single_pg = subscribed_engine(postgres(), catalog, decider)
    batch_pg = subscribed_engine(postgres(), catalog, decider)
    single_sqlite = subscribed_engine(f"sqlite:///{tmp_path}/single.sqlite", catalog, decider)
    try:
        pg_results = [single_pg.handle(e) for e in events]
        sqlite_results = [single_sqlite.handle(e) for e in events]
        batch_results = []
        for start in range(0, len(events), 100):
            batch_results.extend(batch_pg.handle_many(events[start : start + 100]))
        assert pg_results == sqlite_results == batch_results
        written = rows(single_pg)
        # the slice touches every kind of row: 4 accounts, their invoices, deadlines, webhooks
        assert len(written["accounts"]) == 4
        assert written["invoices"] and written["deadlines"] and written["webhook_messages"]
        assert len(written["events"]) == len(events)
        assert written == rows(single_sqlite)
        # a batch writes an account once, not once per event: only its version differs
        batched = rows(batch_pg)
        version = [c.name for c in tables.accounts.c].index("version")
        for table in (written, batched):
            table["accounts"] = [r[:version] + r[version + 1 :] for r in table["accounts"]]
        assert written == batched
    finally:
        single_pg.close()
        batch_pg.close()
        single_sqlite.close()


@pytest.mark.postgresql
def test_a_failed_queued_write_rolls_the_unit_back_and_is_sqlalchemys_integrity_error(
    postgres, catalog, decider
):
    # An event row whose id is taken fails only when the queue is sent with the COMMIT; the
    # error is SQLAlchemy's IntegrityError (Engine.handle_events retries on it) and nothing of
    # the unit stays: not the account row queued before it.
    engine = Engine(postgres(), catalog=catalog, decider=decider)
    try:
        opening, following = slice_of_the_golden_month()[:2]
        assert engine.handle(opening)["status"] == "applied"
        with engine.store.db.connect() as connection:
            stored = connection.execute(select(tables.events)).one()._mapping
        row = tuple(stored[c] for c in EVENT_COLUMNS)
        with pytest.raises(IntegrityError), engine.store.unit() as unit:
            unit.connection.exec_driver_sql(
                "INSERT INTO effect_shapes (id, shape) VALUES (%s, %s)", [(999_999, "[]")]
            )
            unit.append_events([row])  # queued; fails at the commit
        with engine.store.db.connect() as connection:
            shapes = connection.execute(
                select(tables.effect_shapes).where(tables.effect_shapes.c.id == 999_999)
            ).all()
        assert shapes == []
        assert engine.handle(following)["status"] == "applied"  # the pool goes on
    finally:
        engine.close()


@pytest.mark.postgresql
def test_a_connection_lost_before_the_queued_writes_go_is_replaced_and_the_event_applied(
    postgres, catalog, decider
):
    # The server drops the unit's connection after the reads and before the writes are sent:
    # the send fails as SQLAlchemy's OperationalError, the pool drops the connection and the
    # engine applies the event again on a fresh one, once.
    from sqlalchemy import create_engine, text

    url = postgres()
    engine = Engine(url, catalog=catalog, decider=decider)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    apply_all = engine._apply_all
    dropped = []

    def apply_then_lose_the_connection(unit, batch, events, refuse_conflicts=False):
        applied = apply_all(unit, batch, events, refuse_conflicts)
        if not dropped:
            pid = unit.connection.connection.driver_connection.info.backend_pid
            with admin.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            dropped.append(pid)
        return applied

    try:
        opening, user = slice_of_the_golden_month()[:2]
        assert engine.handle(opening)["status"] == "applied"
        engine._apply_all = apply_then_lose_the_connection
        assert engine.handle(user)["status"] == "applied"
        assert len(dropped) == 1
        assert len(rows(engine)["events"]) == 2  # each event stored once
    finally:
        engine.close()
        admin.dispose()
