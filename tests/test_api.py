"""The HTTP API v1: authentication, events, errors, reads, concurrency."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.openapi import openapi_document
from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.tokens import create_token, revoke_token
from engine.catalog import PROJECT_ROOT
from engine.events import PLATFORM_ONLY_TYPES
from tests.sample_events import ACME_OPENED, ANNA_ADDED


def topup(event_id: str, amount: str = "1.00", account: str = "acme") -> dict:
    return {
        "id": event_id,
        "type": "credit.topped_up",
        "account": account,
        "at": "2026-11-03T09:00:00+01:00",
        "amount": amount,
    }


@pytest.fixture
def api(engine):
    """A test client and the headers of a billing-service token."""
    app = create_app(engine=engine)
    secret = create_token(engine.store, "svc", "billing-service")
    client = app.test_client()
    client.headers = {"Authorization": f"Bearer {secret}"}
    return client


def post(client, path, body):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=client.headers
    )


def get(client, path):
    return client.get(path, headers=client.headers)


def test_health_needs_no_token(api):
    assert api.get("/health").json == {"status": "ok", "database": "ok"}


def test_every_other_endpoint_needs_a_valid_token(api, engine):
    assert api.get("/api/v1/accounts/acme").status_code == 401
    assert api.get("/api/v1/accounts/acme").headers["WWW-Authenticate"].startswith("Bearer")
    # (the OpenAPI document and the reference are public: tests/test_api_docs.py)
    assert (
        api.get("/api/v1/terms?at=2026-11-21", headers={"Authorization": "Bearer bt_wrong"})
    ).status_code == 401
    revoke_token(engine.store, "svc")
    refused = get(api, "/api/v1/terms?at=2026-11-21")
    assert (refused.status_code, refused.json["error"]["message"]) == (
        401,
        "The token is unknown or revoked.",
    )


def test_a_reader_token_may_read_but_not_post_events(api, engine):
    reader = create_token(engine.store, "dashboards", "reader")
    headers = {"Authorization": f"Bearer {reader}"}
    assert api.get("/api/v1/terms?at=2026-11-21", headers=headers).status_code == 200
    refused = api.post("/api/v1/events", json=ACME_OPENED, headers=headers)
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == "A reader token may not do this (events:write)."


def test_one_event_and_a_batch_return_the_engines_results(api):
    assert post(api, "/api/v1/events", ACME_OPENED).json["status"] == "applied"
    batch = post(
        api, "/api/v1/events", {"events": [ANNA_ADDED, topup("t1", "20.00"), topup("t1", "20.00")]}
    )
    assert [r["status"] for r in batch.json["results"]] == ["applied", "applied", "duplicate"]
    assert get(api, "/api/v1/accounts/acme").json["balance"] == "20.00"


def test_a_malformed_event_in_a_batch_names_field_and_index_and_applies_nothing(api):
    post(api, "/api/v1/events", ACME_OPENED)
    bad = post(api, "/api/v1/events", {"events": [topup("t1"), dict(topup("t2"), amount=5.0)]})
    assert bad.status_code == 400
    assert bad.json["error"]["field"] == "/events/1/amount"
    assert bad.json["error"]["index"] == 1
    assert get(api, "/api/v1/accounts/acme").json["balance"] == "0.00"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("{not json", "application/json", 400, "The body is not valid JSON"),
        ('{"a":' * 40 + "1" + "}" * 40, "application/json", 400, "nested more than 16 levels"),
        (json.dumps(ACME_OPENED), "text/plain", 415, "Content-Type: application/json"),
        (json.dumps({"events": []}), "application/json", 400, "non-empty list"),
        (
            json.dumps({"events": [ACME_OPENED] * 10_001}),
            "application/json",
            400,
            "At most 10000 events",
        ),
        (json.dumps([ACME_OPENED]), "application/json", 400, "an event is a JSON object"),
    ],
)
def test_bad_bodies_get_a_clear_error(api, body, content_type, status, message):
    response = api.post("/api/v1/events", data=body, content_type=content_type, headers=api.headers)
    assert response.status_code == status
    assert message in response.json["error"]["message"]


def test_a_body_above_the_size_limit_is_refused(api):
    response = api.post(
        "/api/v1/events",
        data="x" * (17 * 1024 * 1024),
        content_type="application/json",
        headers=api.headers,
    )
    assert response.status_code == 413
    assert "larger than 16 MiB" in response.json["error"]["message"]


def test_a_quote_stores_nothing(api):
    post(api, "/api/v1/events", ACME_OPENED)
    quoted = post(api, "/api/v1/quote", topup("t1", "5.00"))
    assert quoted.json["status"] == "quoted"
    assert quoted.json["effects"][0]["amount"] == "5.00"
    assert get(api, "/api/v1/accounts/acme").json["balance"] == "0.00"


def test_clock_fires_due_deadlines(api):
    post(api, "/api/v1/events", dict(ACME_OPENED, plan="clinq-premium"))
    fired = post(api, "/api/v1/clock", {"until": "2026-12-01T06:00:00+01:00"})
    charges = [
        e for r in fired.json["results"] for e in r["effects"] if e.get("item") == "base_fee"
    ]
    assert [c["amount"] for c in charges] == ["29.90"]
    assert post(api, "/api/v1/clock", {"until": "2026-12-01"}).status_code == 400


def test_a_refused_clock_names_every_fault_at_once_and_fires_nothing(api):
    post(api, "/api/v1/events", dict(ACME_OPENED, plan="clinq-premium"))
    before = get(api, "/api/v1/accounts/acme/ledger").json
    refused = post(api, "/api/v1/clock", {"until": "2026-12-01", "account": 7, "colour": "red"})
    assert refused.status_code == 400
    faults = refused.json["error"]["errors"]
    assert [f["field"] for f in faults] == ["/colour", "/account", "/until"]
    assert "not a date" in faults[2]["message"]
    assert refused.json["error"]["field"] == "/colour"  # the first, as for every 400
    # an account the clock event refuses, and an instant beyond the platform's clock
    both = post(api, "/api/v1/clock", {"until": "2099-12-01T00:00:00+01:00", "account": "a b"})
    assert [f["field"] for f in both.json["error"]["errors"]] == ["/account", "/until"]
    assert get(api, "/api/v1/accounts/acme/ledger").json == before  # no base fee fired


def test_unknown_accounts_are_404_and_wrong_methods_405(api):
    missing = get(api, "/api/v1/accounts/nobody")
    assert (missing.status_code, missing.json["error"]["message"]) == (
        404,
        "There is no account 'nobody'.",
    )
    assert get(api, "/api/v1/accounts/nobody/ledger").status_code == 404
    wrong = api.delete("/api/v1/events", headers=api.headers)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "OPTIONS, POST")
    assert (
        api.get("/nothing-here")
        .json["error"]["message"]
        .startswith("There is nothing at this address")
    )


def test_the_ledger_comes_in_pages(api):
    post(api, "/api/v1/events", ACME_OPENED)
    post(api, "/api/v1/events", {"events": [topup(f"t{i}") for i in range(5)]})
    first = get(api, "/api/v1/accounts/acme/ledger?limit=2").json
    assert [e["event"] for e in first["entries"]] == ["t0", "t1"]
    second = get(api, f"/api/v1/accounts/acme/ledger?limit=2&after={first['next_after']}").json
    assert [e["event"] for e in second["entries"]] == ["t2", "t3"]
    last = get(api, f"/api/v1/accounts/acme/ledger?limit=2&after={second['next_after']}").json
    assert ([e["event"] for e in last["entries"]], last["next_after"]) == (["t4"], None)
    assert get(api, "/api/v1/accounts/acme/ledger?limit=5000").status_code == 400


def test_deadlines_and_terms(api):
    post(api, "/api/v1/events", ACME_OPENED)
    deadlines = get(api, "/api/v1/accounts/acme/deadlines").json["deadlines"]
    assert {d["kind"] for d in deadlines} == {
        "recurring_fees",
        "monthly_invoice",
        "inactivity_check",
    }
    terms = get(api, "/api/v1/terms?at=2026-11-21").json
    assert terms["terms_version"] == "2026-01-01"
    fee = next(c for c in terms["clauses"] if c["clause"] == "AGB 4.2.3")
    assert fee["parameters"]["flat_fee"] == "9.80"
    history = get(api, "/api/v1/terms/BGB%20%C2%A7%20247").json
    assert history["versions"][-1] == {
        "effective_from": "2026-01-01",
        "origin": "file",
        "note": None,
        "values": {"rate": {"value": "1.27", "source": "statute"}},
    }
    assert get(api, "/api/v1/terms/AGB%2099").status_code == 404
    assert get(api, "/api/v1/terms").status_code == 400


def test_an_unexpected_error_is_json_without_a_stack_trace(api, engine, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(engine, "account", broken)
    response = get(api, "/api/v1/accounts/acme")
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert response.json["error"]["message"].startswith("An unexpected error occurred; quote ")


def test_the_openapi_document_embeds_the_event_schema_the_engine_uses(api):
    document = get(api, "/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    source = json.loads((PROJECT_ROOT / "schemas/event.schema.json").read_text())
    components = document["components"]["schemas"]
    # every type but those only the platform emits (refused with 403, see test_hostile_api.py)
    sendable = set(source["properties"]["type"]["enum"]) - set(PLATFORM_ONLY_TYPES)
    assert len(components["Event"]["oneOf"]) == len(sendable)
    amount = components["event.credit.topped_up"]["properties"]["amount"]["pattern"]
    assert amount == source["$defs"]["amount"]["pattern"]
    assert document == openapi_document()


def test_sixteen_clients_posting_overlapping_duplicates_never_lose_or_double_an_entry(api, engine):
    # Each client posts the same 40 top-ups (ids shared among all clients) in its own order,
    # in batches and singly, at once: every id must be applied exactly once.
    post(api, "/api/v1/events", ACME_OPENED)
    events = [topup(f"t{i}", f"{i % 7 + 1}.00") for i in range(40)]
    clients = [create_app(engine=engine).test_client() for _ in range(16)]
    start = threading.Barrier(16, timeout=60)

    def client(number: int) -> list[str]:
        own = clients[number]
        mine = events[number:] + events[:number]
        start.wait()
        statuses = []
        for index in range(0, len(mine), 5):
            chunk = mine[index : index + 5]
            if number % 2:
                response = own.post("/api/v1/events", json={"events": chunk}, headers=api.headers)
                assert response.status_code == 200, response.json
                statuses += [r["status"] for r in response.json["results"]]
            else:
                for event in chunk:
                    response = own.post("/api/v1/events", json=event, headers=api.headers)
                    assert response.status_code == 200, response.json
                    statuses.append(response.json["status"])
        return statuses

    with ThreadPoolExecutor(16) as pool:
        statuses = [s for result in pool.map(client, range(16)) for s in result]
    assert statuses.count("applied") == 40
    assert statuses.count("duplicate") == 15 * 40
    expected = sum(i % 7 + 1 for i in range(40))
    assert get(api, "/api/v1/accounts/acme").json["balance"] == f"{expected}.00"
    with engine.store.unit(commit=False) as unit:
        assert unit.ledger_sum("acme") == expected * 100
        assert len(unit.ledger_of("acme", 0, 1000)) == 40


def test_token_commands(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 't.sqlite'}"
    assert main(["token", "create", "svc", "--role", "billing-service", "--db", db]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("bt_") and len(secret) > 40
    assert main(["token", "create", "svc", "--role", "billing-service", "--db", db]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["token", "create", "x", "--role", "god", "--db", db]) == 2
    assert main(["token", "revoke", "svc", "--db", db]) == 0
    assert main(["token", "list", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "svc\tbilling-service" in listed and "revoked" in listed
    assert secret not in listed


def test_creating_and_revoking_a_token_is_audited_without_its_secret(tmp_path, capsys):
    """Who may call the API is a trust decision: each change names its actor in the audit log."""
    from engine.ledger import audit
    from engine.ledger.store import Store

    db = f"sqlite:///{tmp_path / 't.sqlite'}"
    assert main(["token", "create", "svc", "--role", "finance", "--db", db]) == 0
    secret = capsys.readouterr().out.strip()
    assert main(["token", "revoke", "svc", "--db", db]) == 0
    assert main(["token", "revoke", "svc", "--db", db]) == 2  # nothing to revoke: no entry
    with Store(db) as store, store.db.connect() as connection:
        logged = audit.entries(connection)
        assert audit.verify(connection) == []
    assert [(e["action"], e["detail"]) for e in reversed(logged)] == [
        ("token_created", {"name": "svc", "role": "finance"}),
        ("token_revoked", {"name": "svc"}),
    ]
    assert all(e["actor"].startswith("cli:") for e in logged)
    assert all(secret not in str(e) for e in logged)
