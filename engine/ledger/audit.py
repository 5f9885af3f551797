"""The append-only audit log: who did what, when; each entry carries the previous one's hash.

Entries are chained with an HMAC-SHA256 whose key lives outside the database
(``$BILLING_AUDIT_KEY``, else the file ``$BILLING_AUDIT_KEY_FILE``, else ``audit.key`` next to the
SQLite database or in ``var/``; created with mode 0600 by the first audited change). Someone
who can write to the database but does not hold the key can therefore not recompute the chain
after changing, inserting or removing an entry. Removing the newest entries (or all of them)
leaves a valid chain; a checkpoint kept elsewhere (``billing audit checkpoint``) finds that.

Entries written before migration 0007 carry a plain SHA-256 chain (``scheme`` ``sha256``); they
are verified as "unkeyed legacy" entries, may only precede the keyed ones, and at least one keyed
entry must follow them (else the whole log could have been rewritten without the key). See
docs/security.md for the threat model.

``billing audit verify [--checkpoint FILE]`` recomputes the chain; without ``--checkpoint`` it
compares with the newest checkpoint in :func:`checkpoint_folder`, where ``billing serve`` writes
one at start and every hour (:func:`write_checkpoint`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.engine import URL

from engine.core.schemas import PROJECT_ROOT
from engine.ledger.tables import audit_log

GENESIS = "0" * 64
KEYED = "hmac-sha256"
LEGACY = "sha256"
KEY_ENV = "BILLING_AUDIT_KEY"
KEY_FILE_ENV = "BILLING_AUDIT_KEY_FILE"
MIN_KEY_LENGTH = 32
CHECKPOINT_FORMAT = "billing-audit-checkpoint/1"
CHECKPOINT_DIR_ENV = "BILLING_AUDIT_CHECKPOINT_DIR"
_CHECKPOINT_FILE = re.compile(r"audit-checkpoint-\d{8}T\d{6}Z\.json")


class AuditKeyError(RuntimeError):
    """The audit key is missing or unusable; the message says where it was looked for."""


def key_path(url: URL) -> Path:
    """``$BILLING_AUDIT_KEY_FILE``, else ``audit.key`` next to an SQLite file, else ``var/``."""
    configured = os.environ.get(KEY_FILE_ENV)
    if configured:
        return Path(configured)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "audit.key"
    return PROJECT_ROOT / "var" / "audit.key"


def _create_key_file(path: Path) -> None:
    """A fresh random key, written with mode 0600; a concurrent creator's key wins if first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(secrets.token_hex(32) + "\n")
    try:
        os.link(temporary, path)  # atomic, and refuses to replace an existing key
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def audit_key(connection: Connection, *, create: bool = False) -> bytes:
    """The key of the audit chain; with ``create`` a missing key file is made (first start)."""
    configured = os.environ.get(KEY_ENV)
    if configured is not None:
        if len(configured) < MIN_KEY_LENGTH:
            raise AuditKeyError(
                f"${KEY_ENV} has {len(configured)} characters; "
                f"an audit key has at least {MIN_KEY_LENGTH}"
            )
        return configured.encode()
    path = key_path(connection.engine.url)
    if not path.exists():
        if not create:
            raise AuditKeyError(
                f"there is no audit key at {path} (set ${KEY_ENV} or ${KEY_FILE_ENV}); "
                "without it the keyed entries cannot be checked"
            )
        _create_key_file(path)
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise AuditKeyError(f"the audit key in {path} is shorter than {MIN_KEY_LENGTH} characters")
    return key.encode()


def _material(previous: str, at: str, actor: str, action: str, detail: str) -> bytes:
    return json.dumps([previous, at, actor, action, detail], ensure_ascii=False).encode()


def _digest(previous: str, at: str, actor: str, action: str, detail: str) -> str:
    """The unkeyed hash of entries written before migration 0007."""
    return hashlib.sha256(_material(previous, at, actor, action, detail)).hexdigest()


