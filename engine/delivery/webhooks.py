"""Webhook subscriptions and the transactional outbox of their messages.

A billing service subscribes a URL to webhook event types (``invoice.issued``, ...). Each type
is one kind of engine effect (:data:`EVENT_TYPES` says which); when an applied event has such
an effect, :func:`queue_messages` writes one message row per subscription in the same
transaction as the event, its effects and its ledger entries. A rolled-back or rejected event
so sends nothing, and a committed one is never lost: ``engine/delivery/webhook_delivery.py``
sends the rows later, at least once, signed after the Standard Webhooks specification.

Every message carries a stable id (``webhook-id``) derived from the event id and the index of
the effect in the event's result: a receiver that sees a message twice recognises it.

With no subscription, the engine pays one small query per transaction and nothing per effect.

A subscription belongs to whoever made it: the API token (``owner_token``), which alone lists
and removes it over the API, or the operator (``owner_token`` NULL: ``billing webhooks add``),
whose subscriptions no token sees. The command line sees and removes every subscription.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Connection, insert, select, update
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from engine.ledger import audit
from engine.ledger.pipeline import insert_rows
from engine.ledger.tables import webhook_messages, webhook_subscriptions

# Webhook event type -> the effect kind that produces it, and a test on the effect where one
# kind serves several purposes. ``credit_note.issued`` comes from credit notes, whose effect
# may be named either way.
EVENT_TYPES: dict[str, str] = {
    "invoice.issued": "invoice_issued: an invoice was issued (AGB 4.3.1)",
    "credit_note.issued": "credit_note_issued: a credit note was issued",
    "direct_debit.requested": "direct_debit_requested: an invoice is collected (AGB 4.2.2)",
    "direct_debit.returned": "charge of item returned_debit: a direct debit came back (AGB 4.2.3)",
    "service.blocked": "service_blocked: the service was blocked (AGB 4.4.3, 2.11)",
    "service.unblocked": "service_unblocked: the block was lifted",
    "contract.ends": "contract_ends: the contract ends on a date (termination, withdrawal)",
    "terms.notified": "notice_sent with template terms_change: a change of the terms was "
    "announced to the customer (AGB 8)",
    "topup.requested": "topup_requested: an automatic top-up is requested (CLINQ SD)",
}
_BY_KIND: dict[str, str] = {
    "invoice_issued": "invoice.issued",
    "credit_note_issued": "credit_note.issued",
    "credit_note.issued": "credit_note.issued",
    "direct_debit_requested": "direct_debit.requested",
    "service_blocked": "service.blocked",
    "service_unblocked": "service.unblocked",
    "contract_ends": "contract.ends",
    "topup_requested": "topup.requested",
}

ALLOW_PRIVATE_ENV = "BILLING_WEBHOOKS_ALLOW_PRIVATE"
MAX_URL_LENGTH = 2000


class WebhookError(ValueError):
    """A subscription is refused; ``field`` names what is wrong. ``policy`` marks a well-formed
    URL whose host the platform will not call (not public, or not resolving)."""

    def __init__(self, field: str, message: str, *, policy: bool = False):
        super().__init__(message)
        self.field = field
        self.message = message
        self.policy = policy


def event_type_of(effect: Mapping[str, Any]) -> str | None:
    """The webhook event type an effect is reported as, or None."""
    kind = effect.get("kind")
    found = _BY_KIND.get(kind)  # type: ignore[arg-type]
    if found is not None:
        return found
    if kind == "charge" and effect.get("item") == "returned_debit":
        return "direct_debit.returned"
    if kind == "notice_sent" and effect.get("template") == "terms_change":
        return "terms.notified"
    return None


def message_id(event_id: str, effect_index: int) -> str:
    """The stable ``webhook-id`` of the message about one effect of one event."""
    digest = hashlib.blake2b(f"{event_id}\x00{effect_index}".encode(), digest_size=16)
    return "msg_" + digest.hexdigest()


# -- subscriptions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    id: int
    url: str
    events: tuple[str, ...]
    secret: str
    allow_private: bool = False


def parse_event_types(value: Any) -> list[str]:
    """The event types asked for: known, at least one, each once (field ``events``)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise WebhookError("events", "events is a non-empty list of event types")
    wanted: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in EVENT_TYPES:
            raise WebhookError(
                "events",
                f"unknown event type {item!r}; known: {', '.join(EVENT_TYPES)}",
            )
        if item not in wanted:
            wanted.append(item)
    return wanted


