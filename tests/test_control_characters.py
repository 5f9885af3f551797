"""Issue 25, item 2: control characters neither enter nor stop the month.

(a) The event schema refuses C0 control characters and DEL in every text field (tab and line
breaks only in the lines of ``misuse.detected``'s description), at the API and in the engine,
naming the field in words, never with a regular expression.

(b) Data stored before the schema refused them still exists: every XML and PDF writer is safe
on its own (engine/core/text.py). A stored debtor name with a vertical tab no longer stops the
day's pain.008 file (the other debits are collected too); a customer name, street and city with
control characters give a valid invoice PDF, XRechnung (CII and UBL), Factur-X PDF, credit note
and itemised bill. Such data is made here as it was made then: the event is applied past the
schema (``Engine.handle_events`` with an :class:`Event` built by hand).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from lxml import etree
from pypdf import PdfReader

from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.core.text import UNPRINTABLE, printable, printable_data, unprintable_except
from engine.documents.credit_note_einvoice import build_credit_note_cii, build_credit_note_ubl
from engine.documents.credit_note_pdf import render_credit_note
from engine.documents.einvoice import (
    FACTUR_X_CII,
    XRECHNUNG_CII,
    build_cii,
    build_ubl,
    embed_in_pdf,
)
from engine.documents.invoice_pdf import render_invoice, undrawable
from engine.documents.itemised_bill import itemised_bill, render_itemised_bill
from engine.events import EventInvalid, canonical_bytes, content_digest, parse_event
from engine.interchange.sepa_export import export
from engine.ledger import credit_note_store
from tests.conftest import Customer, effects_of
from tests.pdf_a import assert_pdf_a_3b
from tests.sample_events import ACME_OPENED
from tests.test_future_instants import database_digest
from tests.test_sepa import days, mandate, transactions, xsd

ADDRESS = {"street": "Königsallee 1", "postal_code": "40212", "city": "Düsseldorf", "country": "DE"}
CUSTOMER = {"name": "Beispiel GmbH", "email": "rechnung@beispiel.example", "address": ADDRESS}
AT = "2026-11-02T10:00:00+01:00"


# -- (a) refused at the edge ------------------------------------------------------------------


def _opened(**customer) -> dict:
    return {**ACME_OPENED, "customer": {**CUSTOMER, **customer}}


EVENT = {"id": "e1", "account": "acme", "at": AT}
REFUSED = [
    (_opened(name="Anna\x0bMüller"), "/customer/name", "U+000B at position 5"),
    (_opened(name="Anna\n"), "/customer/name", "U+000A at position 5"),
    (_opened(name="\tAnna"), "/customer/name", "U+0009 at position 1"),
    (_opened(email="a\x00@b.example"), "/customer/email", "U+0000 at position 2"),
    (_opened(address={**ADDRESS, "street": "K\x1bö 1"}), "/customer/address/street", "U+001B at"),
    (_opened(address={**ADDRESS, "city": "D\x7f"}), "/customer/address/city", "U+007F at"),
    (
        _opened(address={**ADDRESS, "postal_code": "4\r0"}),
        "/customer/address/postal_code",
        "U+000D",
    ),
    (_opened(vat_id="DE12345678\x0b"), "/customer/vat_id", "U+000B at position 11"),
    (
        {**EVENT, "type": "account.updated", "customer": {**CUSTOMER, "name": "X\x01"}},
        "/customer/name",
        "U+0001 at position 2",
    ),
    (
        {**EVENT, "type": "mandate.granted", **mandate(debtor_name="Anna\x0bMüller")},
        "/debtor_name",
        "U+000B at position 5",
    ),
    (
        {**EVENT, "type": "payment.received", "amount": "1.00", "method": "bank_transfer"}
        | {"reference": "R\x1f1"},
        "/reference",
        "U+001F at position 2",
    ),
    ({**EVENT, "type": "reminder.sent", "invoice": "2026-1\r"}, "/invoice", "U+000D at"),
    (
        {**EVENT, "type": "objection.received", "invoice": "2026-\x0c1", "channel": "letter"},
        "/invoice",
        "U+000C at position 6",
    ),
    (
        {**EVENT, "type": "direct_debit.returned", "amount": "1.00", "invoice": "\x062026"},
        "/invoice",
        "U+0006 at position 1",
    ),
    ({**EVENT, "type": "misuse.detected", "description": "a\nb\x0bc"}, "/description", "U+000B"),
]


@pytest.mark.parametrize(("raw", "field", "where"), REFUSED)
def test_the_engine_refuses_control_characters_in_text_fields_naming_the_field(raw, field, where):
    with pytest.raises(EventInvalid) as refused:
        parse_event(raw)
    assert refused.value.field == field
    assert refused.value.message.startswith("must not contain control characters (")
    assert where in refused.value.message
    assert "\\u" not in refused.value.message and "[^" not in refused.value.message


def test_only_the_lines_of_a_misuse_description_may_hold_tabs_and_line_breaks():
    described = {**EVENT, "type": "misuse.detected", "description": "line 1\r\nline\t2\n"}
    assert parse_event(described).data["description"] == "line 1\r\nline\t2\n"
    assert parse_event(_opened(name="Anna Müller · 山田")).data["customer"]["name"]


def test_the_api_refuses_control_characters_naming_the_field_and_stores_nothing(engine):
    client = create_app(engine=engine).test_client()
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'svc', 'billing-service')}"}
    before = database_digest(engine)

    def post(body):
        return client.post(
            "/api/v1/events",
            data=json.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    single = post(_opened(name="Anna\x0bMüller"))
    assert single.status_code == 400
    assert single.json["error"] == {
        "message": "must not contain control characters (U+000B at position 5)",
        "field": "/customer/name",
        "index": None,
        "errors": [
            {
                "field": "/customer/name",
                "message": "must not contain control characters (U+000B at position 5)",
            }
        ],
    }
    opened = _opened()
    granted = {**EVENT, "id": "m1", "type": "mandate.granted", **mandate(debtor_name="A\x0bB")}
    batch = post({"events": [opened, granted]})
    assert batch.status_code == 400
    assert batch.json["error"] == {
        "message": "Event 1: must not contain control characters (U+000B at position 2); "
        "nothing was applied.",
        "field": "/events/1/debtor_name",
        "index": 1,
        "errors": [
            {
                "field": "/events/1/debtor_name",
                "message": "must not contain control characters (U+000B at position 2)",
                "index": 1,
            }
        ],
    }
    assert database_digest(engine) == before


# -- (b) every writer is safe on its own ------------------------------------------------------


def stored_as_before(sender: Customer, type_: str, at: str, **fields) -> dict:
    """Apply an event with ``fields`` as stored before the schema refused control characters:
    parsed without them, then given them, past the schema's checks."""
    raw = sender.event(type_, at, **fields)
    event = parse_event(
        json.loads(re.sub(r"\\u00[01][0-9a-fA-F]|\\u007[fF]", " ", json.dumps(raw)))
    )
    data = {k: v for k, v in raw.items() if k not in ("id", "type", "account", "at")}
    canonical = canonical_bytes(raw)
    event = dataclasses.replace(
        event, data=data, raw=raw, canonical=canonical, stored_digest=content_digest(canonical)
    )
    (result,) = sender.engine.handle_events([event])
    assert result["status"] == "applied", result
    return result


