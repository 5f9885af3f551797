"""Issue 14, editing: the typed form of a draft, its errors at their fields, and a Check that
says what publishing would say (AGB 8). Pure functions first, then Flask's test client."""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path

import pytest

from admin_ui.forms import (
    apply_form,
    form_fields,
    known_elements,
    place_errors,
    read_draft,
    submitted_unchanged,
    without_notes,
)
from admin_ui.views import _latest_version_text
from billing.wsgi import create_app
from engine.access import people
from engine.access.people import create_person
from engine.catalog import PROJECT_ROOT
from engine.drafting.draft_checks import check_draft
from tests.conftest import Customer
from tests.test_admin import FEE_FILE, NOW, PASSWORD, csrf, fee_draft, login, new_draft, publish

PLAN = "tariffs/plans/clinq-premium.yaml"


def _file(catalog, path):
    return next(f for f in catalog.files if f.path == path)


def _fields(catalog, path, text=None):
    text = text or _latest_version_text(PROJECT_ROOT, {}, path)
    fields = form_fields(_file(catalog, path), known_elements(catalog.files), read_draft(text))
    return {f.name: f for f in fields}


# -- the fields a file's declarations give ------------------------------------------------------


def test_the_returned_debit_fee_is_a_money_field_in_eur_showing_9_80(catalog):
    fee = _fields(catalog, FEE_FILE)["flat_fee"]
    assert (fee.kind, fee.value, fee.unit) == ("money", "9.80", "EUR")
    assert fee.label_de == "Pauschale für eine Rücklastschrift"
    assert fee.pointer == "/values/flat_fee"


def test_default_interest_margins_are_percent_fields_in_percentage_points(catalog):
    consumer = _fields(catalog, "rules/agb/4.4.4-default-interest.yaml")["consumer_margin"]
    assert (consumer.kind, consumer.value, consumer.unit) == (
        "percent",
        "5.00",
        "% (percentage points)",
    )


def test_a_notice_period_is_a_day_count_with_its_deadline_rule_and_shift(catalog):
    notice = _fields(catalog, "rules/agb/8.1-price-increases.yaml")["notice_period"]
    assert (notice.kind, notice.value, notice.period_unit) == ("period", "6", "weeks")
    assert "BGB §§ 187 (1), 188" in notice.deadline and "is not moved" in notice.deadline
    objection = _fields(catalog, "rules/agb/4.5.1-objection-period.yaml")["objection_period"]
    assert "moves to the next working day (BGB § 193)" in objection.deadline


def test_the_effective_date_is_a_date_field_and_booleans_are_switches(catalog):
    fields = _fields(catalog, FEE_FILE)
    assert (fields["effective_from"].kind, fields["effective_from"].value) == ("date", "2009-07-03")
    provable = fields["lower_damage_provable"]
    assert (provable.kind, provable.value) == ("boolean", "true")


def test_zones_clauses_and_rate_tables_are_chosen_from_what_exists(catalog):
    fields = _fields(catalog, PLAN)
    zones = fields["flat_rate_zones"]
    assert zones.multiple and "world" in zones.options and "de_mobile" in zones.options
    assert zones.selected == ("de_landline", "de_mobile", "eu_landline", "eu_mobile")
    assert "AGB 1.2.1" in fields["termination_rule"].options
    assert fields["termination_rule"].value == "CLINQ SD 1.4"
    assert fields["rate_table"].options == ("sipgate-team",)
    assert fields["rate_table"].pointer == "/values/rate_table/value"  # {value, source}


# -- from the form back to the YAML --------------------------------------------------------------


def test_every_catalog_file_round_trips_through_its_form_unchanged(catalog):
    known = known_elements(catalog.files)
    for terms_file in catalog.files:
        text = _latest_version_text(PROJECT_ROOT, {}, terms_file.path)
        fields = form_fields(terms_file, known, read_draft(text))
        assert apply_form(text, terms_file, submitted_unchanged(fields)) == text, terms_file.path


def test_a_fee_typed_in_the_form_changes_only_that_value_in_the_yaml(catalog):
    terms_file = _file(catalog, FEE_FILE)
    text = fee_draft("2027-01-03", "9.80 EUR")
    form = submitted_unchanged(_fields(catalog, FEE_FILE, text).values())
    form["value:flat_fee"] = ["12.00"]
    assert apply_form(text, terms_file, form) == fee_draft("2027-01-03", "12.00 EUR")
    form["value:flat_fee"] = ["12.00 EUR"]  # the unit typed as well is not doubled
    assert apply_form(text, terms_file, form) == fee_draft("2027-01-03", "12.00 EUR")


