"""Webhooks (issue 15): subscriptions, the transactional outbox, Standard Webhooks delivery.

A local HTTP receiver (http.server in a thread) stands for a billing service; it checks every
signature with the standardwebhooks package, as a real receiver would.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.access.tokens import create_token
from engine.delivery.webhook_delivery import Deliverer, DeliveryPolicy, http_post
from engine.delivery.webhooks import WebhookError, add_subscription, check_url, message_id
from engine.ledger.tables import audit_log, events, webhook_messages
from tests.conftest import Customer, effects_of

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
US = "+12125550100"  # 0.29 EUR a minute (Price list: zones)
PASSWORD = "correct horse battery staple"


class Receiver:
    """A billing service's endpoint: records each request; ``answer(n)`` gives the status of
    the n-th request (1-based), or ``"drop"`` to close the connection without an answer."""

    def __init__(self, answer=lambda n: 204):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answer = answer
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answer(len(receiver.requests))
                if status == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.requests]

    def verified(self, secret: str) -> list[dict]:
        """Every body, after Webhook.verify checked its signature and timestamp."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(answer=lambda n: 204):
        made.append(Receiver(answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def subscribe(engine, url: str, kinds: list[str]) -> str:
    with engine.store.db.begin() as connection:
        _, secret = add_subscription(
            connection, url, kinds, created_by="test", at=NOW, allow_private=True
        )
    return secret


def messages(engine) -> list:
    with engine.store.db.connect() as connection:
        return connection.execute(select(webhook_messages).order_by(webhook_messages.c.id)).all()


class Clock:
    """The deliverer's clock: real time plus what a test has let pass."""

    def __init__(self, start: datetime | None = None):
        self.start = start
        self.passed = timedelta()

    def __call__(self) -> datetime:
        return (self.start or datetime.now(UTC)) + self.passed


def deliverer(engine, catalog, clock=None, send=http_post) -> Deliverer:
    policy = DeliveryPolicy.from_catalog(catalog, NOW)
    return Deliverer(engine.store, policy, now=clock or Clock(), send=send)


def returned_debits(engine, count: int) -> list[dict]:
    """A prepay customer whose ``count`` direct debits of 20.00 EUR come back (AGB 4.2.3)."""
    acme = Customer(engine)
    acme.open()
    return [
        acme.send("direct_debit.returned", f"2026-11-{6 + n:02d}T10:00:00+01:00", amount="20.00")
        for n in range(count)
    ]


# -- the outbox --------------------------------------------------------------------------------


def test_an_invoice_of_290_eur_on_20_november_is_pushed_signed_with_a_stable_id(
    engine, catalog, receiver
):
    # 1,000 minutes to the US at 0.29 EUR: an invoice of 290.00 EUR on 20 November (CLINQ SD
    # 1.3, AGB 4.3.1). The subscriber of invoice.issued gets it, signed with its secret.
    hook = receiver()
    secret = subscribe(engine, hook.url, ["invoice.issued"])
    acme = Customer(engine)
    acme.open()
    acme.call("2026-11-03T10:00:00+01:00", US, 1000 * 60)
    issued = acme.send("clock", "2026-11-20T08:00:00+01:00")
    (invoice,) = effects_of(issued, "invoice_issued")
    index = issued["effects"].index(invoice)
    (row,) = messages(engine)
    assert (row.status, row.type, row.attempts) == ("pending", "invoice.issued", 0)

    assert deliverer(engine, catalog).deliver_due() == {"delivered": 1, "failed": 0}

    (body,) = hook.verified(secret)  # raises unless the v1 HMAC-SHA256 signature holds
    assert hook.ids() == [message_id(issued["id"], index)]
    assert body["type"] == "invoice.issued"
    assert body["timestamp"] == "2026-11-20T08:00:00+01:00"
    assert body["data"]["account"] == "acme"
    assert body["data"]["effect"]["amount"] == "290.00"  # a string, never a float
    assert body["data"]["effect"]["invoice"] == invoice["invoice"]
    assert body["data"]["effect"]["clause"] == invoice["clause"]
    (row,) = messages(engine)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)


def test_each_effect_goes_to_the_subscribers_of_its_type_only(engine, catalog, receiver):
    # A returned direct debit (AGB 4.2.3) empties the prepaid credit: the charge is reported as
    # direct_debit.returned, the automatic top-up it triggers as topup.requested.
    debits, topups = receiver(), receiver()
    subscribe(engine, debits.url, ["direct_debit.returned"])
    subscribe(engine, topups.url, ["topup.requested", "service.blocked"])
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "20.00"})
    result = acme.send("direct_debit.returned", "2026-11-06T10:00:00+01:00", amount="20.00")
    kinds = [(e["kind"], e.get("item")) for e in result["effects"]]
    assert ("charge", "returned_debit") in kinds and ("topup_requested", None) in kinds

    deliverer(engine, catalog).deliver_due()

    assert [json.loads(body)["type"] for _, body in debits.requests] == ["direct_debit.returned"]
    assert [json.loads(body)["type"] for _, body in topups.requests] == ["topup.requested"]
    (debit,) = [json.loads(body) for _, body in debits.requests]
    assert (debit["data"]["effect"]["amount"], debit["data"]["effect"]["clause"]) == (
        "20.00",
        "AGB 4.2.3",
    )


