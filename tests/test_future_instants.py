"""Issue 25, item 1: no instant from the future (Platform: clock).

An event's ``at`` or the clock's ``until`` far ahead of the platform's clock would fire months
or years of deadlines at once (invoices, direct debits, deletion). Every API path refuses an
instant more than the catalog's tolerance ahead of the server's clock (400 naming the field and
the limit, nothing stored): a single event, each event of a batch (all or nothing), the clock,
a quote. The platform's clock is read at the API's edge; here ``app.config["PLATFORM_NOW"]``
replaces it. A jump beyond the tolerance is an operator's command, ``billing clock advance
--i-know``, recorded in the audit log.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from api.common import NOW_CONFIG
from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.catalog import load_catalog
from engine.engine import Engine
from engine.ledger import audit
from engine.ledger.tables import metadata
from tests.conftest import edit
from tests.sample_events import ACME_OPENED, ANNA_ADDED

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # the platform's clock in these tests
LIMIT = "2026-12-08T10:00:00Z"  # 24 hours later: the latest instant taken
BEYOND = "2026-12-08T10:00:01Z"
FAR = "2099-12-31T00:00:00+01:00"


def topup(event_id: str, at: str) -> dict:
    return {
        "id": event_id,
        "type": "credit.topped_up",
        "account": "acme",
        "at": at,
        "amount": "1.00",
    }


def client_of(engine: Engine, now=lambda: NOW):
    """A test client with a billing-service token; acme (premium: monthly deadlines) is open."""
    engine.handle_many([dict(ACME_OPENED, plan="clinq-premium"), ANNA_ADDED])
    app = create_app(engine=engine)
    if now is not None:
        app.config[NOW_CONFIG] = now
    client = app.test_client()
    client.headers = {
        "Authorization": f"Bearer {create_token(engine.store, 'svc', 'billing-service')}"
    }
    return client


@pytest.fixture
def api(engine):
    return client_of(engine)


def post(client, path: str, body):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=client.headers
    )


def database_digest(engine: Engine) -> str:
    """SHA-256 over every row of every table: events, ledger, deadlines, invoices, audit log."""
    digest = hashlib.sha256()
    with engine.store.db.connect() as connection:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            for row in connection.execute(select(table).order_by(*order)):
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


def invoices_of(client) -> list:
    return client.get("/api/v1/accounts/acme/invoices", headers=client.headers).json["invoices"]


def balance_of(client) -> str:
    return client.get("/api/v1/accounts/acme", headers=client.headers).json["balance"]


# (path, body with the instant, the field named)
PATHS = {
    "single": ("/api/v1/events", lambda at: topup("t1", at), "/at"),
    "batch": (
        "/api/v1/events",
        lambda at: {
            "events": [
                topup("t1", LIMIT),
                topup("t2", "2026-12-01T10:00:00+01:00"),
                topup("t3", LIMIT),
                topup("t4", at),
            ]
        },
        "/events/3/at",
    ),
    "clock": ("/api/v1/clock", lambda at: {"until": at}, "/until"),
    "quote": ("/api/v1/quote", lambda at: topup("t1", at), "/at"),
}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("instant", [BEYOND, "2026-12-08T11:00:01+01:00", FAR])
def test_an_instant_beyond_the_tolerance_is_refused_naming_the_field_and_nothing_is_stored(
    api, engine, path, instant
):
    address, body, field = PATHS[path]
    before, invoices, balance = database_digest(engine), invoices_of(api), balance_of(api)
    refused = post(api, address, body(instant))
    assert refused.status_code == 400, refused.json
    error = refused.json["error"]
    assert error["field"] == field
    name = field.rsplit("/", 1)[-1]
    assert (
        f"{name} {instant} is more than 24 hours ahead of the platform's clock "
        in (error["message"])
    )
    assert "(2026-12-07T10:00:00Z; Platform: clock)" in error["message"]
    assert "a later instant is an operator's command: billing clock advance" in error["message"]
    if path == "batch":
        assert error["index"] == 3
        assert error["message"].startswith("Event 3: at ")
        assert error["message"].endswith("; nothing was applied.")
    assert database_digest(engine) == before  # ledger, events, deadlines, invoices
    assert invoices_of(api) == invoices
    assert balance_of(api) == balance


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("instant", [LIMIT, "2026-12-08T11:00:00+01:00", "2026-12-07T10:00:00Z"])
def test_an_instant_just_inside_the_tolerance_is_accepted(api, path, instant):
    address, body, _ = PATHS[path]
    accepted = post(api, address, body(instant))
    assert accepted.status_code == 200, accepted.json


def test_the_clock_just_inside_the_tolerance_fires_the_deadlines_due(api):
    fired = post(api, "/api/v1/clock", {"until": LIMIT})
    assert fired.status_code == 200
    assert [i["number"] for i in invoices_of(api)]  # December's base fee: the invoice of 1 Dec


def test_without_a_test_clock_the_server_clock_is_read(engine):
    api = client_of(engine, now=None)
    ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds")
    refused = post(api, "/api/v1/events", topup("t1", ahead))
    assert (refused.status_code, refused.json["error"]["field"]) == (400, "/at")
    now = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    assert post(api, "/api/v1/events", topup("t2", now)).status_code == 200


def test_the_tolerance_comes_from_the_catalog(catalog_copy, database_url, decider):
    edit(
        catalog_copy / "rules" / "platform" / "clock.yaml",
        "future_tolerance_minutes: 1440",
        "future_tolerance_minutes: 90",
    )
    engine = Engine(database_url, catalog=load_catalog(catalog_copy), decider=decider)
    try:
        api = client_of(engine)
        assert engine.catalog.at(NOW).clause("Platform: clock")["future_tolerance_minutes"] == 90
        two_hours = "2026-12-07T12:00:00Z"
        refused = post(api, "/api/v1/events", topup("t1", two_hours))
        assert refused.status_code == 400
        assert (
            "more than 90 minutes ahead of the platform's clock"
            in (refused.json["error"]["message"])
        )
        assert post(api, "/api/v1/clock", {"until": two_hours}).status_code == 400
        assert post(api, "/api/v1/events", topup("t2", "2026-12-07T11:30:00Z")).status_code == 200
        assert post(api, "/api/v1/events", topup("t3", "2026-12-07T11:30:01Z")).status_code == 400
    finally:
        engine.close()


# -- the operator's command ---------------------------------------------------------------------


def test_billing_clock_advance_refuses_without_i_know(engine, database_url, capsys):
    engine.handle_many([dict(ACME_OPENED, plan="clinq-premium"), ANNA_ADDED])
    before = database_digest(engine)
    assert main(["clock", "advance", "--until", FAR, "--db", database_url]) == 2
    message = capsys.readouterr().err
    assert "refused without --i-know" in message
    assert "every deadline of every account due up to 2099-12-31T00:00:00+01:00" in message
    assert database_digest(engine) == before  # nothing fired, nothing audited
    for bad in ("2027-01-01", "2100-01-01T00:00:00Z"):
        assert main(["clock", "advance", "--until", bad, "--i-know", "--db", database_url]) == 2
        assert "--until" in capsys.readouterr().err
    assert database_digest(engine) == before


def test_billing_clock_advance_with_i_know_advances_and_is_audited(engine, database_url, capsys):
    engine.handle_many([dict(ACME_OPENED, plan="clinq-premium"), ANNA_ADDED])
    until = "2027-03-01T06:00:00+01:00"  # beyond any API's tolerance today
    argv = ["clock", "advance", "--until", until, "--account", "acme", "--i-know"]
    assert main([*argv, "--db", database_url]) == 0
    out, err = capsys.readouterr()
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert result["id"] == f"clock:acme:{until}"
    assert "advanced account acme to 2027-03-01T06:00:00+01:00: 1 clock events" in err
    with engine.store.unit(commit=False) as unit:
        issued = unit.load_invoices(["acme"])["acme"]
    assert len(issued) >= 3  # the base fees of December, January and February
    with engine.store.db.connect() as connection:
        (entry,) = [e for e in audit.entries(connection) if e["action"] == "clock_advanced"]
        assert audit.verify(connection) == []
    assert entry["actor"].startswith("cli:")
    assert entry["detail"] == {"until": until, "account": "acme"}
