"""EU business customers: reverse charge (UStG § 13b, § 3a (2), § 14a), the VAT id checked in
form at the customer event, the EU sales list (§ 18a UStG), and the invoices without German VAT
passing the official e-invoice rules (XSD, EN 16931, XRechnung) and PDF/A-3b checks.

Figures (CLINQ Premium 29.90 EUR a month, CLINQ SD 2.2; calls outside the EU 0.29 EUR a
minute, sample rate table; an account opened on 2 November pays 29 of 30 days:
29.90 * 29 / 30 = 28.9033 -> 28.90 EUR).
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from lxml import etree

from engine.billing.vat_treatment import vat_treatment
from engine.catalog import PROJECT_ROOT
from engine.documents.einvoice import (
    FACTUR_X_CII,
    XRECHNUNG_CII,
    build_cii,
    build_ubl,
    embed_in_pdf,
)
from engine.documents.invoice_pdf import render_invoice
from engine.events import EventInvalid
from engine.interchange.eu_sales_list import Quarter, sales_list, to_csv
from tests.conftest import Customer
from tests.pdf_a import assert_pdf_a_3b

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
ATU = "ATU13585627"  # a well-formed Austrian VAT id (check digit per stdnum.at.uid)
FR = "FR64443061841"
VIENNA = {"street": "Ring 1", "postal_code": "1010", "city": "Wien", "country": "AT"}
PARIS = {"street": "8 rue de Londres", "postal_code": "75009", "city": "Paris", "country": "FR"}
ZURICH = {"street": "Bahnhofstr. 1", "postal_code": "8001", "city": "Zürich", "country": "CH"}
US_NUMBER = "+12125550100"  # zone world, 0.29 EUR a minute


def _customer(name: str, address: dict, vat_id: str | None = None) -> dict:
    data = {"name": name, "email": "rechnung@example.com", "address": address}
    if vat_id:
        data["vat_id"] = vat_id
    return data


# --- the rule: a pure function of the catalog ------------------------------------------------


@pytest.mark.parametrize(
    ("customer_type", "country", "vat_id", "treatment", "category"),
    [
        ("business", "AT", ATU, "reverse_charge", "AE"),
        ("business", "FR", FR, "reverse_charge", "AE"),
        ("business", "DE", "DE111111125", "domestic", "S"),
        ("business", "AT", None, "domestic", "S"),  # Platform: place-of-supply
        ("business", "AT", FR, "domestic", "S"),  # a VAT id of another state proves nothing
        ("business", "CH", None, "not_taxable", "O"),
        ("consumer", "DE", None, "domestic", "S"),  # abroad: § 3a (5), tests/test_oss.py
    ],
)
def test_ustg_13b_the_vat_treatment_by_customer_country_and_vat_id(
    catalog, customer_type, country, vat_id, treatment, category
):
    decided = vat_treatment(
        catalog.at(date(2026, 11, 30)), customer_type=customer_type, country=country, vat_id=vat_id
    )
    assert (decided["treatment"], decided["category"]) == (treatment, category), decided
    assert decided["clauses"][0] == "UStG § 13b"
    assert decided["terms_version"] == "2026-01-01"
    if treatment == "reverse_charge":
        assert decided["note"] == "Steuerschuldnerschaft des Leistungsempfängers"


def test_ustg_13b_the_united_kingdom_left_the_eu_on_2021_01_01(catalog):
    def uk(day):
        terms = catalog.at(date.fromisoformat(day))
        return vat_treatment(terms, customer_type="business", country="GB", vat_id="GB980780684")

    assert uk("2020-12-31")["treatment"] == "reverse_charge"
    assert uk("2021-01-01")["treatment"] == "not_taxable"


# --- the customer event: the VAT id in form ----------------------------------------------------


def test_an_invalid_vat_id_is_refused_at_the_customer_event_naming_the_field(engine):
    vienna = Customer(engine, "wien")
    with pytest.raises(EventInvalid) as refused:
        vienna.open(
            country="AT", customer=_customer("Wiener GmbH", VIENNA, "ATU13585628")
        )  # last digit wrong: the check digit of ATU1358562 is 7
    assert refused.value.field == "/customer/vat_id"
    assert "ATU13585628" in str(refused.value)
    assert engine.account("wien") is None  # nothing stored
    vienna.open(country="AT", customer=_customer("Wiener GmbH", VIENNA, ATU))
    with pytest.raises(EventInvalid) as changed:
        vienna.send(
            "account.updated",
            "2026-11-03T09:00:00+01:00",
            customer=_customer("Wiener GmbH", VIENNA, "DE123456789"),
        )
    assert changed.value.field == "/customer/vat_id"
    with engine.store.unit(commit=False) as unit:
        assert unit.account("wien").customer["vat_id"] == ATU  # unchanged


def test_the_api_answers_400_naming_the_vat_id(engine):
    from billing.wsgi import create_app
    from engine.access.tokens import create_token

    app = create_app(engine=engine)
    secret = create_token(engine.store, "svc", "billing-service")
    event = {
        "id": "wien-1",
        "type": "account.opened",
        "account": "wien",
        "at": "2026-11-02T09:00:00+01:00",
        "plan": "clinq",
        "customer_type": "business",
        "billing_method": "prepay",
        "country": "AT",
        "area_code": "0211",
        "customer": _customer("Wiener GmbH", VIENNA, "ATU00000000"),
    }
    answer = app.test_client().post(
        "/api/v1/events", json=event, headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 400
    assert answer.json["error"]["field"] == "/customer/vat_id"


# --- invoices as issued -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger(tmp_path_factory, catalog, decider) -> str:
    """Invoices of November and December 2026 for EU and non-EU business customers."""
    from engine.engine import Engine

    path = tmp_path_factory.mktemp("reverse-charge") / "ledger.sqlite"
    engine = Engine(f"sqlite:///{path}", catalog=catalog, decider=decider)
    customers = []

    def customer(name, plan, country, data, credit):
        account = Customer(engine, name)
        account.open(plan=plan, country=country, customer=data)
        account.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount=credit)
        customers.append(account)
        return account

    # Vienna: November 28.90 + 10 min to the US 2.90 = 31.80; December 29.90.
    vienna = customer("wien", "clinq-premium", "AT", _customer("Wien GmbH", VIENNA, ATU), "100.00")
    vienna.call("2026-11-03T10:00:00+01:00", US_NUMBER, 600)
    # A second account of the same company (same VAT id), opened on 1 December: 29.90.
    branch = Customer(engine, "wien-filiale")
    branch.open(
        "2026-12-01T09:00:00+01:00",
        plan="clinq-premium",
        country="AT",
        customer=_customer("Wien GmbH, Filiale Graz", VIENNA, ATU),
    )
    branch.send("credit.topped_up", "2026-12-01T10:00:00+01:00", amount="50.00")
    customers.append(branch)
    # Paris, CLINQ without a monthly price: 20 min to the US = 5.80 in November.
    paris = customer("paris", "clinq", "FR", _customer("Paris SARL", PARIS, FR), "20.00")
    paris.call("2026-11-05T10:00:00+01:00", US_NUMBER, 1200)
    # Vienna without a VAT id: German VAT (Platform: place-of-supply); not in the EU sales list.
    customer("wien-ohne-id", "clinq-premium", "AT", _customer("Ohne Id KG", VIENNA), "100.00")
    # Zurich, outside the EU: not taxable in Germany (§ 3a (2) UStG), category O.
    zurich = customer("zuerich", "clinq-premium", "CH", _customer("Zürich AG", ZURICH), "100.00")
    zurich.call("2026-11-03T10:00:00+01:00", US_NUMBER, 600)
    for account in customers:
        account.send("clock", "2027-01-01T00:00:00+01:00")
    # A justified objection of 5.00 EUR to Vienna's November invoice, in January 2027: a credit
    # note under reverse charge (AE, no VAT), which lowers the EU sales list of 2027-Q1.
    vienna.send(
        "objection.received",
        "2027-01-11T10:00:00+01:00",
        month="2026-11",
        channel="letter",
        justified_amount="5.00",
    )
    engine.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def credit_note(ledger):
    from engine.ledger import credit_note_store
    from engine.ledger.store import Store

    with Store(ledger) as store, store.unit(commit=False) as unit:
        (note,) = credit_note_store.credit_notes_of(unit.connection, "wien")
    return note


@pytest.fixture(scope="module")
def issued(ledger) -> dict:
    from engine.ledger.store import Store

    names = ["wien", "wien-filiale", "paris", "wien-ohne-id", "zuerich"]
    with Store(ledger) as store, store.unit(commit=False) as unit:
        found = unit.load_invoices(names)
    return {f"{a}:{i.period}": i for a, listed in found.items() for i in listed}


def test_ustg_13b_an_austrian_business_gets_an_invoice_without_german_vat(issued):
    invoice = issued["wien:2026-11"]
    detail = invoice.detail
    # 28.90 base fee (29 of 30 days) + 2.90 for 10 minutes at 0.29 = 31.80 net, no VAT.
    assert (detail["net"], detail["vat"], detail["gross"]) == ("31.80", "0.00", "31.80")
    treatment = detail["vat_treatment"]
    assert treatment["treatment"] == "reverse_charge"
    assert (treatment["clauses"], treatment["terms_version"]) == (["UStG § 13b"], "2026-01-01")
    # Without a VAT id the same month costs 28.90 + 19 % = 28.90 + 5.49 (5.491) = 34.39.
    domestic = issued["wien-ohne-id:2026-11"].detail
    assert (domestic["net"], domestic["vat"], domestic["gross"]) == ("28.90", "5.49", "34.39")
    assert domestic["vat_treatment"]["clauses"] == ["UStG § 13b", "Platform: place-of-supply"]
    # Outside the EU: 28.90 + 2.90 = 31.80, not taxable in Germany.
    abroad = issued["zuerich:2026-11"].detail
    assert (abroad["vat"], abroad["vat_treatment"]["category"]) == ("0.00", "O")


def test_ustg_14a_the_pdf_names_the_reverse_charge_and_both_vat_ids(issued):
    from pypdf import PdfReader

    pdf = render_invoice(issued["wien:2026-11"])
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Steuerschuldnerschaft des Leistungsempfängers" in text
    assert f"USt-IdNr. des Leistungsempfängers {ATU}" in " ".join(text.split())
    assert "USt-IdNr. des leistenden Unternehmers DE999999999" in " ".join(text.split())
    assert "Umsatzsteuer 0,00 %" in text and "19,00 %" not in text
    abroad = render_invoice(issued["zuerich:2026-11"])
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(abroad)).pages)
    assert "Nicht im Inland steuerbare Leistung" in text


def _categories(xml: bytes) -> list[tuple[str, str | None, str | None]]:
    root = etree.fromstring(xml)
    return [
        (
            tax.findtext("ram:CategoryCode", None, NS),
            tax.findtext("ram:RateApplicablePercent", None, NS),
            tax.findtext("ram:ExemptionReasonCode", None, NS),
        )
        for tax in root.iterfind(
            ".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS
        )
    ]


@pytest.mark.parametrize("which", ["wien:2026-11", "zuerich:2026-11"])
def test_en_16931_reverse_charge_and_not_taxable_pass_the_three_validation_layers(
    rules, issued, which
):
    from facturx import get_xml_from_pdf, xml_check_xsd

    invoice = issued[which]
    cii = build_cii(invoice, XRECHNUNG_CII)
    assert xml_check_xsd(cii, flavor="factur-x", level="en16931")  # (1) XSD
    for layer in ("en16931-cii", "xrechnung-cii"):  # (2) EN 16931, (3) XRechnung BR-DE
        errors = rules.errors(layer, cii)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    ubl = build_ubl(invoice)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        errors = rules.errors(layer, ubl)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    pdf = embed_in_pdf(render_invoice(invoice), invoice)  # ZUGFeRD, Factur-X EN 16931
    _, xml = get_xml_from_pdf(io.BytesIO(pdf), check_xsd=True)
    assert xml == build_cii(invoice, FACTUR_X_CII)
    errors = rules.errors("factur-x", xml)
    assert not errors, [(e.id, e.text) for e in errors]
    assert_pdf_a_3b(pdf, factur_x=True, issued_on=invoice.issued_on)
    assert_pdf_a_3b(render_invoice(invoice), factur_x=False, issued_on=invoice.issued_on)
    root = etree.fromstring(cii)
    notes = [n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS)]
    buyer_ids = [
        e.text
        for e in root.iterfind(".//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID", NS)
    ]
    if which == "wien:2026-11":
        # BR-AE-10: the exemption reason code; BR-AE-02: the buyer's VAT id (BT-48).
        assert _categories(cii) == [("AE", "0.00", "VATEX-EU-AE")]
        assert buyer_ids == [ATU]
        assert "Steuerschuldnerschaft des Leistungsempfängers" in notes
        artefacts = PROJECT_ROOT / "test-artifacts"
        artefacts.mkdir(exist_ok=True)
        (artefacts / "sample-reverse-charge.xrechnung.xml").write_bytes(cii)
    else:
        # BR-O-02: no VAT identifiers with category O.
        assert _categories(cii) == [("O", "0.00", "VATEX-EU-O")]
        assert buyer_ids == [] and b"DE999999999" not in cii
        assert "Nicht im Inland steuerbare Leistung" in notes


def test_br_ae_rules_catch_a_missing_buyer_vat_id(rules, issued):
    root = etree.fromstring(build_cii(issued["wien:2026-11"], XRECHNUNG_CII))
    for registration in root.iterfind(".//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration", NS):
        registration.getparent().remove(registration)
    broken = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    assert "BR-AE-02" in {e.id for e in rules.errors("en16931-cii", broken)}


# --- the EU sales list ------------------------------------------------------------------------


def test_ustg_18a_the_eu_sales_list_sums_per_vat_id_for_the_quarter(issued):
    lines = sales_list(issued.values(), Quarter.parse("2026-Q4"))
    # ATU13585627: wien 31.80 (November) + 29.90 (December, invoiced 1 January 2027)
    #              + wien-filiale 29.90 (December) = 91.60 EUR -> 92 EUR
    # FR64443061841: paris 20 minutes at 0.29 = 5.80 EUR -> 6 EUR
    # Not listed: the Austrian business without a VAT id (German VAT) and Zurich (non-EU).
    assert [(line.vat_id, line.net_cents) for line in lines] == [(ATU, 9160), (FR, 580)]
    assert to_csv(lines, "half_up") == (
        "#v3.0\nUSt-IdNr.,Betrag (EUR),Art der Leistung\nATU13585627,92,S\nFR64443061841,6,S\n"
    )
    assert sales_list(issued.values(), Quarter.parse("2027-Q1")) == []


def test_ustg_18a_a_credit_note_lowers_the_quarter_it_is_issued_in(issued, credit_note):
    """§ 18a (7) UStG with § 17: a change of the taxable amount is reported for the period in
    which it occurs: Vienna's 5.00 EUR credit of January 2027 is -5 EUR in 2027-Q1."""
    assert credit_note.issued_on == "2027-01-11"
    assert credit_note.invoice == issued["wien:2026-11"].number
    assert (credit_note.detail["net"], credit_note.detail["vat"]) == ("5.00", "0.00")
    lines = sales_list(issued.values(), Quarter.parse("2027-Q1"), [credit_note])
    assert [(line.vat_id, line.net_cents, line.invoices) for line in lines] == [
        (ATU, -500, (credit_note.number,))
    ]
    assert to_csv(lines, "half_up").splitlines()[2] == "ATU13585627,-5,S"
    q4 = sales_list(issued.values(), Quarter.parse("2026-Q4"), [credit_note])
    assert [(line.vat_id, line.net_cents) for line in q4] == [(ATU, 9160), (FR, 580)]


