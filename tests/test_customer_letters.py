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
from datetime import UTC, date, datetime
from decimal import Decimal

from engine.catalog import load_catalog
from engine.catalog.model import ParameterValue
from engine.catalog.values import Period
from engine.contract.notices import Recipient, letter_for, letters_for
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
    # 2026-11-21. TKG § 57 (1) (mandatory over AGB 8.2's four weeks): three months from receipt;
    # for receipt that Saturday they end Sunday 2027-02-21, § 193 BGB: Monday 2027-02-22.
    assessment = fee_change(catalog, "12.50 EUR")
    letters = letters_for(catalog, assessment, "Unsere Bank hat ihre Gebühren erhöht.", SATURDAY)
    consumer = letters["consumer"]
    assert consumer.subject == "Änderung Ihrer Vertragsbedingungen zum 4. Januar 2027"
    assert (
        "mit Wirkung zum 4. Januar 2027 ändern wir Ziffer 4.2.3 unserer Allgemeinen "
        "Geschäftsbedingungen:" in consumer.body
    )
    # AGB 4.2.3's flat fee is damages, which invoices do not tax: quoted as it is
    assert "- Pauschale für eine Rücklastschrift: bisher 9,80 €, künftig 12,50 €" in consumer.body
    assert "Grund der Änderung: Unsere Bank hat ihre Gebühren erhöht." in consumer.body
    assert (
        "ohne Einhaltung einer Kündigungsfrist und ohne Kosten kündigen (§ 57 Abs. 1 TKG; "
        "Ziffer 8.2 unserer Allgemeinen Geschäftsbedingungen). Die Frist dafür beträgt 3 Monate "
        "ab Zugang dieser Mitteilung; geht sie Ihnen am 21. November 2026 zu, können Sie bis "
        "einschließlich 22. Februar 2027 kündigen."
    ) in consumer.body
    assert "Form der Kündigung: E-Mail, Brief, Fax (Ziffer 1.2.2" in consumer.body
    assert "wird Ihr Vertrag ab dem 4. Januar 2027 mit der Änderung fortgesetzt" in consumer.body
    assert "genehmigt" not in consumer.body and "4 Wochen" not in consumer.body
    assert consumer.body.endswith("Mit freundlichen Grüßen\nsiggate GmbH")


def test_a_business_is_an_end_user_and_is_told_the_same_statutory_right(catalog):
    # TKG § 57 (1) gives the right to every end user; AGB 8.2 ("Ist der Kunde Verbraucher") is
    # widened (rules/conformance.yaml, mandatory; rules/law/tkg-71-scope.yaml)
    business = letters_for(catalog, fee_change(catalog, "12.50 EUR"), "Bankgebühren", SATURDAY)[
        "business"
    ]
    assert "bisher 9,80 €, künftig 12,50 €" in business.body
    assert "bis einschließlich 22. Februar 2027 kündigen" in business.body
    assert "genehmigt" not in business.body


def test_a_business_whose_waiver_legal_confirmed_gets_agb_8_2_as_written(catalog_copy):
    path = catalog_copy / "rules/law/tkg-71-scope.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "waiver_effective: false", "waiver_effective: true"
        )
    )
    catalog = load_catalog(catalog_copy)
    waived = Recipient("acme", "business", {"name": "ACME GmbH", "tkg_rights_waived": True})
    letter = letter_for(catalog, fee_change(catalog, "12.50 EUR"), "Bank", SATURDAY, waived)
    assert "Ein außerordentliches Kündigungsrecht steht Ihnen wegen dieser Änderung nicht zu" in (
        letter.body
    )
    assert "kündigen (§ 57" not in letter.body


def test_a_disadvantageous_change_of_the_agb_lets_every_customer_terminate_without_deemed_consent(
    catalog,
):
    # AGB 8.6 gives "dem Kunden" the right; TKG § 57 (1) lengthens its window to three months
    # and the letter says what the statute supports: the contract goes on with the change.
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
        assert "(§ 57 Abs. 1 TKG; Ziffer 8.6 unserer Allgemeinen Geschäftsbedingungen)" in (
            letter.body
        )
        assert "bis einschließlich 22. Februar 2027 kündigen" in letter.body
        assert "Vertragsbestandteil" not in letter.body and "genehmigt" not in letter.body
        assert "Grund der Änderung" not in letter.body


