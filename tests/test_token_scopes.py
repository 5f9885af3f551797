"""Scoped tokens and subscriptions (issue 25, items 3 and 6; migration 0015).

* A reader token bound to accounts (``billing token create NAME --role reader --account ID``)
  gets 200 on every route that reads one of its accounts, and on every route of another
  account the 404 of an account or document that does not exist (the same message), so it
  learns nothing of other accounts. Only read-only roles are bound; an unknown account is
  refused. An unbound token reads every account as before.
* A webhook subscription belongs to the token that made it, or to the operator (command line):
  a token lists and removes only its own; another's is 404 and nothing changes (its pending
  messages stay pending).
"""

from __future__ import annotations

import json
import re

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from api.app import ROUTES
from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.tokens import (
    BINDABLE_ROLES,
    TokenError,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
)
from engine.catalog import PROJECT_ROOT
from engine.ledger import audit
from engine.ledger.store import Store
from engine.ledger.tables import api_tokens, metadata, webhook_messages, webhook_subscriptions
from tests.test_credit_notes import scenario
from tests.test_webhooks import returned_debits

# What the module's ledger holds (tests/test_credit_notes.py, scenario): two CLINQ Premium
# business accounts with an invoice, a credit note and November's itemised bill each, and a
# consumer with a credit note.
DOCUMENTS = {
    "firma": {"invoice": "2026-000001", "note": "GS-2026-000001"},
    "ende": {"invoice": "2026-000002", "note": "GS-2027-000001"},
    "kundin": {"note": "GS-2026-000002"},
}
# Every route that reads one account's data: (URL template, what a refusal names).
ACCOUNT_ROUTES = [
    ("/api/v1/accounts/{account}", "account"),
    ("/api/v1/accounts/{account}/ledger", "account"),
    ("/api/v1/accounts/{account}/deadlines", "account"),
    ("/api/v1/accounts/{account}/invoices", "account"),
    ("/api/v1/accounts/{account}/credit-notes", "account"),
    ("/api/v1/accounts/{account}/evn?month=2026-11", "account"),
    ("/api/v1/accounts/{account}/evn.pdf?month=2026-11", "account"),
    ("/api/v1/invoices/{invoice}", "invoice"),
    ("/api/v1/invoices/{invoice}.pdf", "invoice"),
    ("/api/v1/invoices/{invoice}.xml", "invoice"),
    ("/api/v1/invoices/{invoice}.xml?format=xrechnung-ubl", "invoice"),
    ("/api/v1/credit-notes/{note}", "note"),
    ("/api/v1/credit-notes/{note}.pdf", "note"),
    ("/api/v1/credit-notes/{note}.xml", "note"),
]
NOT_FOUND = {
    "account": "There is no account {!r}.",
    "invoice": "There is no invoice {!r}.",
    "note": "There is no credit note {!r}.",
}


def _url(template: str, account: str) -> str:
    return template.format(account=account, **DOCUMENTS[account])


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory, catalog, decider):
    """The ledger of tests/test_credit_notes.py, an API on it, and its reader tokens."""
    from engine.engine import Engine

    path = tmp_path_factory.mktemp("token-scopes") / "ledger.sqlite"
    engine = Engine(f"sqlite:///{path}", catalog=catalog, decider=decider)
    scenario(engine)
    client = create_app(engine=engine).test_client()
    client.tokens = {
        "firma": _bearer(create_token(engine.store, "firma-portal", "reader", accounts=["firma"])),
        "two": _bearer(
            create_token(engine.store, "reports", "reader", accounts=["firma", "ende", "firma"])
        ),
        "unbound": _bearer(create_token(engine.store, "everyone", "reader")),
    }
    yield engine, client
    engine.close()


def test_every_route_that_reads_one_accounts_data_is_covered_here():
    """A new route of an account or a document must be added to ACCOUNT_ROUTES (and scoped)."""
    scoped = {rule for _, rule, _ in ROUTES if "<account>" in rule or "<number>" in rule}
    covered = {
        template.split("?")[0].replace("{account}", "<account>") for template, _ in ACCOUNT_ROUTES
    }
    covered = {c.replace("{invoice}", "<number>").replace("{note}", "<number>") for c in covered}
    assert scoped == covered


@pytest.mark.parametrize(("template", "kind"), ACCOUNT_ROUTES)
def test_a_token_bound_to_an_account_reads_it_and_nothing_of_another(ledger, template, kind):
    _, client = ledger
    own = client.get(_url(template, "firma"), headers=client.tokens["firma"])
    assert own.status_code == 200, own.get_json()
    other = _url(template, "ende")
    refused = client.get(other, headers=client.tokens["firma"])
    named = "ende" if kind == "account" else DOCUMENTS["ende"][kind]
    assert refused.status_code == 404
    # the answer of something that does not exist: it tells nothing about the other account
    assert refused.json["error"] == {
        "message": NOT_FOUND[kind].format(named),
        "field": None,
        "index": None,
    }
    # an unbound token reads the other account as before
    assert client.get(other, headers=client.tokens["unbound"]).status_code == 200


