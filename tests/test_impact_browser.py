"""The impact of a draft in a real browser (issue 14): Playwright driving Debian's Chromium.

The server holds `make run`'s demo (billing/serve.py load_demo: 20 generated accounts, 2,000
calls in November 2026, and the six customers of billing/demo_story.py), whose November has
six returned debits that the impact counts: three of top-ups and the three of the SEPA
collection, which name their invoice (the replay finds it by its identity in the account:
docs/walkthroughs.md). Legal drafts a returned-debit fee of 12.00 EUR instead of 9.80 (AGB
4.2.3) and asks for November's impact: 6 x 2.20 = 13.20 EUR more.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from billing.serve import load_demo
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.drafting.impact import counts
from engine.engine import Engine
from tests.browser import (
    ARTIFACTS,
    browser_page,
    chromium,
    follow,
    log_in,
    require_chromium,
    serving,
)
from tests.test_admin import FEE_FILE, NOW, PASSWORD, fee_draft

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def engine():
    require_chromium()
    directory = Path(tempfile.mkdtemp(prefix="billing-impact-browser-"))
    url = f"sqlite:///{directory / 'ledger.sqlite'}"
    load_demo(url)
    engine = Engine(url)
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    yield engine
    engine.close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def server(engine):
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="impact-browser-tests", BILLING_NOW=lambda: NOW)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, server, request):
    # the impact replays the month twice
    with browser_page(browser, server, request, timeout_ms=60_000) as page:
        yield page


def test_legal_sees_what_a_returned_debit_fee_of_12_00_would_have_earned_in_november(page, engine):
    from playwright.sync_api import expect

    log_in(page)
    page.goto(f"/admin/files/{FEE_FILE}")
    follow(page, "#new-draft")
    # the earliest effective date under AGB 8.1 when notified on NOW (2026-11-21): six weeks
    page.fill("#yaml", fee_draft("2027-01-03", "12.00 EUR"))
    follow(page, "#save")
    page.wait_for_selector("#valid")
    with engine.store.db.connect() as connection:
        before = counts(connection)
    page.fill("#impact-from", "2026-11-01")
    page.fill("#impact-to", "2026-11-30")
    follow(page, "#impact-run")
    page.wait_for_selector("#impact-chart")
    # six returned debits in November: 6 x 9.80 = 58.80 before, 6 x 12.00 = 72.00 after
    assert page.inner_text("#impact-delta") == "+13.20"
    fee_row = page.locator('#impact-items tr[data-item="returned_debit_fee"]')
    assert fee_row.inner_text().split("\t") == [
        "Returned debit fee (AGB 4.2.3)",
        "58.80",
        "72.00",
        "+13.20",
    ]
    expect(page.locator("#impact-largest tr")).to_have_count(7)  # a header and six accounts
    bar = page.locator('#impact-chart g[data-item="returned_debit_fee"] rect.impact-after')
    assert float(bar.get_attribute("width")) > 0
    assert "publishing would notify 26 customers" in page.inner_text("#impact-notices")
    assert "as if in force" in page.inner_text("#impact")
    with engine.store.db.connect() as connection:
        assert counts(connection) == before  # the preview wrote nothing
    ARTIFACTS.mkdir(exist_ok=True)  # for docs/walkthroughs.md's legal walkthrough
    page.locator("#impact").screenshot(path=str(ARTIFACTS / "admin-impact.png"))