def test_a_switch_left_off_writes_false_and_a_set_writes_the_zones_chosen(catalog):
    terms_file = _file(catalog, PLAN)
    text = without_notes(_latest_version_text(PROJECT_ROOT, {}, PLAN))
    form = submitted_unchanged(_fields(catalog, PLAN, text).values())
    form.pop("value:itemised_bill")  # an unchecked box is not submitted
    form["value:flat_rate_zones"] = ["de_landline", "de_mobile"]
    changed = apply_form(text, terms_file, form)
    data = read_draft(changed)["values"]
    assert data["itemised_bill"] is False
    assert data["flat_rate_zones"] == ["de_landline", "de_mobile"]
    assert data["monthly_price"] == {"value": "29.90 EUR", "source": "sample"}
    assert "rules:\n  - name: eu-flat-rate" in changed  # the rest is as it was


def test_whatever_is_typed_the_draft_stays_readable_yaml_and_keeps_the_text(catalog):
    path = "rules/agb/8.1-price-increases.yaml"
    text = _latest_version_text(PROJECT_ROOT, {}, path)
    form = submitted_unchanged(_fields(catalog, path, text).values())
    typed = 'e-mail\u2028or: "letter"\x85 {[#'
    form.update({"value:notice_channel": [typed], "value:grounds": ["true, +49, a: b"]})
    form.update({"value:notice_period": ["six"], "unit:notice_period": ["weeks: 1"]})
    values = read_draft(apply_form(text, _file(catalog, path), form))["values"]
    assert values["notice_channel"] == typed
    assert values["grounds"] == ["true", "+49", "a: b"]
    assert values["notice_period"] == {"weeks: 1": "six"}  # for the catalog's checks to refuse


def test_the_form_and_the_yaml_view_give_the_same_draft_and_the_same_errors(catalog):
    terms_file = _file(catalog, FEE_FILE)
    text = fee_draft("2027-01-03", "9.80 EUR")
    form = submitted_unchanged(_fields(catalog, FEE_FILE, text).values())
    form["value:flat_fee"] = ["1.012,00"]  # ambiguous: not read (a lone comma is, issue 29)
    from_form = apply_form(text, terms_file, form)
    typed = fee_draft("2027-01-03", "1.012,00 EUR")
    assert from_form == typed
    errors = check_draft(PROJECT_ROOT, {}, FEE_FILE, from_form, examples=False).errors
    assert errors == check_draft(PROJECT_ROOT, {}, FEE_FILE, typed, examples=False).errors
    (error,) = errors
    assert (error["line"], error["message"]) == (
        3,
        "flat_fee (money): expected money like '9.80 EUR', got '1.012,00 EUR'",
    )
    fields, others = place_errors(list(_fields(catalog, FEE_FILE, from_form).values()), errors)
    (fee,) = [f for f in fields if f.errors]
    assert fee.name == "flat_fee" and fee.value == "1.012,00" and others == []


def test_a_new_version_leaves_the_notes_of_the_old_one_behind(catalog):
    text = _latest_version_text(PROJECT_ROOT, {}, PLAN)
    assert "The service description is undated" in text
    assert "refers to a price list that is not part of the documents" in text
    kept = without_notes(text)
    assert "note:" not in kept
    values = read_draft(kept)["values"]
    assert values["monthly_price"] == {"value": "29.90 EUR", "source": "sample"}
    assert read_draft(kept)["rules"] == read_draft(text)["rules"]


# -- the draft page, through Flask's test client ----------------------------------------------