@pytest.mark.parametrize(("template", "kind"), ACCOUNT_ROUTES)
def test_a_token_bound_to_two_accounts_reads_both_and_no_third(ledger, template, kind):
    _, client = ledger
    for account in ("firma", "ende"):
        answer = client.get(_url(template, account), headers=client.tokens["two"])
        assert answer.status_code == 200, (account, answer.get_json())
    if kind == "note":  # kundin, a consumer, has a credit note but no invoice or itemised bill
        third = client.get(_url(template, "kundin"), headers=client.tokens["two"])
        assert third.status_code == 404
        assert (
            client.get(_url(template, "kundin"), headers=client.tokens["unbound"]).status_code
            == 200
        )
    elif kind == "account":
        third = client.get(_url(template, "kundin"), headers=client.tokens["two"])
        assert third.json["error"]["message"] == "There is no account 'kundin'."


def test_an_unknown_account_and_another_account_answer_alike(ledger):
    _, client = ledger
    for account in ("ende", "nobody"):
        answer = client.get(f"/api/v1/accounts/{account}", headers=client.tokens["firma"])
        assert (answer.status_code, answer.json["error"]["message"]) == (
            404,
            f"There is no account {account!r}.",
        )


def test_a_bound_token_reads_the_terms_and_writes_nothing(ledger):
    _, client = ledger
    headers = client.tokens["firma"]
    assert client.get("/api/v1/terms?at=2026-11-21", headers=headers).status_code == 200
    event = {
        "id": "bound-1",
        "type": "credit.topped_up",
        "account": "firma",
        "at": "2026-12-20T10:00:00+01:00",
        "amount": "1.00",
    }
    refused = client.post("/api/v1/events", json=event, headers=headers)
    assert refused.status_code == 403
    for path in ("/api/v1/webhooks", "/api/v1/sepa/collections?date=2026-12-01"):
        assert client.get(path, headers=headers).status_code == 403


def test_revoking_a_bound_token_takes_effect_at_once(ledger):
    engine, client = ledger
    secret = create_token(engine.store, "short-lived", "reader", accounts=["firma"])
    assert client.get("/api/v1/accounts/firma", headers=_bearer(secret)).status_code == 200
    revoke_token(engine.store, "short-lived")
    assert client.get("/api/v1/accounts/firma", headers=_bearer(secret)).status_code == 401


def test_a_bound_row_whose_role_may_write_is_refused_writing_anyway(ledger):
    """Belt and braces: a bound billing-service row (written past create_token) still may not
    write events or manage webhooks; only read its account."""
    engine, client = ledger
    secret = create_token(engine.store, "tampered", "billing-service")
    with engine.store.db.begin() as connection:
        connection.execute(
            api_tokens.update()
            .where(api_tokens.c.name == "tampered")
            .values(accounts=json.dumps(["firma"]))
        )
    assert authenticate(engine.store, secret).accounts == frozenset({"firma"})
    headers = _bearer(secret)
    assert client.get("/api/v1/webhooks", headers=headers).status_code == 403
    refused = client.post("/api/v1/clock", json={"until": "2026-12-01"}, headers=headers)
    assert refused.status_code == 403
    assert "bound to accounts" in refused.json["error"]["message"]
    assert client.get("/api/v1/accounts/ende", headers=headers).status_code == 404
    assert client.get("/api/v1/accounts/firma", headers=headers).status_code == 200


# -- the command line ----------------------------------------------------------------------------


