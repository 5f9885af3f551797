"""EN 16931 e-invoices: the UStG § 14 duty as catalog data, and every e-invoice the tests make
checked against the official rules (XSD, CEN's EN 16931 Schematron, KoSIT's XRechnung rules,
the Factur-X EN 16931 rules for the XML inside a ZUGFeRD PDF).

The rules are read from ../shared/validation (tests/einvoice_rules.py). Without them these
tests skip, unless REQUIRE_XRECHNUNG_RULES=1: then they fail.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from engine.billing.einvoice_duty import FACTUR_X, PDF, einvoice_decision
from engine.catalog import PROJECT_ROOT, load_catalog
from engine.documents.einvoice import FACTUR_X_CII, XRECHNUNG_CII, build_cii, build_ubl
from tests.conftest import Customer, edit, effects_of

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
ADDRESS = {
    "street": "Königsallee 1",
    "postal_code": "40212",
    "city": "Düsseldorf",
    "country": "DE",
}


# --- the duty: a pure function of the catalog ------------------------------------------------


@pytest.mark.parametrize(
    ("day", "gross", "fmt", "required"),
    [
        ("2024-12-31", "1000.00", PDF, False),  # before 2025: only with consent
        ("2025-01-01", "1000.00", FACTUR_X, False),  # may be sent without consent
        ("2026-12-31", "1000.00", FACTUR_X, False),
        ("2027-01-01", "1000.00", FACTUR_X, True),  # turnover above 800,000 EUR (sample)
        ("2027-01-01", "250.00", FACTUR_X, False),  # § 33 UStDV small amount
        ("2028-01-01", "250.00", FACTUR_X, False),
        ("2028-01-01", "250.01", FACTUR_X, True),
    ],
)
def test_ustg_14_the_e_invoice_duty_by_date_and_small_amount(catalog, day, gross, fmt, required):
    decision = einvoice_decision(
        catalog.at(date.fromisoformat(day)),
        customer_type="business",
        country="DE",
        gross=Decimal(gross),
    )
    assert (decision["format"], decision["required"]) == (fmt, required), decision
    assert decision["clauses"][0] == "UStG § 14"
    assert decision["terms_version"] <= day


def test_ustg_14_consumers_and_foreign_businesses_never_get_one(catalog):
    terms = catalog.at(date(2028, 6, 1))
    consumer = einvoice_decision(terms, customer_type="consumer", country="DE", gross=Decimal(999))
    foreign = einvoice_decision(terms, customer_type="business", country="AT", gross=Decimal(999))
    assert (consumer["format"], consumer["required"]) == (PDF, False)
    assert (foreign["format"], foreign["required"]) == (PDF, False)
    no_address = einvoice_decision(
        terms, customer_type="business", country="DE", gross=Decimal(999), address_on_file=False
    )
    assert no_address["format"] == PDF and "BR-DE-8" in no_address["reason"]


def test_ustg_14_in_2027_the_duty_follows_the_previous_year_turnover(catalog_copy):
    edit(
        catalog_copy / "rules" / "platform" / "provider.yaml",
        'value: "1250000.00 EUR"',
        'value: "800000.00 EUR"',
    )
    small = load_catalog(catalog_copy)
    edit(
        catalog_copy / "rules" / "platform" / "invoicing.yaml",
        "einvoice_when_permitted: {value: true",
        "einvoice_when_permitted: {value: false",
    )
    reluctant = load_catalog(catalog_copy)
    facts = {"customer_type": "business", "country": "DE", "gross": Decimal("1000.00")}
    assert not einvoice_decision(small.at(date(2027, 6, 1)), **facts)["required"]
    assert einvoice_decision(small.at(date(2028, 1, 1)), **facts)["required"]
    # Without the platform's choice to send e-invoices where permitted, only the duty counts.
    assert einvoice_decision(reluctant.at(date(2027, 6, 1)), **facts)["format"] == PDF
    assert einvoice_decision(reluctant.at(date(2028, 1, 1)), **facts)["format"] == FACTUR_X


# --- invoices as issued, validated against the official rules --------------------------------


@pytest.fixture(scope="module")
def ledger(tmp_path_factory, catalog, decider) -> str:
    """A ledger (SQLite) with the invoices of three customers, issued once for the module."""
    from engine.engine import Engine

    path = tmp_path_factory.mktemp("einvoice") / "ledger.sqlite"
    engine = Engine(f"sqlite:///{path}", catalog=catalog, decider=decider)
    business = Customer(engine, "firma")
    business.open(
        plan="clinq-premium",
        customer={
            "name": "Beispiel GmbH",
            "email": "rechnung@beispiel.example",
            "address": ADDRESS,
            "vat_id": "DE123456788",
        },
    )
    business.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    business.call("2026-11-03T10:00:00+01:00", "+4921155555", 600)
    business.call("2026-11-03T11:00:00+01:00", "+4917012345678", 125)
    consumer = Customer(engine, "kundin")
    consumer.open(
        plan="clinq-premium",
        customer_type="consumer",
        customer={"name": "Erika Muster", "email": "erika@example.com", "address": ADDRESS},
    )
    consumer.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="50.00")
    consumer.call("2026-11-04T10:00:00+01:00", "+4917012345678", 300)
    # A returned debit: the credit goes negative (invoice on the 20th, only the outstanding
    # amount: not subject to VAT) and the month mixes the base fee (VAT) with the flat fee.
    mixed = Customer(engine, "mixed")
    mixed.open(
        plan="clinq-premium",
        billing_method="autoprepay",
        autoprepay={"threshold": "5.00", "amount": "20.00"},
        customer={
            "name": "Rücklast AG",
            "email": "buchhaltung@ruecklast.example",
            "address": ADDRESS,
            "vat_id": "DE987654328",
        },
    )
    mixed.send("credit.topped_up", "2026-11-03T09:00:00+01:00", amount="30.00")
    mixed.send("direct_debit.returned", "2026-11-04T09:00:00+01:00", amount="20.00")
    # Postpay with a SEPA mandate: the invoice is collected by direct debit (BG-16, code 59).
    debited = Customer(engine, "lastschrift")
    debited.open(
        billing_method="postpay",
        customer={
            "name": "Lastschrift KG",
            "email": "buchhaltung@lastschrift.example",
            "address": ADDRESS,
            "vat_id": "DE111111125",
        },
    )
    debited.send(
        "mandate.granted",
        "2026-11-02T10:00:00+01:00",
        reference="CLINQ-lastschrift-1",
        signed_on="2026-11-01",
        debtor_name="Lastschrift KG",
        iban="DE02120300000000202051",
    )
    debited.call("2026-11-05T10:00:00+01:00", "+12125550100", 600)
    for customer in (business, consumer, mixed, debited):
        effects_of(customer.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    engine.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def issued(ledger) -> dict:
    from engine.ledger.store import Store

    with Store(ledger) as store, store.unit(commit=False) as unit:
        found = unit.load_invoices(["firma", "kundin", "mixed", "lastschrift"])
    invoices = {}
    for account, listed in found.items():
        for invoice in listed:
            invoices[f"{account}:{invoice.kind}"] = invoice
    return invoices


# A business's, a consumer's, a negative-credit settlement (O), a mixed S + E, a direct debit.
INVOICES = [
    "firma:monthly",
    "kundin:monthly",
    "mixed:negative_credit",
    "mixed:monthly",
    "lastschrift:monthly",
]


def _assert_valid_xrechnung(rules, xml: bytes) -> None:
    from facturx import xml_check_xsd

    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    for layer in ("en16931-cii", "xrechnung-cii"):
        errors = rules.errors(layer, xml)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"


@pytest.mark.parametrize("which", INVOICES)
def test_en_16931_every_invoice_is_a_valid_xrechnung_3_0_in_cii(rules, issued, which):
    invoice = issued[which]
    xml = build_cii(invoice, XRECHNUNG_CII)
    _assert_valid_xrechnung(rules, xml)
    root = etree.fromstring(xml)
    guideline = root.findtext(".//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", None, NS)
    assert guideline == "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    assert root.findtext(".//ram:BuyerReference", None, NS) == invoice.account
    due = root.findtext(".//ram:DuePayableAmount", None, NS)
    assert due == invoice.detail["due"]
    notes = [n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS)]
    assert invoice.detail["hint"] in notes  # AGB 4.5.3
    assert (invoice.detail.get("default_hint") in notes) == (which == "kundin:monthly")
    if which == "firma:monthly":  # for a person to look at (CI keeps test-artifacts/)
        artefacts = PROJECT_ROOT / "test-artifacts"
        artefacts.mkdir(exist_ok=True)
        (artefacts / "sample-xrechnung.xml").write_bytes(xml)


@pytest.mark.parametrize("which", INVOICES)
def test_en_16931_every_invoice_is_a_valid_xrechnung_3_0_in_ubl(rules, issued, which):
    invoice = issued[which]
    xml = build_ubl(invoice)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        errors = rules.errors(layer, xml)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    ubl = {
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    }
    root = etree.fromstring(xml)
    assert root.findtext("cbc:BuyerReference", None, ubl) == invoice.account
    assert (
        root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", None, ubl)
        == (invoice.detail["due"])
    )


def test_en_16931_vat_categories_s_with_e_when_mixed_o_alone(issued):
    def categories(invoice):
        root = etree.fromstring(build_cii(invoice))
        return [
            c.text
            for c in root.iterfind(
                ".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode",
                NS,
            )
        ]

    assert categories(issued["firma:monthly"]) == ["S"]
    assert categories(issued["mixed:monthly"]) == ["S", "E"]
    outstanding = issued["mixed:negative_credit"]
    assert categories(outstanding) == ["O"]
    # BR-O-02: no VAT identifiers on an invoice not subject to VAT.
    assert b"DE999999999" not in build_cii(outstanding)
    mixed = etree.fromstring(build_cii(issued["mixed:monthly"]))
    assert mixed.findtext(".//ram:TotalPrepaidAmount", None, NS) == "38.70"  # 10.00 + 28.70
    assert mixed.findtext(".//ram:DuePayableAmount", None, NS) == "5.49"


def test_zugferd_business_invoices_are_factur_x_pdfs_with_valid_xml(rules, issued, catalog):
    from facturx import get_xml_from_pdf, xml_check_xsd

    from engine.documents.signing import invoice_document

    business, consumer = issued["firma:monthly"], issued["kundin:monthly"]
    assert business.detail["einvoice"]["format"] == FACTUR_X
    assert business.detail["einvoice"]["terms_version"] == "2026-01-01"
    assert consumer.detail["einvoice"]["format"] == PDF
    assert "previous_year_turnover" not in business.detail["provider"]  # internal, not printed
    pdf = invoice_document(business, catalog, None)
    filename, xml = get_xml_from_pdf(io.BytesIO(pdf), check_xsd=False)
    assert filename == "factur-x.xml"
    assert xml == build_cii(business, FACTUR_X_CII)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    errors = rules.errors("factur-x", xml)
    assert not errors, [(e.id, e.text) for e in errors]
    assert not get_xml_from_pdf(io.BytesIO(invoice_document(consumer, catalog, None)))[1]


def test_xrechnung_rules_catch_a_missing_buyer_reference(rules, issued):
    xml = build_cii(issued["firma:monthly"], XRECHNUNG_CII)
    root = etree.fromstring(xml)
    reference = root.find(".//ram:BuyerReference", NS)
    reference.getparent().remove(reference)
    broken = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    assert "BR-DE-15" in {e.id for e in rules.errors("xrechnung-cii", broken)}
    ubl = etree.fromstring(build_ubl(issued["firma:monthly"]))
    for element in ubl.iterfind("{*}BuyerReference"):
        ubl.remove(element)
    broken_ubl = etree.tostring(ubl, xml_declaration=True, encoding="utf-8")
    assert "BR-DE-15" in {e.id for e in rules.errors("xrechnung-ubl", broken_ubl)}


def test_billing_invoices_xml_and_the_api_endpoint(ledger, issued, tmp_path, capsys, catalog):
    from billing.cli.main import main
    from billing.wsgi import create_app
    from engine.access.tokens import create_token
    from engine.engine import Engine

    invoice, db = issued["firma:monthly"], ledger
    out = tmp_path / "x.xml"
    assert main(["invoices", "xml", invoice.number, "--out", str(out), "--db", db]) == 0
    assert out.read_bytes() == build_cii(invoice, XRECHNUNG_CII)
    args = ["invoices", "xml", invoice.number, "--format", "xrechnung-ubl", "--out", str(out)]
    assert main([*args, "--db", db]) == 0
    assert out.read_bytes() == build_ubl(invoice)
    assert main(["invoices", "xml", "2026-999999", "--db", db]) == 2
    capsys.readouterr()
    engine = Engine(db, catalog=catalog)
    app = create_app(engine=engine)
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'x', 'reader')}"}
    client = app.test_client()
    ok = client.get(f"/api/v1/invoices/{invoice.number}.xml", headers=headers)
    assert ok.status_code == 200 and ok.mimetype == "application/xml"
    assert ok.data == build_cii(invoice, XRECHNUNG_CII)
    ubl = client.get(f"/api/v1/invoices/{invoice.number}.xml?format=xrechnung-ubl", headers=headers)
    assert ubl.data == build_ubl(invoice)
    fx = client.get(f"/api/v1/invoices/{invoice.number}.xml?format=factur-x", headers=headers)
    assert fx.data == build_cii(invoice, FACTUR_X_CII)
    bad = client.get(f"/api/v1/invoices/{invoice.number}.xml?format=edifact", headers=headers)
    assert bad.status_code == 400 and bad.json["error"]["field"] == "format"
    assert client.get("/api/v1/invoices/2026-999999.xml", headers=headers).status_code == 404
    assert client.get(f"/api/v1/invoices/{invoice.number}.xml").status_code == 401
    engine.close()


def test_en_16931_a_direct_debit_invoice_names_the_mandate_creditor_and_debited_account(
    rules, issued
):
    invoice = issued["lastschrift:monthly"]
    assert invoice.detail["mandate"]["reference"] == "CLINQ-lastschrift-1"
    root = etree.fromstring(build_cii(invoice, XRECHNUNG_CII))
    assert root.findtext(".//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode", None, NS) == (
        "59"
    )
    assert root.findtext(".//ram:DirectDebitMandateID", None, NS) == "CLINQ-lastschrift-1"
    assert root.findtext(".//ram:CreditorReferenceID", None, NS) == "DE98ZZZ09999999999"
    assert root.findtext(".//ram:PayerPartyDebtorFinancialAccount/ram:IBANID", None, NS) == (
        "DE02120300000000202051"
    )


def test_pdf_a_3b_fonts_embedded_output_intent_xmp_and_the_factur_x_attachment(issued, catalog):
    """PDF/A-3b as far as pikepdf can tell (tests/pdf_a.py; no veraPDF here): DejaVu Sans
    embedded, the sRGB output intent, pdfaid part 3 / B, factur-x.xml as associated file."""
    from engine.documents.signing import invoice_document
    from tests.pdf_a import assert_pdf_a_3b

    zugferd = invoice_document(issued["firma:monthly"], catalog, None)
    assert_pdf_a_3b(zugferd, factur_x=True, issued_on="2026-12-01")
    assert_pdf_a_3b(invoice_document(issued["kundin:monthly"], catalog, None), factur_x=False)
    artefacts = PROJECT_ROOT / "test-artifacts"  # CI renders it to PNG (.ci/run)
    artefacts.mkdir(exist_ok=True)
    (artefacts / "sample-zugferd.pdf").write_bytes(zugferd)
