"""The admin UI in a real browser: Playwright driving Debian's Chromium (headless)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from billing.wsgi import create_app
from engine.access.people import create_person
from engine.engine import Engine
from tests.browser import (
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


@pytest.fixture(scope="module")
def server():
    require_chromium()
    directory = Path(tempfile.mkdtemp(prefix="billing-browser-"))
    engine = Engine(f"sqlite:///{directory / 'ledger.sqlite'}")
    with engine.store.db.begin() as connection:
        create_person(connection, "pm@example.com", "product", PASSWORD)
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    for name, kind in (("anna", "consumer"), ("acme", "business"), ("bert", "consumer")):
        Customer(engine, name).open(at="2026-11-02T09:00:00+01:00", customer_type=kind)
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
    with browser_page(browser, server, request) as page:
        yield page


def test_login_and_logout(page):
    page.goto("/admin/")
    assert "/admin/login" in page.url
    page.fill("input[name=email]", "legal@example.com")
    page.fill("input[name=password]", "wrong password!")
    page.click("#login")
    assert page.locator("[role=alert]").inner_text() == "Wrong e-mail or password."
    log_in(page, "legal@example.com")
    assert "legal@example.com (legal)" in page.inner_text("header")
    page.click("#logout")
    assert page.locator("[role=alert]").inner_text() == "You are logged out."
    page.goto("/admin/")
    assert "/admin/login" in page.url


def test_a_product_manager_edits_a_plan_and_sees_the_schema_error_at_its_line(page):
    log_in(page, "pm@example.com")
    page.goto("/admin/files/tariffs/plans/clinq-premium.yaml")
    assert "CLINQ Premium" in page.inner_text("h1")
    assert "EU-allnet flat rate" in page.inner_text("pre.source")
    follow(page, "#new-draft")
    original = page.input_value("#yaml")
    page.fill("#yaml", original.replace('value: "29.90 EUR"', "value: 31.90"))
    follow(page, "#save")
    error = page.locator(".error-line").first
    assert re.search(r"line \d+, column 12: 31.9 is a YAML number", error.inner_text())
    assert "bad" in page.locator(".lines .bad").first.get_attribute("class")
    page.fill("#yaml", original.replace('value: "29.90 EUR"', 'value: "31.90 EUR"'))
    follow(page, "#save")
    assert "No errors" in page.inner_text("#valid")
    assert "disadvantage" in page.inner_text("table")
    assert page.locator("#publish").is_disabled(), "a product manager cannot publish"


def test_legal_publishes_a_fee_increase_refused_five_weeks_out_accepted_six_weeks_out(page):
    from playwright.sync_api import expect

    log_in(page, "legal@example.com")
    page.goto(f"/admin/files/{FEE_FILE}")
    follow(page, "#new-draft")
    page.fill("#yaml", fee_draft("2026-12-26"))  # five weeks after 2026-11-21
    follow(page, "#save")
    page.fill("#reason", "Our bank raised its fees for returned debits.")
    page.select_option("#ground", "supplier_price_increase")
    follow(page, "#publish")
    refusal = page.locator(".flash.error").inner_text()
    assert "the earliest effective date is 2027-01-03, not 2026-12-26" in refusal
    page.fill("#yaml", fee_draft("2027-01-03"))
    follow(page, "#save")
    assert page.inner_text("#earliest") == "2027-01-03"
    letter = page.locator("#letter-preview pre.letter").first.inner_text()  # before publishing
    assert "Pauschale für eine Rücklastschrift: bisher 9,80 €, künftig 12,00 €" in letter
    page.fill("#reason", "Our bank raised its fees for returned debits.")
    page.select_option("#ground", "supplier_price_increase")
    follow(page, "#publish")
    assert "letters queued for 3 customers" in page.locator(".flash.info").inner_text()
    rows = page.locator("#outbox tr")
    expect(rows).to_have_count(4)  # a header and one notification per customer
    page.locator("#outbox summary").first.click()
    body = page.locator("#outbox pre").first.inner_text()
    assert "Pauschale für eine Rücklastschrift: bisher 9,80 €, künftig 12,00 €" in body
    assert "Grund der Änderung: Our bank raised its fees for returned debits." in body


def test_the_audit_log_shows_who_did_what_and_an_intact_chain(page):
    log_in(page, "legal@example.com")
    page.goto("/admin/audit")
    assert "The hash chain is intact" in page.inner_text("#chain-ok")
    actions = page.locator("#audit td:nth-child(4)").all_inner_texts()
    assert "login" in actions and "user_created" in actions


def test_the_content_security_policy_blocks_nothing_the_pages_need(page):
    """The style sheet loads under the CSP and the browser reports no violation."""
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    log_in(page, "pm@example.com")
    page.goto("/admin/files/tariffs/plans/clinq-premium.yaml")
    header = page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
    assert header == "rgb(29, 36, 48)"
    assert not [m for m in messages if "Content Security Policy" in m], messages


# -- the Conformance page ------------------------------------------------------------------


def test_legal_opens_conformance_from_the_nav_and_sees_each_warning_with_both_citations(page):
    from playwright.sync_api import expect

    log_in(page, "legal@example.com")
    follow(page, "#nav-conformance")
    assert page.inner_text("h1") == "Conformance with the statutes"
    assert page.input_value("#at") == "2026-11-21"
    assert "13 warnings on 2026-11-21 (terms version 2026-01-01)" in page.inner_text("#summary")
    rows = page.locator("#conformance tr")
    expect(rows).to_have_count(14)  # a header and one row per warning
    interest = page.locator("#conformance tr", has_text="business_margin")
    cells = interest.locator("td").all_inner_texts()
    assert cells[0].startswith("AGB 4.4.4") and cells[2].startswith("BGB § 288 (2)")
    assert (cells[1], cells[3], cells[4], cells[5]) == (
        "8.00 percentage points",
        "9.00 percentage points",
        "2014-07-29",
        "customer",
    )
    refund = page.locator("#conformance tr", has_text="refund_within")
    favours = refund.locator("td.favours")
    assert favours.inner_text() == "provider"
    assert "disadvantage" in favours.get_attribute("class")
    assert "the statute prevails over the clause" in refund.inner_text()
    # mandatory (BGB § 361 (2)): the engine applies the statute's 14 days, and the page says so
    assert refund.locator("td.engine").inner_text().startswith("applied:")
    assert interest.locator("td.engine").inner_text().startswith("shown only")
    refund.locator("a", has_text="BGB § 357 (1)").click()
    assert "Refunds after a consumer's withdrawal" in page.inner_text("h1")


def test_choosing_2013_shows_only_the_signature_warning(page):
    from playwright.sync_api import expect

    log_in(page, "legal@example.com")
    page.goto("/admin/conformance")
    page.fill("#at", "2013-01-01")
    page.click("#show")
    page.wait_for_url("**/admin/conformance?at=2013-01-01")
    assert "1 warning on 2013-01-01" in page.inner_text("#summary")
    rows = page.locator("#conformance tr")
    expect(rows).to_have_count(2)
    assert "UStG § 14 (3)" in rows.nth(1).inner_text()
    assert "TKG § 57" not in page.inner_text("main")
