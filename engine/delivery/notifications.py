"""Sending the outbox by e-mail (optional; configured by the environment).

By default notifications stay in the database, where the admin UI shows them. With
``BILLING_SMTP_HOST`` set, ``billing outbox send`` delivers every queued message that has a
recipient (the customer's e-mail on file, AGB 2.3) and marks it ``sent`` with the instant
(``sent_at``); a message without a recipient is marked ``no_address`` and stays visible. Each
notice sent becomes a ``notice.delivered`` event the caller posts to the engine: the windows
of a change of the terms run from its receipt (Platform: receipt).

    BILLING_SMTP_HOST, BILLING_SMTP_PORT (25), BILLING_SMTP_USER, BILLING_SMTP_PASSWORD,
    BILLING_SMTP_FROM (billing@localhost), BILLING_SMTP_STARTTLS (1 to use STARTTLS)
"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection, select, update

from engine.ledger.tables import outbox


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str = "billing@localhost"
    starttls: bool = False

    @classmethod
    def from_environment(cls) -> SmtpSettings | None:
        host = os.environ.get("BILLING_SMTP_HOST")
        if not host:
            return None
        return cls(
            host=host,
            port=int(os.environ.get("BILLING_SMTP_PORT", "25")),
            user=os.environ.get("BILLING_SMTP_USER"),
            password=os.environ.get("BILLING_SMTP_PASSWORD"),
            sender=os.environ.get("BILLING_SMTP_FROM", "billing@localhost"),
            starttls=os.environ.get("BILLING_SMTP_STARTTLS") == "1",
        )


def send_queued(
    connection: Connection, settings: SmtpSettings, now: datetime
) -> tuple[dict[str, int], list[dict]]:
    """Deliver queued messages; each is marked (status, ``sent_at``) in the same transaction as
    it is sent. Returns the counts and the ``notice.delivered`` events to post to the engine:
    the windows of AGB 8 and TKG § 57 run from the receipt of each notice."""
    counts = {"sent": 0, "no_address": 0}
    queued = connection.execute(
        select(outbox).where(outbox.c.status == "queued").order_by(outbox.c.id)
    ).all()
    if not queued:
        return counts, []
    events = []
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        for row in queued:
            if not row.recipient:
                counts["no_address"] += 1  # never sent: no window starts (Platform: receipt)
                connection.execute(
                    update(outbox).where(outbox.c.id == row.id).values(status="no_address")
                )
                continue
            smtp.send_message(email_message(settings.sender, row))
            events += mark_sent(connection, [row], now)
            counts["sent"] += 1
    return counts, events


def email_message(sender: str, row: Any) -> EmailMessage:
    """The e-mail of an outbox row: exactly the stored subject and body (the letter legal saw)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, row.recipient, row.subject
    message.set_content(row.body)
    return message


def mark_sent(connection: Connection, rows: Any, now: datetime) -> list[dict]:
    """Mark outbox rows sent at ``now``; the ``notice.delivered`` event of each notice."""
    sent_at = now.astimezone(UTC).isoformat(timespec="seconds")
    events = []
    for row in rows:
        connection.execute(
            update(outbox).where(outbox.c.id == row.id).values(status="sent", sent_at=sent_at)
        )
        events.append(
            {
                "id": f"notice-delivered-{row.publication}-{row.account}",
                "type": "notice.delivered",
                "account": row.account,
                "at": now.isoformat(timespec="seconds"),
                "publication": row.publication,
                "channel": row.channel,
            }
        )
    return events


def deliver_publication(connection: Connection, publication: int, now: datetime) -> list[dict]:
    """Mark a publication's queued notices sent at ``now`` without SMTP (the clause examples,
    whose accounts need no e-mail address, and tests); their ``notice.delivered`` events."""
    rows = connection.execute(
        select(outbox)
        .where(outbox.c.publication == publication, outbox.c.status == "queued")
        .order_by(outbox.c.id)
    ).all()
    return mark_sent(connection, rows, now)
