"""Finding things in the admin UI (issue 14): catalog search, paged lists, the audit log in
sentences and values with their units; through Flask's test client on SQLite."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import insert

from admin_ui.audit_sentences import SENTENCES, sentence
from admin_ui.catalog_search import search
from admin_ui.display import euros, with_unit
from admin_ui.paging import Page
from billing.wsgi import create_app
from engine.access import people
from engine.access.people import (
    create_person,
    disable_person,
    enable_person,
    set_password,
    set_role,
)
from engine.access.tokens import create_token, revoke_token
from engine.catalog import PROJECT_ROOT
from engine.catalog.model import ParameterSpec
from engine.catalog.values import Period
from engine.delivery.webhooks import add_subscription, remove_subscription
from engine.ledger import audit
from engine.ledger.tables import outbox, webhook_messages
from tests.conftest import Customer
from tests.test_admin import FEE_FILE, NOW, PASSWORD, fee_draft

CHEAP_HASH = "pbkdf2:sha256:1000"
LISTS = ("/admin/outbox", "/admin/audit", "/admin/accounts", "/admin/drafts", "/admin/webhooks")


@pytest.fixture
def sqlite_engine(tmp_path, catalog, decider, monkeypatch):
    from engine.engine import Engine

    monkeypatch.delenv("BILLING_AUDIT_KEY", raising=False)
    monkeypatch.delenv("BILLING_AUDIT_KEY_FILE", raising=False)
    monkeypatch.setattr(people, "PASSWORD_METHOD", CHEAP_HASH)
    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
        create_person(connection, "pm@example.com", "product", PASSWORD)
    yield engine
    engine.close()


@pytest.fixture
def client(sqlite_engine):
    app = create_app(engine=sqlite_engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    client = app.test_client()
    page = client.get("/admin/login").data
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    response = client.post(
        "/admin/login",
        data={"email": "legal@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    return client


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def text_of(response) -> str:
    """The page's text without tags, entities decoded, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.data.decode())).split())


def notifications(engine, count: int) -> None:
    """``count`` notifications of publication 1 in the outbox (ids 1..count)."""
    rows = [
        {
            "publication": 1,
            "account": f"acct-{i:06d}",
            "channel": "email",
            "recipient": None,
            "subject": f"Änderung Nr. {i}",
            "body": "Sehr geehrte Kundin, sehr geehrter Kunde, ...",
            "status": "pending",
            "created_at": "2026-11-21T10:00:00+00:00",
        }
        for i in range(1, count + 1)
    ]
    with engine.store.db.begin() as connection:
        connection.execute(insert(outbox), rows)


def shown_ids(response, table: str) -> list[int]:
    body = response.data.decode()
    rows = re.search(rf'<table class="list" id="{table}">(.*?)</table>', body, re.S).group(1)
    return [int(n) for n in re.findall(r'<tr><td class="num">(?:<a [^>]*>)?(\d+)<', rows)]


# -- paging ------------------------------------------------------------------------------------


def test_the_outbox_shows_120_notifications_50_to_a_page_newest_first(client, sqlite_engine):
    notifications(sqlite_engine, 120)
    first = client.get("/admin/outbox")
    # 120 rows, 50 a page: pages 1..3; page 1 holds ids 120..71, page 3 ids 20..1.
    assert shown_ids(first, "outbox") == list(range(120, 70, -1))
    assert "1–50 of 120 notifications" in text_of(first)
    third = client.get("/admin/outbox?page=3")
    assert shown_ids(third, "outbox") == list(range(20, 0, -1))
    assert "101–120 of 120 notifications" in text_of(third)
    assert 'rel="prev"' in third.data.decode() and 'rel="next"' not in third.data.decode()
    small = client.get("/admin/outbox?page=2&size=7")  # ids 113..107
    assert shown_ids(small, "outbox") == list(range(113, 106, -1))
    assert "size=7" in re.search(r'href="([^"]*)" rel="next"', small.data.decode()).group(1)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=99999999999999999999", "page"),
        ("size=0", "size"),
        ("size=201", "size"),
        ("size=x%01", "size"),
    ],
)
def test_a_page_or_size_that_is_not_a_whole_number_from_1_is_refused_with_400(
    client, path, query, field
):
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert f"{field} must be a whole number from 1" in text_of(response)
    assert "Show the list without filters" in text_of(response)