def test_the_shared_function_keeps_text_and_replaces_what_documents_cannot_carry():
    assert printable("Anna Müller, Königsallee 1 · 40212 Düsseldorf") == (
        "Anna Müller, Königsallee 1 · 40212 Düsseldorf"
    )
    assert printable("Anna\x0bMüller\t\r\n\x00\x7f\x85\ud800\ufffe\uffff.") == "Anna Müller" + (
        " " * 9 + "."
    )
    assert printable_data({"a": ["x\x0b", ("y\x0c", 1)], "n": None}) == {
        "a": ["x ", ("y ", 1)],
        "n": None,
    }
    font = unprintable_except(ord(c) for c in "AB\x0b-]^\\")
    assert printable("AB\x0bC-]^\\", font) == "AB  -]^\\"
    assert UNPRINTABLE.search("山田 🎉") is None
    assert printable("山田 Taro 🎉", undrawable()) == "   Taro  "  # DejaVu Sans has neither


def test_a_debtor_name_with_a_control_character_does_not_stop_the_days_pain_008(engine):
    anna = Customer(engine, "anna")
    anna.open(billing_method="postpay", customer_type="consumer")
    stored_as_before(anna, "mandate.granted", AT, **mandate(debtor_name="Anna\x0bMüller"))
    firm = Customer(engine, "firm")
    firm.open(billing_method="postpay", customer_type="business")
    firm.send("mandate.granted", AT, **mandate("FIRM-1", debtor_name="Firma KG"))
    for customer in (anna, firm):
        customer.call("2026-11-03T10:00:00+01:00", "+12125550100", 600)
    debits = [d for customer in (anna, firm) for d in days(customer, "2026-12-01", 14)]
    assert {d["collection_date"] for d in debits} == {"2026-12-09"}
    assert len(debits) == 2
    result = export(engine.store, engine.catalog, date(2026, 12, 9))
    assert result.count == 2  # nobody's debit is left out
    xsd().validate(result.xml)
    ET.fromstring(result.xml)  # well-formed
    found = {t["e2e"]: t for t in transactions(result.xml)}
    assert set(found) == {d["invoice"] for d in debits}
    assert sorted(t["debtor"] for t in found.values()) == ["Anna Muller", "Firma KG"]


