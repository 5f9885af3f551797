"""The database tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Money is stored as integer cents (exact on every database); instants as the RFC 3339 text the
event carried plus, for events, the UTC instant as an integer for ordering; dates as ISO text.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only

events = Table(
    "events",
    metadata,
    Column("seq", _ID, primary_key=True, autoincrement=True),
    # Unique: SQLite's writers are serialised and check the id before inserting (found through
    # ``id_key``'s index, migration 0014); PostgreSQL also keeps a unique constraint on it.
    Column("id", String(128), nullable=False),
    Column("id_key", BigInteger, nullable=False),  # event_key(id)
    Column("account", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("at", String(40), nullable=False),  # as received, or its offset (stored_at)
    Column("at_utc", BigInteger, nullable=False),  # microseconds since 1970-01-01 UTC
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=False),
    # BLAKE2b-128 of the canonical payload: the same id with other content is a conflict.
    # Empty in rows written since migration 0014: rebuilt from the row when needed.
    Column("digest", LargeBinary(16), nullable=False),
)
Index("ix_events_account_seq", events.c.account, events.c.seq)
Index("ix_events_id_key", events.c.id_key)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@functools.lru_cache(maxsize=16384)  # a batch's ids: looked up, then written
def event_key(event_id: str) -> int:
    """``events.id_key``: the first 8 bytes of the id's MD5, signed (not for security: two
    ids with one key only cost a row read; the id itself is always compared)."""
    return int.from_bytes(hashlib.md5(event_id.encode("utf-8")).digest()[:8], "big", signed=True)


def epoch_microseconds(instant: datetime) -> int:
    """``events.at_utc``: an aware instant as microseconds since 1970-01-01 UTC."""
    return (instant - _EPOCH) // _MICROSECOND


def utc_instant(microseconds: int) -> datetime:
    """The aware UTC instant of an ``events.at_utc`` value."""
    return _EPOCH + microseconds * _MICROSECOND


_MINUTE = timedelta(minutes=1)


def stored_at(received: str, instant: datetime) -> str:
    """``events.at``: the instant as received, or only its UTC offset in minutes (``"60"``)
    when the received text is exactly what the UTC instant and that offset give back (the
    usual ``2026-11-02T10:00:00+01:00``): the instant is then stored once, in ``at_utc``."""
    if type(instant.tzinfo) is timezone and received == instant.isoformat():
        minutes, rest = divmod(instant.utcoffset(), _MINUTE)
        if not rest:
            return str(minutes)
    return received


def received_at(at: str, at_utc: int) -> str:
    """The instant as the event carried it, from ``events.at`` and ``events.at_utc``."""
    if "T" in at:
        return at
    return utc_instant(at_utc).astimezone(_offset(int(at))).isoformat()


@functools.cache
def _offset(minutes: int) -> timezone:
    return timezone(minutes * _MINUTE)


accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("plan", String(32), nullable=False),
    Column("customer_type", String(16), nullable=False),
    Column("billing_method", String(16), nullable=False),
    Column("country", String(2), nullable=False),
    Column("area_code", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", String(40), nullable=False),
    Column("balance_cents", BigInteger, nullable=False),
    Column("autoprepay_threshold_cents", BigInteger, nullable=True),
    Column("autoprepay_amount_cents", BigInteger, nullable=True),
    Column("topup_pending", Boolean, nullable=False),
    Column("free_month", String(7), nullable=True),
    Column("free_seconds_used", Integer, nullable=False),
    # month -> free seconds used, for the twelve months before free_month (CLINQ SD 2.1)
    Column("free_seconds_before", Text, nullable=False, server_default="{}"),
    Column("users", Text, nullable=False),
    Column("evn", Text, nullable=False),
    Column("contract", Text, nullable=False, server_default="{}"),
    Column("customer", Text, nullable=False, server_default="{}"),
    Column("period_charges", Text, nullable=False, server_default="{}"),
    # Raised by every write: a process caching the account sees another writer's change.
    Column("version", BigInteger, nullable=False, server_default="0"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("clause", String(64), nullable=False),
    Column("terms_version", String(10), nullable=False),
    Column("booked_at", String(40), nullable=False),
    Column("detail", Text, nullable=False),
)
Index("ix_ledger_entries_account_id", ledger_entries.c.account, ledger_entries.c.id)

deadlines = Table(
    "deadlines",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("due", String(10), nullable=False),
    Column("clause", String(64), nullable=False),
    Column("terms_version", String(10), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("settled_by", String(128), nullable=True),
    Column("payload", Text, nullable=False),
)
Index("ix_deadlines_status_due", deadlines.c.status, deadlines.c.due)
Index("ix_deadlines_account_status", deadlines.c.account, deadlines.c.status)

invoices = Table(
    "invoices",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("issued_on", String(10), nullable=False),
    Column("due_on", String(10), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("open_cents", BigInteger, nullable=False),
    Column("clause", String(64), nullable=False),
    Column("terms_version", String(10), nullable=False),
    Column("status", String(16), nullable=False),
    Column("state", Text, nullable=False),
)
Index("ix_invoices_account", invoices.c.account)

invoice_counters = Table(
    "invoice_counters",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last", Integer, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(32), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
    # The accounts the token may read, as a JSON list (migration 0015); NULL: every account.
    Column("accounts", Text, nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("email", String(254), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", String(40), nullable=False),
    # Raised by logout, a role or password change and disabling: sessions of an older epoch end.
    Column("session_epoch", Integer, nullable=False, server_default="0"),
    Column("disabled_at", String(40), nullable=True),
)

drafts = Table(
    "drafts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("file", String(200), nullable=False),
    Column("author", String(254), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

publications = Table(
    "publications",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("file", String(200), nullable=False),
    Column("citation", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("effective_from", String(10), nullable=False),
    Column("notified_on", String(10), nullable=False),
    Column("published_by", String(254), nullable=False),
    Column("published_at", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("ground", String(48), nullable=True),
    Column("summary", Text, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("publication", BigInteger, nullable=True),  # a notice's (AGB 8); NULL otherwise
    Column("account", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(254), nullable=True),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    # queued, sending, sent, failed, no_address, skipped (docs/mail.md)
    Column("status", String(16), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("sent_at", String(40), nullable=True),  # when delivered (notice.delivered, 0019)
    # E-mail delivery (migration 0021, docs/mail.md): notice, invoice or credit_note; the
    # document's number and which archived file of it is attached; the sending's record.
    Column("kind", String(16), nullable=False, server_default="notice"),
    Column("document", String(32), nullable=True),
    Column("attachment", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Column("next_attempt_at", String(40), nullable=True),  # NULL after a failure: gave up
    Column("message_id", String(254), nullable=True),
    Column("claimed_by", String(64), nullable=True),  # the sender holding it while sending
    UniqueConstraint("kind", "document", name="uq_outbox_document"),
    UniqueConstraint("message_id", name="uq_outbox_message_id"),
)
Index("ix_outbox_publication", outbox.c.publication)
Index("ix_outbox_status", outbox.c.status, outbox.c.next_attempt_at)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("actor", String(254), nullable=False),
    Column("action", String(48), nullable=False),
    Column("detail", Text, nullable=False),
    Column("previous_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # "hmac-sha256" (keyed, engine/ledger/audit.py) or "sha256" (unkeyed entries from before 0007).
    Column("scheme", String(16), nullable=False, server_default="sha256"),
)

# SEPA direct debit files (pain.008) and what each collects: one row per invoice, so no invoice
# is collected twice; the file as written, so exporting its date again writes it again.
sepa_batches = Table(
    "sepa_batches",
    metadata,
    Column("message_id", String(35), primary_key=True),
    Column("collection_date", String(10), nullable=False),
    Column("scheme", String(4), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("count", Integer, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("xml", Text, nullable=False),
    UniqueConstraint("collection_date", "scheme", name="uq_sepa_batches_date_scheme"),
)

sepa_collections = Table(
    "sepa_collections",
    metadata,
    Column("invoice", String(32), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("message_id", String(35), nullable=False),
    Column("collection_date", String(10), nullable=False),
    Column("end_to_end_id", String(35), nullable=False),
    Column("mandate_reference", String(35), nullable=False),
    Column("sequence_type", String(4), nullable=False),
)
Index("ix_sepa_collections_message_id", sepa_collections.c.message_id)

sepa_mandate_references = Table(
    "sepa_mandate_references",
    metadata,
    Column("reference", String(35), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
)

# Webhook subscriptions of billing services and the transactional outbox of their messages
# (engine/delivery/webhooks.py): a message row is written in the transaction of the event whose
# effect it reports, so a rolled-back event sends nothing and a committed one is never lost.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),  # JSON list of webhook event types
    # The signing secret (whsec_...): HMAC needs it in clear; never shown after creation.
    Column("secret", String(128), nullable=False),
    Column("allow_private", Boolean, nullable=False),
    Column("created_by", String(254), nullable=False),
    # The API token that made it and alone manages it over the API (migration 0015); NULL: the
    # operator's (command line), managed only there.
    Column("owner_token", String(64), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("removed_at", String(40), nullable=True),
)

webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("subscription", BigInteger, nullable=False),
    Column("message_id", String(64), nullable=False),  # the webhook-id header, stable
    Column("event_id", String(128), nullable=False),
    Column("effect_index", Integer, nullable=False),
    Column("type", String(48), nullable=False),
    Column("account", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # the exact body that is signed and sent
    Column("status", String(16), nullable=False),  # pending, delivered, dead, cancelled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", String(32), nullable=True),  # UTC, ISO; a claim's lease too
    Column("last_attempt_at", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", String(32), nullable=True),
    UniqueConstraint("subscription", "message_id", name="uq_webhook_messages_subscription_id"),
)
Index(
    "ix_webhook_messages_status_next", webhook_messages.c.status, webhook_messages.c.next_attempt_at
)

# Credit notes (Rechnungskorrekturen, engine/billing/credit_notes.py): written once, never
# updated (GoBD); numbered gapless per year in their own series (Platform: credit-notes).
credit_notes = Table(
    "credit_notes",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("invoice", String(32), nullable=True),
    Column("issued_on", String(10), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("clause", String(64), nullable=False),
    Column("terms_version", String(10), nullable=False),
    Column("state", Text, nullable=False),
)
Index("ix_credit_notes_account", credit_notes.c.account)
Index("ix_credit_notes_invoice", credit_notes.c.invoice)

credit_note_counters = Table(
    "credit_note_counters",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last", Integer, nullable=False),
)

# The shapes of stored effects (engine/ledger/compact.py): keys and repeating values
# of an effect, stored once; ``id`` is a 48-bit number derived from ``shape``.
effect_shapes = Table(
    "effect_shapes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("shape", Text, nullable=False),
)

# Admin logins counted by every server process (admin_ui/security.py, migration 0016): one row
# per attempt and key ("address:IP", "account:e-mail"), written before the password is checked
# and deleted again unless the attempt failed; rows older than the longest window are deleted.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),
    Column("at", BigInteger, nullable=False),  # microseconds since 1970-01-01 UTC
)
Index("ix_login_attempts_key_at", login_attempts.c.key, login_attempts.c.at)
Index("ix_login_attempts_at", login_attempts.c.at)

# Credits from bank statements (engine/interchange/bank_statements.py, migration 0020): one row
# per credit entry, keyed by the bank's entry reference; booked, queued for finance, assigned.
bank_credits = Table(
    "bank_credits",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("entry_reference", String(200), nullable=False, unique=True),
    Column("message", String(20), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("booked_on", String(10), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("debtor", Text, nullable=True),
    Column("remittance", Text, nullable=True),
    Column("end_to_end_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # booked, queued, assigned
    Column("reason", Text, nullable=True),  # why a queued credit matched nothing
    Column("account", String(64), nullable=True),
    Column("invoice", String(32), nullable=True),
    Column("event_id", String(128), nullable=True),
    Column("imported_at", String(40), nullable=False),
    Column("imported_by", String(254), nullable=False),
    Column("assigned_by", String(254), nullable=True),
    Column("assigned_at", String(40), nullable=True),
)
Index("ix_bank_credits_status", bank_credits.c.status, bank_credits.c.id)
Index("ix_bank_credits_account", bank_credits.c.account)

# Returned direct debits (engine/payments/payment_terms.py return_direct_debit, migration 0017):
# one row per returned collection, written in the transaction of its ``direct_debit.returned``.
# The key is the collection: the invoice and its collection's number (1 for the first; an
# invoice collected again after a return is its collection 2). A second return of one collection
# is refused by the engine (the invoice knows its returns); the key refuses it between concurrent
# transactions. ``collection_date``: the platform's pain.008 collection the return reversed.
direct_debit_returns = Table(
    "direct_debit_returns",
    metadata,
    Column("invoice", String(32), nullable=False),
    Column("collection", Integer, nullable=False),
    Column("account", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("end_to_end_id", String(35), nullable=True),
    Column("collection_date", String(10), nullable=True),
    PrimaryKeyConstraint("invoice", "collection", name="pk_direct_debit_returns"),
)

# Issued documents as issued (engine/documents/archive.py, migration 0018; GoBD, § 14b UStG): each
# invoice and credit note rendered once, every format served, with its SHA-256 (also in the
# audit chain); never updated. ``content`` is NULL where the format cannot be made (the reason
# in ``unavailable``, e.g. an e-invoice lacking a business term).
document_archive = Table(
    "document_archive",
    metadata,
    Column("kind", String(16), primary_key=True),  # invoice, credit_note
    Column("number", String(32), primary_key=True),
    Column("format", String(32), primary_key=True),  # pdf, xrechnung-cii, xrechnung-ubl, factur-x
    Column("filename", String(128), nullable=False),
    Column("media_type", String(64), nullable=False),
    Column("document_format", String(32), nullable=False),  # a PDF's e-invoice format, or pdf
    Column("content", LargeBinary, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("unavailable", Text, nullable=True),
    Column("archived_at", String(40), nullable=False),
)

# The runs of the scheduled jobs (engine/operation/, migration 0022; Platform: schedule): one row
# per job and due instant, so a run is claimed once on any number of nodes (the insert of a
# second node fails). ``status``: running, succeeded, failed; a ``running`` row whose
# ``lease_until`` passed belongs to a node that died and is claimed again. Instants in UTC text
# (``2026-12-01T00:00:00Z``), comparable as text; ``outcome`` JSON: counts and files written.
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("job", String(32), nullable=False),
    Column("due_at", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("node", String(200), nullable=True),
    Column("started_at", String(32), nullable=True),
    Column("finished_at", String(32), nullable=True),
    Column("lease_until", String(32), nullable=True),
    Column("next_attempt_at", String(32), nullable=True),
    Column("error", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    UniqueConstraint("job", "due_at", name="uq_job_runs_job_due"),
)
Index("ix_job_runs_status", job_runs.c.status, job_runs.c.next_attempt_at)