def test_en_16931_a_credit_note_to_a_reverse_charge_invoice_is_reverse_charge_too(
    rules, credit_note
):
    from engine.documents.credit_note_einvoice import (
        build_credit_note_cii,
        build_credit_note_ubl,
    )

    cii = build_credit_note_cii(credit_note, XRECHNUNG_CII)
    assert _categories(cii) == [("AE", "0.00", "VATEX-EU-AE")]
    for layer in ("en16931-cii", "xrechnung-cii"):
        errors = rules.errors(layer, cii)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    ubl = build_credit_note_ubl(credit_note)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        errors = rules.errors(layer, ubl)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"


def test_billing_zm_export_writes_the_quarter_as_csv(ledger, tmp_path, capsys):
    from billing.cli.main import main

    out = tmp_path / "zm.csv"
    assert main(["zm", "export", "--quarter", "2026-Q4", "--out", str(out), "--db", ledger]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[2:] == [
        "ATU13585627,92,S",
        "FR64443061841,6,S",
    ]
    assert "2 VAT ids, 97.40 EUR net" in capsys.readouterr().err  # 91.60 + 5.80
    assert main(["zm", "export", "--quarter", "2026-Q5", "--db", ledger]) == 2
    assert "--quarter" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ATU13585627", None),
        ("EL094259216", None),  # Greece's prefix is EL
        ("ATU13585628", "check digit"),
        ("atu13585627", "write the VAT identification number as 'ATU13585627'"),
        ("ATU 135 856 27", "write the VAT identification number as 'ATU13585627'"),
        ("XX123456789", "not a valid VAT identification number"),
    ],
)
def test_vat_ids_are_checked_in_form_and_stored_compact(value, problem):
    from engine.core.vat_ids import vat_id_problem

    found = vat_id_problem(value)
    assert (found is None) if problem is None else (problem in found), found


