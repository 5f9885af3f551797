"""The append-only audit log: who did what, when; each entry carries the previous one's hash.

``billing audit verify`` recomputes the chain: a changed, inserted or removed entry breaks it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import Connection, func, insert, select

from engine.ledger.tables import audit_log

GENESIS = "0" * 64


def _digest(previous: str, at: str, actor: str, action: str, detail: str) -> str:
    material = json.dumps([previous, at, actor, action, detail], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def record(connection: Connection, actor: str, action: str, *, at: datetime, **detail) -> None:
    """Append an entry in the caller's transaction (the audited change commits with it).

    ``at`` is when it happened; the caller reads the clock (the engine never does).
    """
    last = connection.execute(
        select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1).with_for_update()
    ).scalar_one_or_none()
    previous = last or GENESIS
    at_text = at.astimezone(UTC).isoformat(timespec="seconds")
    text = json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
    connection.execute(
        insert(audit_log),
        [
            {
                "at": at_text,
                "actor": actor,
                "action": action,
                "detail": text,
                "previous_hash": previous,
                "hash": _digest(previous, at_text, actor, action, text),
            }
        ],
    )


def entries(connection: Connection, limit: int = 500) -> list[dict]:
    rows = connection.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [dict(row._mapping) | {"detail": json.loads(row.detail)} for row in rows]


def count(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(audit_log)).scalar_one()


def verify(connection: Connection) -> list[str]:
    """Every break in the chain, as a sentence; empty when the log is intact."""
    problems = []
    previous = GENESIS
    for row in connection.execute(select(audit_log).order_by(audit_log.c.id)):
        if row.previous_hash != previous:
            problems.append(
                f"entry {row.id}: it does not follow entry before it (removed or reordered)"
            )
        if _digest(row.previous_hash, row.at, row.actor, row.action, row.detail) != row.hash:
            problems.append(f"entry {row.id}: its content does not match its hash (changed)")
        previous = row.hash
    return problems
