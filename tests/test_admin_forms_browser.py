"""Issue 14 in a real browser: editing a draft in its typed form (Playwright, Debian's Chromium).

One browser session for the module (the fixtures of tests/test_admin_browser.py, instantiated
again here with module scope: their own server, database and Chromium).
"""

from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, follow, log_in
from tests.test_admin import FEE_FILE
from tests.test_admin_browser import browser, page, server  # noqa: F401  (fixtures)
from tests.test_admin_forms import PLAN

pytestmark = pytest.mark.browser


def test_legal_types_a_wrong_fee_sees_the_error_at_the_field_then_saves_12_00_eur(page):  # noqa: F811
    from playwright.sync_api import expect

    log_in(page, "legal@example.com")
    page.goto(f"/admin/files/{FEE_FILE}")
    follow(page, "#new-draft")
    assert page.input_value("#input-flat_fee") == "9.80"
    assert page.inner_text("#field-flat_fee .unit") == "EUR"
    assert page.get_attribute("#input-effective_from", "type") == "date"
    assert page.input_value("#input-effective_from") == "2027-01-03"  # six weeks, AGB 8.1
    page.fill("#input-flat_fee", "12.5")
    follow(page, "#save-form")
    error = page.locator("#field-flat_fee .field-error").inner_text()
    assert "expected money like '9.80 EUR', got '12.5 EUR'" in error
    assert "invalid" in page.get_attribute("#field-flat_fee", "class")
    expect(page.locator(".flash.info"), "no success banner beside the error").to_have_count(0)
    assert "1 error(s)" in page.inner_text("#error-count")
    assert 'flat_fee: "12.5 EUR"' in page.inner_text("#checked")  # at its line in the YAML view
    ARTIFACTS.mkdir(exist_ok=True)  # for docs/walkthroughs.md's legal walkthrough, step 2
    page.locator("#field-flat_fee").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "admin-draft-form-error.png"))
    page.fill("#input-flat_fee", "12.00")
    follow(page, "#save-form")
    assert page.locator(".flash.info").inner_text() == "Draft saved."
    assert 'flat_fee: "12.00 EUR"' in page.input_value("#yaml")
    expect(page.locator(".field-error")).to_have_count(0)
    assert page.inner_text("#earliest") == "2027-01-03"
    assert page.inner_text("#customer-effect") == "to their disadvantage"
    assert "3 customer(s) by e-mail: 2 consumer(s), 1 business customer(s)" in page.inner_text(
        "#notified"
    )


def test_a_product_manager_switches_off_the_itemised_bill_and_picks_zones_from_a_list(page):  # noqa: F811
    log_in(page, "pm@example.com")
    page.goto(f"/admin/files/{PLAN}")
    follow(page, "#new-draft")
    assert "note:" not in page.input_value("#yaml"), "the old version's notes stay behind"
    assert page.get_attribute("#input-itemised_bill", "role") == "switch"
    assert page.is_checked("#input-itemised_bill")
    page.uncheck("#input-itemised_bill")
    page.select_option("#input-flat_rate_zones", ["de_landline", "de_mobile"])
    follow(page, "#save-form")
    yaml = page.input_value("#yaml")
    assert "itemised_bill: false" in yaml
    assert "flat_rate_zones: [de_landline, de_mobile]" in yaml
    assert not page.is_checked("#input-itemised_bill")
    assert page.inner_text("#customer-effect") == "to their disadvantage"