def _mac(key: bytes, previous: str, at: str, actor: str, action: str, detail: str) -> str:
    material = _material(previous, at, actor, action, detail)
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def lock_chain(connection: Connection) -> None:
    """Serialise appends to the chain until the transaction ends.

    PostgreSQL: a transaction-level advisory lock, since ``SELECT ... FOR UPDATE`` of the newest
    entry lets a second writer that waited on it link to that same entry, not to the one the
    first writer appended (two entries with one predecessor: a forked chain). SQLite: every
    writing transaction already holds the database's write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('audit_log', 0))"))


def record(connection: Connection, actor: str, action: str, *, at: datetime, **detail) -> None:
    """Append an entry in the caller's transaction (the audited change commits with it).

    ``at`` is when it happened; the caller reads the clock (the engine never does).
    """
    record_many(connection, actor, action, at=at, details=[detail])


def record_many(
    connection: Connection, actor: str, action: str, *, at: datetime, details: list[dict]
) -> None:
    """Append one entry per detail, in order, as :func:`record` does (the key read once)."""
    if not details:
        return
    key = audit_key(connection, create=True)
    lock_chain(connection)
    last = connection.execute(
        select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1).with_for_update()
    ).scalar_one_or_none()
    previous = last or GENESIS
    at_text = at.astimezone(UTC).isoformat(timespec="seconds")
    rows = []
    for detail in details:
        body = json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
        digest = _mac(key, previous, at_text, actor, action, body)
        rows.append(
            {
                "at": at_text,
                "actor": actor,
                "action": action,
                "detail": body,
                "previous_hash": previous,
                "hash": digest,
                "scheme": KEYED,
            }
        )
        previous = digest
    connection.execute(insert(audit_log), rows)


def entries(connection: Connection, limit: int = 500) -> list[dict]:
    rows = connection.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [dict(row._mapping) | {"detail": json.loads(row.detail)} for row in rows]


def details_of(connection: Connection, action: str) -> list[dict]:
    """The details of every entry of ``action``, oldest first."""
    query = select(audit_log.c.detail).where(audit_log.c.action == action).order_by(audit_log.c.id)
    return [json.loads(detail) for detail in connection.execute(query).scalars()]


def count(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(audit_log)).scalar_one()


def legacy_count(connection: Connection) -> int:
    """How many entries are unkeyed legacy entries (written before migration 0007)."""
    query = select(func.count()).select_from(audit_log).where(audit_log.c.scheme == LEGACY)
    return connection.execute(query).scalar_one()


def verify(connection: Connection) -> list[str]:
    """Every break in the chain, as a sentence; empty when the log is intact."""
    problems = []
    previous = GENESIS
    key: bytes | None = None
    key_problem: str | None = None
    keyed_seen = legacy_seen = False
    for row in connection.execute(select(audit_log).order_by(audit_log.c.id)):
        if row.previous_hash != previous:
            problems.append(
                f"entry {row.id}: it does not follow the entry before it (removed or reordered)"
            )
        fields = (row.previous_hash, row.at, row.actor, row.action, row.detail)
        if row.scheme == LEGACY:
            if keyed_seen:
                problems.append(
                    f"entry {row.id}: an unkeyed entry after keyed ones; only entries from "
                    "before the audit key may be unkeyed (written without the key)"
                )
            elif _digest(*fields) != row.hash:
                problems.append(f"entry {row.id}: its content does not match its hash (changed)")
        elif row.scheme == KEYED:
            keyed_seen = True
            if key is None and key_problem is None:
                try:
                    key = audit_key(connection)
                except AuditKeyError as exc:
                    key_problem = f"the keyed entries cannot be checked: {exc}"
                    problems.append(key_problem)
            if key is not None and not hmac.compare_digest(_mac(key, *fields), row.hash):
                problems.append(
                    f"entry {row.id}: its content does not match its HMAC (changed, or the "
                    "chain was recomputed without the audit key)"
                )
        else:
            problems.append(f"entry {row.id}: unknown hash scheme {row.scheme!r}")
        previous = row.hash
        legacy_seen = legacy_seen or row.scheme == LEGACY
    if legacy_seen and not keyed_seen:
        # Keyed entries can only be removed from the end, or all rewritten as unkeyed ones.
        problems.append(
            "the log holds only unkeyed entries: it was rewritten or cut back without the "
            "audit key, or nothing was audited since the upgrade to keyed entries (migration "
            "0007; then any login adds a keyed entry)"
        )
    return problems


def _signature(key: bytes, document: dict) -> str:
    body = {name: value for name, value in document.items() if name != "hmac"}
    material = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def checkpoint(connection: Connection, *, at: datetime) -> dict:
    """The head of the log (count, last entry), signed with the audit key, to keep elsewhere."""
    key = audit_key(connection, create=True)
    last = connection.execute(
        select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
    ).one_or_none()
    document = {
        "format": CHECKPOINT_FORMAT,
        "at": at.astimezone(UTC).isoformat(timespec="seconds"),
        "count": count(connection),
        "last_id": last.id if last else None,
        "last_hash": last.hash if last else GENESIS,
    }
    document["hmac"] = _signature(key, document)
    return document


def check_checkpoint(connection: Connection, document: object) -> list[str]:
    """Every way the log disagrees with a checkpoint, as a sentence; empty when it agrees.

    Finds removed newest entries (fewer entries than the checkpoint counted), a log emptied
    or rewritten before the checkpoint, and a forged or foreign checkpoint (HMAC mismatch).
    """
    fields = ("format", "at", "count", "last_id", "last_hash", "hmac")
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        return [f"the checkpoint is not a {CHECKPOINT_FORMAT} document"]
    if set(document) != set(fields) or not isinstance(document["count"], int):
        return [f"the checkpoint must have exactly the fields {', '.join(fields)}"]
    try:
        key = audit_key(connection)
    except AuditKeyError as exc:
        return [f"the checkpoint cannot be checked: {exc}"]
    if not hmac.compare_digest(_signature(key, document), str(document["hmac"])):
        return [
            "the checkpoint's HMAC does not match: it was altered, or it was signed with "
            "another audit key than the one configured"
        ]
    problems = []
    expected, taken = document["count"], document["at"]
    held = count(connection)
    if held < expected:
        problems.append(
            f"the audit log holds {held} entries, but the checkpoint of {taken} counted "
            f"{expected}: entries were deleted (the log was truncated)"
        )
    if expected > 0:
        row = connection.execute(
            select(audit_log.c.id, audit_log.c.hash)
            .order_by(audit_log.c.id)
            .offset(expected - 1)
            .limit(1)
        ).one_or_none()
        if row is not None and (row.id != document["last_id"] or row.hash != document["last_hash"]):
            problems.append(
                f"entry number {expected} of the log is not the entry {document['last_id']} "
                f"the checkpoint of {taken} ends with: entries up to the checkpoint were "
                "removed or rewritten"
            )
    return problems


def checkpoint_folder(url: URL) -> Path:
    """Where ``billing serve`` writes checkpoints and ``billing audit verify`` finds the newest.

    ``$BILLING_AUDIT_CHECKPOINT_DIR``; else ``audit-checkpoints/`` next to an SQLite file
    (``var/audit-checkpoints/`` for the default database); else a folder of its own per
    database in ``var/audit-checkpoints/`` (e.g. ``postgresql-db.example-5432-billing``), so
    that no database is compared with another one's checkpoint.
    """
    configured = os.environ.get(CHECKPOINT_DIR_ENV)
    if configured:
        return Path(configured)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "audit-checkpoints"
    parts = (url.get_backend_name(), url.host, url.port, url.database)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(str(part) for part in parts if part))
    return PROJECT_ROOT / "var" / "audit-checkpoints" / name


def checkpoint_file_name(at: datetime) -> str:
    """``audit-checkpoint-20261122T100000Z.json``: named by its instant (UTC), so the newest
    sorts last."""
    return f"audit-checkpoint-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}.json"


def write_checkpoint(connection: Connection, folder: Path, *, at: datetime) -> Path:
    """A :func:`checkpoint` of ``at`` as a file in ``folder`` (made if missing); its path.

    Written under another name and renamed, so a reader never sees half a file; a second
    checkpoint of the same second replaces the first. The caller reads the clock.
    """
    document = checkpoint(connection, at=at)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / checkpoint_file_name(at)
    temporary = folder / f".{path.name}.{secrets.token_hex(8)}"
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def newest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint file in ``folder`` by the instant in its name; None if none."""
    if not folder.is_dir():
        return None
    names = sorted(path.name for path in folder.iterdir() if _CHECKPOINT_FILE.fullmatch(path.name))
    return folder / names[-1] if names else None
