"""Sending the outbox by e-mail (optional; configured by the environment).

The outbox holds every e-mail to a customer (docs/mail.md): the notices of a change of the
terms (AGB 8) and the e-mails carrying issued invoices and credit notes (AGB 2.3, 4.3.1).
Without ``BILLING_SMTP_HOST`` they stay in the database, where the admin UI shows them. The
sending service (engine/services/mail_delivery.py) claims the due messages here, sends them
over one SMTP connection and records each one in its own transaction: ``sent`` with the
instant (``sent_at``), or ``failed`` with the reason, the attempts and when to try again.

    BILLING_SMTP_HOST, BILLING_SMTP_PORT (25), BILLING_SMTP_USER, BILLING_SMTP_PASSWORD,
    BILLING_SMTP_FROM (billing@localhost), BILLING_SMTP_STARTTLS (1 to use STARTTLS),
    BILLING_SMTP_TIMEOUT (30 seconds), BILLING_SMTP_CA_FILE (a private CA for STARTTLS)

Each notice sent becomes a ``notice.delivered`` event the caller posts to the engine: the
windows of a change of the terms run from its receipt (Platform: receipt).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from engine.ledger import document_archive
from engine.ledger.store import Store
from engine.ledger.tables import outbox

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
NO_ADDRESS, SKIPPED = "no_address", "skipped"
NOTICE = "notice"
# Waits after the 1st, 2nd, 3rd and 4th failed attempt; the 5th failure gives up.
BACKOFF = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=15)  # a sender that died mid-run leaves its messages due again then
_ERROR_LENGTH = 2000


class SmtpConfigurationError(ValueError):
    """An SMTP environment variable that cannot be used, named with its value."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str = "billing@localhost"
    starttls: bool = False
    timeout: float = 30.0
    ca_file: str | None = None

    @classmethod
    def from_environment(cls) -> SmtpSettings | None:
        """The settings of ``BILLING_SMTP_*``; None without a host (nothing is sent)."""
        host = os.environ.get("BILLING_SMTP_HOST")
        if not host:
            return None
        return cls(
            host=host,
            port=_number("BILLING_SMTP_PORT", "25", int),
            user=os.environ.get("BILLING_SMTP_USER") or None,
            password=os.environ.get("BILLING_SMTP_PASSWORD"),
            sender=os.environ.get("BILLING_SMTP_FROM", "billing@localhost"),
            starttls=os.environ.get("BILLING_SMTP_STARTTLS") == "1",
            timeout=_number("BILLING_SMTP_TIMEOUT", "30", float),
            ca_file=os.environ.get("BILLING_SMTP_CA_FILE") or None,
        )

    @property
    def domain(self) -> str:
        """The sender's domain: the right side of every Message-ID."""
        return self.sender.rpartition("@")[2] or "localhost"


def _number(name: str, default: str, kind: Callable[[str], Any]) -> Any:
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value <= 0:
        raise SmtpConfigurationError(f"{name} must be a positive number, not {raw!r}")
    return value


def instant(now: datetime) -> str:
    """An instant as the outbox stores it: UTC, seconds (ordered as text)."""
    return now.astimezone(UTC).isoformat(timespec="seconds")


def due(now: datetime):
    """The messages to send at ``now``: queued, a failure whose retry is due, or one whose
    sender's lease ran out (that sender died: sent again with the same Message-ID)."""
    at = instant(now)
    return or_(
        outbox.c.status == QUEUED,
        and_(
            outbox.c.status.in_((FAILED, SENDING)),
            outbox.c.next_attempt_at.is_not(None),
            outbox.c.next_attempt_at <= at,
        ),
    )


def claim(store: Store, now: datetime, limit: int | None) -> tuple[str, list[Any]]:
    """Claim the due messages for this sender: one compare-and-set UPDATE that only takes rows
    still due (a concurrent sender's claim makes them not due), so no message is sent twice.
    Gives each a Message-ID on its first claim, kept for every retry. Returns the claim's
    token and the rows, oldest first."""
    token = uuid.uuid4().hex
    with store.unit() as unit:  # on SQLite the write lock first: claims are serialised
        connection = unit.connection
        query = select(outbox.c.id).where(due(now)).order_by(outbox.c.id)
        ids = list(connection.execute(query if limit is None else query.limit(limit)).scalars())
        if not ids:
            return token, []
        connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids), due(now))
            .values(status=SENDING, claimed_by=token, next_attempt_at=instant(now + LEASE))
        )
        rows = connection.execute(
            select(outbox).where(outbox.c.claimed_by == token).order_by(outbox.c.id)
        ).all()
    return token, rows


def assign_message_id(store: Store, row: Any, domain: str) -> str:
    """The message's Message-ID (RFC 5322 3.6.4): made once, then the same on every retry."""
    if row.message_id:
        return row.message_id
    message_id = make_msgid(idstring=f"outbox{row.id}", domain=domain)
    with store.db.begin() as connection:
        connection.execute(
            update(outbox).where(outbox.c.id == row.id).values(message_id=message_id)
        )
    return message_id


