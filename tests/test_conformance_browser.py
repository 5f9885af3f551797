"""The Conformance page of the admin UI in a real browser (Playwright, Debian's Chromium).

Modelled on tests/test_admin_browser.py: one server and one browser for the module.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from admin_ui.people import create_person
from api import create_app
from engine.catalog import PROJECT_ROOT
from engine.engine import Engine

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (REQUIRE_BROWSER=1) but not installed")
        pytest.skip("Debian's chromium is not installed")
    directory = Path(tempfile.mkdtemp(prefix="billing-conformance-"))
    engine = Engine(f"sqlite:///{directory / 'ledger.sqlite'}")
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="browser-tests", BILLING_NOW=lambda: NOW)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    http.shutdown()
    engine.close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page(browser, server, request):
    context = browser.new_context(base_url=server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def log_in(page, email: str) -> None:
    page.goto("/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_selector("text=Terms catalog")


def test_legal_opens_conformance_from_the_nav_and_sees_each_warning_with_both_citations(page):
    log_in(page, "legal@example.com")
    page.click("#nav-conformance")
    assert page.inner_text("h1") == "Conformance with the statutes"
    assert page.input_value("#at") == "2026-11-21"
    assert "11 warnings on 2026-11-21 (terms version 2026-01-01)" in page.inner_text("#summary")
    rows = page.locator("#conformance tr")
    assert rows.count() == 12  # a header and one row per warning
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
    refund.locator("a", has_text="BGB § 357 (1)").click()
    assert "Refunds after a consumer's withdrawal" in page.inner_text("h1")


def test_choosing_2013_shows_only_the_signature_warning(page):
    log_in(page, "legal@example.com")
    page.goto("/admin/conformance")
    page.fill("#at", "2013-01-01")
    page.click("#show")
    page.wait_for_url("**/admin/conformance?at=2013-01-01")
    assert "1 warning on 2013-01-01" in page.inner_text("#summary")
    rows = page.locator("#conformance tr")
    assert rows.count() == 2
    assert "UStG § 14 (3)" in rows.nth(1).inner_text()
    assert "TKG § 57" not in page.inner_text("main")