def test_a_rejected_event_writes_no_webhook(engine):
    subscribe(engine, "http://127.0.0.1:9/hooks", list(_all_types()))
    rejected = engine.handle(
        {
            "id": "r1",
            "type": "direct_debit.returned",
            "account": "nobody",
            "at": "2026-11-06T10:00:00+01:00",
            "amount": "20.00",
        }
    )
    assert rejected["status"] == "rejected"
    assert messages(engine) == []


def test_a_rolled_back_transaction_leaves_neither_event_nor_webhook(engine, monkeypatch):
    # The messages are written in the event's transaction: a failure after they are written
    # and before the commit takes both away.
    import engine.engine as engine_module

    subscribe(engine, "http://127.0.0.1:9/hooks", ["direct_debit.returned"])
    Customer(engine).open()
    real = engine_module.queue_messages

    def crash_after_writing(connection, batch, results, subscriptions=None):
        assert real(connection, batch, results, subscriptions) == 1
        raise RuntimeError("the server dies before the commit")

    monkeypatch.setattr(engine_module, "queue_messages", crash_after_writing)
    event = {
        "id": "dd1",
        "type": "direct_debit.returned",
        "account": "acme",
        "at": "2026-11-06T10:00:00+01:00",
        "amount": "20.00",
    }
    with pytest.raises(RuntimeError):
        engine.handle(event)
    assert messages(engine) == []
    with engine.store.db.connect() as connection:
        stored = connection.execute(select(func.count()).where(events.c.id == "dd1"))
        assert stored.scalar_one() == 0
    monkeypatch.setattr(engine_module, "queue_messages", real)
    assert engine.handle(event)["status"] == "applied"  # sent again: now with its message
    assert [m.event_id for m in messages(engine)] == ["dd1"]


def test_without_subscriptions_nothing_is_written(engine):
    returned_debits(engine, 2)
    assert messages(engine) == []


# -- delivery ----------------------------------------------------------------------------------


class Killed(BaseException):
    """The delivery process dies (kill -9 leaves no chance to record anything)."""


def test_a_deliverer_killed_mid_way_leaves_nothing_undelivered_after_restart(
    engine, catalog, receiver
):
    hook = receiver()
    secret = subscribe(engine, hook.url, ["direct_debit.returned"])
    returned_debits(engine, 5)
    expected = [m.message_id for m in messages(engine)]
    assert len(set(expected)) == 5
    sent = []

    def dies_after_the_third_post(claim, body, headers, timeout):
        error = http_post(claim, body, headers, timeout)
        sent.append(claim.message_id)
        if len(sent) == 3:
            raise Killed  # the third was received, but its delivery is never recorded
        return error

    clock = Clock()
    with pytest.raises(Killed):
        deliverer(engine, catalog, clock, dies_after_the_third_post).deliver_due()
    assert hook.ids() == expected[:3]
    statuses = [m.status for m in messages(engine)]
    assert statuses == ["delivered", "delivered", "pending", "pending", "pending"]

    # A restart at once finds the rest leased to the dead deliverer; when the lease is over
    # (well within the 5 minutes a receiver accepts a timestamp), everything goes out.
    restarted = deliverer(engine, catalog, clock)
    assert restarted.deliver_due() == {"delivered": 0, "failed": 0}
    clock.passed = restarted.policy.lease(restarted.batch) + timedelta(seconds=1)
    assert restarted.deliver_due() == {"delivered": 3, "failed": 0}

    assert set(hook.ids()) == set(expected)  # every message at least once
    assert hook.ids().count(expected[2]) == 2  # the third twice, with the same webhook-id
    assert len(hook.verified(secret)) == 6
    assert [m.status for m in messages(engine)] == ["delivered"] * 5