def private_allowed() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def check_url(url: Any, *, allow_private: bool = False) -> str:
    """An http(s) URL without credentials whose host is public (field ``url``).

    Against server-side request forgery, every address the host resolves to must be public:
    not loopback, private, link-local (cloud metadata), multicast or reserved, unless the
    operator allows it (``--allow-private-address`` or $BILLING_WEBHOOKS_ALLOW_PRIVATE=1).
    Delivery checks again, since a name may later resolve elsewhere.
    """
    if not isinstance(url, str) or not url:
        raise WebhookError("url", "url is required: an http or https URL")
    if len(url) > MAX_URL_LENGTH or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise WebhookError("url", f"url must be at most {MAX_URL_LENGTH} characters without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookError("url", f"url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError("url", "url must use http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookError(
            "url", "url must not hold credentials (user:password@); the signature authenticates"
        )
    if not parts.hostname:
        raise WebhookError("url", "url has no host")
    if parts.fragment:
        raise WebhookError("url", "url must not have a fragment (#...)")
    if not allow_private:
        refuse_private_host(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    return url


def refuse_private_host(host: str, port: int) -> None:
    """Raise WebhookError unless every address of ``host`` is public."""
    try:
        addresses = {
            info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        }
    except (OSError, UnicodeError):
        raise WebhookError(
            "url", f"the host {host!r} of url does not resolve", policy=True
        ) from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise WebhookError(
                "url",
                f"the host {host!r} of url resolves to {ip}, which is not a public address; "
                "the platform does not call into its own network",
                policy=True,
            )


def new_secret() -> str:
    """A signing secret: ``whsec_`` and 32 random bytes in base64 (Standard Webhooks)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: Any) -> str:
    """A ``whsec_`` secret of 24 to 64 bytes (field ``secret``)."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise WebhookError("secret", "secret must start with whsec_ followed by base64")
    body = secret.removeprefix("whsec_")
    try:
        raw = base64.b64decode(body, validate=True)
        Webhook(secret)
    except (ValueError, EmptyWebhookSecretError):
        raise WebhookError("secret", "secret must be whsec_ followed by base64") from None
    if not 24 <= len(raw) <= 64:
        raise WebhookError("secret", "secret must hold 24 to 64 bytes (base64 after whsec_)")
    return secret


def add_subscription(
    connection: Connection,
    url: Any,
    events: Any,
    *,
    secret: str | None = None,
    created_by: str,
    at: datetime,
    allow_private: bool = False,
    owner_token: str | None = None,
) -> tuple[dict, str]:
    """Store a subscription; its public form and its secret (to show once). The audit log
    records who subscribed which URL to which events (never the secret), in this transaction.

    ``owner_token`` is the name of the API token that makes it (and alone manages it over the
    API); None makes it the operator's."""
    checked_events = parse_event_types(events)
    checked_url = check_url(url, allow_private=allow_private)
    secret = check_secret(secret) if secret is not None else new_secret()
    row = {
        "url": checked_url,
        "events": json.dumps(checked_events),
        "secret": secret,
        "allow_private": allow_private,
        "created_by": created_by,
        "owner_token": owner_token,
        "created_at": at.astimezone(UTC).isoformat(timespec="seconds"),
        "removed_at": None,
    }
    new_id = connection.execute(insert(webhook_subscriptions).values(**row)).inserted_primary_key
    assert new_id is not None
    public = _public({**row, "id": int(new_id[0])})
    audit.record(
        connection,
        created_by,
        "webhook_subscribed",
        at=at,
        id=public["id"],
        url=checked_url,
        events=checked_events,
        secret_fingerprint=public["secret_fingerprint"],
        owner=public["owner"],
    )
    return public, secret


def _owned_by(token: str | None) -> list:
    """The conditions that keep a query to the active subscriptions ``token`` may manage:
    the API token's own; None (the operator on the command line): every one."""
    conditions = [webhook_subscriptions.c.removed_at.is_(None)]
    if token is not None:
        conditions.append(webhook_subscriptions.c.owner_token == token)
    return conditions


def list_subscriptions(connection: Connection, *, token: str | None) -> list[dict]:
    """The active subscriptions of the API token named ``token``, or with None every one (the
    operator's view); never their secrets (a fingerprint tells them apart)."""
    rows = connection.execute(
        select(webhook_subscriptions).where(*_owned_by(token)).order_by(webhook_subscriptions.c.id)
    ).all()
    return [_public(row._mapping) for row in rows]


def remove_subscription(
    connection: Connection, subscription_id: int, *, at: datetime, actor: str, token: str | None
) -> bool:
    """End a subscription; its undelivered messages are cancelled. False if none was active
    that ``token`` owns (None: the operator, who may end any): then nothing changes. The audit
    log records who removed it, in this transaction."""
    stamp = at.astimezone(UTC).isoformat(timespec="seconds")
    result = connection.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id, *_owned_by(token))
        .values(removed_at=stamp)
    )
    if result.rowcount == 0:
        return False
    connection.execute(
        update(webhook_messages)
        .where(
            webhook_messages.c.subscription == subscription_id,
            webhook_messages.c.status == "pending",
        )
        .values(status="cancelled", last_error="the subscription was removed")
    )
    audit.record(connection, actor, "webhook_removed", at=at, id=subscription_id)
    return True


