"""The invoice of the 20th for a negative credit (CLINQ SD 1.3): it shows what it settles and
which earlier invoices it leaves out, carries no confusing "USt keine / 19 % 0,00 EUR" line,
and is a valid e-invoice (category O) in CII and UBL.

Scenario (CLINQ Premium, autoprepay, opened 2026-11-02): base price 29.90 x 29/30 = 28.90;
top-up 30.00; the direct debit of 20.00 comes back: -20.00 and a fee of 9.80 (AGB 4.2.3).
Balance: -28.90 + 30.00 - 20.00 - 9.80 = -28.70 EUR, at or below -10.00: invoiced on the 20th.
"""

from __future__ import annotations

import io

import pytest
from lxml import etree
from pypdf import PdfReader

from engine.billing.einvoice_duty import FACTUR_X
from engine.documents.einvoice import XRECHNUNG_CII, build_cii, build_ubl
from engine.documents.invoice_pdf import render_invoice
from tests.conftest import Customer
from tests.test_einvoice import ADDRESS, NS, _assert_valid_xrechnung


@pytest.fixture(scope="module")
def settlements(tmp_path_factory, catalog, decider) -> list:
    from engine.engine import Engine

    path = tmp_path_factory.mktemp("settlement") / "ledger.sqlite"
    engine = Engine(f"sqlite:///{path}", catalog=catalog, decider=decider)
    customer = Customer(engine, "ruecklast")
    customer.open(
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
    customer.send("credit.topped_up", "2026-11-03T09:00:00+01:00", amount="30.00")
    customer.send("direct_debit.returned", "2026-11-04T09:00:00+01:00", amount="20.00")
    for day in ("2026-11-21", "2026-12-01", "2026-12-21"):
        customer.send("clock", f"{day}T00:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        invoices = unit.load_invoices(["ruecklast"])["ruecklast"]
    engine.close()
    return invoices


def _text(invoice) -> str:
    reader = PdfReader(io.BytesIO(render_invoice(invoice)))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_clinq_sd_1_3_the_settlement_shows_the_uninvoiced_charges_and_the_credit(settlements):
    first = settlements[0]
    assert (first.kind, first.issued_on, first.detail["due"]) == (
        "negative_credit",
        "2026-11-20",
        "28.70",
    )
    assert first.detail["settlement"] == {
        "balance": "-28.70",
        "charges": [
            {"period": "2026-11", "item": "base_fee", "net": "28.90"},
            {"period": "2026-11", "item": "returned_debit_fee", "net": "9.80"},
        ],
        "uninvoiced": "38.70",  # 28.90 + 9.80
        "offset": "10.00",  # 30.00 paid - 20.00 returned; 38.70 - 10.00 = 28.70
        "open_invoices": [],
        "claimed_by_open_invoices": "0.00",
        "periods": ["2026-11"],
    }
    text = _text(first)
    assert "Ausgleich Ihres Guthabenkontos (CLINQ SD 1.3)" in text
    assert "11/2026: Grundgebühr 28,90 EUR" in text
    assert "11/2026: Rücklastschriftgebühr 9,80 EUR" in text
    assert "abzüglich Ihrer Zahlungen und Ihres Guthabens -10,00 EUR" in text
    assert "28,70 EUR" in text and "-28,70 EUR" in text  # asked for; the balance
    # No VAT line with 0,00 EUR and no item table with a "USt keine" column: the VAT comes
    # with the monthly invoice.
    assert "Umsatzsteuer 19" not in text and "Summe netto" not in text
    assert "Grundlage USt" not in text
    assert "Monatsrechnung ihres Leistungszeitraums" in text


def test_clinq_sd_1_3_a_later_settlement_leaves_out_what_open_invoices_claim(settlements):
    # 2026-12-01: the November invoice: 38.70 net + 19 % of 28.90 = 5.49 VAT = 44.19 gross,
    # of which 28.70 the settlement already claims: 5.49 due. The December base price 29.90
    # is charged. Balance: -28.70 - 5.49 - 29.90 = -64.09; open: 28.70 + 5.49 = 34.19;
    # the settlement of 2026-12-20 asks for 64.09 - 34.19 = 29.90 EUR.
    first, monthly, second = settlements
    assert (monthly.kind, monthly.detail["due"]) == ("monthly", "5.49")
    assert monthly.detail["earlier_invoices"] == [first.number]
    assert second.detail["due"] == "29.90"
    settlement = second.detail["settlement"]
    assert settlement["charges"] == [{"period": "2026-12", "item": "base_fee", "net": "29.90"}]
    assert settlement["offset"] == "0.00"
    assert settlement["open_invoices"] == [
        {"number": first.number, "period": "2026-11", "open": "28.70"},
        {"number": monthly.number, "period": "2026-11", "open": "5.49"},
    ]
    text = _text(second)
    assert f"nicht enthalten: Rechnung {first.number}, bereits angefordert 28,70 EUR" in text
    assert f"nicht enthalten: Rechnung {monthly.number}, bereits angefordert 5,49 EUR" in text


@pytest.mark.parametrize("which", [0, 2])
def test_en_16931_the_settlement_is_a_valid_e_invoice_naming_what_it_covers(
    rules,
    settlements,
    which,
):
    invoice = settlements[which]
    xml = build_cii(invoice, XRECHNUNG_CII)
    _assert_valid_xrechnung(rules, xml)
    ubl = build_ubl(invoice)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        errors = rules.errors(layer, ubl)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    root = etree.fromstring(xml)
    notes = " ".join(n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS))
    assert "noch nicht abgerechneten Leistungen" in notes
    description = root.findtext(".//ram:SpecifiedTradeProduct/ram:Description", None, NS)
    month = invoice.issued_on[5:7]
    assert f"{month}/2026" in description
    reason = root.findtext(".//ram:ApplicableTradeTax/ram:ExemptionReason", None, NS)
    assert reason.startswith("Ausgleich des Guthabenkontos")
    if which == 2:
        assert "Nicht enthalten, da bereits angefordert: Rechnung" in notes


def test_zugferd_the_settlement_pdf_embeds_a_valid_factur_x_xml(rules, settlements, catalog):
    from facturx import get_xml_from_pdf

    from engine.documents.signing import invoice_document

    invoice = settlements[0]
    assert invoice.detail["einvoice"]["format"] == FACTUR_X
    _, xml = get_xml_from_pdf(io.BytesIO(invoice_document(invoice, catalog, None)))
    errors = rules.errors("factur-x", xml)
    assert not errors, [(e.id, e.text) for e in errors]