@pytest.fixture
def tainted(engine):
    """A business customer whose name, street and city were stored with control characters,
    November's calls invoiced on 1 December, a justified objection's credit note, and the
    itemised bill of November."""
    customer = Customer(engine, "firma")
    address = {**ADDRESS, "street": "Königsallee\x0b1", "city": "Düssel\x7fdorf"}
    stored_as_before(
        customer,
        "account.opened",
        AT,
        plan="clinq-premium",
        customer_type="business",
        billing_method="prepay",
        country="DE",
        area_code="0211",
        evn={"enabled": True},
        customer={**CUSTOMER, "name": "Beispiel\x0bGmbH\x01", "address": address}
        | {"vat_id": "DE123456788"},
    )
    customer.send("user.added", AT, user="anna")
    customer.send("credit.topped_up", AT, amount="100.00")
    customer.call("2026-11-03T10:00:00+01:00", "+4921155555", 600)
    (issued,) = effects_of(customer.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    customer.send(
        "objection.received",
        "2026-12-05T10:00:00+01:00",
        invoice=issued["invoice"],
        channel="letter",
        justified_amount="1.00",
    )
    with engine.store.unit(commit=False) as unit:
        invoice = unit.invoice(issued["invoice"])
        (note,) = credit_note_store.credit_notes_of(unit.connection)
    assert "\x0b" in invoice.detail["customer"]["name"]  # stored as it came
    return {"invoice": invoice, "note": note, "bill": itemised_bill(engine, "firma", "2026-11")}


def _pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_an_invoice_pdf_of_a_stored_name_with_control_characters_is_valid(tainted, caplog):
    invoice = tainted["invoice"]
    with caplog.at_level(logging.WARNING):
        pdf = render_invoice(invoice)
        factur_x = embed_in_pdf(pdf, invoice)  # a business customer's ZUGFeRD invoice
    assert not [r for r in caplog.records if r.name.startswith("fpdf")]  # no missing glyph
    assert_pdf_a_3b(pdf, factur_x=False, issued_on=invoice.issued_on)
    assert_pdf_a_3b(factur_x, factur_x=True, issued_on=invoice.issued_on)
    text = " ".join(_pdf_text(pdf).split())
    assert "Beispiel GmbH" in text and "Königsallee 1" in text and "Düssel dorf" in text
    assert render_invoice(invoice) == pdf  # one invoice renders to the same bytes every time


def test_an_e_invoice_of_a_stored_name_with_control_characters_is_valid(tainted):
    from facturx import xml_check_xsd

    invoice = tainted["invoice"]
    for xml in (build_cii(invoice, XRECHNUNG_CII), build_cii(invoice, FACTUR_X_CII)):
        assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
        assert b"Beispiel GmbH " in xml and b"\x0b" not in xml
    ubl = etree.fromstring(build_ubl(invoice))
    buyer = ".//{*}AccountingCustomerParty//{*}RegistrationName"
    assert ubl.findtext(buyer) == "Beispiel GmbH "


def test_the_official_rules_accept_those_e_invoices(tainted, rules):
    invoice, note = tainted["invoice"], tainted["note"]
    for layer, xml in (
        ("en16931-cii", build_cii(invoice, XRECHNUNG_CII)),
        ("xrechnung-cii", build_cii(invoice, XRECHNUNG_CII)),
        ("en16931-ubl", build_ubl(invoice)),
        ("xrechnung-ubl", build_ubl(invoice)),
        ("en16931-cii", build_credit_note_cii(note, XRECHNUNG_CII)),
        ("xrechnung-ubl", build_credit_note_ubl(note)),
    ):
        errors = rules.errors(layer, xml)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"


def test_a_credit_note_and_an_itemised_bill_of_such_a_name_are_valid(tainted, caplog):
    note = tainted["note"]
    with caplog.at_level(logging.WARNING):
        pdf = render_credit_note(note)  # a business customer's: Factur-X
        bill = render_itemised_bill(tainted["bill"])
    assert not [r for r in caplog.records if r.name.startswith("fpdf")]
    assert_pdf_a_3b(pdf, factur_x=True, issued_on=note.issued_on)
    assert "Beispiel GmbH" in _pdf_text(pdf)
    assert_pdf_a_3b(bill, factur_x=False)
    assert "Beispiel GmbH" in _pdf_text(bill)
    for xml in (build_credit_note_cii(note), build_credit_note_ubl(note)):
        assert b"\x0b" not in xml and etree.fromstring(xml) is not None


def test_the_api_serves_those_documents(engine, tainted):
    client = create_app(engine=engine).test_client()
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'docs', 'reader')}"}
    number, note = tainted["invoice"].number, tainted["note"].number
    for address in (
        f"/api/v1/invoices/{number}.pdf",
        f"/api/v1/invoices/{number}.xml",
        f"/api/v1/invoices/{number}.xml?format=xrechnung-ubl",
        f"/api/v1/credit-notes/{note}.pdf",
        f"/api/v1/credit-notes/{note}.xml",
        "/api/v1/accounts/firma/evn.pdf?month=2026-11",
    ):
        response = client.get(address, headers=headers)
        assert response.status_code == 200, (address, response.json)
