"""Credit notes (Rechnungskorrektur, Platform: credit-notes): a justified objection (AGB 4.5.4)
and a refund of credit (AGB 1.4.1, 9.3) each issue a numbered, immutable credit note (type 381)
with its own e-invoice and PDF; the invoice it corrects stays as issued (GoBD).

The e-invoices are checked with the official rules like tests/test_einvoice.py: the XSD,
CEN's EN 16931 Schematron for CII and UBL, KoSIT's XRechnung rules (BR-DE-*), and the Factur-X
EN 16931 rules for the XML in the PDF.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from lxml import etree

from engine.documents.credit_note_einvoice import (
    FACTUR_X_CII,
    XRECHNUNG_CII,
    XRECHNUNG_UBL,
    build_credit_note_cii,
    build_credit_note_einvoice,
    build_credit_note_ubl,
)
from engine.documents.einvoice import build_cii
from engine.events import EventInvalid, parse_event
from engine.ledger import credit_note_store
from tests.conftest import Customer, effects_of

ADDRESS = {
    "street": "Königsallee 1",
    "postal_code": "40212",
    "city": "Düsseldorf",
    "country": "DE",
}
CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
UBL = {
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
ALL_DOCUMENTS = ["customer_number", "bank_or_card_account", "identity_card_copy"]


def business(engine, name: str, **fields) -> Customer:
    customer = Customer(engine, name)
    customer.open(
        plan="clinq-premium",
        customer={
            "name": f"{name.title()} GmbH",
            "email": f"rechnung@{name}.example",
            "address": ADDRESS,
            "vat_id": "DE123456788",
        },
        **fields,
    )
    return customer


def scenario(engine) -> dict:
    """The events of the module, in order; returns what the tests look at.

    * firma (business): November's calls are invoiced on 1 December; a justified objection of
      12.34 EUR on 5 December (credit note 1 of 2026), another of 5.00 EUR on 10 December (3);
    * kundin (consumer): withdraws on 6 December and gets her 30.00 EUR back (AGB 9.3; 2);
    * ende (business): terminates, the contract ends on 31 December, the refund of its credit
      is asked for on 5 January 2027 (AGB 1.4.1: credit note 1 of 2027).
    """
    firma = business(engine, "firma")
    firma.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    firma.call("2026-11-03T10:00:00+01:00", "+4921155555", 600)
    firma.call("2026-11-03T11:00:00+01:00", "+4917012345678", 125)
    ende = business(engine, "ende")
    ende.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    (invoice,) = effects_of(firma.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    before = _invoice(engine, invoice["invoice"])
    objection = firma.send(
        "objection.received",
        "2026-12-05T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="12.34",
    )
    kundin = Customer(engine, "kundin")
    kundin.open(
        at="2026-12-01T09:00:00+01:00",
        customer_type="consumer",
        customer={"name": "Erika Muster", "email": "erika@example.com", "address": ADDRESS},
    )
    kundin.send("credit.topped_up", "2026-12-01T09:05:00+01:00", amount="30.00")
    withdrawal = kundin.send("withdrawal.received", "2026-12-06T09:00:00+01:00", channel="letter")
    second = firma.send(
        "objection.received",
        "2026-12-10T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="5.00",
    )
    ende.send("termination.received", "2026-12-10T16:00:00+01:00", by="customer", channel="email")
    ende.send("clock", "2027-01-01T00:00:00+01:00")
    refund = ende.send("refund.requested", "2027-01-05T10:00:00+01:00", documents=ALL_DOCUMENTS)
    return {
        "invoice": invoice["invoice"],
        "before": before,
        "after": _invoice(engine, invoice["invoice"]),
        "objection": objection,
        "withdrawal": withdrawal,
        "second": second,
        "refund": refund,
        "notes": _credit_notes(engine),
    }


def _invoice(engine, number: str):
    with engine.store.unit(commit=False) as unit:
        return unit.invoice(number)


def _credit_notes(engine) -> dict:
    with engine.store.unit(commit=False) as unit:
        return {n.number: n for n in credit_note_store.credit_notes_of(unit.connection)}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory, catalog, decider) -> tuple[str, dict]:
    from engine.engine import Engine

    path = tmp_path_factory.mktemp("credit-notes") / "ledger.sqlite"
    engine = Engine(f"sqlite:///{path}", catalog=catalog, decider=decider)
    found = scenario(engine)
    engine.close()
    return f"sqlite:///{path}", found


@pytest.fixture(scope="module")
def issued(ledger) -> dict:
    return ledger[1]


NUMBERS = ["GS-2026-000001", "GS-2026-000002", "GS-2026-000003", "GS-2027-000001"]


# --- what issues a credit note ---------------------------------------------------------------


def test_agb_4_5_4_a_justified_objection_of_12_34_eur_is_credit_note_1_of_the_year(issued):
    (effect,) = effects_of(issued["objection"], "credit_note.issued")
    # 12.34 EUR gross at 19 % (UStG § 12): net 12.34 / 1.19 = 10.3697... -> 10.37 EUR,
    # VAT 10.37 * 0.19 = 1.9703 -> 1.97 EUR; 10.37 + 1.97 = 12.34.
    assert effect == {
        "kind": "credit_note.issued",
        "clause": "AGB 4.5.4",
        "terms_version": "2026-01-01",
        "credit_note": "GS-2026-000001",
        "invoice": issued["invoice"],
        "invoice_date": "2026-12-01",
        "reason": "objection",
        "amount": "12.34",
        "net": "10.37",
        "vat": "1.97",
        "date": "2026-12-05",
        "decision": "Platform: credit-notes",
    }
    note = issued["notes"]["GS-2026-000001"]
    assert (note.invoice, note.invoice_issued_on) == (issued["invoice"], "2026-12-01")
    assert (note.detail["net"], note.detail["vat"], note.detail["gross"]) == (
        "10.37",
        "1.97",
        "12.34",
    )
    assert note.detail["vat_rate"] == "19.00"
    root = etree.fromstring(build_credit_note_cii(note))
    assert root.findtext(".//ram:TypeCode", None, CII) == "381"
    reference = root.find(".//ram:InvoiceReferencedDocument", CII)
    assert reference.findtext("ram:IssuerAssignedID", None, CII) == issued["invoice"]  # BT-25
    assert reference.findtext(".//qdt:DateTimeString", None, CII) == "20261201"  # BT-26
    assert root.findtext(".//ram:TaxBasisTotalAmount", None, CII) == "10.37"
    assert root.findtext(".//ram:TaxTotalAmount", None, CII) == "1.97"
    assert root.findtext(".//ram:GrandTotalAmount", None, CII) == "12.34"
    assert root.findtext(".//ram:SpecifiedTradeProduct/ram:Name", None, CII) == (
        "Gutschrift aus begründetem Einwand"
    )


def test_agb_1_4_1_and_9_3_a_refund_of_credit_issues_a_credit_note_without_vat(issued):
    # ende topped up 100.00 EUR and was invoiced 34.39 EUR (November) and 35.58 EUR (December,
    # base fees and VAT): 100.00 - 34.39 - 35.58 = 30.03 EUR, less the 6.00 EUR fee = 24.03 EUR.
    (refund,) = effects_of(issued["refund"], "credit_note.issued")
    assert (refund["credit_note"], refund["clause"], refund["amount"]) == (
        "GS-2027-000001",
        "AGB 1.4.1",
        "24.03",
    )
    assert (refund["vat"], refund["invoice"]) == ("0.00", None)
    # kundin withdrew within 14 days: her 30.00 EUR come back (AGB 9.3).
    (withdrawal,) = effects_of(issued["withdrawal"], "credit_note.issued")
    assert (withdrawal["credit_note"], withdrawal["clause"], withdrawal["amount"]) == (
        "GS-2026-000002",
        "AGB 9.3",
        "30.00",
    )
    root = etree.fromstring(build_credit_note_cii(issued["notes"]["GS-2027-000001"]))
    categories = root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", CII)
    assert [c.findtext("ram:CategoryCode", None, CII) for c in categories] == ["O"]
    assert root.find(".//ram:InvoiceReferencedDocument", CII) is None


def test_platform_credit_notes_are_numbered_gapless_per_year_in_their_own_series(issued):
    assert list(issued["notes"]) == NUMBERS
    assert issued["notes"]["GS-2026-000003"].amount_cents == 500
    assert not issued["invoice"].startswith("GS-")  # invoices keep their own series


def test_gobd_the_corrected_invoice_stays_as_issued(issued):
    before, after = issued["before"], issued["after"]
    assert after.detail == before.detail
    assert after.amount_cents == before.amount_cents
    assert build_cii(after) == build_cii(before)
    # Only its settlement state records the corrections.
    assert after.credited_cents == 1234 + 500
    assert after.credit_notes == ["GS-2026-000001", "GS-2026-000003"]


def test_replay_the_same_events_give_the_same_credit_notes(ledger, tmp_path, catalog, decider):
    from engine.engine import Engine

    engine = Engine(f"sqlite:///{tmp_path / 'again.sqlite'}", catalog=catalog, decider=decider)
    again = scenario(engine)["notes"]
    engine.close()
    first = ledger[1]["notes"]
    assert again == first
    for number in NUMBERS:
        assert build_credit_note_cii(again[number]) == build_credit_note_cii(first[number])


# --- the e-invoices, checked with the official rules -----------------------------------------


@pytest.mark.parametrize("number", NUMBERS)
def test_en_16931_every_credit_note_is_a_valid_xrechnung_in_cii_and_ubl(rules, issued, number):
    from facturx import xml_check_xsd

    note = issued["notes"][number]
    cii = build_credit_note_einvoice(note, XRECHNUNG_CII)
    assert xml_check_xsd(cii, flavor="factur-x", level="en16931")
    for layer in ("en16931-cii", "xrechnung-cii"):
        errors = rules.errors(layer, cii)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    ubl = build_credit_note_einvoice(note, XRECHNUNG_UBL)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        errors = rules.errors(layer, ubl)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    root = etree.fromstring(ubl)
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", None, UBL) == "381"
    assert (
        root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", None, UBL)
        == (note.detail["gross"])
    )
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", None, UBL) == (
        note.invoice
    )
    factur_x = build_credit_note_einvoice(note, FACTUR_X_CII)
    errors = rules.errors("factur-x", factur_x)
    assert not errors, [(e.id, e.text) for e in errors]


def test_en_16931_a_credit_note_without_its_preceding_invoice_number_fails_br_55(rules, issued):
    note = issued["notes"]["GS-2026-000001"]
    root = etree.fromstring(build_credit_note_cii(note))
    reference = root.find(".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID", CII)
    reference.getparent().remove(reference)
    broken = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    assert "BR-55" in {e.id for e in rules.errors("en16931-cii", broken)}
    ubl = etree.fromstring(build_credit_note_ubl(note))
    reference = ubl.find("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", UBL)
    reference.getparent().remove(reference)
    broken_ubl = etree.tostring(ubl, xml_declaration=True, encoding="utf-8")
    assert "BR-55" in {e.id for e in rules.errors("en16931-ubl", broken_ubl)}


def test_zugferd_a_business_credit_note_is_a_german_factur_x_pdf(rules, issued):
    from facturx import get_xml_from_pdf
    from pypdf import PdfReader

    from engine.documents.credit_note_pdf import render_credit_note

    note = issued["notes"]["GS-2026-000001"]
    pdf = render_credit_note(note)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Gutschrift GS-2026-000001" in text
    assert f"Rechnungskorrektur zu Rechnung Nr. {issued['invoice']} vom 01.12.2026" in text
    assert "12,34 EUR" in text and "1,97 EUR" in text
    filename, xml = get_xml_from_pdf(io.BytesIO(pdf), check_xsd=False)
    assert filename == "factur-x.xml"
    assert xml == build_credit_note_cii(note, FACTUR_X_CII)
    consumer = render_credit_note(issued["notes"]["GS-2026-000002"])
    assert not get_xml_from_pdf(io.BytesIO(consumer))[1]  # consumers get the plain PDF


def test_a_credit_note_pdf_is_pdf_a_3b_with_embedded_fonts_and_renders_the_same_bytes(issued):
    """GoBD: the document is kept as issued; PDF/A-3b like the invoices (fonts embedded, dated
    by the issue date, not the clock)."""
    from engine.documents.credit_note_pdf import render_credit_note
    from tests.pdf_a import assert_pdf_a_3b

    business, consumer = issued["notes"]["GS-2026-000001"], issued["notes"]["GS-2026-000002"]
    assert_pdf_a_3b(render_credit_note(business), factur_x=True, issued_on=business.issued_on)
    assert_pdf_a_3b(render_credit_note(consumer), factur_x=False, issued_on=consumer.issued_on)
    assert render_credit_note(business) == render_credit_note(business)


# --- interfaces and the trust boundary --------------------------------------------------------


def test_billing_credit_notes_list_pdf_xml_and_the_api_with_roles(
    ledger, issued, tmp_path, capsys, catalog
):
    from billing.cli.main import main
    from billing.wsgi import create_app
    from engine.access.tokens import create_token, revoke_token
    from engine.engine import Engine

    db = ledger[0]
    note = issued["notes"]["GS-2026-000001"]
    assert main(["credit-notes", "list", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert all(number in listed for number in NUMBERS)
    out = tmp_path / "gs.xml"
    args = ["credit-notes", "xml", note.number, "--format", "xrechnung-ubl", "--out", str(out)]
    assert main([*args, "--db", db]) == 0
    assert out.read_bytes() == build_credit_note_ubl(note)
    pdf = tmp_path / "gs.pdf"
    assert main(["credit-notes", "pdf", note.number, "--out", str(pdf), "--db", db]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert main(["credit-notes", "xml", "GS-2026-999999", "--db", db]) == 2
    capsys.readouterr()

    engine = Engine(db, catalog=catalog)
    client = create_app(engine=engine).test_client()
    reader = {"Authorization": f"Bearer {create_token(engine.store, 'r', 'reader')}"}
    ok = client.get(f"/api/v1/credit-notes/{note.number}.xml", headers=reader)
    assert ok.status_code == 200 and ok.mimetype == "application/xml"
    assert ok.data == build_credit_note_cii(note, XRECHNUNG_CII)
    ubl = client.get(f"/api/v1/credit-notes/{note.number}.xml?format=xrechnung-ubl", headers=reader)
    assert ubl.data == build_credit_note_ubl(note)
    document = client.get(f"/api/v1/credit-notes/{note.number}.pdf", headers=reader)
    assert document.status_code == 200 and document.mimetype == "application/pdf"
    bad = client.get(f"/api/v1/credit-notes/{note.number}.xml?format=edifact", headers=reader)
    assert bad.status_code == 400 and bad.json["error"]["field"] == "format"
    assert client.get("/api/v1/credit-notes/GS-2026-999999.pdf", headers=reader).status_code == 404
    assert client.get(f"/api/v1/credit-notes/{note.number}.pdf").status_code == 401
    revoked = {"Authorization": f"Bearer {create_token(engine.store, 'gone', 'reader')}"}
    revoke_token(engine.store, "gone")
    assert client.get(f"/api/v1/credit-notes/{note.number}.xml", headers=revoked).status_code == 401
    # A billing service cannot send a credit note as an event: it is an effect, not an input.
    service = {"Authorization": f"Bearer {create_token(engine.store, 's', 'billing-service')}"}
    minted = client.post(
        "/api/v1/events",
        headers=service,
        json={
            "id": "mint-1",
            "type": "credit_note.issued",
            "account": "firma",
            "at": "2026-12-20T10:00:00+01:00",
            "amount": "500.00",
        },
    )
    assert minted.status_code == 400
    listing = client.get("/api/v1/accounts/firma/credit-notes", headers=reader)
    assert [n["number"] for n in listing.json["credit_notes"]] == [
        "GS-2026-000001",
        "GS-2026-000003",
    ]
    engine.close()


def test_hostile_a_client_cannot_mint_a_credit_note(engine):
    firma = business(engine, "firma")
    firma.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    firma.call("2026-11-03T10:00:00+01:00", "+4921155555", 600)
    (invoice,) = effects_of(firma.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    other = business(engine, "other")
    # More than the invoice (AGB 4.5.4), another account's invoice, a made-up event type.
    beyond = firma.send(
        "objection.received",
        "2026-12-05T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount=f"{Decimal(invoice['amount']) + Decimal('0.01')}",
    )
    assert (beyond["status"], beyond["clause"]) == ("rejected", "AGB 4.5.4")
    foreign = other.send(
        "objection.received",
        "2026-12-05T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="1.00",
    )
    assert foreign["status"] == "rejected"
    # Charges of a month not invoiced yet: nothing to correct (Platform: credit-notes).
    early = firma.send(
        "objection.received",
        "2026-12-05T10:00:00+01:00",
        month="2026-12",
        channel="letter",
        justified_amount="1.00",
    )
    assert (early["status"], early["clause"]) == ("rejected", "Platform: credit-notes")
    with pytest.raises(EventInvalid):
        parse_event(
            {
                "id": "mint",
                "type": "credit_note.issued",
                "account": "firma",
                "at": "2026-12-05T10:00:00+01:00",
                "amount": "100.00",
            }
        )
    assert _credit_notes(engine) == {}
    # The rejected events drew no number: the next credit note is still the first.
    fine = firma.send(
        "objection.received",
        "2026-12-06T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="1.00",
    )
    assert effects_of(fine, "credit_note.issued")[0]["credit_note"] == "GS-2026-000001"


def test_the_admin_ui_account_page_offers_the_credit_notes(ledger, issued, catalog):
    from billing.wsgi import create_app
    from engine.access.people import create_person
    from engine.engine import Engine
    from tests.test_admin import PASSWORD, csrf

    engine = Engine(ledger[0], catalog=catalog)
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="credit-notes")
    with engine.store.db.begin() as connection:
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    client = app.test_client()
    assert client.get("/admin/credit-notes/GS-2026-000001.pdf").status_code == 302  # login
    token = csrf(client.get("/admin/login").data)
    client.post(
        "/admin/login",
        data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": token},
    )
    page = client.get("/admin/accounts/firma").data.decode()
    assert "/admin/credit-notes/GS-2026-000001.pdf" in page
    assert "/admin/credit-notes/GS-2026-000003.xml" in page
    pdf = client.get("/admin/credit-notes/GS-2026-000001.pdf")
    assert pdf.mimetype == "application/pdf"
    xml = client.get("/admin/credit-notes/GS-2026-000001.xml")
    assert xml.data == build_credit_note_cii(issued["notes"]["GS-2026-000001"])
    assert client.get("/admin/credit-notes/GS-2026-999999.pdf").status_code == 404
    engine.close()


def test_agb_4_5_4_an_objection_to_a_month_of_prepaid_charges_corrects_its_invoice(engine):
    firma = business(engine, "firma")
    firma.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    firma.call("2026-11-03T10:00:00+01:00", "+4921155555", 600)
    (invoice,) = effects_of(firma.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    result = firma.send(
        "objection.received",
        "2026-12-03T10:00:00+01:00",
        month="2026-11",
        channel="email",
        justified_amount="1.19",
    )
    (note,) = effects_of(result, "credit_note.issued")
    # 1.19 EUR gross at 19 %: net 1.00 EUR, VAT 0.19 EUR.
    assert (note["invoice"], note["net"], note["vat"], note["amount"]) == (
        invoice["invoice"],
        "1.00",
        "0.19",
        "1.19",
    )
    too_much = firma.send(
        "objection.received",
        "2026-12-04T10:00:00+01:00",
        month="2026-11",
        channel="email",
        justified_amount=invoice["amount"],  # the whole invoice, but 1.19 are corrected already
    )
    assert (too_much["status"], too_much["clause"]) == ("rejected", "AGB 4.5.4")


# --- the books ---------------------------------------------------------------------------------


def test_datev_books_an_objection_credit_note_and_leaves_refunds_to_the_ledger(ledger, catalog):
    """DATEV (Platform: datev): a credit note after a justified objection reduces revenue
    (Erlösschmälerungen 19 %, SKR03 8720, key 40 as VAT is booked on its own line) and VAT
    against the debtor; the withdrawal refund's credit note books nothing, the money leaves
    through the ledger's refund entry once."""
    from engine.interchange import datev
    from engine.ledger.store import Store

    with Store(ledger[0]) as store, store.unit(commit=False) as unit:
        batch = datev.month_postings(unit.connection, catalog, "2026-12")
    credits = [
        (p.document, p.side, p.amount_cents, p.contra, p.tax_key)
        for p in batch.postings
        if p.document.startswith("GS-")
    ]
    # 12.34 gross at 19 %: 12.34 / 1.19 = 10.3697 -> 10.37 net, 1.97 VAT;
    # 5.00 gross: 4.2017 -> 4.20 net, 0.80 VAT.
    assert credits == [
        ("GS-2026-000001", "H", 1037, "8720", "40"),
        ("GS-2026-000001", "H", 197, "1776", ""),
        ("GS-2026-000003", "H", 420, "8720", "40"),
        ("GS-2026-000003", "H", 80, "1776", ""),
    ]
    refunds = [p for p in batch.postings if p.text.startswith("Erstattung Widerruf")]
    assert [(p.side, p.amount_cents, p.contra) for p in refunds] == [("S", 3000, "1360")]
