"""Invoice lines with quantity, unit and net unit price (issue 16; EN 16931 BT-129/130/146):
minutes per zone at the zone's rate, the base price per month, additional users x months,
fees as pieces. Every e-invoice here passes the three validation layers.

Rates of the sample price list (tariffs/rates/sipgate-team.yaml): German mobile 0.0690 EUR,
German landline 0.0179 EUR, rest of the world 0.2900 EUR a minute, billed per started minute
(60/60), each call rounded to the cent on its own. CLINQ Premium: 29.90 EUR a month, 9.90 EUR
per additional user and month, one user included; CLINQ: 60 free minutes to German numbers.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from lxml import etree

from engine.billing.einvoice_duty import FACTUR_X
from engine.core.invoice_lines import figures
from engine.documents.einvoice import XRECHNUNG_CII, build_cii, build_ubl
from engine.documents.invoice_pdf import render_invoice
from tests.conftest import Customer, effects_of
from tests.test_einvoice import ADDRESS, NS, _assert_valid_xrechnung

UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


def _customer(name: str) -> dict:
    return {"name": name, "email": "rechnung@firma.example", "address": ADDRESS}


@pytest.fixture(scope="module")
def invoices(tmp_path_factory, catalog, decider) -> dict:
    """Monthly invoices of November 2026, issued on 2026-12-01, by account."""
    from engine.engine import Engine
    from engine.ledger.store import Store

    path = tmp_path_factory.mktemp("lines") / "ledger.sqlite"
    engine = Engine(f"sqlite:///{path}", catalog=catalog, decider=decider)
    # CLINQ: the first 60 minutes to German numbers are free, the rest costs the zone's rate.
    minutes = Customer(engine, "minuten")
    minutes.open(plan="clinq", customer=_customer("Minuten GmbH"))
    minutes.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="20.00")
    minutes.call("2026-11-03T09:00:00+01:00", "+4921155555", 3600)  # the 60 free minutes
    minutes.call("2026-11-03T10:00:00+01:00", "+4917012345678", 2220)  # 37 minutes
    for hour in (11, 12, 13):  # three calls of one minute each to a landline
        minutes.call(f"2026-11-03T{hour}:00:00+01:00", "+4921155555", 45)
    # CLINQ Premium from the 1st with three users (one included), a fourth from the 16th.
    users = Customer(engine, "nutzer")
    users.open(
        at="2026-11-01T09:00:00+01:00",
        plan="clinq-premium",
        users=("anna", "ben", "carl"),
        customer=_customer("Nutzer AG"),
    )
    users.send("credit.topped_up", "2026-11-01T10:00:00+01:00", amount="100.00")
    users.send("user.added", "2026-11-16T09:00:00+01:00", user="dora")
    users.call("2026-11-05T10:00:00+01:00", "+12125550100", 61)  # two started minutes
    # CLINQ Premium from the 1st with three users: two additional users the whole month.
    two = Customer(engine, "zwei")
    two.open(
        at="2026-11-01T09:00:00+01:00",
        plan="clinq-premium",
        users=("anna", "ben", "carl"),
        customer=_customer("Zwei Nutzer GmbH"),
    )
    two.send("credit.topped_up", "2026-11-01T10:00:00+01:00", amount="100.00")
    # CLINQ Premium from the 2nd: the base price for 29 of 30 days.
    part = Customer(engine, "teilmonat")
    part.open(plan="clinq-premium", customer=_customer("Teilmonat KG"))
    part.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="50.00")
    for customer in (minutes, users, two, part):
        assert effects_of(customer.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    engine.close()
    with Store(f"sqlite:///{path}") as store, store.unit(commit=False) as unit:
        found = unit.load_invoices(["minuten", "nutzer", "zwei", "teilmonat"])
    return {account: listed[0] for account, listed in found.items()}


def _lines(invoice) -> dict:
    return {
        (item["item"], item.get("unit_price")): (
            item.get("quantity"),
            item.get("unit"),
            item["net"],
            item.get("rounding"),
        )
        for item in invoice.detail["items"]
    }


def test_call_minutes_per_zone_at_the_zone_rate(invoices):
    invoice = invoices["minuten"]
    assert _lines(invoice) == {
        # 37 min x 0.0690 = 2.553 -> 2.55 EUR: exact, no rounding difference.
        ("call:de_mobile", "0.0690"): ("37", "MIN", "2.55", "0.00"),
        # 3 calls of one minute at 0.0179 = 0.02 each (rounded per call) = 0.06 EUR, while
        # 3 min x 0.0179 = 0.0537 -> 0.05 EUR: a rounding charge of 0.01 EUR on the line.
        ("call:de_landline", "0.0179"): ("3", "MIN", "0.06", "0.01"),
    }
    # The free minutes are no line: they cost nothing.
    assert invoice.detail["net"] == "2.61"  # 2.55 + 0.06
    assert invoice.detail["vat"] == "0.50"  # 19 % of 2.61 = 0.4959
    landline = figures(next(i for i in invoice.detail["items"] if i["zone"] == "de_landline"))
    assert landline.rounding == Decimal("0.01") and "einzeln" in landline.rounding_reason


def test_base_price_per_month_and_additional_users_times_months(invoices):
    assert _lines(invoices["nutzer"]) == {
        ("base_fee", "29.90"): ("1", "MON", "29.90", "0.00"),
        # 2 users x 1 month + 1 user x 15/30 of a month (dora from the 16th) = 2.5 x 9.90
        # = 19.80 + 4.95 = 24.75 EUR.
        ("additional_user_fee", "9.90"): ("2.5", "C62", "24.75", "0.00"),
        # 61 seconds are two started minutes: 2 x 0.2900 = 0.58 EUR.
        ("call:world", "0.2900"): ("2", "MIN", "0.58", "0.00"),
    }
    # 2 users x 1 month at 9.90 = 19.80 EUR; net 29.90 + 19.80 = 49.70, VAT 9.443 -> 9.44.
    invoice = invoices["zwei"]
    assert _lines(invoice) == {
        ("base_fee", "29.90"): ("1", "MON", "29.90", "0.00"),
        ("additional_user_fee", "9.90"): ("2", "C62", "19.80", "0.00"),
    }
    assert (invoice.detail["net"], invoice.detail["vat"]) == ("49.70", "9.44")
    # 29 of 30 days: 29.90 x 29/30 = 28.9033 -> 28.90 EUR; the quantity 0.9667 (four
    # decimals, Platform: invoicing) x 29.90 = 28.904 -> 28.90 EUR.
    assert _lines(invoices["teilmonat"]) == {
        ("base_fee", "29.90"): ("0.9667", "MON", "28.90", "0.00"),
    }


def test_a_rate_change_within_the_month_gives_one_line_per_rate(catalog_copy, decider):
    """AGB 3.4: a call costs the rate at its start; a new rate from 2026-11-16 makes two lines."""
    from engine.catalog import load_catalog
    from engine.engine import Engine

    rates = catalog_copy / "tariffs" / "rates" / "sipgate-team.yaml"
    text = rates.read_text()
    assert text.rstrip().endswith('world: "0.2900 EUR/min"')
    block = text[text.index("  - effective_from: 2020-01-01") :]
    cheaper = block.replace("2020-01-01", "2026-11-16").replace(
        '"0.0690 EUR/min"', '"0.0590 EUR/min"'
    )
    rates.write_text(text.rstrip() + "\n" + cheaper)
    engine = Engine("sqlite://", catalog=load_catalog(catalog_copy), decider=decider)
    customer = Customer(engine, "wechsel")
    customer.open(plan="clinq", customer=_customer("Wechsel GmbH"))
    customer.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="20.00")
    customer.call("2026-11-03T09:00:00+01:00", "+4921155555", 3600)  # the 60 free minutes
    customer.call("2026-11-10T10:00:00+01:00", "+4917012345678", 600)  # 10 x 0.0690 = 0.69
    customer.call("2026-11-20T10:00:00+01:00", "+4917012345678", 1200)  # 20 x 0.0590 = 1.18
    customer.send("clock", "2026-12-01T00:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        invoice = unit.load_invoices(["wechsel"])["wechsel"][0]
    engine.close()
    assert _lines(invoice) == {
        ("call:de_mobile", "0.0590"): ("20", "MIN", "1.18", "0.00"),
        ("call:de_mobile", "0.0690"): ("10", "MIN", "0.69", "0.00"),
    }
    assert invoice.detail["net"] == "1.87"


@pytest.mark.parametrize("account", ["minuten", "nutzer", "zwei", "teilmonat"])
def test_en_16931_lines_with_quantities_are_valid_in_cii_and_ubl(rules, invoices, account):
    invoice = invoices[account]
    xml = build_cii(invoice, XRECHNUNG_CII)
    _assert_valid_xrechnung(rules, xml)
    ubl = build_ubl(invoice)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        errors = rules.errors(layer, ubl)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    cii_lines = [
        (
            line.findtext(".//ram:BilledQuantity", None, NS),
            line.find(".//ram:BilledQuantity", NS).get("unitCode"),
            line.findtext(".//ram:NetPriceProductTradePrice/ram:ChargeAmount", None, NS),
            line.findtext(".//ram:LineTotalAmount", None, NS),
        )
        for line in etree.fromstring(xml).iterfind(".//ram:IncludedSupplyChainTradeLineItem", NS)
    ]
    ubl_lines = [
        (
            line.findtext("cbc:InvoicedQuantity", None, UBL),
            line.find("cbc:InvoicedQuantity", UBL).get("unitCode"),
            line.findtext("cac:Price/cbc:PriceAmount", None, UBL),
            line.findtext("cbc:LineExtensionAmount", None, UBL),
        )
        for line in etree.fromstring(ubl).iterfind("cac:InvoiceLine", UBL)
    ]
    expected = [
        (i["quantity"], i["unit"], i["unit_price"], i["net"]) for i in invoice.detail["items"]
    ]
    assert cii_lines == ubl_lines == expected


def test_en_16931_the_per_call_rounding_is_a_line_charge(invoices):
    root = etree.fromstring(build_cii(invoices["minuten"], XRECHNUNG_CII))
    charges = root.findall(
        ".//ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge", NS
    )
    assert [
        (
            c.findtext("ram:ChargeIndicator/udt:Indicator", None, {**NS, "udt": UDT}),
            c.findtext("ram:ActualAmount", None, NS),
        )
        for c in charges
    ] == [("true", "0.01")]
    ubl = etree.fromstring(build_ubl(invoices["minuten"]))
    line_charges = ubl.findall("cac:InvoiceLine/cac:AllowanceCharge", UBL)
    assert [c.findtext("cbc:Amount", None, UBL) for c in line_charges] == ["0.01"]


UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"


def test_the_pdf_shows_quantities_and_unit_prices(invoices):
    from pypdf import PdfReader

    def text(invoice) -> str:
        reader = PdfReader(io.BytesIO(render_invoice(invoice)))
        return "\n".join(page.extract_text() for page in reader.pages)

    minutes, users = text(invoices["minuten"]), text(invoices["nutzer"])
    assert "37 Min." in minutes and "0,0690 EUR" in minutes and "2,55 EUR" in minutes
    assert "+0,01 EUR" in minutes  # the rounding charge of the landline line
    assert "2,5 Nutzer" in users and "9,90 EUR" in users and "24,75 EUR" in users
    assert "1 Monat" in users and "29,90 EUR" in users


@pytest.mark.parametrize("account", ["minuten", "nutzer"])
def test_no_catalog_identifier_reaches_the_customer_in_the_pdf_or_the_e_invoice(invoices, account):
    """The rounding and part-month notes say why in words; "Platform: money" and the like are
    the catalog's names, for the operator, never on a customer document (issue 24)."""
    from pypdf import PdfReader

    invoice = invoices[account]
    pdf = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(render_invoice(invoice))).pages
    )
    xml = build_cii(invoice, XRECHNUNG_CII).decode() + build_ubl(invoice).decode()
    if account == "minuten":
        assert "Rundungsdifferenz" in xml  # the note is there, in words
    assert "Platform" not in pdf and "Platform" not in xml


