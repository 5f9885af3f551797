"""Sending the customer e-mails of the outbox: the one service ``billing outbox send``, the
scheduler and the admin UI use (AGB 2.3, 4.3.1, 8; TKG § 57; docs/mail.md).

:func:`send_outbox` claims the due messages (engine/delivery/notifications.py: a
compare-and-set claim, so two senders never send one message twice), sends them over one SMTP
connection with a stable Message-ID, records each one in its own transaction, and posts the
``notice.delivered`` events of the notices sent: the customer's windows run from their receipt
(AGB 8; TKG § 57; Platform: receipt). :func:`record_bounce` records a bounce that arrives after
the message was accepted. The wall clock is the caller's: ``now`` is the sending instant.
"""

from __future__ import annotations

import smtplib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from engine.delivery import notifications as mail
from engine.delivery.notifications import SmtpSettings
from engine.engine import Engine
from engine.ledger import audit
from engine.ledger.store import Store
from engine.ledger.tables import outbox

_EVENT_CHUNK = 1000


@dataclass(frozen=True)
class MailReport:
    """What one sending did: messages sent, given up (``failed``), to be retried
    (``retry_later``), without an address, still waiting, and the errors met."""

    configured: bool
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    no_address: int = 0
    still_queued: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    no_address: int = 0
    errors: list[str] = field(default_factory=list)
    delivered: list[dict] = field(default_factory=list)

    def failure(self, row: Any, error: str, retry: datetime | None) -> None:
        if retry is None:
            self.failed += 1
        else:
            self.retry_later += 1
        self.errors.append(f"message {row.id} to {row.recipient}: {error}")


def send_outbox(
    engine: Engine, settings: SmtpSettings | None, now: datetime, *, limit: int | None = None
) -> MailReport:
    """Send every due message of the outbox (at most ``limit``) at ``now``, the wall clock at
    sending: it is each message's ``sent_at`` and the instant of its ``notice.delivered``."""
    store = engine.store
    if settings is None:  # not configured: the messages stay queued, visible in the admin UI
        return MailReport(configured=False, still_queued=_waiting(store))
    token, rows = mail.claim(store, now, limit)
    tally = _Tally()
    try:
        _send(store, settings, token, rows, now, tally)
    finally:
        _post_delivered(engine, tally)
    return MailReport(
        configured=True,
        sent=tally.sent,
        failed=tally.failed,
        retry_later=tally.retry_later,
        no_address=tally.no_address,
        still_queued=_waiting(store),
        errors=tally.errors,
    )


def _send(store: Store, settings: SmtpSettings, token: str, rows, now, tally: _Tally) -> None:
    """One SMTP session for the claimed messages; each recorded as soon as it is known."""
    sendable = []
    for row in rows:
        if row.recipient:
            sendable.append(row)
        else:
            mail.record_no_address(store, row, token)
            tally.no_address += 1
    if not sendable:
        return
    try:
        smtp = mail.connect(settings)
    except (OSError, smtplib.SMTPException) as exc:  # every message waits for the next try
        reason = f"SMTP server {settings.host}:{settings.port}: {mail.describe(exc)}"
        for row in sendable:
            tally.failure(row, reason, _failed(store, row, token, now, reason, False))
        return
    try:
        for index, row in enumerate(sendable):
            if not _send_one(store, settings, smtp, token, row, now, tally):
                reason = "the SMTP connection was lost before this message was sent"
                for rest in sendable[index + 1 :]:
                    tally.failure(rest, reason, _failed(store, rest, token, now, reason, False))
                return
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _send_one(store: Store, settings, smtp, token: str, row, now, tally: _Tally) -> bool:
    """Send one message and record it; False when the connection is gone."""
    message_id = mail.assign_message_id(store, row, settings.domain)
    try:
        with store.db.connect() as connection:
            attached = mail.attachment_of(connection, row)
    except LookupError as exc:
        tally.failure(row, str(exc), _failed(store, row, token, now, str(exc), True))
        return True
    message = mail.email_message(settings, row, message_id, now, attached)
    try:
        smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        error = mail.describe(exc)
        retry = _failed(store, row, token, now, error, mail.permanent_refusal(exc))
        tally.failure(row, error, retry)
        return True
    except smtplib.SMTPResponseException as exc:  # sender or content refused: tried again
        error = mail.describe(exc)
        tally.failure(row, error, _failed(store, row, token, now, error, False))
        return exc.smtp_code != 421  # 421: the server is closing the connection
    except (OSError, smtplib.SMTPException) as exc:
        error = mail.describe(exc)
        tally.failure(row, error, _failed(store, row, token, now, error, False))
        return False
    if mail.record_sent(store, row, token, now) and row.publication is not None:
        tally.delivered.append(mail.delivered_event(row, now))
    tally.sent += 1
    return True