@pytest.mark.parametrize("path", LISTS)
def test_a_page_beyond_the_end_shows_the_last_page(client, sqlite_engine, path):
    notifications(sqlite_engine, 3)
    response = client.get(f"{path}?page=999999")
    assert response.status_code == 200
    assert 'aria-current="page">999999<' not in response.data.decode()
    if path == "/admin/outbox":
        assert "1–3 of 3 notifications" in text_of(response)


def test_accounts_are_paged_and_found_by_part_of_their_id(client, sqlite_engine):
    for name in ("anna", "acme", "bert"):
        Customer(sqlite_engine, name).open(at="2026-11-02T09:00:00+01:00")
    page_two = text_of(client.get("/admin/accounts?size=2&page=2"))
    assert "3–3 of 3 accounts" in page_two and "bert" in page_two and "anna" not in page_two
    found = text_of(client.get("/admin/accounts?q=nn"))
    assert "1–1 of 1 accounts" in found and "anna" in found
    # % and _ are LIKE wildcards; in a filter they are only characters.
    assert "No accounts match" in text_of(client.get("/admin/accounts?q=%25"))
    assert "No accounts match" in text_of(client.get("/admin/accounts?q=a_n"))


def test_page_numbers_link_the_first_the_last_and_two_either_side():
    page = Page(number=7, size=10, total=200, rows=())
    assert page.numbers() == [1, None, 5, 6, 7, 8, 9, None, 20]
    assert Page(number=1, size=50, total=0, rows=()).numbers() == [1]


# -- search ------------------------------------------------------------------------------------


def test_the_catalog_finds_agb_4_2_3_by_its_number_its_title_and_its_parameter(client):
    by_number = client.get("/admin/?q=4.2.3")
    # The clause itself, and the platform decisions whose parameters cite it.
    assert "3 files found for 4.2.3" in text_of(by_number)
    citations = re.findall(r'data-citation="([^"]+)"', by_number.data.decode())
    assert citations == ["AGB 4.2.3", "Platform: datev", "Platform: sepa-returns"]
    by_title = text_of(client.get("/admin/?q=rücklastschrift"))
    assert "AGB 4.2.3" in by_title
    by_parameter = text_of(client.get("/admin/?q=flat_fee"))
    # The parameter with its value in force on 2026-11-21, with its unit.
    assert re.search(
        r"flat_fee Flat fee for a returned direct debit \(Pauschale für eine Rücklastschrift\) ?: "
        r"9\.80 EUR",
        by_parameter,
    )


def test_search_words_narrow_and_a_group_limits(catalog):
    day = NOW.date()
    both = search(catalog.files, "skr03 returned_debit", day)
    assert [f.file.citation for f in both] == ["Platform: datev"]
    assert [p.name for p in both[0].parameters] == ["skr03_returned_debit_fee"]
    clause = search(catalog.files, "Rücklastschrift flat", day)[0]
    assert (clause.file.citation, clause.parameters[0].value) == ("AGB 4.2.3", "9.80 EUR")
    assert len(search(catalog.files, "", day)) == len(catalog.files)


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "' OR 1=1 --",
        "%_%",
        "\x01\t\u202e",
        "{{ 7*7 }}",
        "(((((a*)*)*)*)*)$",
        "x" * 200,
    ],
)
def test_hostile_search_input_is_shown_escaped_and_never_breaks_the_page(client, hostile):
    for path, field in (
        ("/admin/", "q"),
        ("/admin/accounts", "q"),
        ("/admin/drafts", "file"),
        ("/admin/audit", "actor"),
        ("/admin/outbox", "account"),
    ):
        response = client.get(path, query_string={field: hostile})
        assert response.status_code == 200, (path, hostile)
        body = response.data.decode()
        assert "<script>alert" not in body and "<img src=x" not in body


