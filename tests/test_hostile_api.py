"""Issue 11, trust boundary and data integrity: hostile input is refused, and changes nothing.

- legal outcomes only from their source: ``terms.notified`` is platform-only (403 on the API),
  and the engine checks each one against its publication;
- one event id, one content: a repeat with other content is a conflict (409, replay counts it);
- no JSON object may name a key twice (400 with the pointer of the repeated key);
- error pointers name the faulty field;
- no input reaches a 500 (every route, every query parameter, hostile values);
- a property test: whatever the API refuses leaves every table of the database as it was.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from billing.cli.main import main
from billing.demo import month_of_events
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.access.tokens import create_token
from engine.events import PLATFORM_ONLY_TYPES, EventInvalid, parse_event
from engine.ledger.tables import metadata
from tests.conftest import Customer
from tests.sample_events import ACME_OPENED, ANNA_ADDED
from tests.test_admin import FEE_FILE, NOW, fee_draft, login, new_draft, publish, save
from tests.test_admin import admin as admin

TOPUP = {
    "id": "t1",
    "type": "credit.topped_up",
    "account": "acme",
    "at": "2026-11-03T09:00:00+01:00",
    "amount": "1.00",
}
FORGED_NOTICE = {
    "id": "forged-1",
    "type": "terms.notified",
    "account": "anna",
    "at": "2026-11-21T11:00:00+01:00",
    "publication": 4711,
    "clause": "AGB 8.1",
    "effective_on": "2027-01-03",
    "termination_clause": "AGB 8.2",
}


@pytest.fixture
def api(engine):
    """A test client with a billing-service token; acme is open and has the user anna."""
    engine.handle_many([ACME_OPENED, ANNA_ADDED])
    app = create_app(engine=engine)
    secret = create_token(engine.store, "svc", "billing-service")
    client = app.test_client()
    client.headers = {"Authorization": f"Bearer {secret}"}
    return client


def post(client, path: str, body, raw: bool = False):
    data = body if raw else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", headers=client.headers)


def get(client, path: str, **query):
    return client.get(path, query_string=query, headers=client.headers)


def database_digest(engine) -> str:
    """SHA-256 over every row of every table, in key order."""
    digest = hashlib.sha256()
    with engine.store.db.connect() as connection:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            for row in connection.execute(select(table).order_by(*order)):
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


# -- 1. legal outcomes only from their source ------------------------------------------------


def test_terms_notified_is_refused_by_the_api_alone_in_a_batch_and_in_a_quote(api, engine):
    before = database_digest(engine)
    alone = post(api, "/api/v1/events", {**FORGED_NOTICE, "account": "acme"})
    assert alone.status_code == 403
    assert alone.json["error"]["field"] == "/type"
    assert "terms.notified" in alone.json["error"]["message"]
    assert "admin UI" in alone.json["error"]["message"]
    batch = post(api, "/api/v1/events", {"events": [TOPUP, {**FORGED_NOTICE, "account": "acme"}]})
    assert batch.status_code == 403
    assert (batch.json["error"]["index"], batch.json["error"]["field"]) == (1, "/events/1/type")
    assert "nothing was applied" in batch.json["error"]["message"]
    quote = post(api, "/api/v1/quote", {**FORGED_NOTICE, "account": "acme"})
    assert quote.status_code == 403
    assert database_digest(engine) == before  # not even the top-up before it


def test_the_openapi_document_and_the_engine_docs_list_the_platform_only_types(api):
    document = get(api, "/api/v1/openapi.json").json
    sent = [ref["$ref"] for ref in document["components"]["schemas"]["Event"]["oneOf"]]
    assert not [ref for ref in sent if ref.endswith("terms.notified")]
    for type_name in PLATFORM_ONLY_TYPES:
        assert type_name in document["info"]["description"]
        assert type_name in document["components"]["schemas"]["Event"]["description"]
    assert "409" in document["paths"]["/api/v1/events"]["post"]["responses"]
    from engine.catalog import PROJECT_ROOT

    engine_md = (PROJECT_ROOT / "docs/engine.md").read_text(encoding="utf-8")
    assert "Platform-only event types" in engine_md
    # clock stays open to billing services: POST /api/v1/clock is documented
    assert "clock" not in PLATFORM_ONLY_TYPES
    assert "/api/v1/clock" in document["paths"]


def test_a_forged_notice_with_an_invented_publication_is_rejected_citing_agb_8(engine):
    anna = Customer(engine, "anna")
    anna.open(customer_type="consumer")
    result = engine.handle(FORGED_NOTICE)
    assert (result["status"], result["clause"]) == ("rejected", "AGB 8.2")
    assert "no publication 4711" in result["reason"]
    without_right = engine.handle(
        {**FORGED_NOTICE, "id": "forged-2", "termination_clause": "AGB 8.6"}
    )
    assert (without_right["status"], without_right["clause"]) == ("rejected", "AGB 8.6")
    assert engine.account("anna")["contract"]["special_termination"] is None
    # and a termination is an ordinary one (end of a month), not on the change's effective day
    terminated = anna.send(
        "termination.received", "2026-12-10T10:00:00+01:00", by="customer", channel="email"
    )
    (ends,) = [e for e in terminated["effects"] if e["kind"] == "contract_ends"]
    assert ends["clause"] != "AGB 8.2"


def test_only_what_the_real_publication_said_to_whom_it_said_it_is_accepted(admin, engine):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2027-01-03"))
    publish(admin, draft_id, "Our bank raised its fees.", "supplier_price_increase")
    genuine = {
        "id": "terms-notice-1-anna",
        "type": "terms.notified",
        "account": "anna",
        "at": NOW.isoformat(timespec="seconds"),
        "publication": 1,
        "clause": "AGB 8.1",
        "effective_on": "2027-01-03",
        "termination_clause": "AGB 8.2",
        "citation": "AGB 4.2.3",
    }
    assert engine.handle(genuine)["status"] == "duplicate"  # the platform applied it already
    Customer(engine, "bert").open(at="2026-11-21T12:00:00+01:00", customer_type="consumer")
    forgeries = [
        {**genuine, "id": "f1", "effective_on": "2027-01-04"},  # another effective date
        {**genuine, "id": "f2", "clause": "AGB 8.4"},  # another notice clause
        {**genuine, "id": "f3", "termination_clause": "AGB 8.6"},  # another right
        {**genuine, "id": "f4", "at": "2026-12-20T10:00:00+01:00"},  # a later notice day
        {**genuine, "id": "f5", "account": "bert"},  # an account it did not notify
        {**genuine, "id": "f6", "citation": "AGB 4.4.5"},  # another changed clause
    ]
    for forged in forgeries:
        result = engine.handle(forged)
        assert (result["status"], result["clause"]) == ("rejected", "AGB 8.2"), forged
    assert engine.account("bert")["contract"]["special_termination"] is None


# -- 2. one id, one content ------------------------------------------------------------------


def test_the_same_id_with_other_content_is_a_409_naming_the_id(api, engine):
    assert post(api, "/api/v1/events", TOPUP).json["status"] == "applied"
    assert post(api, "/api/v1/events", TOPUP).json["status"] == "duplicate"
    before = database_digest(engine)
    other = post(api, "/api/v1/events", {**TOPUP, "amount": "900.00"})
    assert other.status_code == 409
    assert other.json["error"]["field"] == "/id"
    assert "'t1'" in other.json["error"]["message"]
    batch = post(
        api,
        "/api/v1/events",
        {"events": [{**TOPUP, "id": "t2"}, {**TOPUP, "amount": "900.00"}]},
    )
    assert batch.status_code == 409
    assert (batch.json["error"]["index"], batch.json["error"]["field"]) == (1, "/events/1/id")
    within = post(
        api,
        "/api/v1/events",
        {"events": [{**TOPUP, "id": "t3"}, {**TOPUP, "id": "t3", "amount": "2.00"}]},
    )
    assert (within.status_code, within.json["error"]["index"]) == (409, 1)
    assert post(api, "/api/v1/quote", {**TOPUP, "amount": "900.00"}).status_code == 409
    assert database_digest(engine) == before
    assert engine.account("acme")["balance"] == "1.00"


def test_replay_counts_conflicts_and_exits_non_zero(tmp_path, capsys):
    lines = [
        ACME_OPENED,
        ANNA_ADDED,
        TOPUP,
        TOPUP,
        {**TOPUP, "amount": "900.00"},
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    db = f"sqlite:///{tmp_path / 'replay.sqlite'}"
    assert main(["replay", str(events), "--db", db]) == 1
    captured = capsys.readouterr()
    results = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["status"] for r in results] == [
        "applied",
        "applied",
        "applied",
        "duplicate",
        "conflict",
    ]
    assert "'t1'" in results[-1]["reason"]
    assert "1 duplicate" in captured.err and "1 conflict" in captured.err
    assert main(["account", "show", "acme", "--json", "--db", db]) == 0
    assert json.loads(capsys.readouterr().out)["balance"] == "1.00"


def test_demo_sets_with_different_parameters_never_share_an_event_id():
    first = {e["id"] for e in month_of_events("2026-11", 10, 1000, seed=1)}
    for other in (
        month_of_events("2026-11", 20, 2000, seed=1),  # make run's demo vs the API walkthrough's
        month_of_events("2026-11", 10, 1000, seed=2),
        month_of_events("2026-12", 10, 1000, seed=1),
    ):
        assert not first & {e["id"] for e in other}
    again = {e["id"] for e in month_of_events("2026-11", 10, 1000, seed=1)}
    assert again == first  # the same set is the same events: replaying it is harmless


# -- 3. duplicate keys -----------------------------------------------------------------------


def test_a_key_named_twice_is_refused_with_its_pointer(api, engine):
    before = database_digest(engine)
    body = json.dumps(TOPUP)[:-1] + ', "amount": "900.00"}'
    response = post(api, "/api/v1/events", body, raw=True)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "/amount"
    assert "'amount'" in response.json["error"]["message"]
    nested = (
        '{"events": [' + json.dumps(TOPUP) + ', {"id": "u9", "type": "account.updated", '
        '"account": "acme", "at": "2026-11-04T09:00:00+01:00", '
        '"customer": {"name": "A", "name": "B"}}]}'
    )
    response = post(api, "/api/v1/events", nested, raw=True)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "/events/1/customer/name"
    assert response.json["error"]["index"] == 1
    quote = post(api, "/api/v1/quote", body, raw=True)
    assert (quote.status_code, quote.json["error"]["field"]) == (400, "/amount")
    clock = post(api, "/api/v1/clock", '{"until": "2026-12-01T00:00:00+01:00", "until": "x"}', True)
    assert (clock.status_code, clock.json["error"]["field"]) == (400, "/until")
    assert database_digest(engine) == before


def test_replay_refuses_a_line_that_names_a_key_twice(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps(ACME_OPENED) + "\n" + json.dumps(TOPUP)[:-1] + ', "amount": "900.00"}\n'
    )
    db = f"sqlite:///{tmp_path / 'replay.sqlite'}"
    assert main(["replay", str(events), "--db", db]) == 1
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert results[1]["status"] == "invalid"
    assert (results[1]["line"], results[1]["error"]["field"]) == (2, "/amount")


# -- 4. pointers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"bogus": 1}, "/bogus"),
        ({"aaa": 1}, "/aaa"),
        ({"at": "2026-02-30T10:00:00+01:00"}, "/at"),
        ({"at": "2026-11-21T25:00:00+01:00"}, "/at"),
        ({"at": "2026-11-21T10:00:00+25:00"}, "/at"),
        ({"at": "9999-12-31T23:59:59-01:00"}, "/at"),
        ({"at": "1999-12-31T23:59:59+01:00"}, "/at"),
        ({"at": 5}, "/at"),
        ({"amount": "0.00"}, "/amount"),
    ],
)
def test_an_error_points_at_the_faulty_field(change, pointer):
    with pytest.raises(EventInvalid) as error:
        parse_event({**TOPUP, **change})
    assert error.value.field == pointer


def test_the_api_points_at_the_faulty_field_too(api):
    unknown = post(api, "/api/v1/events", {**TOPUP, "bogus": 1})
    assert (unknown.status_code, unknown.json["error"]["field"]) == (400, "/bogus")
    bad_at = post(api, "/api/v1/events", {"events": [{**TOPUP, "at": "2026-02-30T10:00:00Z"}]})
    assert (bad_at.status_code, bad_at.json["error"]["field"]) == (400, "/events/0/at")


# -- 5. no input reaches a 500 ---------------------------------------------------------------

HOSTILE = [
    "²",
    "٣",
    "99999999999999999999999",
    "18446744073709551616",
    "-1",
    "1e3",
    "0001-01",
    "9999-12",
    "0001-01-01",
    "9999-12-31",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+14:00",
    "2026-02-30",
    "2026-11-21T10:00:00+25:00",
    "",
    " ",
    "\x00",
    "a\x00b",
    "ä",
    "..",
    "%",
    "x" * 3000,
]
QUERY = ["after", "limit", "at", "month", "publication", "file", "a", "b", "next"]
BODIES = [
    '{"until": "9999-12-31T23:59:59-01:00"}',
    '{"until": "2026-11-21T10:00:00+01:00", "account": "\\u0000"}',
    '{"id": "x", "type": "terms.notified", "account": "acme", "at": "2026-11-21T10:00:00Z",'
    ' "publication": 18446744073709551615, "clause": "AGB 8.1", "effective_on": "2027-01-01"}',
    '{"id": "x", "type": "credit.topped_up", "account": "acme",'
    ' "at": "9999-12-31T23:59:59-01:00", "amount": "1.00"}',
    '{"id": "\\ud800"}',
    '{"a": 1, "a": 2}',
    '{"events": [{"a": 1, "a": 1}]}',
    "[" * 2000 + "]" * 2000,
    "1" * 5000,
    "[1]",
]


@pytest.fixture
def everyone(engine):
    """The API with a billing-service token and the admin UI logged in as legal."""
    engine.handle_many([ACME_OPENED, ANNA_ADDED])
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: datetime(2026, 11, 21, tzinfo=UTC))
    password = "correct horse battery staple"
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", password)
    client = app.test_client()
    page = client.get("/admin/login").data
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    client.post(
        "/admin/login",
        data={"email": "legal@example.com", "password": password, "csrf_token": token},
    )
    client.headers = {"Authorization": f"Bearer {create_token(engine.store, 's', 'reader')}"}
    writer = app.test_client()
    writer.headers = {
        "Authorization": f"Bearer {create_token(engine.store, 'w', 'billing-service')}"
    }
    return app, client, writer


def _url(rule, value: str) -> str:
    url = rule.rule
    for argument in rule.arguments:
        url = re.sub(rf"<[^>]*{argument}>", value.replace("%", "%25"), url)
    return url


def test_no_route_and_no_query_parameter_reaches_a_500(everyone):
    app, client, writer = everyone
    failures = []

    def probe(who, method, url, **kwargs):
        response = who.open(url, method=method, headers=who.headers, **kwargs)
        if response.status_code >= 500:
            failures.append((method, url, kwargs, response.status_code))

    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        values = ["acme", *HOSTILE] if rule.arguments else ["acme"]
        for value in values:
            url = _url(rule, value)
            if "GET" in rule.methods:
                probe(client, "GET", url)
            if "POST" in rule.methods and url.startswith("/api/"):
                probe(writer, "POST", url, data="{}", content_type="application/json")
        base = _url(rule, "acme")
        if "GET" in rule.methods:
            for name in QUERY:
                for value in HOSTILE:
                    probe(client, "GET", base, query_string={name: value})
        if "POST" in rule.methods and base.startswith("/api/"):
            for body in BODIES:
                probe(writer, "POST", base, data=body, content_type="application/json")
    assert failures == []


def test_the_named_probes_get_400_or_404_naming_the_field(everyone):
    _, client, writer = everyone
    for value in ("²", "٣", "1" * 30):
        response = client.get(
            "/api/v1/accounts/acme/ledger", query_string={"limit": value}, headers=client.headers
        )
        assert (response.status_code, response.json["error"]["field"]) == (400, "limit")
    assert client.get("/admin/drafts/99999999999999999999999").status_code == 404
    evn = client.get(
        "/api/v1/accounts/acme/evn", query_string={"month": "0001-01"}, headers=client.headers
    )
    assert (evn.status_code, evn.json["error"]["field"]) == (400, "month")
    admin_evn = client.get("/admin/accounts/acme/evn.pdf", query_string={"month": "0001-01"})
    assert admin_evn.status_code == 302  # back to the account page, with the reason
    at = client.get(
        "/api/v1/terms",
        query_string={"at": "9999-12-31T23:59:59-01:00"},
        headers=client.headers,
    )
    assert (at.status_code, at.json["error"]["field"]) == (400, "at")
    year = post(writer, "/api/v1/events", {**TOPUP, "at": "9999-12-31T23:59:59-01:00"})
    assert (year.status_code, year.json["error"]["field"]) == (400, "/at")
    clock = post(writer, "/api/v1/clock", {"until": "9999-12-31T23:59:59-01:00"})
    assert (clock.status_code, clock.json["error"]["field"]) == (400, "/until")


# -- 6. whatever is refused changes nothing --------------------------------------------------

_AMOUNTS = st.sampled_from(["1.00", "2.50", "900.00"])


def _malformed(raw) -> bool:
    try:
        parse_event(raw)
    except EventInvalid:
        return True
    return False


_MALFORMED = st.one_of(
    st.dictionaries(st.sampled_from(["id", "type", "at", "amount", "bogus"]), st.integers()),
    st.builds(
        lambda key, value: {**TOPUP, "id": "m1", key: value},
        st.sampled_from(["at", "amount", "account", "id", "type", "extra"]),
        st.one_of(st.text(max_size=12), st.integers(), st.none(), st.just("9999-12-31")),
    ),
).filter(_malformed)


def _request(kind: str, payload) -> tuple[str, str, object]:
    if kind == "malformed":
        return "POST", "/api/v1/events", json.dumps(payload)
    if kind == "malformed-batch":
        return "POST", "/api/v1/events", json.dumps({"events": [{**TOPUP, "id": "ok1"}, payload]})
    if kind == "conflict":
        return "POST", "/api/v1/events", json.dumps({**TOPUP, "amount": payload})
    if kind == "forged":
        return "POST", "/api/v1/events", json.dumps({**FORGED_NOTICE, "account": "acme"})
    if kind == "forged-batch":
        body = {"events": [{**TOPUP, "id": "ok2"}, {**FORGED_NOTICE, "account": "acme"}]}
        return "POST", "/api/v1/events", json.dumps(body)
    if kind == "duplicate-key":
        return "POST", "/api/v1/events", json.dumps(TOPUP)[:-1] + f', "amount": "{payload}"}}'
    if kind == "not-json":
        return "POST", "/api/v1/events", payload
    return "GET", "/api/v1/accounts/acme/ledger?limit=" + payload, None


_REQUESTS = st.one_of(
    st.tuples(st.just("malformed"), _MALFORMED),
    st.tuples(st.just("malformed-batch"), _MALFORMED),
    st.tuples(st.just("conflict"), _AMOUNTS.filter(lambda a: a != "1.00")),
    st.tuples(st.just("forged"), st.none()),
    st.tuples(st.just("forged-batch"), st.none()),
    st.tuples(st.just("duplicate-key"), _AMOUNTS),
    st.tuples(st.just("not-json"), st.sampled_from(["", " ", "{", "[1,", "nul", "{'a': 1}"])),
    st.tuples(st.just("bad-query"), st.sampled_from(["²", "٣", "-1", "0", "x", "1001"])),
)


def test_whatever_the_api_refuses_leaves_the_database_as_it_was(api, engine):
    assert post(api, "/api/v1/events", TOPUP).status_code == 200

    @settings(
        max_examples=50,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_REQUESTS)
    def refused(request):
        method, path, body = _request(*request)
        before = database_digest(engine)
        if method == "POST":
            response = api.post(
                path, data=body, content_type="application/json", headers=api.headers
            )
        else:
            response = api.get(path, headers=api.headers)
        assert response.status_code in (400, 403, 404, 409, 413, 415), (request, response.json)
        assert "error" in response.json
        assert database_digest(engine) == before

    refused()


def test_migration_0008_gives_existing_events_the_digest_of_their_payload(tmp_path, catalog):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import insert

    from engine.catalog import PROJECT_ROOT
    from engine.engine import Engine
    from engine.events import canonical_bytes, content_digest
    from engine.ledger.store import create_database_engine

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    db = create_database_engine(url)
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with db.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    payload = canonical_bytes(TOPUP).decode()
    with db.begin() as connection:
        connection.execute(
            insert(metadata.tables["events"]),
            [
                {
                    "id": "t1",
                    "account": "acme",
                    "type": "credit.topped_up",
                    "at": TOPUP["at"],
                    "at_utc": "2026-11-03T08:00:00+00:00",
                    "payload": payload,
                    "status": "rejected",
                    "result": "{}",
                }
            ],
        )
    db.dispose()
    engine = Engine(url, catalog=catalog)  # upgrades to the newest revision
    with engine.store.db.connect() as connection:
        stored = connection.execute(select(metadata.tables["events"].c.digest)).scalar_one()
    assert bytes(stored) == content_digest(payload.encode())
    assert engine.handle(TOPUP)["status"] == "duplicate"
    assert engine.handle({**TOPUP, "amount": "2.00"})["status"] == "conflict"
    engine.close()
