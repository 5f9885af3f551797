"""Sending the outbox by e-mail (optional; configured by the environment).

By default notifications stay in the database, where the admin UI shows them. With
``BILLING_SMTP_HOST`` set, ``billing outbox send`` delivers every queued message that has a
recipient (the customer's e-mail on file, AGB 2.3) and marks it ``sent``; a message without a
recipient is marked ``no_address`` and stays visible.

    BILLING_SMTP_HOST, BILLING_SMTP_PORT (25), BILLING_SMTP_USER, BILLING_SMTP_PASSWORD,
    BILLING_SMTP_FROM (billing@localhost), BILLING_SMTP_STARTTLS (1 to use STARTTLS)
"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

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


def send_queued(connection: Connection, settings: SmtpSettings) -> dict[str, int]:
    """Deliver queued messages; each is marked in the same transaction as it is sent."""
    counts = {"sent": 0, "no_address": 0}
    queued = connection.execute(
        select(outbox).where(outbox.c.status == "queued").order_by(outbox.c.id)
    ).all()
    if not queued:
        return counts
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        for row in queued:
            if not row.recipient:
                status = "no_address"
            else:
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = (
                    settings.sender,
                    row.recipient,
                    row.subject,
                )
                message.set_content(row.body)
                smtp.send_message(message)
                status = "sent"
            connection.execute(update(outbox).where(outbox.c.id == row.id).values(status=status))
            counts[status] += 1
    return counts
