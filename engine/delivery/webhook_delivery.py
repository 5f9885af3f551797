"""Delivering the webhook outbox after the Standard Webhooks specification.

Each message is POSTed with the headers ``webhook-id`` (stable per message), ``webhook-timestamp``
(the attempt's Unix time) and ``webhook-signature`` (``v1,`` HMAC-SHA256 by the
``standardwebhooks`` package over ``id.timestamp.body`` with the subscription's secret).
A 2xx answer delivers it; anything else (another status, a redirect, which is never followed,
no answer within the timeout) is tried again after an exponentially growing delay, and after
``max_attempts`` attempts the message is ``dead`` (rules/platform/webhooks.yaml).

Delivery is at least once and safe with several deliverers: a short transaction *claims* due
messages (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single write lock), counts the
attempt and leases the message until the attempt must be over; the HTTP call runs outside any
transaction; a second short transaction records the outcome. A deliverer that dies mid-way
leaves its claims to expire, and the messages are sent again, with the same ``webhook-id``.

This is the one place that reads the wall clock (the retry schedule); ``now`` and ``sleep`` are
parameters, so tests drive it with their own clock.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select, update
from standardwebhooks.webhooks import Webhook

from engine.catalog import load_catalog
from engine.delivery.webhooks import WebhookError, refuse_private_host
from engine.ledger.store import Store
from engine.ledger.tables import webhook_messages, webhook_subscriptions

log = logging.getLogger("billing.webhooks")

POLICY_CLAUSE = "Platform: webhooks"
USER_AGENT = "clinq-billing-webhooks/1"


@dataclass(frozen=True)
class DeliveryPolicy:
    """The retry schedule and timeout (rules/platform/webhooks.yaml)."""

    max_attempts: int
    first_retry_seconds: int
    backoff_factor: int
    max_retry_seconds: int
    timeout_seconds: int

    @classmethod
    def from_catalog(cls, catalog: Any, at: datetime) -> DeliveryPolicy:
        values = catalog.at(at).clause(POLICY_CLAUSE)
        return cls(**{name: int(values[name]) for name in cls.__dataclass_fields__})

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: first * factor^(attempts-1)."""
        seconds = self.first_retry_seconds * self.backoff_factor ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.max_retry_seconds))

    def lease(self, batch: int) -> timedelta:
        """How long a claim lasts: every attempt of the batch may take the full timeout."""
        return timedelta(seconds=self.timeout_seconds * (batch + 1) + 30)


@dataclass(frozen=True)
class Claim:
    """One message a deliverer has claimed for one attempt."""

    id: int
    message_id: str
    url: str
    secret: str
    allow_private: bool
    payload: str
    attempts: int  # including this attempt


