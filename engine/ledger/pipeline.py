"""A transaction's writes on PostgreSQL, sent with its COMMIT in one round trip.

A single event's transaction writes its event, its ledger entries, its account and, when there
are any, its deadlines, mandate references and webhook messages. Sent one by one through
SQLAlchemy Core each statement cost a round trip and SQLAlchemy's per-statement work (about a
third of a single post's CPU, benchmarks/README.md). Here a :class:`Unit` of the ledger store
queues them as plain SQL with their parameter rows, and :meth:`WriteQueue.send` hands them to
psycopg's pipeline (https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html) followed by
the COMMIT: the server runs them in the order they were queued, in the same transaction.

Order with everything else the transaction does is kept: any statement that goes through
SQLAlchemy on the same connection (an invoice, a credit note, a read) first sends what is
queued (:func:`flush_before_execute`, registered on PostgreSQL engines). SQLite has no
pipeline: its units write at once, through the same statements.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# The key of the open write queue in the DB-API connection's ``info`` (SQLAlchemy's pool keeps
# one ``info`` per database connection; a unit sets and clears it).
QUEUE_KEY = "billing.write_queue"


class WriteQueue:
    """Statements with their parameter rows, waiting to go to the server in order."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Sequence[Sequence[Any]]]] = []

    def add(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.statements.append((sql, rows))

    def send(self, connection, *, commit: bool = False) -> None:
        """Run what is queued (and COMMIT, if asked) as one pipeline: one round trip. A
        driver error is raised as SQLAlchemy's (an ``IntegrityError`` stays one, so
        ``Engine.handle_events`` retries a unit that lost a race for an event id)."""
        statements, self.statements = self.statements, []
        if not statements and not commit:
            return
        driver = connection.connection.driver_connection
        with driver_errors(connection, "write"):
            cursor = driver.cursor()
            try:
                with driver.pipeline():
                    for sql, rows in combined(statements):
                        if len(rows) == 1:
                            cursor.execute(sql, rows[0])
                        else:
                            cursor.executemany(sql, rows)
                    if commit:
                        driver.commit()
            finally:
                cursor.close()


def combined(
    statements: list[tuple[str, Sequence[Sequence[Any]]]],
) -> list[tuple[str, Sequence[Sequence[Any]]]]:
    """Consecutive one-row statements on different tables joined into one statement with
    data-modifying WITH clauses (https://www.postgresql.org/docs/15/queries-with.html): a single
    top-up's event, ledger entry and account upsert are then one statement for the server and
    the driver, not three. Different tables only: the parts of one statement run on one
    snapshot and must not touch the same row, and with no triggers or foreign keys between
    these tables the result is that of running them in order; a unique violation in any part
    fails the statement as it failed the part."""
    joined: list[tuple[str, Sequence[Sequence[Any]]]] = []
    group: list[tuple[str, Sequence[Any]]] = []
    tables: set[str] = set()

    def close() -> None:
        if len(group) == 1:
            joined.append((group[0][0], [group[0][1]]))
        elif group:
            parts = ", ".join(f"w{n} AS ({sql})" for n, (sql, _) in enumerate(group[:-1]))
            row = tuple(value for _, values in group for value in values)
            joined.append((f"WITH {parts} {group[-1][0]}", [row]))
        group.clear()
        tables.clear()

    for sql, rows in statements:
        table = _table_of(sql)
        if len(rows) != 1 or table in tables:
            close()
        if len(rows) == 1:
            group.append((sql, rows[0]))
            tables.add(table)
        else:
            joined.append((sql, rows))
    close()
    return joined


def _table_of(sql: str) -> str:
    """The table an ``INSERT INTO t ...`` or ``UPDATE t ...`` writes."""
    words = sql.split(None, 3)
    return words[2] if words[0].upper() == "INSERT" else words[1]


def queue_of(connection) -> WriteQueue | None:
    """The write queue open on this SQLAlchemy connection, if any."""
    return connection.info.get(QUEUE_KEY)


def flush_before_execute(connection, *_args) -> None:
    """SQLAlchemy ``before_cursor_execute``: send queued writes before any other statement."""
    queue = connection.info.get(QUEUE_KEY)
    if queue is not None and queue.statements:
        queue.send(connection)


def insert_rows(connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert dict rows (all with the same keys) into ``table``: queued when the connection has
    a write queue, else at once."""
    if not rows:
        return
    columns = tuple(rows[0])
    values = [tuple(row[c] for c in columns) for row in rows]
    queue = queue_of(connection)
    mark = "%s" if queue is not None or connection.dialect.paramstyle != "qmark" else "?"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    if queue is not None:
        queue.add(sql, values)
    else:
        connection.exec_driver_sql(sql, values)


@contextmanager
def driver_errors(connection, what: str) -> Iterator[None]:
    """psycopg's errors raised as SQLAlchemy's, as if SQLAlchemy had run the statements: a lost
    connection is invalidated (the pool drops it) and raises ``OperationalError``."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except psycopg.Error as exc:
        dialect = connection.dialect
        lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            what, None, exc, psycopg.Error, connection_invalidated=lost, dialect=dialect
        ) from exc