def test_an_invoice_issued_before_the_ledger_kept_quantities_keeps_one_unit_lines(invoices):
    from copy import deepcopy

    old = deepcopy(invoices["nutzer"])
    for item in old.detail["items"]:
        for key in ("quantity", "unit", "unit_price", "rounding", "rounding_reason"):
            item.pop(key, None)
    root = etree.fromstring(build_cii(old, XRECHNUNG_CII))
    quantities = [(q.text, q.get("unitCode")) for q in root.iterfind(".//ram:BilledQuantity", NS)]
    assert quantities == [("1", "C62")] * 3


@pytest.mark.parametrize("account", ["minuten", "nutzer"])
def test_zugferd_the_embedded_xml_with_quantities_passes_the_factur_x_rules(
    rules,
    invoices,
    catalog,
    account,
):
    from facturx import get_xml_from_pdf, xml_check_xsd

    from engine.documents.einvoice import FACTUR_X_CII
    from engine.documents.signing import invoice_document

    invoice = invoices[account]
    assert invoice.detail["einvoice"]["format"] == FACTUR_X
    _, xml = get_xml_from_pdf(io.BytesIO(invoice_document(invoice, catalog, None)))
    assert xml == build_cii(invoice, FACTUR_X_CII)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    errors = rules.errors("factur-x", xml)
    assert not errors, [(e.id, e.text) for e in errors]


def test_summed_quantities_are_the_exact_fractions_as_before():
    # A call line's quantity is the exact sum of billed minutes (EN 16931 BT-129); the text
    # sum added in integers is str(Fraction(text) + amount), for reduced, unreduced, whole and
    # other texts alike: 7/2 + 90/60 = 5, 2/4 + 1/60 = 31/60, 1.5 + 1/2 = 2, -3/2 + 1/60.
    import random
    from fractions import Fraction

    from engine.core.invoice_lines import added_quantity

    assert added_quantity("7/2", Fraction(90, 60)) == "5"
    assert added_quantity("2/4", Fraction(1, 60)) == "31/60"
    assert added_quantity("1.5", Fraction(1, 2)) == "2"
    assert added_quantity("-3/2", Fraction(1, 60)) == "-89/60"
    draw = random.Random(13)
    for _ in range(20_000):
        text = str(Fraction(draw.randint(0, 10**6), draw.choice([1, 2, 3, 4, 5, 6, 12, 60])))
        amount = Fraction(draw.randint(0, 7200), 60)
        assert added_quantity(text, amount) == str(Fraction(text) + amount)