def email_message(
    settings: SmtpSettings, row: Any, message_id: str, now: datetime, attached: Any = None
) -> EmailMessage:
    """The e-mail of an outbox row: exactly the stored subject and body (the letter legal saw,
    the text of the document), with the archived file it carries."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, row.recipient, row.subject
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = message_id
    message.set_content(row.body)
    if attached is not None:
        maintype, _, subtype = attached.media_type.partition("/")
        message.add_attachment(
            attached.content, maintype=maintype, subtype=subtype, filename=attached.filename
        )
    return message


def attachment_of(connection: Connection, row: Any):
    """The archived file an invoice or credit-note e-mail carries; None for a notice.
    :class:`LookupError` when the archive does not hold it."""
    if row.kind == NOTICE or not row.document:
        return None
    fmt = row.attachment or "pdf"
    found = document_archive.archived_file(connection, row.kind, row.document, fmt)
    if found is None or found.content is None:
        why = f": {found.unavailable}" if found is not None and found.unavailable else ""
        raise LookupError(f"the archive holds no {fmt} of {row.kind} {row.document}{why}")
    return found


def record_sent(store: Store, row: Any, token: str, now: datetime) -> bool:
    """``sent`` at ``now``, in its own transaction; False if this sender lost the claim."""
    with store.db.begin() as connection:
        done = connection.execute(
            _claimed(row, token).values(
                status=SENT,
                sent_at=instant(now),
                attempts=outbox.c.attempts + 1,
                error=None,
                next_attempt_at=None,
                claimed_by=None,
            )
        )
    return done.rowcount == 1


def record_failed(
    store: Store, row: Any, token: str, now: datetime, error: str, *, permanent: bool
) -> datetime | None:
    """``failed`` with the reason, in its own transaction; the next attempt after the backoff,
    or none (gave up) after a permanent refusal or the last attempt. Returns the next attempt."""
    attempts = row.attempts + 1
    retry = None if permanent or attempts >= MAX_ATTEMPTS else now + BACKOFF[attempts - 1]
    with store.db.begin() as connection:
        connection.execute(
            _claimed(row, token).values(
                status=FAILED,
                attempts=attempts,
                error=error[:_ERROR_LENGTH],
                next_attempt_at=instant(retry) if retry else None,
                claimed_by=None,
            )
        )
    return retry


def record_no_address(store: Store, row: Any, token: str) -> None:
    """No e-mail address on file (AGB 2.3): never sent, no window starts (Platform: receipt)."""
    with store.db.begin() as connection:
        connection.execute(
            _claimed(row, token).values(status=NO_ADDRESS, next_attempt_at=None, claimed_by=None)
        )


def _claimed(row: Any, token: str):
    return update(outbox).where(
        outbox.c.id == row.id, outbox.c.claimed_by == token, outbox.c.status == SENDING
    )


def connect(settings: SmtpSettings) -> smtplib.SMTP:
    """One SMTP session: EHLO, STARTTLS when configured (the certificate checked), login."""
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context(cafile=settings.ca_file))
            smtp.ehlo()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def describe(exc: BaseException) -> str:
    """An SMTP error as the outbox records it: the server's code and words, or the failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = exc.recipients.items()
        return "; ".join(f"{to}: {_reply(code, text)}" for to, (code, text) in refused)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def permanent_refusal(exc: BaseException) -> bool:
    """A 5xx refusal of the recipient (RFC 5321 4.2.1): trying again cannot help."""
    return isinstance(exc, smtplib.SMTPRecipientsRefused) and all(
        500 <= code < 600 for code, _ in exc.recipients.values()
    )


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {words}".strip()


def mark_sent(connection: Connection, rows: Sequence[Any], now: datetime) -> list[dict]:
    """Mark outbox rows sent at ``now``; the ``notice.delivered`` event of each notice."""
    sent_at = instant(now)
    events = []
    for row in rows:
        connection.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(status=SENT, sent_at=sent_at, next_attempt_at=None, claimed_by=None)
        )
        if row.publication is not None:
            events.append(delivered_event(row, now))
    return events


def delivered_event(row: Any, now: datetime) -> dict:
    """The ``notice.delivered`` event of a notice sent at ``now`` (AGB 8; Platform: receipt)."""
    return {
        "id": f"notice-delivered-{row.publication}-{row.account}",
        "type": "notice.delivered",
        "account": row.account,
        "at": now.isoformat(timespec="seconds"),
        "publication": row.publication,
        "channel": row.channel,
    }


def deliver_publication(connection: Connection, publication: int, now: datetime) -> list[dict]:
    """Mark a publication's queued notices sent at ``now`` without SMTP (the clause examples,
    whose accounts need no e-mail address, and tests); their ``notice.delivered`` events."""
    rows = connection.execute(
        select(outbox)
        .where(outbox.c.publication == publication, outbox.c.status == QUEUED)
        .order_by(outbox.c.id)
    ).all()
    return mark_sent(connection, rows, now)


def status_counts(connection: Connection, publication: int | None = None) -> dict[str, int]:
    """How many messages are in each status (of one publication's notices, if given)."""
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    if publication is not None:
        query = query.where(outbox.c.publication == publication)
    return {status: count for status, count in connection.execute(query)}
