"""Finding things in the admin UI in a real browser (Playwright, Debian's Chromium): the
catalog search, paging through the outbox, and screenshots of the main pages for the admin UI
walkthrough in docs/walkthroughs.md (written to test-artifacts/, which CI keeps and git ignores)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import insert

from billing.wsgi import create_app
from engine.access.people import create_person
from engine.engine import Engine
from engine.ledger.tables import outbox
from tests.browser import (
    ARTIFACTS,
    browser_page,
    chromium,
    follow,
    log_in,
    require_chromium,
    serving,
)
from tests.conftest import Customer
from tests.test_admin import FEE_FILE, NOW, PASSWORD, fee_draft

pytestmark = pytest.mark.browser
NOTIFICATIONS = 120  # more than two pages of 50


@pytest.fixture(scope="module")
def server():
    require_chromium()
    directory = Path(tempfile.mkdtemp(prefix="billing-find-"))
    engine = Engine(f"sqlite:///{directory / 'ledger.sqlite'}")
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
        create_person(connection, "pm@example.com", "product", PASSWORD)
    for name, kind in (("anna", "consumer"), ("acme", "business"), ("bert", "consumer")):
        Customer(engine, name).open(at="2026-11-02T09:00:00+01:00", customer_type=kind)
    with engine.store.db.begin() as connection:
        connection.execute(
            insert(outbox),
            [
                {
                    "publication": 1,
                    "account": f"acct-{i:06d}",
                    "channel": "email",
                    "recipient": None,
                    "subject": f"Änderung Ihrer Vertragsbedingungen (Nr. {i})",
                    "body": "Sehr geehrte Kundin, sehr geehrter Kunde, ...",
                    "status": "pending",
                    "created_at": "2026-11-21T10:00:00+00:00",
                }
                for i in range(1, NOTIFICATIONS + 1)
            ],
        )
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="browser-find-tests", BILLING_NOW=lambda: NOW)
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
    with browser_page(browser, server, request, viewport={"width": 1280, "height": 860}) as page:
        yield page


def outbox_ids(page) -> list[int]:
    return [int(n) for n in page.locator("#outbox tbody tr td:first-child").all_inner_texts()]


def test_legal_finds_the_returned_debit_clause_by_its_number_and_opens_it(page):
    log_in(page)
    page.fill("#q", "4.2.3")
    follow(page, "#search")
    page.wait_for_url("**/admin/?q=4.2.3*")
    assert "3 files found for" in page.inner_text("#search-summary")
    first = page.locator("tr.catalog-file").first
    assert first.get_attribute("data-citation") == "AGB 4.2.3"
    first.locator("a", has_text="AGB 4.2.3").click()
    assert page.inner_text("h1").startswith("AGB 4.2.3: Returned direct debit")
    assert page.locator("#nav-catalog").get_attribute("aria-current") == "page"


def test_a_product_manager_finds_a_clause_by_a_parameter_name_with_its_value(page):
    log_in(page, "pm@example.com")
    page.fill("#q", "flat_fee")
    follow(page, "#search")
    row = page.locator("tr.catalog-file[data-citation='AGB 4.2.3']")
    matched = row.locator("ul.matched-parameters li").first.inner_text()
    assert matched.startswith("flat_fee Flat fee for a returned direct debit")
    assert matched.endswith("9.80 EUR")  # in force on 2026-11-21, with its unit
    page.fill("#q", "no such parameter anywhere")
    follow(page, "#search")
    assert "Nothing in the catalog matches" in page.inner_text("#nothing-found")


def test_paging_through_120_notifications_keeps_the_page_numbers_stable(page):
    from playwright.sync_api import expect

    log_in(page)
    follow(page, "#nav-outbox")
    # Newest first, 50 a page: page 1 holds 120..71, page 2 70..21, page 3 20..1.
    assert outbox_ids(page) == list(range(120, 70, -1))
    assert page.inner_text(".pager .count") == "1–50 of 120 notifications"
    assert page.inner_text(".pager .current") == "1"
    page.click(".pager a[rel=next]")
    page.wait_for_url("**/admin/outbox?page=2")
    assert outbox_ids(page) == list(range(70, 20, -1))
    assert page.inner_text(".pager .current") == "2"
    page.click(".pager a[rel=prev]")
    page.wait_for_url("**/admin/outbox?page=1")
    assert outbox_ids(page) == list(range(120, 70, -1))
    page.locator(".pager a.page-number", has_text="3").click()
    page.wait_for_url("**/admin/outbox?page=3")
    assert outbox_ids(page) == list(range(20, 0, -1))
    assert page.inner_text(".pager .count") == "101–120 of 120 notifications"
    expect(page.locator(".pager a[rel=next]")).to_have_count(0)
    page.goto("/admin/outbox?page=0")
    assert "page must be a whole number from 1" in page.inner_text("#refused")


def test_screenshots_of_the_main_pages_for_the_readme(page):
    """The catalog with a search, a draft of AGB 4.2.3 and the audit log, as PNG files in
    test-artifacts/ (CI keeps them; docs/walkthroughs.md's admin walkthrough points at them)."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page)
    page.goto("/admin/?q=R%C3%BCcklastschrift")
    page.screenshot(path=str(ARTIFACTS / "admin-catalog-search.png"), full_page=True)
    page.goto(f"/admin/files/{FEE_FILE}")
    follow(page, "#new-draft")
    page.fill("#yaml", fee_draft("2027-01-03"))
    follow(page, "#save")
    assert "No errors" in page.inner_text("#valid")
    # The top of the page: the editor, the check and the letter (the examples run far below).
    page.screenshot(path=str(ARTIFACTS / "admin-draft.png"))
    page.goto("/admin/audit")
    assert "saved draft" in page.inner_text("#audit")
    page.screenshot(path=str(ARTIFACTS / "admin-audit.png"), full_page=True)
    for name in ("admin-catalog-search", "admin-draft", "admin-audit"):
        assert (ARTIFACTS / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