# A sender POSTs a body with headers; it returns None when delivered, else what went wrong.
Sender = Callable[[Claim, bytes, dict[str, str], float], str | None]


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def signed_headers(claim: Claim, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt at ``at``."""
    signature = Webhook(claim.secret).sign(claim.message_id, at.astimezone(UTC), claim.payload)
    return {
        "webhook-id": claim.message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx is answered as an error: a receiver must answer itself


_OPENER = urllib.request.build_opener(_NoRedirects)


def http_post(claim: Claim, body: bytes, headers: dict[str, str], timeout: float) -> str | None:
    """POST over HTTP(S) with a timeout and no redirects; None on a 2xx answer."""
    if not claim.allow_private:
        parts = urlsplit(claim.url)
        try:
            # The name may resolve elsewhere than when it was subscribed (DNS rebinding).
            refuse_private_host(parts.hostname or "", parts.port or 443)
        except WebhookError as refused:
            return refused.message
    request = urllib.request.Request(claim.url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as answer:
        reason = "redirect not followed" if 300 <= answer.code < 400 else answer.reason
        return f"HTTP {answer.code} ({reason})"
    except urllib.error.URLError as failure:
        return f"no connection: {failure.reason}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (OSError, ValueError) as failure:  # reset connections, malformed answers
        return f"{type(failure).__name__}: {failure}"
    return None if 200 <= status < 300 else f"HTTP {status}"


class Deliverer:
    """Claims due messages, sends them and records the outcome."""

    def __init__(
        self,
        store: Store,
        policy: DeliveryPolicy,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        send: Sender = http_post,
        batch: int = 10,
    ):
        self.store, self.policy, self.now, self.send, self.batch = store, policy, now, send, batch

    def claim(self) -> list[Claim]:
        """Claim up to ``batch`` due messages for one attempt each (one short transaction)."""
        now = self.now()
        stamp = _stamp(now)
        m, s = webhook_messages, webhook_subscriptions
        query = (
            select(m.c.id, m.c.message_id, m.c.payload, m.c.attempts, m.c.subscription)
            .where(
                m.c.status == "pending",
                or_(m.c.next_attempt_at.is_(None), m.c.next_attempt_at <= stamp),
            )
            .order_by(m.c.id)
            .limit(self.batch)
        )
        claims = []
        with self.store.unit() as unit:
            connection = unit.connection
            if connection.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = connection.execute(query).all()
            if not rows:
                return []
            subscriptions = {
                row.id: row
                for row in connection.execute(
                    select(s).where(s.c.id.in_({row.subscription for row in rows}))
                )
            }
            lease = _stamp(now + self.policy.lease(len(rows)))
            for row in rows:
                sub = subscriptions.get(row.subscription)
                if sub is None or sub.removed_at is not None:
                    connection.execute(
                        update(m)
                        .where(m.c.id == row.id)
                        .values(status="cancelled", last_error="the subscription was removed")
                    )
                    continue
                attempts = row.attempts + 1
                connection.execute(
                    update(m)
                    .where(m.c.id == row.id)
                    .values(attempts=attempts, next_attempt_at=lease, last_attempt_at=stamp)
                )
                claims.append(
                    Claim(
                        int(row.id),
                        row.message_id,
                        sub.url,
                        sub.secret,
                        bool(sub.allow_private),
                        row.payload,
                        attempts,
                    )
                )
        return claims

    def attempt(self, claim: Claim) -> str | None:
        """Send one claimed message and record what happened; the error or None."""
        at = self.now()
        headers = signed_headers(claim, at)
        error = self.send(
            claim, claim.payload.encode(), headers, float(self.policy.timeout_seconds)
        )
        self.record(claim, error)
        return error

    def record(self, claim: Claim, error: str | None) -> str:
        """Write an attempt's outcome, if the claim is still this deliverer's; the status."""
        now = self.now()
        m = webhook_messages
        if error is None:
            values: dict[str, Any] = {
                "status": "delivered",
                "delivered_at": _stamp(now),
                "next_attempt_at": None,
                "last_error": None,
            }
        elif claim.attempts >= self.policy.max_attempts:
            values = {"status": "dead", "next_attempt_at": None, "last_error": error[:2000]}
        else:
            retry_at = now + self.policy.delay_after(claim.attempts)
            values = {"next_attempt_at": _stamp(retry_at), "last_error": error[:2000]}
        with self.store.unit() as unit:
            unit.connection.execute(
                update(m)
                .where(
                    and_(m.c.id == claim.id, m.c.attempts == claim.attempts),
                    m.c.status == "pending",
                )
                .values(**values)
            )
        return values.get("status", "pending")

    def deliver_due(self, limit: int | None = None) -> dict[str, int]:
        """One pass: every message due now (at most ``limit``), each attempted once."""
        counts = {"delivered": 0, "failed": 0}
        done = 0
        while limit is None or done < limit:
            claims = self.claim()
            if not claims:
                break
            for claim in claims:
                error = self.attempt(claim)
                counts["failed" if error else "delivered"] += 1
                done += 1
        return counts

    def run(
        self,
        stop: threading.Event,
        *,
        idle_seconds: float = 5.0,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        """Deliver until ``stop`` is set, waiting ``idle_seconds`` when nothing is due."""
        wait = sleep or stop.wait
        while not stop.is_set():
            try:
                counts = self.deliver_due(limit=self.batch * 10)
            except Exception:  # the database is away: log and try again later
                log.exception("webhook delivery failed; trying again")
                counts = {"delivered": 0, "failed": 0}
            if not any(counts.values()):
                wait(idle_seconds)


def retry_dead(connection: Any, message: int, at: datetime) -> bool:
    """Give a dead message a new round of attempts at once (the admin UI's retry)."""
    result = connection.execute(
        update(webhook_messages)
        .where(webhook_messages.c.id == message, webhook_messages.c.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=_stamp(at))
    )
    return result.rowcount == 1


def default_deliverer(database_url: str | None = None) -> Deliverer:
    """A deliverer with the policy of the catalog in force now."""
    store = Store(database_url)
    policy = DeliveryPolicy.from_catalog(load_catalog(), datetime.now(UTC))
    return Deliverer(store, policy)


def main_loop(database_url: str | None, once: bool) -> dict[str, int] | None:
    """``billing webhooks deliver``: one pass (``once``) or until interrupted."""
    deliverer = default_deliverer(database_url)
    try:
        if once:
            return deliverer.deliver_due()
        stop = threading.Event()
        # SIGTERM (billing serve stopping) and Ctrl-C end the loop after the current attempt.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        deliverer.run(stop)
        return None
    finally:
        deliverer.store.close()


def spawn_delivery(database_url: str) -> subprocess.Popen:
    """``billing webhooks deliver`` as a child process (``billing serve`` starts one)."""
    command = [sys.executable, "-m", "billing.cli.webhooks", "deliver", "--db", database_url]
    return subprocess.Popen(command)


def stop_delivery(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop the delivery process; an attempt cut short is sent again later (same id)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