def test_a_dropped_connection_is_tried_again_with_the_same_id(engine, catalog, receiver):
    hook = receiver(lambda n: "drop" if n == 1 else 200)
    secret = subscribe(engine, hook.url, ["direct_debit.returned"])
    returned_debits(engine, 1)
    clock = Clock()
    delivery = deliverer(engine, catalog, clock)
    assert delivery.deliver_due() == {"delivered": 0, "failed": 1}
    (row,) = messages(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error
    clock.passed = timedelta(seconds=30)  # first_retry_seconds
    assert delivery.deliver_due() == {"delivered": 1, "failed": 0}
    first, second = hook.ids()
    assert first == second == row.message_id
    assert len(hook.verified(secret)) == 2


def test_a_receiver_answering_500_ends_dead_after_six_attempts_with_growing_delays(
    engine, catalog, receiver
):
    # Platform: webhooks: 6 attempts; delays 30 s x 10^(n-1), at most 12 h:
    # 30 s, 300 s, 3,000 s, 30,000 s, then 43,200 s (not 300,000 s). No real sleeping.
    hook = receiver(lambda n: 500)
    subscribe(engine, hook.url, ["direct_debit.returned"])
    returned_debits(engine, 1)
    clock = Clock(start=NOW)
    delivery = deliverer(engine, catalog, clock)
    assert delivery.policy.max_attempts == 6
    attempted_at = []
    for delay in (0, 30, 300, 3000, 30000, 43200):
        clock.passed += timedelta(seconds=delay - 1) if delay else timedelta()
        if delay:  # one second early: not yet
            assert delivery.deliver_due() == {"delivered": 0, "failed": 0}
            clock.passed += timedelta(seconds=1)
        assert delivery.deliver_due() == {"delivered": 0, "failed": 1}
        attempted_at.append(clock.passed.total_seconds())
    assert attempted_at == [0, 30, 330, 3330, 33330, 76530]
    (row,) = messages(engine)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 6, None)
    assert row.last_error.startswith("HTTP 500")
    clock.passed += timedelta(days=30)
    assert delivery.deliver_due() == {"delivered": 0, "failed": 0}
    assert len(hook.requests) == 6 and len(set(hook.ids())) == 1


def test_a_redirect_is_not_followed(engine, catalog, receiver):
    hook = receiver(lambda n: 302)
    subscribe(engine, hook.url, ["direct_debit.returned"])
    returned_debits(engine, 1)
    assert deliverer(engine, catalog).deliver_due() == {"delivered": 0, "failed": 1}
    (row,) = messages(engine)
    assert row.last_error == "HTTP 302 (redirect not followed)"
    assert len(hook.requests) == 1


def test_removing_a_subscription_cancels_what_it_still_owes(engine, catalog):
    subscribe(engine, "http://127.0.0.1:9/hooks", ["direct_debit.returned"])
    returned_debits(engine, 1)
    assert main(["webhooks", "remove", "1", "--db", engine.store.url]) == 0
    assert [m.status for m in messages(engine)] == ["cancelled"]
    assert deliverer(engine, catalog).deliver_due() == {"delivered": 0, "failed": 0}


# -- subscriptions: validation, CLI, API ---------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hooks",
        "https://user:secret@example.com/hooks",
        "https:///hooks",
        "http://127.0.0.1/hooks",
        "http://localhost:8000/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://[::1]/hooks",
        "http://[fd00::1]/hooks",
        "https://example.com/hooks#x",
        "https://exa mple.com/",
        "https://does-not-exist.invalid/hooks",
    ],
)
def test_urls_that_are_not_public_http_are_refused_naming_the_field(url):
    with pytest.raises(WebhookError) as refused:
        check_url(url)
    assert refused.value.field == "url"