def test_a_lower_fee_is_only_to_the_customers_advantage(catalog):
    letters = letters_for(catalog, fee_change(catalog, "7.50 EUR"), "", SATURDAY)
    assert "bisher 9,80 €, künftig 7,50 €" in letters["consumer"].body
    assert "ausschließlich zu Ihrem Vorteil" in letters["consumer"].body
    assert "kündigen" not in letters["consumer"].body


def test_plan_prices_are_quoted_gross_to_consumers_and_net_plus_vat_to_businesses(catalog):
    # PAngV § 3: consumers see what they pay; invoices tax plan prices (Platform: invoicing)
    terms_file = catalog.file(catalog.plan_citation("clinq-premium"))
    before = terms_file.versions[-1]
    price = before.values["monthly_price"]
    after = dataclasses.replace(
        before,
        effective_from=date(2030, 1, 2),
        values={
            **before.values,
            "monthly_price": ParameterValue(price.value + Decimal("1.00"), price.source),
        },
    )
    assessment = assess(terms_file, before, after)
    letters = letters_for(catalog, assessment, "", SATURDAY)
    net, new_net = price.value, price.value + Decimal("1.00")
    gross = (net * Decimal("1.19")).quantize(Decimal("0.01"))
    new_gross = (new_net * Decimal("1.19")).quantize(Decimal("0.01"))
    assert (
        f"bisher {german.euro(gross)} inkl. 19 % USt, "
        f"künftig {german.euro(new_gross)} inkl. 19 % USt"
    ) in letters["consumer"].body
    assert (
        f"bisher {german.euro(net)} zzgl. USt, künftig {german.euro(new_net)} zzgl. USt"
    ) in letters["business"].body


def test_the_letter_names_the_customer_the_address_the_customer_number_and_the_date(catalog):
    anna = Recipient(
        "anna",
        "consumer",
        {
            "name": "Anna Muster",
            "email": "anna@example.com",
            "address": {
                "street": "Königsallee 1",
                "postal_code": "40212",
                "city": "Düsseldorf",
                "country": "DE",
            },
        },
    )
    letter = letter_for(catalog, fee_change(catalog, "12.50 EUR"), "Bank", SATURDAY, anna)
    assert letter.body.startswith(
        "Anna Muster\nKönigsallee 1\n40212 Düsseldorf\n\nKundennummer: anna\n"
        "Datum: 21. November 2026\n\nBetreff: Änderung Ihrer Vertragsbedingungen zum "
        "4. Januar 2027\n"
    )


def test_the_letters_date_is_the_day_in_berlin_the_notice_counts_from(catalog):
    # Published at 23:30 UTC on Friday 20 November: in Berlin it is Saturday, 00:30 (AGB 8.1
    # counts the six weeks from there), and the letter is dated Saturday, not Friday.
    late = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    letter = letter_for(
        catalog, fee_change(catalog, "12.50 EUR"), "Bank", late, Recipient.sample("consumer")
    )
    assert "\nDatum: 21. November 2026\n" in letter.body
    early = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)  # 23:30 in Berlin: still Friday
    letter = letter_for(
        catalog, fee_change(catalog, "12.50 EUR"), "Bank", early, Recipient.sample("consumer")
    )
    assert "\nDatum: 20. November 2026\n" in letter.body


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
    assert len(letters) == 2  # one consumer (anna) and one business (acme), as sent to them
    consumer_letter = next(body for body in letters if "Kundennummer: anna" in body)
    assert f"Grund der Änderung: {reason}" in consumer_letter
    # published Saturday 10:00 UTC: an e-mail sent then counts as received on Monday 2026-11-23
    # (Platform: receipt); TKG § 57 (1)'s three months end Tuesday 2027-02-23
    assert (
        "geht sie Ihnen am 23. November 2026 zu, können Sie bis einschließlich 23. Februar 2027"
    ) in consumer_letter
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
