"""The itemised bill (EVN, CLINQ SD 2.5, AGB 5.5): a header with provider, customer and period,
the calls in the order they started (whatever order their events arrived in), and no calls
billed under the flat rate (Premium: German and EU landline and mobile)."""

from __future__ import annotations

import io

from pypdf import PdfReader

from engine.documents.itemised_bill import itemised_bill, render_itemised_bill
from tests.conftest import Customer
from tests.pdf_a import assert_pdf_a_3b

ADDRESS = {"street": "Königsallee 1", "postal_code": "40212", "city": "Düsseldorf", "country": "DE"}


def _bill(engine) -> dict:
    acme = Customer(engine)
    acme.open(
        plan="clinq-premium",
        customer={"name": "Acme GmbH", "email": "it@acme.example", "address": ADDRESS},
    )
    acme.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="50.00")
    # Sent out of order: the call of the 5th arrives before those of the 3rd and the 4th.
    acme.call("2026-11-05T09:30:00+01:00", "+12125550100", 61)  # world: 2 min x 0.29 = 0.58
    acme.call("2026-11-03T15:00:00Z", "+12125550111", 120)  # 16:00 in Düsseldorf: 0.58
    acme.call("2026-11-03T10:00:00+01:00", "+33612345678", 600)  # EU mobile: flat rate
    acme.call("2026-11-04T08:00:00+01:00", "+4917012345678", 300)  # DE mobile: flat rate
    acme.call("2026-11-03T12:00:00+01:00", "+12125550122", 30)  # 1 min: 0.29
    return itemised_bill(engine, "acme", "2026-11")


def test_clinq_sd_2_5_calls_in_chronological_order_without_flat_rate_calls(engine):
    bill = _bill(engine)
    assert [(c["date"], c["start"], c["to"], c["price"]) for c in bill["connections"]] == [
        ("2026-11-03", "12:00:00", "+12125550122", "0.29"),
        ("2026-11-03", "16:00:00", "+12125550111", "0.58"),
        ("2026-11-05", "09:30:00", "+12125550100", "0.58"),
    ]
    assert bill["total"] == "1.45"  # 0.29 + 0.58 + 0.58; the flat-rate calls are not listed


def test_clinq_sd_2_5_the_header_names_provider_customer_and_period(engine):
    bill = _bill(engine)
    assert bill["customer"] == {
        "number": "acme",
        "name": "Acme GmbH",
        "street": "Königsallee 1",
        "postal_code": "40212",
        "city": "Düsseldorf",
    }
    assert bill["provider"]["name"] == "siggate GmbH"
    assert (bill["period_start"], bill["period_end"]) == ("2026-11-01", "2026-11-30")
    pdf = render_itemised_bill(bill)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "siggate GmbH, Gladbacher Str. 74, 40219 Düsseldorf" in text
    assert "Acme GmbH" in text and "40212 Düsseldorf" in text
    assert "Zeitraum: 01.11.2026 bis 30.11.2026" in text
    assert "Kundennummer acme" in text
    lines = text.splitlines()
    calls = [line for line in lines if line.startswith(("03.11.2026", "05.11.2026"))]
    assert [line.split()[:2] for line in calls] == [
        ["03.11.2026", "12:00:00"],
        ["03.11.2026", "16:00:00"],
        ["05.11.2026", "09:30:00"],
    ]
    assert "über eine Flatrate abgerechnet werden, sind nicht aufgeführt" in text
    # PDF/A-3b like the invoices: DejaVu Sans embedded, dated by the month's last day.
    assert_pdf_a_3b(pdf, factur_x=False, issued_on="2026-11-30")
    assert render_itemised_bill(bill) == pdf