def test_a_public_address_is_accepted_and_loopback_only_when_allowed():
    assert check_url("https://93.184.215.14/hooks") == "https://93.184.215.14/hooks"
    assert check_url("http://127.0.0.1:8080/hooks", allow_private=True)


def test_the_cli_prints_a_generated_secret_once_and_never_lists_it(engine, tmp_path, capsys):
    url = engine.store.url
    hook = "http://127.0.0.1:8080/hooks"
    add, private = ["webhooks", "add", hook], ["--allow-private-address", "--db", url]
    assert main([*add, "--events", "invoice.issued,service.blocked", *private]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("whsec_")
    Webhook(secret)  # a valid Standard Webhooks secret
    own = tmp_path / "secret"
    own.write_text("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" + "\n")
    assert main([*add, "--events", "contract.ends", "--secret-file", str(own), *private]) == 0
    assert capsys.readouterr().out == ""  # a secret from a file is not printed
    assert main(["webhooks", "list", "--db", url]) == 0
    listed = capsys.readouterr().out
    assert secret not in listed and "MfKQ9r8G" not in listed
    assert [json.loads(line)["events"] for line in listed.splitlines()] == [
        ["invoice.issued", "service.blocked"],
        ["contract.ends"],
    ]
    assert main(["webhooks", "add", hook, "--events", "invoice.paid", "--db", url]) == 2
    assert "--events: unknown event type 'invoice.paid'" in capsys.readouterr().err
    assert main(["webhooks", "add", hook, "--events", "invoice.issued", "--db", url]) == 2
    assert "URL: " in capsys.readouterr().err  # loopback without --allow-private-address


def test_subscribing_and_removing_are_audited_without_the_secret(engine, capsys):
    """Who gets the platform's events is a trust decision: each change names its actor."""
    from engine.ledger import audit

    url = engine.store.url
    hook = "http://127.0.0.1:8080/hooks"
    private = ["--allow-private-address", "--db", url]
    assert main(["webhooks", "add", hook, "--events", "invoice.issued", *private]) == 0
    secret = capsys.readouterr().out.strip()
    assert main(["webhooks", "remove", "1", "--db", url]) == 0
    assert main(["webhooks", "add", hook, "--events", "nope", "--db", url]) == 2  # no entry
    with engine.store.db.connect() as connection:
        logged = list(reversed(audit.entries(connection)))
        assert audit.verify(connection) == []
    actions = [(e["action"], e["detail"].get("id"), e["detail"].get("events")) for e in logged]
    assert actions[-2:] == [
        ("webhook_subscribed", 1, ["invoice.issued"]),
        ("webhook_removed", 1, None),
    ]
    assert all(e["actor"].startswith("cli:") for e in logged[-2:])
    assert all(secret not in str(e) for e in logged)


@pytest.fixture
def api(engine):
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test")
    service = create_token(engine.store, "service", "billing-service")
    reader = create_token(engine.store, "reader", "reader")
    client = app.test_client()
    client.service = {"Authorization": f"Bearer {service}"}
    client.reader = {"Authorization": f"Bearer {reader}"}
    return app, client


def test_a_billing_service_manages_its_webhooks_and_a_reader_may_not(api):
    app, client = api
    body = {"url": "http://127.0.0.1:8080/hooks", "events": ["invoice.issued"]}
    for method, path in (("GET", ""), ("POST", ""), ("DELETE", "/1")):
        response = client.open(
            f"/api/v1/webhooks{path}", method=method, json=body, headers=client.reader
        )
        assert response.status_code == 403, (method, response.json)
    refused = client.post("/api/v1/webhooks", json=body, headers=client.service)
    # Well-formed, but the platform does not call into its own network: forbidden.
    assert (refused.status_code, refused.json["error"]["field"]) == (403, "/url")
    assert "not a public address" in refused.json["error"]["message"]

    app.config["BILLING_WEBHOOKS_ALLOW_PRIVATE"] = True  # the operator allows it (tests)
    created = client.post("/api/v1/webhooks", json=body, headers=client.service)
    assert created.status_code == 201, created.json
    assert created.json["secret"].startswith("whsec_")
    assert created.json["created_by"] == "token:service"
    listed = client.get("/api/v1/webhooks", headers=client.service).json["webhooks"]
    assert [(w["id"], w["events"]) for w in listed] == [(created.json["id"], ["invoice.issued"])]
    assert "secret" not in listed[0]
    assert (
        client.delete(f"/api/v1/webhooks/{created.json['id']}", headers=client.service).status_code
        == 204
    )
    gone = client.delete(f"/api/v1/webhooks/{created.json['id']}", headers=client.service)
    assert gone.status_code == 404
    assert client.get("/api/v1/webhooks", headers=client.service).json == {"webhooks": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/", "events": ["invoice.issued"]}, "/url"),
        ({"url": "https://u:p@example.com/", "events": ["invoice.issued"]}, "/url"),
        ({"url": 42, "events": ["invoice.issued"]}, "/url"),
        ({"events": ["invoice.issued"]}, "/url"),
        ({"url": "https://93.184.215.14/", "events": ["invoice.paid"]}, "/events"),
        ({"url": "https://93.184.215.14/", "events": []}, "/events"),
        ({"url": "https://93.184.215.14/", "events": "invoice.issued"}, None),
        ({"url": "https://93.184.215.14/", "events": [{"x": 1}]}, "/events"),
        ({"url": "https://93.184.215.14/", "events": ["invoice.issued"], "secret": "x"}, "/secret"),
        ({"url": "https://93.184.215.14/", "events": ["invoice.issued"], "hmm": 1}, "/hmm"),
    ],
)
def test_hostile_webhook_requests_get_400_naming_the_field(api, body, field):
    _, client = api
    response = client.post("/api/v1/webhooks", json=body, headers=client.service)
    if field is None:  # a comma-separated string is accepted like the CLI's --events
        assert response.status_code == 201
        return
    assert (response.status_code, response.json["error"]["field"]) == (400, field)


