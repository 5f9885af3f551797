"""Customers' notices of a change of the terms are German only (AGB 8.1, 8.2, 8.6).

The letter names each change by the parameter's German label with old and new value in German
format (Babel), the day it takes effect, the special termination right with its deadline for
the customers AGB 8.2 / 8.6 entitle, and what silence means. Legal sees the very letter on the
draft page before publishing it.
"""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import date
from decimal import Decimal

from engine.catalog.model import ParameterValue
from engine.catalog.values import Period
from engine.contract.notices import letters_for
from engine.documents import german
from engine.drafting.draft_checks import check_draft
from engine.drafting.publishing import assess
from tests.test_admin import FEE_FILE, admin, csrf, login, new_draft, publish, save

__all__ = ["admin"]  # the admin UI fixture of tests/test_admin.py

SATURDAY = date(2026, 11, 21)  # NOW's day; AGB 8.1's six weeks end Saturday 2027-01-02


def fee_change(catalog, fee: str, effective_from: str = "2027-01-04"):
    text = (
        f'effective_from: {effective_from}\nvalues:\n  flat_fee: "{fee}"\n'
        "  lower_damage_provable: true\n  itemised_higher_costs_chargeable: true\n"
    )
    check = check_draft(catalog.root, {}, FEE_FILE, text, examples=False)
    assert check.errors == []
    return check.assessment


# -- formats ------------------------------------------------------------------------------------


def test_amounts_rates_percentages_dates_and_periods_are_written_the_german_way():
    assert german.euro(Decimal("9.80")) == "9,80 €"
    assert german.euro(Decimal("12500.00")) == "12.500,00 €"  # AGB 6.1: € 12.500,00
    assert german.rate(Decimal("0.0179")) == "0,0179 € pro Minute"
    assert german.percent(Decimal("5.00"), "percentage_points") == "5 Prozentpunkte"  # AGB 4.4.4
    assert german.percent(Decimal("1.27"), "percent_per_year") == "1,27 % pro Jahr"
    assert german.long_date(date(2027, 1, 4)) == "4. Januar 2027"
    assert german.period(Period(4, "weeks")) == "4 Wochen"  # AGB 8.2
    assert german.period(Period(30, "days")) == "30 Tage"  # AGB 1.2.1: 30 Kalendertage
    assert german.period(Period(6, "working_days")) == "6 Werktage"  # AGB 4.2.2
    assert german.period(Period(1, "months")) == "1 Monat"
    assert german.value("set", ("email", "letter", "fax")) == "E-Mail, Brief, Fax"
    assert german.value("boolean", True) == "ja"


# -- the letter ---------------------------------------------------------------------------------


def test_a_consumer_is_told_the_new_returned_debit_fee_the_date_and_the_termination_deadline(
    catalog,
):
    # AGB 4.2.3: 9.80 EUR becomes 12.50 EUR from Monday 2027-01-04, notified Saturday
    # 2026-11-21. AGB 8.2: four weeks after receipt end Saturday 2026-12-19; § 193 BGB moves
    # the last day to Monday 2026-12-21.
    assessment = fee_change(catalog, "12.50 EUR")
    letters = letters_for(catalog, assessment, "Unsere Bank hat ihre Gebühren erhöht.", SATURDAY)
    consumer = letters["consumer"]
    assert consumer.subject == "Änderung Ihrer Vertragsbedingungen zum 4. Januar 2027"
    assert (
        "mit Wirkung zum 4. Januar 2027 ändern wir Ziffer 4.2.3 unserer Allgemeinen "
        "Geschäftsbedingungen:" in consumer.body
    )
    assert "- Pauschale für eine Rücklastschrift: bisher 9,80 €, künftig 12,50 €" in consumer.body
    assert "Grund der Änderung: Unsere Bank hat ihre Gebühren erhöht." in consumer.body
    assert (
        "außerordentlich mit Wirkung zum 4. Januar 2027 kündigen, schriftlich oder per E-Mail, "
        "bis zum 21. Dezember 2026 (4 Wochen nach Zugang dieser Mitteilung; Ziffer 8.2"
    ) in consumer.body
    assert "Kündigen Sie nicht bis zum 21. Dezember 2026, gilt die Änderung als genehmigt." in (
        consumer.body
    )
    assert consumer.body.endswith("Mit freundlichen Grüßen\nsiggate GmbH")


def test_a_business_has_no_special_termination_right_for_a_price_increase(catalog):
    # AGB 8.2 entitles consumers only ("Ist der Kunde Verbraucher").
    business = letters_for(catalog, fee_change(catalog, "12.50 EUR"), "Bankgebühren", SATURDAY)[
        "business"
    ]
    assert "bisher 9,80 €, künftig 12,50 €" in business.body
    assert "Ein außerordentliches Kündigungsrecht steht Ihnen wegen dieser Änderung nicht zu" in (
        business.body
    )
    assert "bis zum" not in business.body