# Built once: the engine asks in every transaction, so the query should cost next to nothing.
_ACTIVE = select(
    webhook_subscriptions.c.id,
    webhook_subscriptions.c.url,
    webhook_subscriptions.c.events,
    webhook_subscriptions.c.secret,
    webhook_subscriptions.c.allow_private,
).where(webhook_subscriptions.c.removed_at.is_(None))


def active_subscriptions(connection: Connection) -> list[Subscription]:
    rows = connection.execute(_ACTIVE).all()
    return [
        Subscription(
            int(row.id), row.url, tuple(json.loads(row.events)), row.secret, bool(row.allow_private)
        )
        for row in rows
    ]


def owner_of(owner_token: str | None) -> str:
    """Who manages a subscription: ``token:NAME`` (over the API) or ``operator`` (the CLI)."""
    return "operator" if owner_token is None else f"token:{owner_token}"


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def _public(row: Mapping[str, Any]) -> dict:
    return {
        "id": int(row["id"]),
        "url": row["url"],
        "events": json.loads(row["events"]),
        "secret_fingerprint": fingerprint(row["secret"]),
        "owner": owner_of(row.get("owner_token")),
        "created_by": row["created_by"],
        "created_at": row["created_at"],
    }


# -- the outbox -------------------------------------------------------------------------------


def queue_messages(
    connection: Connection,
    events: Sequence[Any],
    results: Sequence[Mapping[str, Any]],
    subscriptions: Iterable[Subscription] | None = None,
) -> int:
    """Write the messages the applied ``events`` owe their subscribers; how many.

    Called inside the transaction that writes the events (engine/engine.py), so the messages
    commit or roll back with them. ``events[i]`` has the result ``results[i]``.
    """
    subs = list(active_subscriptions(connection) if subscriptions is None else subscriptions)
    if not subs:
        return 0
    wanted: dict[str, list[Subscription]] = {}
    for sub in subs:
        for kind in sub.events:
            wanted.setdefault(kind, []).append(sub)
    rows = []
    for event, result in zip(events, results, strict=True):
        if result.get("status") != "applied":
            continue
        for index, effect in enumerate(result["effects"]):
            kind = event_type_of(effect)
            if kind is None or kind not in wanted:
                continue
            body = _payload(event, kind, index, effect)
            mid = message_id(event.id, index)
            rows.extend(
                {
                    "subscription": sub.id,
                    "message_id": mid,
                    "event_id": event.id,
                    "effect_index": index,
                    "type": kind,
                    "account": event.account,
                    "payload": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": None,  # due at once
                    "last_attempt_at": None,
                    "last_error": None,
                    "delivered_at": None,
                }
                for sub in wanted[kind]
            )
    # With the unit's other writes and its COMMIT: one round trip on PostgreSQL.
    insert_rows(connection, webhook_messages.name, rows)
    return len(rows)


def _payload(event: Any, kind: str, index: int, effect: Mapping[str, Any]) -> str:
    """The message body (Standard Webhooks' ``type``, ``timestamp``, ``data``); amounts are
    strings, as in every effect."""
    document = {
        "type": kind,
        "timestamp": event.raw["at"],
        "data": {
            "account": event.account,
            "event": {"id": event.id, "type": event.type, "at": event.raw["at"]},
            "effect_index": index,
            "effect": dict(effect),
        },
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()
