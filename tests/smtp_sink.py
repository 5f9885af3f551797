"""A real SMTP server for tests: aiosmtpd's controller on 127.0.0.1, keeping each message.

``billing outbox send`` talks to it over TCP exactly as to a mail server (EHLO, MAIL, RCPT,
DATA); the messages are kept as a mailbox stores them.
"""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Keeper:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        content = envelope.original_content or envelope.content
        message = message_from_bytes(content.replace(b"\r\n", b"\n"), policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK: queued"


class SmtpSink:
    """``with SmtpSink() as sink:`` listens on 127.0.0.1:``sink.port``; ``sink.messages``."""

    def __init__(self) -> None:
        self._keeper = _Keeper()
        self.port = _free_port()
        self._controller = Controller(self._keeper, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[tuple[str, list[str], EmailMessage]]:
        return self._keeper.messages

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