def test_a_search_longer_than_200_characters_is_refused_naming_the_field(client):
    nul = client.get("/admin/accounts", query_string={"q": "a\x00b"})  # refused app-wide
    assert nul.status_code == 400 and "NUL character" in nul.data.decode()
    response = client.get("/admin/", query_string={"q": "x" * 201})
    assert response.status_code == 400
    assert "q is at most 200 characters, not 201" in text_of(response)
    unknown = client.get("/admin/", query_string={"group": "<b>Nope</b>"})
    assert unknown.status_code == 400 and "<b>Nope</b>" not in unknown.data.decode()
    assert "publication must be a publication number" in text_of(
        client.get("/admin/outbox?publication=12a")
    )


# -- the audit log in sentences -----------------------------------------------------------------


def _audited_kinds() -> set[str]:
    """Every kind of action the code writes with ``audit.record`` (or people's ``_change``)."""
    kinds = set()
    for folder in ("admin_ui", "api", "engine"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                position = {"record": 2, "_change": 3}.get(name)
                if position is None or len(node.args) <= position:
                    continue
                argument = node.args[position]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    kinds.add(argument.value)
    return kinds


def test_every_kind_of_audited_action_has_a_sentence():
    kinds = _audited_kinds()
    assert {"login", "publish", "user_role_changed", "webhook_retried", "token_revoked"} <= kinds
    assert kinds <= set(SENTENCES), sorted(kinds - set(SENTENCES))


def test_the_audit_log_says_who_did_what_for_every_kind_with_the_raw_record(client, sqlite_engine):
    engine, at = sqlite_engine, datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    # Drafts and a publication through the admin UI: no accounts yet, so 0 customers notified.
    page = client.get(f"/admin/files/{FEE_FILE}").data
    created = client.post("/admin/drafts", data={"file": FEE_FILE, "csrf_token": csrf(page)})
    draft = int(created.headers["Location"].rsplit("/", 1)[-1])
    page = client.get(f"/admin/drafts/{draft}").data
    client.post(
        f"/admin/drafts/{draft}", data={"text": fee_draft("2027-01-03"), "csrf_token": csrf(page)}
    )
    page = client.get(f"/admin/drafts/{draft}").data
    published = client.post(
        f"/admin/drafts/{draft}/publish",
        data={
            "reason": "Unsere Bank erhöht ihre Gebühren.",
            "ground": "supplier_price_increase",
            "csrf_token": csrf(page),
        },
    )
    assert published.status_code == 302, published.data
    with engine.store.db.begin() as connection:
        set_role(connection, "pm@example.com", "viewer", actor="legal@example.com")
        set_password(connection, "pm@example.com", "another long password", actor="ops")
        disable_person(connection, "pm@example.com", actor="legal@example.com")
        enable_person(connection, "pm@example.com", actor="legal@example.com")
        subscription, _ = add_subscription(
            connection,
            "https://billing.example.com/hooks",
            ["direct_debit.returned"],
            created_by="ops",
            at=at,
            allow_private=True,
        )
        connection.execute(
            insert(webhook_messages),
            [
                {
                    "subscription": subscription["id"],
                    "message_id": "msg_dead",
                    "event_id": "rd-1",
                    "effect_index": 0,
                    "type": "direct_debit.returned",
                    "account": "anna",
                    "payload": "{}",
                    "status": "dead",
                    "attempts": 6,
                    "last_error": "HTTP 500",
                }
            ],
        )
    create_token(engine.store, "crm", "billing-service", actor="ops")
    revoke_token(engine.store, "crm", actor="ops")
    webhooks = client.get("/admin/webhooks?status=dead")
    retried = client.post("/admin/webhooks/1/retry", data={"csrf_token": csrf(webhooks.data)})
    assert retried.status_code == 302
    with engine.store.db.begin() as connection:
        remove_subscription(connection, subscription["id"], at=at, actor="ops", token=None)
    page = client.get("/admin/audit?size=200")
    shown = text_of(page)
    expected = [
        "billing user create created the login legal@example.com with the role legal.",
        "legal@example.com logged in.",
        f"legal@example.com started draft {draft} of {FEE_FILE}.",
        f"legal@example.com saved draft {draft} of {FEE_FILE}.",
        # Notified Saturday 2026-11-21; six weeks end 2027-01-02 (AGB 8.1).
        "legal@example.com published a new version of AGB 4.2.3 effective from 2027-01-03 "
        "(publication 1), notifying 0 customers on 2026-11-21 under AGB 8.1; ground "
        "supplier_price_increase; reason: \u201cUnsere Bank erhöht ihre Gebühren.\u201d",
        "legal@example.com gave pm@example.com the role viewer; their sessions ended.",
        "ops set a new password for pm@example.com; their sessions ended.",
        "legal@example.com disabled the login pm@example.com; its sessions ended.",
        "legal@example.com enabled the login pm@example.com again.",
        "ops subscribed https://billing.example.com/hooks to webhooks (direct_debit.returned) "
        "as subscription 1, secret fingerprint",
        "ops created the API token \u201ccrm\u201d with the role billing-service.",
        "ops revoked the API token \u201ccrm\u201d.",
        "legal@example.com sent the dead webhook message msg_dead again (subscription 1); "
        "it had failed with \u201cHTTP 500\u201d.",
        "ops removed webhook subscription 1; its undelivered messages were cancelled.",
    ]
    for text in expected:
        assert text in shown, text
    # The raw record beside each sentence, as stored (JSON detail, hashes).
    assert '"action": "token_revoked"' in unescape(page.data.decode())
    assert page.data.decode().count('<details class="record">') == len(expected) + 1  # + pm
    assert "The hash chain is intact" in shown
    only = text_of(client.get("/admin/audit?action=token_created"))
    assert "1–1 of 1 entries" in only and "ops revoked" not in only
    logout = client.post("/admin/logout", data={"csrf_token": csrf(page.data)})
    assert logout.status_code == 302
    with engine.store.db.connect() as connection:
        (last,) = audit.entries(connection, limit=1)
    assert sentence(last) == "legal@example.com logged out, ending all of their sessions."


def test_an_unknown_or_malformed_record_still_reads_as_a_sentence():
    assert (
        sentence({"actor": "ops", "action": "invoice_voided", "detail": {"number": "2026-1"}})
        == "ops did \u201cinvoice voided\u201d (number 2026-1)."
    )
    assert sentence({"actor": "ops", "action": "publish", "detail": "not json"}).startswith(
        "ops published a new version of a catalog file"
    )
    assert json.dumps(sentence({"action": "login", "detail": None}))


# -- values with units --------------------------------------------------------------------------


def _spec(type_: str, unit: str | None = None) -> ParameterSpec:
    return ParameterSpec("p", type_, "d", "increase", "l", unit=unit)


def test_values_are_shown_with_their_units_and_booleans_as_yes_or_no():
    from decimal import Decimal

    assert with_unit(_spec("money"), Decimal("9.80")) == "9.80 EUR"
    assert with_unit(_spec("rate"), Decimal("0.0179")) == "0.0179 EUR/min"
    assert with_unit(_spec("percent"), Decimal("19.00")) == "19.00 %"
    assert with_unit(_spec("percent", "percentage_points"), Decimal("5.00")) == (
        "5.00 percentage points"
    )
    assert with_unit(_spec("period"), Period(14, "days")) == "14 days"
    assert with_unit(_spec("period"), Period(1, "weeks")) == "1 week"
    assert with_unit(_spec("integer", "minutes"), 60) == "60 minutes"
    assert with_unit(_spec("integer", "day_of_month"), 15) == "day 15 of the month"
    assert with_unit(_spec("boolean"), True) == "yes"
    assert with_unit(_spec("set"), ()) == "none"
    assert (euros(-450), euros(1230), euros(None)) == ("-4.50 EUR", "12.30 EUR", "")


def test_the_clause_page_and_the_accounts_list_show_units_not_python_values(client, sqlite_engine):
    clause = text_of(client.get(f"/admin/files/{FEE_FILE}"))
    assert "flat_fee 9.80 EUR" in clause
    assert "lower_damage_provable yes" in clause and "True" not in clause
    vat = text_of(client.get("/admin/files/rules/law/ustg-12-vat.yaml"))
    assert "19.00 %" in vat
    Customer(sqlite_engine, "anna").open(at="2026-11-02T09:00:00+01:00")
    accounts = text_of(client.get("/admin/accounts"))
    assert re.search(r"anna .* -?\d+\.\d\d EUR", accounts), accounts


def test_the_walkthrough_outputs_are_git_ignored():
    ignored = Path(PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert "/exports/" in ignored and "/month.json*" in ignored
