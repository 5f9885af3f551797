"""The back office for finance (issue 28): the invoice list (CLI, API, admin UI with CSV),
customers found by name and the customer page, the money pages, the finance and admin roles,
API tokens in the UI. Scenario: two postpay customers invoiced on 20 November 2026 (CLINQ SD
1.3), one pays by transfer, the clerk looks on 21 November and later."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.access.tokens import create_token
from engine.ledger.tables import audit_log
from engine.services.invoice_list import (
    InvoiceQueryInvalid,
    invoices_csv,
    list_invoices,
    parse_query,
)
from tests.test_admin import PASSWORD, csrf, login
from tests.test_bank_statements import camt053, invoiced

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def named(engine) -> dict:
    """anna and firm invoiced, with names on file (account.updated, AGB 2.4)."""
    found = invoiced(engine)
    for account, name, vat in (
        ("anna", "Anna Muster", None),
        ("firm", "Firma Beispiel GmbH", "DE136695976"),
    ):
        customer = {"name": name, "email": f"{account}@example.com"}
        if vat:
            customer["vat_id"] = vat
        result = engine.handle(
            {
                "id": f"{account}-named",
                "type": "account.updated",
                "account": account,
                "at": "2026-11-20T09:00:00+01:00",
                "customer": customer,
            }
        )
        assert result["status"] == "applied", result
    return found


# -- the list itself --------------------------------------------------------------------------


def test_open_overdue_paid_and_totals_read_from_the_invoice_state(engine):
    invoices = named(engine)
    anna, firm = invoices["anna"], invoices["firm"]
    everything = list_invoices(engine.store, parse_query(), date(2026, 11, 20))
    assert [r["number"] for r in everything.rows] == [anna.number, firm.number]
    assert (everything.count, everything.amount_cents) == (2, anna.amount_cents + firm.amount_cents)
    assert [r["customer"] for r in everything.rows] == ["Anna Muster", "Firma Beispiel GmbH"]
    # Due on the day of issue: open on that day, overdue the day after (AGB 4.2.1).
    assert {r["status"] for r in everything.rows} == {"open"}
    later = list_invoices(engine.store, parse_query(status="overdue"), date(2026, 11, 21))
    assert later.count == 2
    engine.handle(
        {
            "id": "anna-pays",
            "type": "payment.received",
            "account": "anna",
            "at": "2026-11-22T09:00:00+01:00",
            "amount": f"{anna.amount_cents / 100:.2f}",
            "method": "bank_transfer",
            "reference": anna.number,
        }
    )
    paid = list_invoices(engine.store, parse_query(status="paid"), date(2026, 11, 23))
    assert [r["number"] for r in paid.rows] == [anna.number]
    still = list_invoices(engine.store, parse_query(status="open"), date(2026, 11, 23))
    assert ([r["number"] for r in still.rows], still.open_cents) == ([firm.number], firm.open_cents)
    assert (
        list_invoices(engine.store, parse_query(status="in_default"), date(2026, 11, 23)).count == 0
    )
    assert (
        list_invoices(engine.store, parse_query(status="credited"), date(2026, 11, 23)).count == 0
    )
    mine = list_invoices(engine.store, parse_query(account="firm"), date(2026, 11, 23))
    assert [r["account"] for r in mine.rows] == ["firm"]
    assert list_invoices(engine.store, parse_query(month="2026-10"), date(2026, 11, 23)).count == 0


def test_pages_by_cursor_in_any_order(engine):
    invoices = named(engine)
    numbers = sorted(i.number for i in invoices.values())
    first = list_invoices(engine.store, parse_query(limit="1", sort="-number"), date(2026, 11, 21))
    assert ([r["number"] for r in first.rows], first.next_after) == ([numbers[1]], numbers[1])
    second = list_invoices(
        engine.store,
        parse_query(limit="1", sort="-number", after=first.next_after),
        date(2026, 11, 21),
    )
    assert ([r["number"] for r in second.rows], second.next_after) == ([numbers[0]], None)
    assert second.count == 2  # the totals are of every invoice the filters select
    by_amount = list_invoices(engine.store, parse_query(sort="-amount"), date(2026, 11, 21))
    assert [r["account"] for r in by_amount.rows] == ["firm", "anna"]


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"status": "late"}, "status"),
        ({"month": "2026-13"}, "month"),
        ({"account": "no such/account"}, "account"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "customer_name"}, "sort"),
        ({"after": "<script>"}, "after"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_parameter(asked, field):
    with pytest.raises(InvoiceQueryInvalid) as refused:
        parse_query(**asked)
    assert refused.value.field == field


def test_csv_quotes_a_name_a_spreadsheet_would_run():
    row = {
        "number": "2026-000001",
        "account": "a",
        "customer": "=HYPERLINK(1)",
        "kind": "monthly",
        "period": "2026-11",
        "issued_on": "2026-12-01",
        "due_on": "2026-12-01",
        "amount_cents": -150,
        "open_cents": 0,
        "credited_cents": 0,
        "status": "paid",
        "default_on": None,
        "objection": None,
        "credit_notes": [],
    }
    (header, line) = list(csv.reader(io.StringIO(invoices_csv(iter([row])))))
    assert header[:3] == ["number", "account", "customer"]
    assert line[2] == "'=HYPERLINK(1)" and line[7] == "-1.50"


# -- the command line and the API -------------------------------------------------------------


def test_billing_invoices_list(engine, capsys):
    invoices = named(engine)
    url = engine.store.url
    assert main(["invoices", "list", "--db", url, "--json", "--account", "firm"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [i["number"] for i in shown["invoices"]] == [invoices["firm"].number]
    assert shown["totals"]["amount"] == f"{invoices['firm'].amount_cents / 100:.2f}"
    assert main(["invoices", "list", "--db", url, "--month", "2026-13"]) == 2
    assert "--month" in capsys.readouterr().err
    assert main(["invoices", "list", "--db", url, "--csv", "--all"]) == 0
    assert capsys.readouterr().out.startswith("number,account,customer")


@pytest.fixture
def api(engine):
    named(engine)
    app = create_app(engine=engine)
    app.config["PLATFORM_NOW"] = lambda: NOW
    client = app.test_client()
    client.reader = {"Authorization": f"Bearer {create_token(engine.store, 'r', 'reader')}"}
    bound = create_token(engine.store, "anna-only", "reader", accounts=["anna"])
    client.bound = {"Authorization": f"Bearer {bound}"}
    return client


def test_get_invoices_filters_pages_and_refuses_bad_values(api):
    answer = api.get("/api/v1/invoices?status=overdue&limit=1", headers=api.reader)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["totals"]["count"] == 2 and isinstance(body["totals"]["open"], str)
    assert len(body["invoices"]) == 1 and body["next_after"] == body["invoices"][0]["number"]
    following = api.get(
        f"/api/v1/invoices?status=overdue&after={body['next_after']}", headers=api.reader
    )
    assert following.json["next_after"] is None and len(following.json["invoices"]) == 1
    for query, field in (
        ("status=late", "status"),
        ("month=11-2026", "month"),
        ("limit=0", "limit"),
        ("after=<b>", "after"),
        ("colour=red", "colour"),
    ):
        refused = api.get(f"/api/v1/invoices?{query}", headers=api.reader)
        assert refused.status_code == 400, query
        assert refused.json["error"]["field"] == field
    # In number order any number continues the list; in another order it must be an invoice.
    assert api.get("/api/v1/invoices?after=2099-000001", headers=api.reader).json["invoices"] == []
    unknown = api.get("/api/v1/invoices?sort=-amount&after=2099-000001", headers=api.reader)
    assert unknown.status_code == 404 and unknown.json["error"]["field"] == "after"
    assert api.get("/api/v1/invoices").status_code == 401


def test_a_token_bound_to_an_account_lists_only_its_invoices(api):
    body = api.get("/api/v1/invoices", headers=api.bound).json
    assert {i["account"] for i in body["invoices"]} == {"anna"}
    assert body["totals"]["count"] == 1
    other = api.get("/api/v1/invoices?account=firm", headers=api.bound).json
    assert other["invoices"] == [] and other["totals"]["count"] == 0
    # another account's invoice as cursor answers as one that does not exist
    firm = api.get("/api/v1/invoices?account=firm", headers=api.reader).json["invoices"][0]
    hidden = api.get(f"/api/v1/invoices?sort=due_on&after={firm['number']}", headers=api.bound)
    assert hidden.status_code == 404


# -- the admin UI -----------------------------------------------------------------------------


@pytest.fixture
def office(engine):
    invoices = named(engine)
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with engine.store.db.begin() as connection:
        for email, role in (
            ("fin@example.com", "finance"),
            ("ops@example.com", "operator"),
            ("viewer@example.com", "viewer"),
            ("legal@example.com", "legal"),
        ):
            create_person(connection, email, role, PASSWORD)
    client = app.test_client()
    client.invoices = invoices
    return client


def test_finance_lands_on_the_dashboard_and_finds_a_customer_by_name(office):
    token = csrf(office.get("/admin/login").data)
    landed = office.post(
        "/admin/login", data={"email": "fin@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert landed.headers["Location"].endswith("/admin/dashboard")
    page = office.get("/admin/dashboard")
    assert page.status_code == 200 and b"<svg" in page.data and b"Open receivables" in page.data
    for query in ("beispiel", "firm@example", "DE136695976", office.invoices["firm"].number):
        found = office.get(f"/admin/accounts?q={query}").data.decode()
        assert "Firma Beispiel GmbH" in found and "Anna Muster" not in found, query
    customer = office.get("/admin/accounts/firm").data.decode()
    for shown in (
        "Firma Beispiel GmbH",
        "Open items",
        office.invoices["firm"].number,
        "SEPA mandate",
        "FIRM-1",
        "Latest events",
        "Deadlines ahead",
    ):
        assert shown in customer, shown


def test_the_invoice_list_page_filters_sorts_and_exports_csv(office):
    login(office, "fin@example.com")
    page = office.get("/admin/invoices?status=overdue&sort=-amount").data.decode()
    assert page.index(office.invoices["firm"].number) < page.index(office.invoices["anna"].number)
    assert "Firma Beispiel GmbH" in page
    exported = office.get("/admin/invoices.csv?status=overdue")
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.data.decode())))
    assert {r["number"] for r in rows} == {i.number for i in office.invoices.values()}
    refused = office.get("/admin/invoices?status=late")
    assert refused.status_code == 400 and b"status" in refused.data
    assert office.get("/admin/invoices?month=2026-13").status_code == 400
    too_big = office.get("/admin/invoices?size=5000")
    assert too_big.status_code == 400 and b"size must be" in too_big.data
    assert office.get("/admin/invoices?account=a%00b").status_code == 400


def test_finance_imports_a_statement_and_assigns_what_waits(office, engine):
    login(office, "fin@example.com")
    anna = office.invoices["anna"]
    data = camt053(
        [
            {
                "ref": "UI-1",
                "amount": f"{anna.amount_cents / 100:.2f}",
                "text": f"RE {anna.number}",
            },
            {"ref": "UI-2", "amount": "72.50", "text": "Telefonrechnung"},
        ]
    )
    token = csrf(office.get("/admin/bank").data)
    done = office.post(
        "/admin/bank/import",
        data={"csrf_token": token, "statement": (io.BytesIO(data), "statement.xml")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert b"1 booked, 1 queued" in done.data
    assert b"Telefonrechnung" in done.data
    credit = re.search(rb'data-credit="([0-9]+)"', done.data).group(1).decode()
    firm = office.invoices["firm"].number
    assigned = office.post(
        f"/admin/bank/credits/{credit}/assign",
        data={"csrf_token": token, "account": "firm", "invoice": firm},
        follow_redirects=True,
    )
    assert f"booked to firm for invoice {firm}".encode() in assigned.data
    paid = office.get("/admin/invoices?status=paid").data.decode()
    assert anna.number in paid and firm in paid
    with engine.store.db.connect() as connection:
        actions = set(connection.execute(select(audit_log.c.action)).scalars())
    assert {"bank_statement_imported", "bank_credit_assigned"} <= actions
    bomb = b'<!DOCTYPE x [<!ENTITY a "a">]><Document/>'
    refused = office.post(
        "/admin/bank/import",
        data={"csrf_token": token, "statement": (io.BytesIO(bomb), "bomb.xml")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert b"nothing was booked" in refused.data and b"DOCTYPE" in refused.data


def test_only_finance_imports_and_only_operators_manage_tokens(office, engine):
    login(office, "viewer@example.com")
    token = csrf(office.get("/admin/bank").data)
    assert b"statement-upload" not in office.get("/admin/bank").data
    refused = office.post(
        "/admin/bank/import",
        data={"csrf_token": token, "statement": (io.BytesIO(b"<x/>"), "s.xml")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert b"finance does" in refused.data
    refused = office.post(
        "/admin/tokens", data={"csrf_token": token, "name": "x", "role": "reader"}
    )
    assert refused.status_code == 403
    office.post("/admin/logout", data={"csrf_token": token})
    login(office, "fin@example.com")
    token = csrf(office.get("/admin/tokens").data)
    assert (
        office.post(
            "/admin/tokens", data={"csrf_token": token, "name": "x", "role": "reader"}
        ).status_code
        == 403
    )
    # finance never publishes terms (AGB 8: legal does)
    from engine.access.people import Person

    assert not Person("fin@example.com", "finance").may_publish


def test_an_operator_creates_a_token_sees_its_secret_once_and_revokes_it(office, engine):
    login(office, "ops@example.com")
    token = csrf(office.get("/admin/tokens").data)
    created = office.post(
        "/admin/tokens",
        data={"csrf_token": token, "name": "erp", "role": "finance", "accounts": ""},
    )
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    secret = re.search(rb'id="token-secret">(bt_[^<]+)<', created.data).group(1).decode()
    app_api = create_app(engine=engine).test_client()
    assert (
        app_api.get("/api/v1/invoices", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    assert secret.encode() not in office.get("/admin/tokens").data
    again = office.post(
        "/admin/tokens", data={"csrf_token": token, "name": "erp", "role": "reader"}
    )
    assert again.status_code == 400 and b"exists" in again.data
    revoked = office.post(
        "/admin/tokens/erp/revoke", data={"csrf_token": token}, follow_redirects=True
    )
    assert b"Token erp revoked" in revoked.data
    with engine.store.db.connect() as connection:
        rows = connection.execute(select(audit_log.c.actor, audit_log.c.action)).all()
    assert ("ops@example.com", "token_created") in rows
    assert ("ops@example.com", "token_revoked") in rows


def test_the_money_pages_answer_and_names_show_in_the_outbox_and_audit(office):
    login(office, "legal@example.com")
    for page in (
        "/admin/sepa",
        "/admin/returns",
        "/admin/bank",
        "/admin/dashboard",
        "/admin/webhooks",
        "/admin/tokens",
        "/admin/outbox",
        "/admin/audit",
    ):
        assert office.get(page).status_code == 200, page
    assert office.get("/admin/sepa/NOSUCHFILE").status_code == 404