def test_a_disadvantageous_change_of_the_agb_lets_every_customer_terminate_and_silence_agrees(
    catalog,
):
    # AGB 8.6 gives "dem Kunden" the right; without termination the change becomes part of the
    # contract on the day it takes effect.
    text = (
        "effective_from: 2027-01-04\nvalues:\n  retention_after_invoice: {weeks: 6}\n"
        "  early_deletion_on_request: false\n"
    )
    file = "rules/agb/4.4.5-traffic-data-deletion.yaml"
    assessment = check_draft(catalog.root, {}, file, text, examples=False).assessment
    letters = letters_for(catalog, assessment, "", SATURDAY)
    for letter in letters.values():
        assert "bisher 8 Wochen, künftig 6 Wochen" in letter.body
        assert "Vorzeitige Löschung der Verbindungsdaten auf Verlangen des Kunden: bisher ja, " in (
            letter.body
        )
        assert "Ziffer 8.6 unserer Allgemeinen Geschäftsbedingungen" in letter.body
        assert (
            "Kündigen Sie nicht bis zum 21. Dezember 2026, wird die Änderung zum 4. Januar 2027 "
            "Vertragsbestandteil." in letter.body
        )
        assert "Grund der Änderung" not in letter.body


def test_a_lower_fee_is_only_to_the_customers_advantage(catalog):
    letters = letters_for(catalog, fee_change(catalog, "7.50 EUR"), "", SATURDAY)
    assert "bisher 9,80 €, künftig 7,50 €" in letters["consumer"].body
    assert "ausschließlich zu Ihrem Vorteil" in letters["consumer"].body
    assert "kündigen" not in letters["consumer"].body


def _changed(spec, value):
    """Another value of the parameter's type, so that the letter lists it as changed."""
    if spec.type in ("money", "rate", "percent"):
        return value + Decimal("1.00")
    if spec.type == "integer":
        return value + 1
    if spec.type == "period":
        return Period(value.count + 1, value.unit)
    if spec.type == "boolean":
        return not value
    if spec.type == "set":
        return (*value, "neu")
    return f"{value}-neu"


def test_no_letter_ever_shows_an_english_parameter_description_or_a_dot_decimal(catalog):
    """Every parameter of every file, changed, appears by its German label in German format."""
    checked = 0
    for terms_file in catalog.files:
        before = terms_file.versions[-1]
        after = dataclasses.replace(
            before,
            effective_from=date(2030, 1, 2),
            values={
                name: ParameterValue(_changed(terms_file.parameters[name], v.value), v.source)
                for name, v in before.values.items()
            },
        )
        assessment = assess(terms_file, before, after)
        for letter in letters_for(catalog, assessment, "", SATURDAY).values():
            for name, spec in terms_file.parameters.items():
                assert spec.label_de, f"{terms_file.path}: {name} has no label_de"
                assert f"- {spec.label_de}: bisher " in letter.body, (terms_file.path, name)
                assert f"{spec.description}:" not in letter.body, (terms_file.path, name)
                checked += 1
            assert not re.search(r"\d EUR|\btrue\b|\bfalse\b", letter.body)
            assert not re.search(r"\d{4}-\d{2}-\d{2}", letter.body)
    assert checked >= 2 * 200  # every parameter, for consumers and for businesses


# -- the admin UI shows the letter before publishing ---------------------------------------------


def test_legal_sees_the_letter_before_publishing_and_exactly_that_letter_is_sent(admin):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    page = save(admin, draft_id, fee_draft_text("2027-01-04")).data.decode()
    assert 'id="letter-preview"' in page
    assert "bisher 9,80 €, künftig 12,50 €" in html.unescape(page)
    reason = "Unsere Bank hat ihre Gebühren für Rücklastschriften erhöht."
    token = csrf(admin.get(f"/admin/drafts/{draft_id}").data)
    preview = admin.post(
        f"/admin/drafts/{draft_id}/letter",
        data={"reason": reason, "ground": "supplier_price_increase", "csrf_token": token},
    )
    assert preview.status_code == 200
    shown = html.unescape(preview.data.decode())
    letters = re.findall(r'<pre class="letter">(.*?)</pre>', shown, re.S)
    assert len(letters) == 2  # consumers (AGB 8.2 right) and businesses (none)
    consumer_letter = next(body for body in letters if "Sonderkündigungsrecht" in body)
    assert f"Grund der Änderung: {reason}" in consumer_letter
    assert "bis zum 21. Dezember 2026" in consumer_letter
    done = publish(admin, draft_id, reason, "supplier_price_increase")
    assert done.status_code == 302, done.data
    outbox = html.unescape(admin.get(done.headers["Location"]).data.decode())
    assert consumer_letter in outbox, "the preview is the letter that was sent"


def fee_draft_text(effective_from: str) -> str:
    return (
        f"effective_from: {effective_from}\nvalues:\n"
        '  flat_fee: "12.50 EUR"\n  lower_damage_provable: true\n'
        "  itemised_higher_costs_chargeable: true\n"
    )