def test_billing_token_create_binds_accounts_and_list_shows_them(ledger, capsys):
    engine, _ = ledger
    db = engine.store.url
    args = ["token", "create", "portal", "--role", "reader"]
    assert main([*args, "--account", "firma", "--account", "ende", "--db", db]) == 0
    out = capsys.readouterr()
    assert out.out.strip().startswith("bt_")
    assert "reads only accounts ende,firma" in out.err
    assert main(["token", "list", "--db", db]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("portal\treader\t") and line.endswith("\taccounts ende,firma")
        for line in listed
    )
    assert any(
        line.startswith("everyone\treader\t") and line.endswith("\tall accounts") for line in listed
    )
    with engine.store.db.connect() as connection:
        created = [e for e in audit.entries(connection) if e["action"] == "token_created"]
    assert created[0]["detail"] == {
        "name": "portal",
        "role": "reader",
        "accounts": ["ende", "firma"],
    }
    assert created[0]["actor"].startswith("cli:")


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--role", "reader", "--account", "nobody"], "--account: there is no account 'nobody'"),
        (["--role", "reader", "--account", "firma", "--account", "x y"], "'x y' is not an account"),
        (["--role", "reader", "--account", ""], "'' is not an account id"),
        (["--role", "billing-service", "--account", "firma"], "only a reader token can be bound"),
        (["--role", "finance", "--account", "firma"], "a finance token may also sepa:export"),
    ],
)
def test_billing_token_create_refuses_a_binding_it_cannot_keep(ledger, capsys, extra, said):
    engine, _ = ledger
    db = engine.store.url
    with engine.store.db.connect() as connection:
        before = audit.count(connection)
    assert main(["token", "create", "refused", *extra, "--db", db]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and said in captured.err
    assert "refused" not in [t["name"] for t in list_tokens(engine.store)]
    with engine.store.db.connect() as connection:
        assert audit.count(connection) == before


def test_only_read_only_roles_can_be_bound():
    assert BINDABLE_ROLES == ("reader",)


def test_create_token_refuses_an_empty_binding(ledger):
    engine, _ = ledger
    with pytest.raises(TokenError, match="at least one account"):
        create_token(engine.store, "empty", "reader", accounts=[])


# -- webhook subscriptions belong to who made them ------------------------------------------------


@pytest.fixture
def hooks(engine, capsys):
    """Two billing-service tokens and the operator, each with a subscription to returned
    direct debits, and a returned debit that owes each of them a pending message."""
    app = create_app(engine=engine)
    app.config["BILLING_WEBHOOKS_ALLOW_PRIVATE"] = True
    client = app.test_client()
    client.a = _bearer(create_token(engine.store, "service-a", "billing-service"))
    client.b = _bearer(create_token(engine.store, "service-b", "billing-service"))
    url = engine.store.url
    add = ["webhooks", "add", "http://127.0.0.1:9/operator", "--events", "direct_debit.returned"]
    assert main([*add, "--allow-private-address", "--db", url]) == 0
    said = capsys.readouterr().err  # "webhook N for URL"
    made = {"operator": int(said.split()[1])}
    for name, headers in (("a", client.a), ("b", client.b)):
        body = {"url": f"http://127.0.0.1:9/{name}", "events": ["direct_debit.returned"]}
        created = client.post("/api/v1/webhooks", json=body, headers=headers)
        assert created.status_code == 201, created.json
        assert created.json["owner"] == f"token:service-{name}"
        made[name] = created.json["id"]
    returned_debits(engine, 1)
    client.made = made
    return client


def _pending(engine) -> dict[int, list[str]]:
    with engine.store.db.connect() as connection:
        rows = connection.execute(
            select(webhook_messages.c.subscription, webhook_messages.c.status)
        ).all()
    found: dict[int, list[str]] = {}
    for subscription, status in rows:
        found.setdefault(int(subscription), []).append(status)
    return found


def _active(engine) -> list[int]:
    with engine.store.db.connect() as connection:
        return sorted(
            int(i)
            for i in connection.execute(
                select(webhook_subscriptions.c.id).where(
                    webhook_subscriptions.c.removed_at.is_(None)
                )
            ).scalars()
        )


def test_a_token_lists_only_its_own_subscriptions(engine, hooks):
    listed = hooks.get("/api/v1/webhooks", headers=hooks.a).json["webhooks"]
    assert [(w["id"], w["owner"], w["url"]) for w in listed] == [
        (hooks.made["a"], "token:service-a", "http://127.0.0.1:9/a")
    ]
    listed_b = hooks.get("/api/v1/webhooks", headers=hooks.b).json["webhooks"]
    assert [w["id"] for w in listed_b] == [hooks.made["b"]]


def test_a_token_cannot_delete_another_tokens_or_the_operators_subscription(engine, hooks):
    before = _pending(engine)
    assert sorted(before) == sorted(hooks.made.values())
    assert all(statuses == ["pending"] for statuses in before.values())
    with engine.store.db.connect() as connection:
        entries = audit.count(connection)
    for other in (hooks.made["b"], hooks.made["operator"], 999):
        refused = hooks.delete(f"/api/v1/webhooks/{other}", headers=hooks.a)
        # the answer of a subscription that does not exist
        assert (refused.status_code, refused.json["error"]["message"]) == (
            404,
            f"There is no active webhook {other}.",
        )
    assert _active(engine) == sorted(hooks.made.values())
    assert _pending(engine) == before
    with engine.store.db.connect() as connection:
        assert audit.count(connection) == entries  # nothing removed, nothing recorded


def test_a_token_removes_its_own_and_only_its_messages_are_cancelled(engine, hooks):
    mine = hooks.made["a"]
    assert hooks.delete(f"/api/v1/webhooks/{mine}", headers=hooks.a).status_code == 204
    assert hooks.get("/api/v1/webhooks", headers=hooks.a).json == {"webhooks": []}
    statuses = _pending(engine)
    assert statuses[mine] == ["cancelled"]
    assert statuses[hooks.made["b"]] == ["pending"]
    assert statuses[hooks.made["operator"]] == ["pending"]
    with engine.store.db.connect() as connection:
        removed = [e for e in audit.entries(connection) if e["action"] == "webhook_removed"]
    assert [(e["actor"], e["detail"]["id"]) for e in removed] == [("token:service-a", mine)]


def test_the_operator_sees_every_subscription_with_its_owner_and_removes_any(engine, hooks, capsys):
    url = engine.store.url
    assert main(["webhooks", "list", "--db", url]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(w["id"], w["owner"]) for w in listed] == [
        (hooks.made["operator"], "operator"),
        (hooks.made["a"], "token:service-a"),
        (hooks.made["b"], "token:service-b"),
    ]
    assert listed[0]["created_by"].startswith("cli:")
    assert main(["webhooks", "remove", str(hooks.made["b"]), "--db", url]) == 0
    assert hooks.get("/api/v1/webhooks", headers=hooks.b).json == {"webhooks": []}


# -- migration 0015 ------------------------------------------------------------------------------


def _migrate(store: Store, how, revision: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with store.db.begin() as connection:
        config.attributes["connection"] = connection
        how(config, revision)


_SCOPED_TABLES = re.compile(r"\b(api_tokens|webhook_subscriptions)\b")


def _columns(store: Store, table: str) -> set[str]:
    return {c["name"] for c in inspect(store.db).get_columns(table)}


def test_migration_0015_gives_token_made_subscriptions_their_token_and_the_rest_the_operator(
    database_url,
):
    store = Store(database_url)
    try:
        create_token(store, "svc", "billing-service")
        _migrate(store, command.downgrade, "0014")
        assert "owner_token" not in _columns(store, "webhook_subscriptions")
        assert "accounts" not in _columns(store, "api_tokens")
        # what the code of then wrote: the API's subscriptions as token:NAME, the CLI's as cli:
        makers = ["token:svc", "cli:ops", "cli", "token:gone", "token:"]
        with store.db.begin() as connection:
            for maker in makers:
                connection.execute(
                    text(
                        "INSERT INTO webhook_subscriptions (url, events, secret, allow_private,"
                        " created_by, created_at) VALUES ('https://example.com/h',"
                        " '[\"invoice.issued\"]', 'whsec_x', :no, :by, '2026-11-01T00:00:00+00:00')"
                    ),
                    {"by": maker, "no": False},
                )
        _migrate(store, command.upgrade, "head")
        with store.db.connect() as connection:
            owners = connection.execute(
                select(
                    webhook_subscriptions.c.created_by, webhook_subscriptions.c.owner_token
                ).order_by(webhook_subscriptions.c.id)
            ).all()
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        # the migrated tables are the declared ones (on PostgreSQL, events also keeps the
        # unique constraint on its id that tables.py leaves to SQLite's serialised writers)
        assert [d for d in differences if _SCOPED_TABLES.search(repr(d))] == []
        if store.db.dialect.name == "sqlite":
            assert differences == []
        # only a token that exists is an owner; a maker that cannot be known is the operator
        assert [tuple(row) for row in owners] == [
            ("token:svc", "svc"),
            ("cli:ops", None),
            ("cli", None),
            ("token:gone", None),
            ("token:", None),
        ]
        assert [t["accounts"] for t in list_tokens(store)] == [None]  # unbound, as before
        _migrate(store, command.downgrade, "0014")
        assert "owner_token" not in _columns(store, "webhook_subscriptions")
        with store.db.connect() as connection:
            kept = connection.execute(text("SELECT count(*) FROM webhook_subscriptions")).scalar()
            names = connection.execute(text("SELECT name FROM api_tokens")).scalars().all()
        assert (kept, names) == (len(makers), ["svc"])
        _migrate(store, command.upgrade, "head")
    finally:
        store.close()


def test_the_openapi_document_says_how_tokens_and_subscriptions_are_scoped(ledger):
    _, client = ledger
    document = client.get("/api/v1/openapi.json", headers=client.tokens["firma"]).json
    bearer = document["components"]["securitySchemes"]["bearer"]["description"]
    assert "--account" in bearer and "404" in bearer and "unbound token" in bearer.lower()
    for template, _ in ACCOUNT_ROUTES:
        path = template.split("?")[0].replace("{invoice}", "{number}").replace("{note}", "{number}")
        answer = document["paths"][path]["get"]["responses"]["404"]["description"]
        assert "not bound to" in answer, path
    webhooks = document["paths"]["/api/v1/webhooks/{id}"]["delete"]["responses"]["404"]
    assert "another token's or the operator's" in webhooks["description"]
