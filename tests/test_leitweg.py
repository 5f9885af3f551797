"""The Leitweg-ID of a public-sector customer (KoSIT Formatspezifikation Leitweg-ID 2.0.2) in
the customer master data, checked in form, and sent as buyer reference (BT-10, BR-DE-15)."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from engine.documents.einvoice import XRECHNUNG_CII, build_cii, build_ubl
from engine.events import EventInvalid, parse_event
from tests.conftest import Customer
from tests.sample_events import ACME_OPENED
from tests.test_einvoice import ADDRESS, NS, _assert_valid_xrechnung

UPDATED = {
    "id": "c1",
    "type": "account.updated",
    "account": "acme",
    "at": "2026-11-03T09:00:00+01:00",
}


def _customer(leitweg_id: str) -> dict:
    return {
        "name": "Stadt Düsseldorf, Amt für Informationstechnik",
        "email": "erechnung@duesseldorf.example",
        "address": ADDRESS,
        "leitweg_id": leitweg_id,
    }


@pytest.mark.parametrize(
    "leitweg_id",
    [
        "04011000-1234512345-06",  # the example of the format specification (2.4)
        "991-33333TEST-33",  # KoSIT's test id (federal level, Feinadressierung with letters)
        "991-03730-19",
    ],
)
def test_a_leitweg_id_in_form_is_accepted(leitweg_id):
    event = parse_event({**UPDATED, "customer": _customer(leitweg_id)})
    assert event.data["customer"]["leitweg_id"] == leitweg_id


@pytest.mark.parametrize(
    "leitweg_id",
    [
        "1-03730-19",  # the Grobadressierung has at least two digits
        "991-33333test-33",  # letters are upper case
        "04011000-1234512345",  # no check digits
    ],
)
def test_a_leitweg_id_out_of_syntax_is_invalid_naming_the_field(leitweg_id):
    with pytest.raises(EventInvalid) as refused:
        parse_event({**UPDATED, "customer": _customer(leitweg_id)})
    assert refused.value.field == "/customer/leitweg_id"


@pytest.mark.parametrize(
    ("leitweg_id", "why"),
    [
        # 04011000 1234512345 07: MOD 97-10 over 04011000123451234507 is not 1.
        ("04011000-1234512345-07", "check digits"),
        ("991-33333TEST-34", "check digits"),
        # 17 is no German state (01 to 16) nor the federal level (99).
        ("17011000-1234512345-06", "German state"),
    ],
)
def test_a_leitweg_id_with_wrong_check_digits_is_refused_and_nothing_changes(
    engine, leitweg_id, why
):
    """In syntax, so the event is well-formed; the engine refuses it naming the field, like an
    IBAN with wrong check digits (AGB 2.4: the customer's data)."""
    acme = Customer(engine)
    acme.open(customer=_customer("991-33333TEST-33"))
    refused = acme.send("account.updated", UPDATED["at"], customer=_customer(leitweg_id))
    assert (refused["status"], refused["clause"]) == ("rejected", "AGB 2.4")
    assert refused["reason"].startswith("/customer/leitweg_id:") and why in refused["reason"]
    opened = Customer(engine, "neu").open(customer=_customer(leitweg_id))
    assert opened["status"] == "rejected" and engine.account("neu") is None
    with engine.store.unit(commit=False) as unit:
        assert unit.account("acme").customer["leitweg_id"] == "991-33333TEST-33"


def test_the_api_answers_a_wrong_check_digit_with_the_field_and_changes_nothing(engine):
    from billing.wsgi import create_app
    from engine.access.tokens import create_token

    client = create_app(engine=engine).test_client()
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'svc', 'billing-service')}"}

    def post(body):
        return client.post(
            "/api/v1/events",
            data=json.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    assert post(ACME_OPENED).status_code in (200, 201)
    bad = post({**UPDATED, "customer": _customer("991-33333TEST-34")}).json
    assert bad["status"] == "rejected" and "/customer/leitweg_id" in bad["reason"]
    malformed = post({**UPDATED, "id": "c3", "customer": _customer("991-33333test-33")})
    assert malformed.status_code == 400
    assert malformed.json["error"]["field"] == "/customer/leitweg_id"
    good = post({**UPDATED, "id": "c2", "customer": _customer("991-33333TEST-33")})
    assert good.json["status"] == "applied"


def test_bt_10_the_xrechnung_carries_the_leitweg_id_as_buyer_reference(rules, engine):
    customer = Customer(engine, "stadt")
    customer.open(plan="clinq-premium", customer=_customer("991-33333TEST-33"))
    customer.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="50.00")
    customer.send("clock", "2026-12-01T00:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        invoice = unit.load_invoices(["stadt"])["stadt"][0]
    xml = build_cii(invoice, XRECHNUNG_CII)
    _assert_valid_xrechnung(rules, xml)
    assert etree.fromstring(xml).findtext(".//ram:BuyerReference", None, NS) == ("991-33333TEST-33")
    ubl = build_ubl(invoice)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        assert not rules.errors(layer, ubl), layer
    assert b"<cbc:BuyerReference>991-33333TEST-33</cbc:BuyerReference>" in ubl
    # The customer number stays the buyer's identifier (BT-46).
    assert etree.fromstring(xml).findtext(".//ram:BuyerTradeParty/ram:ID", None, NS) == "stadt"