@pytest.fixture(scope="module")
def admin_app(catalog, decider):
    from engine.engine import Engine

    directory = Path(tempfile.mkdtemp(prefix="billing-forms-"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(people, "PASSWORD_METHOD", "pbkdf2:sha256:1000")  # fast, for tests only
        engine = Engine(
            f"sqlite:///{directory / 'ledger.sqlite'}", catalog=catalog, decider=decider
        )
        with engine.store.db.begin() as connection:
            create_person(connection, "pm@example.com", "product", PASSWORD)
            create_person(connection, "legal@example.com", "legal", PASSWORD)
        for name, kind in (("anna", "consumer"), ("acme", "business")):
            Customer(engine, name).open(at="2026-11-02T09:00:00+01:00", customer_type=kind)
        app = create_app(engine=engine)
        app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
        yield app
        engine.close()


@pytest.fixture
def legal(admin_app):
    client = admin_app.test_client()
    login(client, "legal@example.com")
    return client


def save_form(client, draft_id: int, **changes: str):
    """Submit the draft's form as shown, with ``changes`` typed into it (by parameter name)."""
    page = client.get(f"/admin/drafts/{draft_id}").data.decode()
    form = _form_values(page)
    for name, value in changes.items():
        key = "effective_from" if name == "effective_from" else f"value:{name}"
        form[key] = [value]
    return client.post(
        f"/admin/drafts/{draft_id}/form", data={**form, "csrf_token": csrf(page.encode())}
    )


def _form_values(page: str) -> dict[str, list[str]]:
    """What the browser would submit for the draft form as rendered (inputs and selects)."""
    form_html = re.search(r'<form[^>]*class="draft-form".*?</form>', page, re.S).group(0)
    form: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", form_html):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        if name == "csrf_token" or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        form.setdefault(name, []).append(html.unescape(value.group(1) if value else ""))
    for name, options in re.findall(
        r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form_html, re.S
    ):
        chosen = re.findall(r'<option value="([^"]*)" selected>', options)
        form[name] = [html.unescape(c) for c in chosen]
    return form


def _draft_text(client, draft_id: int) -> str:
    page = client.get(f"/admin/drafts/{draft_id}").data.decode()
    return html.unescape(
        re.search(r'<textarea name="text" id="yaml"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    )


def test_the_draft_page_renders_typed_inputs_with_units(legal):
    draft_id = new_draft(legal, FEE_FILE)
    page = legal.get(f"/admin/drafts/{draft_id}").data.decode()
    assert re.search(
        r'<input type="date" id="input-effective_from" name="effective_from" value="2027-01-03">',
        page,
    )
    assert re.search(
        r'name="value:flat_fee" value="9.80"[^>]*>\s*<span class="unit">EUR</span>', page
    )
    assert re.search(
        r'role="switch"[^>]*name="value:lower_damage_provable" value="true" checked',
        page,
    )
    assert 'href="/admin/static/forms.css"' in page


def test_all_errors_of_a_draft_show_at_once_each_at_its_field(legal):
    draft_id = new_draft(legal, PLAN)
    page = save_form(
        legal, draft_id, monthly_price="31.9", included_users="one", effective_from="2027-02-30"
    ).data.decode()
    assert 'id="error-count">3 error(s)' in page
    for name, message in (
        (
            "monthly_price",
            "expected money like &#39;9.80 EUR&#39;, got &#39;31.9 EUR&#39;. "
            "Expected: an amount in EUR with a point and two decimals, e.g. 9.80",
        ),
        ("included_users", "expected an integer, got &#39;one&#39;. Expected: a whole number"),
        ("effective_from", "2027-02-30 is not a calendar date (YYYY-MM-DD)"),
    ):
        field = re.search(
            rf'<div class="field invalid" id="field-{name}".*?</div>\s*(.*?)</div>', page, re.S
        )
        assert field and message in field.group(1), name
        assert f'<a href="#field-{name}">' in page  # listed in the Check, linked to the field
    assert "/versions/1/values/monthly_price/value" in page  # the pointer, as a detail
    assert 'class="flash info"' not in page, "no success banner beside errors"
    assert 'class="flash error"' in page and 'id="valid"' not in page


def test_check_says_what_publishing_would_say_about_a_fee_increase(legal):
    # Notified Saturday 2026-11-21: AGB 8.1's six weeks end Saturday 2027-01-02 (BGB § 188).
    draft_id = new_draft(legal, FEE_FILE)
    page = save_form(legal, draft_id, flat_fee="12.00").data.decode()
    assert 'flat_fee: "12.00 EUR"' in html.unescape(page)
    assert '<div class="flash info" role="alert">Draft saved.</div>' in page
    assert re.search(r'id="customer-effect" class="disadvantage">\s*to their disadvantage', page)
    assert re.search(r'id="notice">AGB 8.1<', page)
    assert '<strong id="earliest">2027-01-03</strong>' in page
    assert "1 consumer(s), 1 business customer(s)" in page
    assert "AGB 8.2 (consumers)" in page
    assert "A price increase needs its reason" in page  # what publishing still needs
    early = save_form(legal, draft_id, effective_from="2026-12-26").data.decode()
    assert 'id="not-publishable"' in early and 'id="valid"' not in early
    assert "the earliest effective date is 2027-01-03, not 2026-12-26" in early
    assert 'class="flash info"' not in early


def test_an_unchanged_draft_cannot_be_published(legal):
    draft_id = new_draft(legal, FEE_FILE)  # the newest version at a new date, nothing changed
    page = legal.get(f"/admin/drafts/{draft_id}").data.decode()
    assert 'id="not-publishable"' in page and "changes no value and no rule" in page
    assert re.search(r'id="customer-effect" class="">\s*no change', page)
    refused = publish(legal, draft_id, "Nothing changes.", "")
    assert refused.status_code == 400
    assert "an unchanged version is not published" in refused.data.decode()


def test_a_product_managers_new_plan_version_has_none_of_the_old_notes(admin_app):
    client = admin_app.test_client()
    login(client, "pm@example.com")
    draft_id = new_draft(client, PLAN)
    text = _draft_text(client, draft_id)
    assert "note:" not in text and "price list that is not part" not in text
    assert 'value: "29.90 EUR"\n    source: sample' in text
    saved = save_form(client, draft_id, monthly_price="31.90").data.decode()
    assert '<div class="flash info" role="alert">Draft saved.</div>' in saved
    assert 'value: "31.90 EUR"' in _draft_text(client, draft_id)