def _failed(store: Store, row, token: str, now, error: str, permanent: bool):
    return mail.record_failed(store, row, token, now, error, permanent=permanent)


def _post_delivered(engine: Engine, tally: _Tally) -> None:
    """The receipt of each notice sent, through the engine (AGB 8; Platform: receipt)."""
    events = tally.delivered
    for start in range(0, len(events), _EVENT_CHUNK):
        for result in engine.handle_many(events[start : start + _EVENT_CHUNK]):
            if result["status"] not in ("applied", "duplicate"):
                reason = result.get("reason", result["status"])
                tally.errors.append(f"event {result['id']}: {reason}")


def _waiting(store: Store) -> int:
    with store.db.connect() as connection:
        query = select(func.count()).select_from(outbox).where(outbox.c.status == mail.QUEUED)
        return connection.execute(query).scalar_one()


class BounceRefused(ValueError):
    """A bounce that cannot be recorded: unknown Message-ID, empty reason, not sent."""


def record_bounce(store: Store, message_id: str, reason: str, *, actor: str, at: datetime) -> int:
    """A bounce that came after the server accepted the message: the message is ``failed``
    with the reason, not retried (the address refuses it), and the audit log says who
    recorded it. ``message_id`` with or without its angle brackets. Returns the message's id."""
    reason = " ".join(reason.split())
    if not reason:
        raise BounceRefused("give the bounce's reason (--reason), e.g. the DSN's status text")
    wanted = message_id.strip()
    wanted = wanted if wanted.startswith("<") else f"<{wanted.strip('<>')}>"
    with store.unit() as unit:
        connection = unit.connection
        row = connection.execute(select(outbox).where(outbox.c.message_id == wanted)).one_or_none()
        if row is None:
            raise BounceRefused(f"no message in the outbox has the Message-ID {wanted}")
        if row.status not in (mail.SENT, mail.FAILED):
            raise BounceRefused(f"message {row.id} is {row.status}: only a sent message bounces")
        error = f"bounced: {reason}"
        connection.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(status=mail.FAILED, error=error[:2000], next_attempt_at=None)
        )
        audit.record(
            connection,
            actor,
            "outbox_bounce",
            at=at,
            message=row.id,
            message_id=wanted,
            account=row.account,
            kind=row.kind,
            document=row.document,
            publication=row.publication,
            reason=reason,
        )
    return row.id


def outbox_rows(store: Store, *, status: str | None = None, limit: int = 200) -> list[Any]:
    """The newest messages of the outbox (of one status, if given): ``billing outbox list``."""
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status:
        query = query.where(outbox.c.status == status)
    with store.db.connect() as connection:
        return list(connection.execute(query))


def publication_counts(store: Store, publication: int) -> dict[str, int]:
    """A publication's notices by status: what "queued for N customers" counts."""
    with store.db.connect() as connection:
        return mail.status_counts(connection, publication)


def publication_said(store: Store, publication: int) -> str:
    """What became of a publication's letters, from the outbox: queued until they are sent
    (docs/mail.md), never "notified" before the e-mail left. The admin UI's flash and
    ``billing terms publish`` say the same."""
    counts = publication_counts(store, publication)
    waiting = counts.get("queued", 0) + counts.get("sending", 0)
    plural = "" if waiting == 1 else "s"
    parts = [f"letters queued for {waiting} customer{plural}"] if waiting else []
    said = {"sent": "sent", "failed": "failed", "no_address": "without an e-mail address"}
    parts += [f"{counts[status]} {words}" for status, words in said.items() if counts.get(status)]
    return "; ".join(parts) or "no customer to notify"
