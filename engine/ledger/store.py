"""Reading and writing the ledger database (SQLite by default, any SQLAlchemy URL).

One :class:`Unit` is one transaction: an event, its effects, its ledger entries, the account
state and the deadlines it touched commit together or not at all.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.pool import StaticPool

from engine.core.schemas import PROJECT_ROOT
from engine.core.state import AccountState, Contract, Deadline, Invoice
from engine.events import content_digest
from engine.ledger.compact import Shapes
from engine.ledger.event_payload import (
    DOCUMENT_COLUMNS,
    payload_fields,
    stored_canonical_text,
    stored_document,
)
from engine.ledger.pipeline import QUEUE_KEY, WriteQueue, flush_before_execute, insert_rows
from engine.ledger.prefetch import (
    MISSING,
    Prefetched,
    SubscriptionCache,
    prefetch_in_one_round_trip,
)
from engine.ledger.tables import (
    accounts,
    deadlines,
    direct_debit_returns,
    event_key,
    events,
    invoice_counters,
    invoices,
    ledger_entries,
    received_at,
    sepa_mandate_references,
)

_CHUNK = 500
IN_MEMORY = ("sqlite://", "sqlite:///:memory:")  # SQLite URLs of a database in memory
_TEMPLATE_LOCK = threading.Lock()
EVENT_COLUMNS = (
    "id",
    "id_key",
    "account",
    "type",
    "at",
    "at_utc",
    "payload",
    "digest",
    "status",
    "result",
)
LEDGER_COLUMNS = (
    "account",
    "event_id",
    "kind",
    "amount_cents",
    "clause",
    "terms_version",
    "booked_at",
    "detail",
)


def default_database_url() -> str:
    """``$DATABASE_URL``, else an SQLite file in ``var/`` of the project."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    path = PROJECT_ROOT / "var" / "billing.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def create_database_engine(url: str) -> SqlEngine:
    """An SQLAlchemy engine; SQLite gets WAL mode and a busy timeout for concurrent writers."""
    if not url.startswith("sqlite"):
        # Sized for a gunicorn worker's threads (``billing serve``: 4) with room to spare. No
        # pre-ping (a round trip per checkout): a connection found dead raises a disconnect
        # error, SQLAlchemy then drops the pool's connections, and Engine.handle_events retries.
        db = create_engine(
            url,
            pool_size=int(os.environ.get("BILLING_DB_POOL_SIZE", "8")),
            max_overflow=8,
            pool_recycle=3600,
        )
        if db.dialect.name == "postgresql":
            # A unit's queued writes go before any other statement (engine/ledger/pipeline.py).
            event.listen(db, "before_cursor_execute", flush_before_execute)
        return db
    if url in IN_MEMORY:
        db = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        db = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(db, "connect")
    def _configure(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # SQLAlchemy issues BEGIN itself (below), so that writers can take the lock at once.
        dbapi_connection.isolation_level = None

    @event.listens_for(db, "begin")
    def _begin(connection) -> None:
        # A writing unit takes SQLite's single write lock when it begins: two writers can then
        # never both read an event id as new (the busy timeout makes the second one wait).
        writing = connection.get_execution_options().get("billing_writes", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return db


def migrate(db: SqlEngine) -> None:
    """Bring the database schema to the newest Alembic revision (``billing db upgrade``)."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with db.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@functools.cache
def _migrated_in_memory() -> SqlEngine:
    """One in-memory database per process, migrated once: the template of every other."""
    template = create_database_engine("sqlite://")
    migrate(template)
    return template


def migrate_in_memory(db: SqlEngine) -> None:
    """Give a new in-memory database the newest schema by copying the migrated template
    (SQLite's backup API): the catalog examples and impact previews open hundreds of scratch
    ledgers, and running every Alembic migration for each costs more than their events."""
    with _TEMPLATE_LOCK, _migrated_in_memory().connect() as source, db.connect() as target:
        source.connection.driver_connection.backup(target.connection.driver_connection)


class Store:
    """The database behind an :class:`~engine.engine.Engine`."""

    def __init__(self, url: str | None = None, *, upgrade: bool = True):
        self.url = url or default_database_url()
        self.db = create_database_engine(self.url)
        self.subscriptions = SubscriptionCache()  # webhook subscriptions, checked per unit
        if upgrade and self.url in IN_MEMORY:
            migrate_in_memory(self.db)
        elif upgrade:
            migrate(self.db)

    @contextmanager
    def unit(self, *, commit: bool = True) -> Iterator[Unit]:
        """A transaction; with ``commit=False`` everything is rolled back (quotes, reads)."""
        with self.db.connect() as connection:
            connection.execution_options(billing_writes=commit)
            transaction = connection.begin()
            # PostgreSQL: the unit's writes wait and go with the COMMIT in one round trip
            # (engine/ledger/pipeline.py); SQLite writes at once.
            queue = WriteQueue() if commit and self.db.dialect.name == "postgresql" else None
            info = connection.info  # kept: a connection lost meanwhile has no info to ask
            if queue is not None:
                info[QUEUE_KEY] = queue
            try:
                yield Unit(connection, self.subscriptions)
                if queue is not None:
                    queue.send(connection, commit=True)
            except BaseException:
                if queue is not None:
                    queue.statements.clear()
                transaction.rollback()
                raise
            finally:
                if queue is not None:
                    info.pop(QUEUE_KEY, None)
            if commit:
                transaction.commit()  # on PostgreSQL the transaction is over: nothing is sent
            else:
                transaction.rollback()

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Unit:
    """Queries and writes inside one transaction."""

    def __init__(self, connection: Connection, subscriptions: SubscriptionCache | None = None):
        self.connection = connection
        self.subscription_cache = subscriptions
        self.prefetched: Prefetched | None = None
        self._locked: set[str] = set()

    def prefetch(self, accounts: Iterable[str], event_ids: Iterable[str]) -> None:
        """PostgreSQL: take the account locks and read what the batch needs in one round trip
        (engine/ledger/prefetch.py); the read methods below then answer from it once."""
        names, ids = list(accounts), list(event_ids)
        self.prefetched = prefetch_in_one_round_trip(self.connection, names, ids)
        if self.prefetched is not None:
            self._locked |= set(names)

    def publication_count(self) -> int | None:
        """The catalog's version as prefetched, or None (then ask the database)."""
        return self.prefetched.publications if self.prefetched is not None else None

    def webhook_subscriptions(self, load) -> list | None:
        """The active webhook subscriptions from the process's cache when the prefetched
        fingerprint still matches (``load()`` reads them otherwise); None without prefetch."""
        if self.prefetched is None or self.subscription_cache is None:
            return None
        return self.subscription_cache.get(
            self.prefetched.subscriptions_version, lambda: load(self.connection)
        )

    # -- reading --------------------------------------------------------------------------

    def existing_event_ids(self, ids: Iterable[str]) -> set[str]:
        return set(self.existing_event_digests(ids))

    def existing_event_digests(self, ids: Iterable[str]) -> dict[str, bytes]:
        """The content digest of each of these ids already stored (one id, one content)."""
        ids = set(ids)
        got = self._take("digests", ids)
        if got is not MISSING:
            found = dict(got)
        else:
            found = {}
            for chunk in _chunks(list(ids)):
                # plain SQL: SQLAlchemy's expanding IN cost more than the query
                sql = f"SELECT id, digest FROM events WHERE id_key IN ({self._marks(len(chunk))})"
                keys = tuple(event_key(i) for i in chunk)
                for event_id, digest in self.connection.exec_driver_sql(sql, keys):
                    if event_id in ids:
                        found[event_id] = bytes(digest)
        # The engine writes rows without a digest (an empty one; only older rows have one):
        # the row determines it, as the digest of the canonical form rebuilt byte for byte
        # from the row (event_payload.py).
        empty = [event_id for event_id, digest in found.items() if not digest]
        for chunk in _chunks(empty):
            query = select(*DOCUMENT_COLUMNS).where(*_by_ids(chunk))
            for row in self.connection.execute(query):
                found[row.id] = content_digest(stored_canonical_text(row).encode())
        return found

    def _take(self, part: str, ids: set[str]):
        return MISSING if self.prefetched is None else self.prefetched.take(part, ids)

    def load_accounts(self, ids: Iterable[str]) -> dict[str, AccountState]:
        ids = set(ids)
        got = self._take("account_rows", ids)
        if got is not MISSING:
            return {row.id: account_from_row(row) for row in got}
        states: dict[str, AccountState] = {}
        for chunk in _chunks(list(ids)):
            for row in self.connection.execute(select(accounts).where(accounts.c.id.in_(chunk))):
                states[row.id] = account_from_row(row)
        return states

    def account_versions(self, ids: Iterable[str]) -> dict[str, int]:
        """The version of each of these accounts (raised by every write of the account)."""
        ids = set(ids)
        if self.prefetched is not None:
            read = self.prefetched.versions(ids)
            if read is not None:
                return read
        found: dict[str, int] = {}
        for chunk in _chunks(list(ids)):
            sql = f"SELECT id, version FROM accounts WHERE id IN ({self._marks(len(chunk))})"
            for account, version in self.connection.exec_driver_sql(sql, tuple(chunk)):
                found[account] = version
        return found

    def load_pending(self, ids: Iterable[str]) -> dict[str, list[Deadline]]:
        ids = set(ids)
        pending: dict[str, list[Deadline]] = {}
        got = self._take("pending_rows", ids)
        if got is not MISSING:
            for row in got:
                pending.setdefault(row.account, []).append(_deadline_from_row(row))
            return pending
        for chunk in _chunks(list(ids)):
            query = (
                select(deadlines)
                .where(deadlines.c.account.in_(chunk), deadlines.c.status == "pending")
                .order_by(deadlines.c.due, deadlines.c.id)
            )
            for row in self.connection.execute(query):
                pending.setdefault(row.account, []).append(_deadline_from_row(row))
        return pending

    def load_invoices(self, ids: Iterable[str]) -> dict[str, list[Invoice]]:
        """The invoices of these accounts, oldest first."""
        ids = set(ids)
        found: dict[str, list[Invoice]] = {}
        got = self._take("invoice_rows", ids)
        if got is not MISSING:
            for row in got:
                found.setdefault(row.account, []).append(invoice_from_row(row))
            return found
        for chunk in _chunks(list(ids)):
            query = (
                select(invoices).where(invoices.c.account.in_(chunk)).order_by(invoices.c.number)
            )
            for row in self.connection.execute(query):
                found.setdefault(row.account, []).append(invoice_from_row(row))
        return found

    def mandate_reference_owners(self, references: Iterable[str]) -> dict[str, str]:
        """The account each of these SEPA mandate references belongs to (unique per creditor)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(references)):
            query = select(sepa_mandate_references).where(
                sepa_mandate_references.c.reference.in_(chunk)
            )
            for row in self.connection.execute(query):
                found[row.reference] = row.account
        return found

    def record_mandate_references(self, rows: list[dict]) -> None:
        """``{"reference", "account", "event_id"}`` of mandates granted with a new reference."""
        insert_rows(self.connection, sepa_mandate_references.name, rows)

    def record_debit_returns(self, rows: list[dict]) -> None:
        """The returned collections of the unit's ``direct_debit.returned`` events: their key
        (invoice, collection) refuses a second return of one collection (migration 0017)."""
        insert_rows(self.connection, direct_debit_returns.name, rows)

    def lock_accounts(self, ids: Iterable[str]) -> None:
        """Serialise writers per account (PostgreSQL advisory locks, in a fixed order)."""
        if self.connection.dialect.name != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE already serialises every writer
        ids = set(ids)
        if ids <= self._locked:
            return  # taken by prefetch, in the same order
        for account in sorted(ids):
            self.connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:account, 0))"),
                {"account": account},
            )

    def lock_invoice_counter(self, year: int) -> int:
        """The last invoice number of ``year``, locked until the transaction ends."""
        row = self.connection.execute(
            select(invoice_counters.c.last).where(invoice_counters.c.year == year).with_for_update()
        ).one_or_none()
        if row is None:
            self.connection.execute(insert(invoice_counters), [{"year": year, "last": 0}])
            return 0
        return int(row.last)

    def invoice(self, number: str) -> Invoice | None:
        row = self.connection.execute(
            select(invoices).where(invoices.c.number == number)
        ).one_or_none()
        return invoice_from_row(row) if row else None

    def invoices_issued_between(self, first: date, last: date) -> list[Invoice]:
        """Every account's invoices issued from ``first`` to ``last`` (inclusive), by number."""
        query = (
            select(invoices)
            .where(invoices.c.issued_on >= first.isoformat())
            .where(invoices.c.issued_on <= last.isoformat())
            .order_by(invoices.c.number)
        )
        return [invoice_from_row(row) for row in self.connection.execute(query)]

    def outage_payloads(self) -> list[dict]:
        query = select(*DOCUMENT_COLUMNS).where(
            events.c.type == "outage", events.c.status == "applied"
        )
        return [stored_document(row) for row in self.connection.execute(query)]

    def accounts_with_due_deadlines(self, until: date, account: str | None = None) -> list[str]:
        query = select(deadlines.c.account).where(
            deadlines.c.status == "pending", deadlines.c.due <= until.isoformat()
        )
        if account is not None:
            query = query.where(deadlines.c.account == account)
        return sorted({row.account for row in self.connection.execute(query.distinct())})

    def account(self, account_id: str) -> AccountState | None:
        return self.load_accounts([account_id]).get(account_id)

    def deadlines_of(self, account_id: str) -> list[dict]:
        query = select(deadlines).where(deadlines.c.account == account_id).order_by(deadlines.c.id)
        return [
            {
                "kind": row.kind,
                "date": row.due,
                "status": row.status,
                "clause": row.clause,
                "terms_version": row.terms_version,
                "created_by": row.created_by,
                "settled_by": row.settled_by,
            }
            for row in self.connection.execute(query)
        ]

    def ledger_of(self, account_id: str, after: int = 0, limit: int = 100) -> list:
        query = (
            select(ledger_entries)
            .where(ledger_entries.c.account == account_id, ledger_entries.c.id > after)
            .order_by(ledger_entries.c.id)
            .limit(limit)
        )
        return list(self.connection.execute(query))

    def event_fields(self, ids: Iterable[str]) -> dict[str, dict]:
        """The fields of these events (``event_payload.payload_fields``): a call's result and
        ledger detail take its user, number and duration from them (ledger/compact.py)."""
        found: dict[str, dict] = {}
        for chunk in _chunks(list(set(ids))):
            query = select(events.c.id, events.c.type, events.c.payload).where(*_by_ids(chunk))
            for row in self.connection.execute(query):
                found[row.id] = payload_fields(row.type, row.payload)
        return found

    def ledger_sum(self, account_id: str) -> int:
        query = select(func.coalesce(func.sum(ledger_entries.c.amount_cents), 0)).where(
            ledger_entries.c.account == account_id
        )
        return int(self.connection.execute(query).scalar_one())

    def last_event_at(self, account_id: str) -> str | None:
        query = (
            select(events.c.at, events.c.at_utc)
            .where(events.c.account == account_id, events.c.status == "applied")
            .order_by(events.c.seq.desc())
            .limit(1)
        )
        row = self.connection.execute(query).one_or_none()
        return None if row is None else received_at(row.at, row.at_utc)

    def event_result(self, event_id: str, shapes: Shapes | None = None) -> dict | None:
        """The result stored with an event, as the engine returned it (compact rows rendered)."""
        query = select(events.c.status, events.c.result, events.c.type, events.c.payload).where(
            *_by_ids([event_id])
        )
        row = self.connection.execute(query).one_or_none()
        if row is None:
            return None
        fields = payload_fields(row.type, row.payload)
        return (shapes or Shapes()).render_result(
            event_id, row.status, row.result, self.connection, fields
        )

    # -- appending (the hot path: one DB-API executemany per batch and table) -----------------

    def append_events(self, rows: list[tuple]) -> None:
        """Rows of ``EVENT_COLUMNS``, in order."""
        self._append("events", EVENT_COLUMNS, rows)

    def append_ledger_entries(self, rows: list[tuple]) -> None:
        """Rows of ``LEDGER_COLUMNS``, in order."""
        self._append("ledger_entries", LEDGER_COLUMNS, rows)

    def record_shapes(self, rows: list[tuple[int, str]]) -> None:
        """New effect shapes ``(id, shape)``; one another writer stored already is kept."""
        if not rows:
            return
        marks = self._marks(2)
        self._send(
            f"INSERT INTO effect_shapes (id, shape) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",
            rows,
        )

    def _append(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if rows:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({self._marks(len(columns))})"
            self._send(sql, rows)

    def _send(self, sql: str, rows: list) -> None:
        """Run a plain statement for each row: queued on PostgreSQL (sent with the COMMIT,
        engine/ledger/pipeline.py), at once elsewhere."""
        queue = self.connection.info.get(QUEUE_KEY)
        if queue is not None:
            queue.add(sql, rows)
        else:
            self.connection.exec_driver_sql(sql, rows)

    def _marks(self, count: int) -> str:
        mark = "?" if self.connection.dialect.paramstyle == "qmark" else "%s"
        return ", ".join([mark] * count)

    # -- writing --------------------------------------------------------------------------

    def write(
        self,
        states: Iterable[AccountState],
        new_deadlines: list[tuple[Deadline, str, str | None]],
        settled: list[tuple[int, str, str]],
        new_invoices: Iterable[Invoice] = (),
        changed_invoices: Iterable[Invoice] = (),
        invoice_numbers: dict[int, int] | None = None,
    ) -> None:
        """Write one batch's account states, deadlines and invoices (its events and ledger
        entries go through :meth:`append_events` and :meth:`append_ledger_entries`)."""
        self._upsert_accounts(list(states))
        insert_rows(
            self.connection,
            deadlines.name,
            [
                {**_deadline_row(d), "status": status, "settled_by": settled_by}
                for d, status, settled_by in new_deadlines
            ],
        )
        if settled:
            self._send(
                f"UPDATE deadlines SET status = {self._marks(1)}, settled_by = {self._marks(1)} "
                f"WHERE id = {self._marks(1)} AND status = 'pending'",
                [(status, settled_by, deadline_id) for deadline_id, status, settled_by in settled],
            )
        created = [_invoice_row(invoice) for invoice in new_invoices]
        if created:
            self.connection.execute(insert(invoices), created)
        for invoice in changed_invoices:
            row = _invoice_row(invoice)
            self.connection.execute(
                update(invoices).where(invoices.c.number == invoice.number).values(**row)
            )
        for year, last in (invoice_numbers or {}).items():
            self.connection.execute(
                update(invoice_counters).where(invoice_counters.c.year == year).values(last=last)
            )

    def _upsert_accounts(self, states: list[AccountState]) -> None:
        if not states:
            return
        rows = [_account_values(state) for state in states]
        dialect = self.connection.dialect.name
        if dialect in ("sqlite", "postgresql"):
            self._send(_account_upsert(ACCOUNT_COLUMNS, self._marks(1)), rows)
            return
        for values in rows:
            row = dict(zip(ACCOUNT_COLUMNS, values, strict=True))
            changes = {**row, "version": accounts.c.version + 1}
            updated = self.connection.execute(
                update(accounts).where(accounts.c.id == row["id"]).values(**changes)
            )
            if updated.rowcount == 0:
                self.connection.execute(insert(accounts), [row])


@functools.cache
def _account_upsert(columns: tuple[str, ...], mark: str) -> str:
    """INSERT ... ON CONFLICT DO UPDATE for the accounts (PostgreSQL and SQLite alike), as plain
    SQL built once: every column of ``ACCOUNT_COLUMNS`` is set, and every write raises the version,
    so a process caching the account sees the change."""
    changes = [f"{c} = excluded.{c}" for c in columns if c not in ("id", "version")]
    changes.append("version = accounts.version + 1")
    return (
        f"INSERT INTO accounts ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT (id) DO UPDATE SET {', '.join(changes)}"
    )


def _by_ids(ids: list[str]) -> tuple:
    """The conditions that find events by id through the index of their key (migration 0014)."""
    if len(ids) == 1:
        return events.c.id_key == event_key(ids[0]), events.c.id == ids[0]
    return events.c.id_key.in_([event_key(i) for i in ids]), events.c.id.in_(ids)


def _chunks(items: list) -> Iterator[list]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _json_text(value) -> str:
    """Compact JSON, keys sorted, UTF-8 (orjson: a fifth of the standard library's time)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


ACCOUNT_COLUMNS = (
    "id",
    "plan",
    "customer_type",
    "billing_method",
    "country",
    "area_code",
    "status",
    "opened_at",
    "balance_cents",
    "autoprepay_threshold_cents",
    "autoprepay_amount_cents",
    "topup_pending",
    "free_month",
    "free_seconds_used",
    "free_seconds_before",
    "users",
    "evn",
    "contract",
    "customer",
    "period_charges",
    "version",
)


def _account_values(state: AccountState) -> tuple:
    """An account's row in ``ACCOUNT_COLUMNS`` order (a tuple: one per account and batch)."""
    return (
        state.id,
        state.plan,
        state.customer_type,
        state.billing_method,
        state.country,
        state.area_code,
        state.status,
        state.opened_at,
        state.balance_cents,
        state.autoprepay_threshold_cents,
        state.autoprepay_amount_cents,
        state.topup_pending,
        state.free_month,
        state.free_seconds_used,
        _json_text(state.free_seconds_before),
        _json_text(state.users),
        _json_text(state.evn),
        _json_text(vars(state.contract)),
        _json_text(state.customer),
        _json_text(state.period_charges),
        1,  # a new account's version; an update raises the stored one (_account_upsert)
    )


def account_from_row(row) -> AccountState:
    """An account's state from its ``accounts`` row (the JSON columns decoded)."""
    return AccountState(
        id=row.id,
        plan=row.plan,
        customer_type=row.customer_type,
        billing_method=row.billing_method,
        country=row.country,
        area_code=row.area_code,
        status=row.status,
        opened_at=row.opened_at,
        balance_cents=row.balance_cents,
        autoprepay_threshold_cents=row.autoprepay_threshold_cents,
        autoprepay_amount_cents=row.autoprepay_amount_cents,
        topup_pending=bool(row.topup_pending),
        free_month=row.free_month,
        free_seconds_used=row.free_seconds_used,
        free_seconds_before=orjson.loads(row.free_seconds_before),
        users=orjson.loads(row.users),
        evn=orjson.loads(row.evn),
        contract=Contract(**orjson.loads(row.contract)),
        customer=orjson.loads(row.customer),
        period_charges=orjson.loads(row.period_charges),
    )


def _deadline_row(deadline: Deadline) -> dict:
    return {
        "account": deadline.account,
        "kind": deadline.kind,
        "due": deadline.due.isoformat(),
        "clause": deadline.clause,
        "terms_version": deadline.terms_version,
        "created_by": deadline.created_by,
        "payload": json.dumps(deadline.payload, sort_keys=True),
    }


def _deadline_from_row(row) -> Deadline:
    return Deadline(
        id=row.id,
        account=row.account,
        kind=row.kind,
        due=date.fromisoformat(row.due),
        clause=row.clause,
        terms_version=row.terms_version,
        created_by=row.created_by,
        payload=orjson.loads(row.payload),
    )


_INVOICE_COLUMNS = (
    "number",
    "account",
    "kind",
    "issued_on",
    "due_on",
    "amount_cents",
    "open_cents",
    "clause",
    "terms_version",
    "status",
)


def _invoice_row(invoice: Invoice) -> dict:
    fields = dict(vars(invoice))
    row = {name: fields.pop(name) for name in _INVOICE_COLUMNS}
    row["state"] = json.dumps(fields, sort_keys=True)
    return row


def invoice_from_row(row) -> Invoice:
    """An invoice from its ``invoices`` row, for readers that select invoices themselves."""
    return Invoice(
        **{name: getattr(row, name) for name in _INVOICE_COLUMNS}, **orjson.loads(row.state)
    )