def _all_types():
    from engine.delivery.webhooks import EVENT_TYPES

    return EVENT_TYPES


# -- the admin UI -------------------------------------------------------------------------------


def _csrf(page: bytes) -> str:
    import re

    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def _login(client, email: str) -> None:
    token = _csrf(client.get("/admin/login").data)
    response = client.post(
        "/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.data


def test_legal_retries_a_dead_message_from_the_admin_ui_and_it_is_audited(
    engine, catalog, receiver
):
    failing = {"on": True}
    hook = receiver(lambda n: 500 if failing["on"] else 200)
    secret = subscribe(engine, hook.url, ["direct_debit.returned"])
    returned_debits(engine, 1)
    clock = Clock()
    delivery = deliverer(engine, catalog, clock)
    for _ in range(6):
        delivery.deliver_due()
        clock.passed += timedelta(hours=13)
    (dead,) = messages(engine)
    assert (dead.status, dead.attempts) == ("dead", 6)

    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    viewer = app.test_client()
    _login(viewer, "viewer@example.com")
    page = viewer.get("/admin/webhooks?status=dead")
    assert page.status_code == 200
    assert dead.message_id.encode() in page.data and b"HTTP 500" in page.data
    assert b"Retry" not in page.data
    token = _csrf(page.data)
    refused = viewer.post(f"/admin/webhooks/{dead.id}/retry", data={"csrf_token": token})
    assert refused.status_code == 403
    assert viewer.post(f"/admin/webhooks/{dead.id}/retry").status_code == 400  # no CSRF token

    legal = app.test_client()
    _login(legal, "legal@example.com")
    page = legal.get("/admin/webhooks")
    assert b"Retry" in page.data
    retried = legal.post(f"/admin/webhooks/{dead.id}/retry", data={"csrf_token": _csrf(page.data)})
    assert retried.status_code == 302
    (row,) = messages(engine)
    assert (row.status, row.attempts) == ("pending", 0)
    again = legal.post(f"/admin/webhooks/{dead.id}/retry", data={"csrf_token": _csrf(page.data)})
    assert again.status_code == 409  # pending, not dead
    with engine.store.db.connect() as connection:
        entry = connection.execute(
            select(audit_log).where(audit_log.c.action == "webhook_retried")
        ).one()
    assert entry.actor == "legal@example.com"
    assert json.loads(entry.detail)["message"] == dead.message_id

    failing["on"] = False
    clock.passed = timedelta()
    assert Deliverer(engine.store, delivery.policy, now=clock).deliver_due() == {
        "delivered": 1,
        "failed": 0,
    }
    assert hook.ids() == [dead.message_id] * 7
    headers, body = hook.requests[-1]  # (the failed attempts' timestamps lie in the "future")
    assert Webhook(secret).verify(body, headers)["data"]["effect"]["item"] == "returned_debit"
    (row,) = messages(engine)
    assert row.status == "delivered"
    refused = legal.get("/admin/webhooks?page=abc&status=<script>")  # 400 naming the field
    assert refused.status_code == 400 and b"<script>" not in refused.data
    assert b"status must be one of pending, delivered, dead, cancelled" in refused.data


def test_two_deliverers_never_claim_the_same_message(engine, catalog, receiver):
    # Several processes may deliver (billing serve's loop and a billing webhooks deliver): a
    # claimed message is leased to one of them until its attempt must be over.
    hook = receiver()
    subscribe(engine, hook.url, ["direct_debit.returned"])
    returned_debits(engine, 3)
    first, second = deliverer(engine, catalog), deliverer(engine, catalog)
    first.batch = 2
    claimed = first.claim()
    assert len(claimed) == 2
    (rest,) = second.claim()
    assert second.claim() == []
    assert rest.message_id not in {c.message_id for c in claimed}
    for claim in [*claimed, rest]:
        (first if claim in claimed else second).attempt(claim)
    assert sorted(hook.ids()) == sorted(m.message_id for m in messages(engine))
    assert [m.status for m in messages(engine)] == ["delivered"] * 3


def test_each_webhook_type_names_the_engine_effect_it_reports():
    from engine.delivery.webhooks import EVENT_TYPES, event_type_of

    effects = {
        "invoice.issued": {"kind": "invoice_issued"},
        "credit_note.issued": {"kind": "credit_note_issued"},
        "direct_debit.requested": {"kind": "direct_debit_requested"},
        "direct_debit.returned": {"kind": "charge", "item": "returned_debit"},
        "service.blocked": {"kind": "service_blocked"},
        "service.unblocked": {"kind": "service_unblocked"},
        "contract.ends": {"kind": "contract_ends"},
        "terms.notified": {"kind": "notice_sent", "template": "terms_change"},
        "topup.requested": {"kind": "topup_requested"},
    }
    assert set(effects) == set(EVENT_TYPES)
    assert {kind: event_type_of(effect) for kind, effect in effects.items()} == {
        kind: kind for kind in effects
    }
    # The fee of a returned debit and other notices are not reported on their own.
    assert event_type_of({"kind": "charge", "item": "returned_debit_fee"}) is None
    assert event_type_of({"kind": "notice_sent", "template": "blocking_warning"}) is None


@pytest.mark.postgresql
def test_a_subscription_made_by_another_server_process_is_seen_by_the_next_transaction(
    postgres, catalog, decider
):
    """Each process caches the subscriptions, checked per transaction against a fingerprint
    read with the account locks (engine/ledger/prefetch.py): no stale cache after a change."""
    from engine.delivery.webhooks import remove_subscription
    from engine.engine import Engine

    url = postgres()
    server_a = Engine(url, catalog=catalog, decider=decider)  # two processes' stores
    server_b = Engine(url, catalog=catalog, decider=decider)
    try:
        acme = Customer(server_a)
        acme.open()
        debit = "direct_debit.returned"
        acme.send(debit, "2026-11-06T10:00:00+01:00", amount="20.00")  # A caches: no subscriptions
        assert messages(server_a) == []
        subscribe(server_b, "http://127.0.0.1:9/hooks", ["direct_debit.returned"])
        acme.send(debit, "2026-11-07T10:00:00+01:00", amount="20.00")  # A sees B's subscription
        assert [m.type for m in messages(server_a)] == ["direct_debit.returned"]
        subscription = messages(server_a)[0].subscription
        with server_b.store.db.begin() as connection:
            assert remove_subscription(connection, subscription, at=NOW, actor="test", token=None)
        acme.send(debit, "2026-11-08T10:00:00+01:00", amount="20.00")  # and its removal
        assert len(messages(server_a)) == 1
    finally:
        server_a.close()
        server_b.close()
