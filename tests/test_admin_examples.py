"""Clause examples in the admin UI: shown on the clause page, run against a draft; a draft
that breaks one is not published, a draft with examples of its own may be."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pytest

from billing.wsgi import create_app
from engine.access.people import create_person
from tests.conftest import Customer
from tests.test_admin import FEE_FILE, PASSWORD, csrf, fee_draft, login, new_draft, publish, save

# Monday 12 January 2026: a price increase may take effect from 24 February (six weeks).
NOW = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


@pytest.fixture
def admin(engine):
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    Customer(engine, "anna").open(
        at="2026-01-05T09:00:00+01:00",
        customer_type="consumer",
        billing_method="autoprepay",
        autoprepay={"threshold": "5.00", "amount": "20.00"},
    )
    client = app.test_client()
    login(client, "legal@example.com")
    return client


def page_text(response) -> str:
    return html.unescape(response.data.decode())


def test_the_clause_page_shows_its_examples_as_events_and_expectations(admin):
    page = page_text(admin.get(f"/admin/files/{FEE_FILE}"))
    assert 'id="examples"' in page
    assert "a returned direct debit costs 9.80 EUR" in page
    assert "<td>2026-03-10</td><td>direct_debit.returned</td><td>amount 20.00</td>" in page
    assert "a charge of 9.80 EUR (item returned_debit_fee) citing AGB 4.2.3 on 2026-03-10" in page
    assert page.count("example-ok") == 3 and "example-broken" not in page
    assert "Account: clinq, consumer, autoprepay, users anna." in page
    # A new draft starts from the newest version's values; its examples stay with that version.
    draft = page_text(admin.get(f"/admin/drafts/{new_draft(admin, FEE_FILE)}"))
    start = draft.index('<textarea name="text"')  # the publish form's reason comes first
    editor = draft[start : draft.index("</textarea>", start)]
    assert 'flat_fee: "9.80 EUR"' in editor and "examples:" not in editor


def test_a_draft_that_breaks_an_example_is_not_published_and_says_why(admin, engine):
    draft_id = new_draft(admin, FEE_FILE)
    checked = page_text(save(admin, draft_id, fee_draft("2026-03-02")))
    assert 'id="examples-broken"' in checked
    assert "a returned direct debit costs 9.80 EUR" in checked
    assert (
        "expected a charge of 9.80 EUR (item returned_debit_fee) citing AGB 4.2.3 on 2026-03-10; "
        "got: charge of 20.00 EUR (item returned_debit) citing AGB 4.2.3 on 2026-03-10; "
        "charge of 12.00 EUR (item returned_debit_fee) citing AGB 4.2.3 on 2026-03-10"
    ) in checked
    refused = publish(admin, draft_id, "Our bank charges more.", "supplier_price_increase")
    assert refused.status_code == 400
    text = page_text(refused)
    assert "The example “a returned direct debit costs 9.80 EUR” (AGB 4.2.3) no longer" in text
    assert engine.catalog.file("AGB 4.2.3").versions[-1].effective_from.isoformat() == "2009-07-03"


def test_a_draft_with_its_own_examples_is_published_and_keeps_them(admin, engine):
    draft_id = new_draft(admin, FEE_FILE)
    text = fee_draft("2026-03-02") + (
        "examples:\n"
        "  - name: from 2 March 2026 a returned direct debit costs 12.00 EUR\n"
        "    account: {billing_method: autoprepay}\n"
        "    events:\n"
        '      - {at: 2026-02-27, type: direct_debit.returned, amount: "20.00"}\n'
        '      - {at: 2026-03-10, type: direct_debit.returned, amount: "20.00"}\n'
        "    expect:\n"
        '      - {kind: charge, item: returned_debit_fee, amount: "9.80", day: 2026-02-27}\n'
        '      - {kind: charge, item: returned_debit_fee, amount: "12.00", day: 2026-03-10}\n'
    )
    checked = page_text(save(admin, draft_id, text))
    assert 'id="examples-hold"' in checked, checked
    assert "from 2 March 2026 a returned direct debit costs 12.00 EUR" in checked
    assert "retired by the version 2026-03-02" in checked
    published = publish(admin, draft_id, "Our bank charges more.", "supplier_price_increase")
    assert published.status_code == 302, page_text(published)
    page = page_text(admin.get(f"/admin/files/{FEE_FILE}"))
    assert "Example of the version 2026-03-02" in page
    assert page.count("example-ok") == 1  # the retired examples are shown, not run
    assert "retired by the version 2026-03-02" in page


def test_a_broken_example_in_a_draft_is_located_at_its_line(admin):
    draft_id = new_draft(admin, FEE_FILE)
    text = fee_draft("2026-03-02") + (
        "examples:\n"
        "  - name: a typo in an event\n"
        "    events:\n"
        '      - {at: 2026-03-10, type: direct_debit.returned, amont: "20.00"}\n'
        "    expect:\n"
        "      - {kind: charge}\n"
    )
    page = page_text(save(admin, draft_id, text))
    assert 'id="error-count"' in page
    assert "line 9, column 55: 'amont' is not a field of a direct_debit.returned event" in page
    assert csrf(admin.get(f"/admin/drafts/{draft_id}").data)
