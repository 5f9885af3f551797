"""The back office in a real browser (issue 28): Playwright driving Debian's Chromium.

A finance clerk finds a demo customer by name, opens the customer page, filters the invoices
to open ones and exports them as CSV, imports a camt.053 statement that pays an invoice and
sees it paid, and opens the dashboard; an operator (the platform's administrator) creates and
revokes an API token.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from billing.demo import month_of_events
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.engine import Engine
from tests.browser import ARTIFACTS, browser_page, chromium, follow, require_chromium, serving
from tests.test_admin import PASSWORD
from tests.test_bank_statements import camt053

pytestmark = pytest.mark.browser

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CUSTOMER = "Demo Kundin 3"  # the demo's acct-000003: a postpay consumer with an open invoice


@pytest.fixture(scope="module")
def server():
    require_chromium()
    directory = Path(tempfile.mkdtemp(prefix="billing-back-office-"))
    engine = Engine(f"sqlite:///{directory / 'ledger.sqlite'}")
    engine.handle_many(list(month_of_events("2026-11", accounts=8, calls=300, seed=1)))
    engine.advance(datetime(2026, 12, 2, tzinfo=ZoneInfo("Europe/Berlin")))  # November invoiced
    with engine.store.db.begin() as connection:
        create_person(connection, "finance@example.com", "finance", PASSWORD)
        create_person(connection, "ops@example.com", "operator", PASSWORD)
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="browser-tests", BILLING_NOW=lambda: NOW)
    with serving(app) as url:
        yield url
    engine.close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, server, request):
    with browser_page(browser, server, request, accept_downloads=True) as page:
        yield page


def log_in(page, email: str, landing: str) -> None:
    page.goto("/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_selector(f"text={landing}")


def test_finance_finds_a_customer_exports_open_invoices_and_books_a_statement(page):
    # after a click the next page may still be loading: expect() waits, count() does not
    from playwright.sync_api import expect

    log_in(page, "finance@example.com", "Finance dashboard")
    # drawn on the server, as SVG: at least one bar
    expect(page.locator("#chart-items rect")).not_to_have_count(0)
    follow(page, "#nav-accounts")
    page.fill("#q", "kundin 3")
    follow(page, "#account-search button")
    expect(page.locator("#accounts tbody tr")).to_have_count(1)
    page.click(f"text={CUSTOMER}")
    assert CUSTOMER in page.inner_text("#customer-name")
    open_number = page.locator("#open-items tr td").first.inner_text()
    expect(page.locator("#events tr").nth(1)).to_be_attached()  # more than one row
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-customer.png"), full_page=True)

    follow(page, "#nav-invoices")
    page.select_option("#status", "open")
    follow(page, "#filter")
    numbers = page.locator("#invoices tbody tr.invoice-row").evaluate_all(
        "rows => rows.map(r => r.dataset.number)"
    )
    assert open_number in numbers
    assert "open" in page.inner_text("#invoice-totals")
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["number"] for r in rows} == set(numbers)
    owed = next(r for r in rows if r["number"] == open_number)
    assert owed["customer"] == CUSTOMER and owed["status"] in ("open", "overdue")
    page.screenshot(path=str(ARTIFACTS / "admin-invoices.png"), full_page=True)

    statement = camt053(
        [{"ref": "BROWSER-1", "amount": owed["open"], "text": f"Rechnung {open_number}"}],
        day="2026-12-03",
    )
    follow(page, "#nav-bank")
    page.set_input_files(
        "#statement",
        files=[{"name": "camt053.xml", "mimeType": "application/xml", "buffer": statement}],
    )
    follow(page, "#import-statement")
    assert "1 booked, 0 queued" in page.locator("[role=alert]").inner_text()
    page.screenshot(path=str(ARTIFACTS / "admin-bank.png"), full_page=True)
    page.goto(f"/admin/invoices?status=paid&account={owed['account']}")
    assert page.locator(f"tr[data-number='{open_number}'] .badge").inner_text() == "paid"

    follow(page, "#nav-dashboard")
    expect(page.locator("#receivables svg")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)


def test_an_operator_creates_and_revokes_a_token(page):
    from playwright.sync_api import expect

    log_in(page, "ops@example.com", "Terms catalog")
    follow(page, "#nav-tokens")
    page.fill("#token-name", "erp-export")
    page.select_option("#token-role", "finance")
    follow(page, "#create-token")
    secret = page.inner_text("#token-secret")
    assert secret.startswith("bt_")
    page.screenshot(path=str(ARTIFACTS / "admin-token-created.png"), full_page=True)
    page.goto("/admin/tokens")  # the secret is shown once
    expect(page.locator("#token-secret")).to_have_count(0)
    follow(page, "tr[data-token='erp-export'] .revoke-token")
    assert "Token erp-export revoked" in page.locator("[role=alert]").inner_text()
    assert page.locator("tr[data-token='erp-export'] td").nth(4).inner_text() != ""