def test_datev_books_reverse_charge_revenue_on_the_13b_account(ledger, catalog, issued):
    """Platform: datev: the taxable items of a reverse-charge invoice go to the § 13b revenue
    account (SKR03 8338) without a tax key and without a VAT line; the credit note of January
    reverses them there."""
    from engine.interchange import datev
    from engine.ledger.store import Store

    number = issued["wien:2026-11"].number
    with Store(ledger) as store, store.unit(commit=False) as unit:
        december = datev.month_postings(unit.connection, catalog, "2026-12")
        january = datev.month_postings(unit.connection, catalog, "2027-01")
    lines = [(p.side, p.amount_cents, p.contra, p.tax_key) for p in december.postings]
    vienna = [
        (p.side, p.amount_cents, p.contra, p.tax_key)
        for p in december.postings
        if p.document == number
    ]
    # 28.90 base fee + 2.90 calls, both on 8338, no VAT line (31.80 gross = net).
    assert sorted(vienna) == [("S", 290, "8338", ""), ("S", 2890, "8338", "")]
    assert lines  # the month has other bookings too
    (credit,) = [p for p in january.postings if p.document.startswith("GS-")]
    assert (credit.side, credit.amount_cents, credit.contra, credit.tax_key) == (
        "H",
        500,
        "8338",
        "",
    )
