"""A real SMTP server for tests: aiosmtpd's controller on 127.0.0.1, keeping each message.

``billing outbox send`` talks to it over TCP exactly as to a mail server (EHLO, MAIL, RCPT,
DATA); the messages are kept as a mailbox stores them.

It can also misbehave as mail servers do (docs/mail.md): ``sink.rcpt_replies`` and
``sink.data_replies`` hold replies given instead of accepting, one per command, first in
first out (``"550 5.1.1 <x@example.com>: no such user"``, ``"451 4.3.0 try again later"``);
``sink.data_delay`` slows each DATA down (seconds). ``SmtpSink(tls=True)`` offers STARTTLS with
a self-signed certificate for 127.0.0.1 (``sink.ca_file``) and requires it, and with ``login``
(``(user, password)``) requires AUTH over it.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import tempfile
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Keeper:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []
        self.data_delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_replies:
            return self.data_replies.pop(0)
        content = envelope.original_content or envelope.content
        message = message_from_bytes(content.replace(b"\r\n", b"\n"), policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK: queued"


class _Login:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (auth_data.login, auth_data.password) == (self.user, self.password)
        return AuthResult(success=ok, handled=False)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost), signed by itself, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class SmtpSink:
    """``with SmtpSink() as sink:`` listens on 127.0.0.1:``sink.port``; ``sink.messages``."""

    def __init__(self, *, tls: bool = False, login: tuple[str, str] | None = None) -> None:
        self._keeper = _Keeper()
        self.port = _free_port()
        self.ca_file: str | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        options: dict = {}
        if tls:
            self._folder = tempfile.TemporaryDirectory()
            cert_file, key_file = _self_signed(Path(self._folder.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert_file, key_file)
            self.ca_file = str(cert_file)
            options |= {"tls_context": context, "require_starttls": True}
        if login:
            options |= {"authenticator": _Login(*login), "auth_required": True}
        self._controller = Controller(self._keeper, hostname="127.0.0.1", port=self.port, **options)

    @property
    def messages(self) -> list[tuple[str, list[str], EmailMessage]]:
        return self._keeper.messages

    @property
    def rcpt_replies(self) -> list[str]:
        return self._keeper.rcpt_replies

    @property
    def data_replies(self) -> list[str]:
        return self._keeper.data_replies

    @property
    def data_delay(self) -> float:
        return self._keeper.data_delay

    @data_delay.setter
    def data_delay(self, seconds: float) -> None:
        self._keeper.data_delay = seconds

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
        if self._folder is not None:
            self._folder.cleanup()
