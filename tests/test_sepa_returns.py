"""Returned direct debits from the bank (issue 12, AGB 4.2.3): camt.054 and pain.002 files built
from a real pain.008 of the platform come back as ``direct_debit.returned`` events, the fee only
where rules/platform/sepa-returns.yaml says the customer is responsible; imported once."""

from __future__ import annotations

import json
from datetime import date

import pytest
from lxml import etree
from sqlalchemy import func, select

from billing.cli.main import main
from engine.interchange.sepa_export import export
from engine.interchange.sepa_returns import (
    ReturnFileInvalid,
    event_id,
    import_returns,
    read_return_file,
)
from engine.ledger.tables import ledger_entries
from engine.payments.return_reasons import customer_responsible
from tests.conftest import Customer
from tests.test_sepa import a_month_of_customers, collect, days, mandate, transactions

CREDITOR_IBAN = "DE89370400440532013000"


# -- the bank's files, as German banks deliver them ----------------------------------------------


def _element(parent, tag: str, text: str | None = None, **attributes) -> etree._Element:
    child = etree.SubElement(parent, tag, **attributes)
    if text is not None:
        child.text = text
    return child


def _path(parent, path: str, text: str | None = None, **attributes) -> etree._Element:
    """``a/b/c``: the nested elements, the last with text and attributes."""
    *outer, last = path.split("/")
    for tag in outer:
        parent = _element(parent, tag)
    return _element(parent, last, text, **attributes)


def camt054(returns: list[dict], version: str = "02", booked: str = "2026-12-03") -> bytes:
    """A camt.054 debit notification (DFÜ-Abkommen, Anlage 3): one booked entry of the returned
    direct debits (BkTxCd PMNT/RDDT/UPDD, GVC 109), one TxDtls per return with its Refs, the
    original amount and the bank's charges in AmtDtls, and RtrInf/Rsn/Cd."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.054.001.{version}"
    q = lambda tag: f"{{{ns}}}{tag}"  # noqa: E731
    root = etree.Element(q("Document"), nsmap={None: ns})
    body = _element(root, q("BkToCstmrDbtCdtNtfctn"))
    header = _element(body, q("GrpHdr"))
    _element(header, q("MsgId"), f"camt054-{booked}-1")
    _element(header, q("CreDtTm"), f"{booked}T06:12:00+01:00")
    notification = _element(body, q("Ntfctn"))
    _element(notification, q("Id"), f"camt054-{booked}-1-1")
    _element(notification, q("CreDtTm"), f"{booked}T06:12:00+01:00")
    account = _element(notification, q("Acct"))
    _path(account, f"{q('Id')}/{q('IBAN')}", CREDITOR_IBAN)
    _element(account, q("Ccy"), "EUR")
    entry = _element(notification, q("Ntry"))
    total = sum(r["booked_cents"] for r in returns)
    _element(entry, q("Amt"), f"{total / 100:.2f}", Ccy="EUR")
    _element(entry, q("CdtDbtInd"), "DBIT")
    if version == "02":
        _element(entry, q("Sts"), "BOOK")
    else:
        _path(entry, f"{q('Sts')}/{q('Cd')}", "BOOK")
    _path(entry, f"{q('BookgDt')}/{q('Dt')}", booked)
    _path(entry, f"{q('ValDt')}/{q('Dt')}", booked)
    _element(entry, q("AcctSvcrRef"), f"2026120300{len(returns)}")
    code = _element(entry, q("BkTxCd"))
    domain = _element(code, q("Domn"))
    _element(domain, q("Cd"), "PMNT")
    family = _element(domain, q("Fmly"))
    _element(family, q("Cd"), "RDDT")
    _element(family, q("SubFmlyCd"), "UPDD")
    proprietary = _element(code, q("Prtry"))
    _element(proprietary, q("Cd"), "NRTI+109+9933+997")
    _element(proprietary, q("Issr"), "DK")
    details = _element(entry, q("NtryDtls"))
    _path(details, f"{q('Btch')}/{q('NbOfTxs')}", str(len(returns)))
    for item in returns:
        tx = _element(details, q("TxDtls"))
        refs = _element(tx, q("Refs"))
        _element(refs, q("AcctSvcrRef"), item["bank_reference"])
        _element(refs, q("MsgId"), item["message_id"])
        _element(refs, q("PmtInfId"), item["message_id"][:26] + "-FRST")
        _element(refs, q("EndToEndId"), item["e2e"])
        _element(refs, q("MndtId"), item["reference"])
        if version != "02":
            _element(tx, q("Amt"), f"{item['booked_cents'] / 100:.2f}", Ccy="EUR")
            _element(tx, q("CdtDbtInd"), "DBIT")
        amounts = _element(tx, q("AmtDtls"))
        _path(amounts, f"{q('InstdAmt')}/{q('Amt')}", item["amount"], Ccy="EUR")
        _path(amounts, f"{q('TxAmt')}/{q('Amt')}", f"{item['booked_cents'] / 100:.2f}", Ccy="EUR")
        charges = _element(tx, q("Chrgs"))
        charge = charges if version == "02" else _element(charges, q("Rcrd"))
        _element(charge, q("Amt"), "3.00", Ccy="EUR")
        parties = _element(tx, q("RltdPties"))
        debtor = (
            f"{q('Dbtr')}/{q('Nm')}" if version == "02" else f"{q('Dbtr')}/{q('Pty')}/{q('Nm')}"
        )
        _path(parties, debtor, item["debtor"])
        _path(parties, f"{q('DbtrAcct')}/{q('Id')}/{q('IBAN')}", item["iban"])
        _path(tx, f"{q('RmtInf')}/{q('Ustrd')}", item["remittance"])
        info = _element(tx, q("RtrInf"))
        _path(info, f"{q('Rsn')}/{q('Cd')}", item["reason"])
        _element(info, q("AddtlInf"), "RUECKLASTSCHRIFT")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def pain002(rejects: list[dict], version: str = "03", created: str = "2026-12-01") -> bytes:
    """A pain.002 status report on a pain.008: the original message, the payment information
    and one TxInfAndSts per rejected transaction (TxSts RJCT, StsRsnInf/Rsn/Cd, OrgnlTxRef)."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:pain.002.001.{version}"
    q = lambda tag: f"{{{ns}}}{tag}"  # noqa: E731
    root = etree.Element(q("Document"), nsmap={None: ns})
    body = _element(root, q("CstmrPmtStsRpt"))
    header = _element(body, q("GrpHdr"))
    _element(header, q("MsgId"), f"pain002-{created}-1")
    _element(header, q("CreDtTm"), f"{created}T07:30:00")
    _path(
        header,
        f"{q('DbtrAgt')}/{q('FinInstnId')}/{q('BIC' if version == '03' else 'BICFI')}",
        "COBADEFFXXX",
    )
    group = _element(body, q("OrgnlGrpInfAndSts"))
    _element(group, q("OrgnlMsgId"), rejects[0]["message_id"])
    _element(group, q("OrgnlMsgNmId"), "pain.008.001.08")
    _element(group, q("GrpSts"), "PART")
    payment = _element(body, q("OrgnlPmtInfAndSts"))
    _element(payment, q("OrgnlPmtInfId"), rejects[0]["message_id"][:26] + "-FRST")
    _element(payment, q("PmtInfSts"), "PART")
    for item in rejects:
        tx = _element(payment, q("TxInfAndSts"))
        _element(tx, q("StsId"), item["bank_reference"])
        _element(tx, q("OrgnlEndToEndId"), item["e2e"])
        _element(tx, q("TxSts"), item.get("status", "RJCT"))
        reason = _element(tx, q("StsRsnInf"))
        _path(
            reason,
            f"{q('Orgtr')}/{q('Id')}/{q('OrgId')}/{q('BICOrBEI' if version == '03' else 'AnyBIC')}",
            "COBADEFFXXX",
        )
        _path(reason, f"{q('Rsn')}/{q('Cd')}", item["reason"])
        original = _element(tx, q("OrgnlTxRef"))
        _path(original, f"{q('Amt')}/{q('InstdAmt')}", item["amount"], Ccy="EUR")
        _element(original, q("ReqdColltnDt"), item["collection_date"])
        _path(original, f"{q('MndtRltdInf')}/{q('MndtId')}", item["reference"])
        _path(original, f"{q('RmtInf')}/{q('Ustrd')}", item["remittance"])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def returned(tx: dict, message_id: str, reason: str, bank_reference: str, **extra) -> dict:
    """What the bank says about one transaction of our pain.008."""
    cents = int(tx["amount"].replace(".", ""))
    return {
        "e2e": tx["e2e"],
        "amount": tx["amount"],
        "booked_cents": cents + 300,  # the original amount plus 3.00 EUR of bank charges
        "reference": tx["reference"],
        "debtor": tx["debtor"],
        "iban": tx["iban"],
        "remittance": tx["remittance"],
        "message_id": message_id,
        "collection_date": tx["date"],
        "reason": reason,
        "bank_reference": bank_reference,
        **extra,
    }


def a_collected_month(engine) -> tuple[list[Customer], dict[str, dict], str]:
    """anna (postpay, 29.00), firm (postpay business, 72.50) and auto (autoprepay, 29.00):
    November's invoices collected on Monday 30 November in one pain.008, booked as paid."""
    customers = a_month_of_customers(engine)
    for customer in customers:
        customer.send("clock", "2026-11-20T08:00:00+01:00")
    debits = [d for customer in customers for d in days(customer, "2026-11-27", 1)]
    result = export(engine.store, engine.catalog, date(2026, 11, 30))
    collect(engine, customers, debits)  # the bank credits the collection on 30 November
    by_account = {d["invoice"]: d["account"] for d in debits}
    found = {by_account[t["e2e"]]: t for t in transactions(result.xml)}
    assert {a: t["amount"] for a, t in found.items()} == {
        "anna": "29.00",
        "firm": "72.50",
        "auto": "29.00",
    }
    assert [c.balance for c in customers] == ["0.00", "0.00", "0.00"]
    return customers, found, result.message_id


def entries(engine) -> int:
    with engine.store.unit(commit=False) as unit:
        return unit.connection.execute(select(func.count()).select_from(ledger_entries)).scalar()


def open_of(engine, number: str) -> int:
    with engine.store.unit(commit=False) as unit:
        return unit.invoice(number).open_cents


# -- the month's returns ------------------------------------------------------------------------


def test_returns_of_a_month_come_back_with_the_fee_only_where_the_customer_is_responsible(engine):
    customers, tx, message_id = a_collected_month(engine)
    anna, firm, auto = customers
    camt = camt054(
        [
            returned(tx["anna"], message_id, "AM04", "RL-2026-120301"),  # no funds: responsible
            returned(tx["firm"], message_id, "MD01", "RL-2026-120302"),  # no mandate: ours
        ]
    )
    report = import_returns(engine, camt)
    assert report.message == "camt.054.001.02"
    assert [(o.status, o.event["account"], o.event["reason_code"]) for o in report.outcomes] == [
        ("applied", "anna", "AM04"),
        ("applied", "firm", "MD01"),
    ]
    anna_return = report.outcomes[0].event
    assert anna_return == {
        "id": event_id(tx["anna"]["e2e"], "RL-2026-120301"),
        "type": "direct_debit.returned",
        "account": "anna",
        "at": "2026-12-03T00:00:00+01:00",  # the bank's booking day
        "amount": "29.00",  # the collected amount, not the 32.00 with the bank's charges
        "invoice": tx["anna"]["e2e"],
        "reason_code": "AM04",
        "end_to_end_id": tx["anna"]["e2e"],
    }
    fee = [e for e in report.outcomes[0].effects if e.get("item") == "returned_debit_fee"]
    assert fee == [
        {
            "kind": "charge",
            "item": "returned_debit_fee",
            "amount": "9.80",
            "basis": "flat",
            "clause": "AGB 4.2.3",
            "decision": "Platform: sepa-returns",
            "reason_code": "AM04",
            "terms_version": "2026-01-01",
        }
    ]
    (waived,) = [e for e in report.outcomes[1].effects if e["kind"] == "returned_debit_fee_waived"]
    assert (waived["clause"], waived["decision"], waived["reason_code"]) == (
        "AGB 4.2.3",
        "Platform: sepa-returns",
        "MD01",
    )
    assert not [e for e in report.outcomes[1].effects if e.get("item") == "returned_debit_fee"]

    # The autoprepay customer's debit is rejected (pain.002): the debtor refused it (MS02).
    report = import_returns(engine, pain002([returned(tx["auto"], message_id, "MS02", "ST-77")]))
    assert report.message == "pain.002.001.03"
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.event["account"], outcome.event["at"]) == (
        "applied",
        "auto",
        "2026-12-01T00:00:00+01:00",
    )
    # anna: 0.00 - 29.00 reversed - 9.80 fee (AM04) = -38.80
    # firm: 0.00 - 72.50 reversed, no fee (MD01, the mandate is the provider's) = -72.50
    # auto: 0.00 - 29.00 reversed - 9.80 fee (MS02, refused by the debtor) = -38.80
    assert [c.balance for c in (anna, firm, auto)] == ["-38.80", "-72.50", "-38.80"]
    # The invoices are open again for the whole amount.
    assert [open_of(engine, tx[name]["e2e"]) for name in ("anna", "firm", "auto")] == [
        2900,
        7250,
        2900,
    ]

    # Importing the same files again changes nothing.
    before = entries(engine)
    again = import_returns(engine, camt)
    assert [o.status for o in again.outcomes] == ["already_imported", "already_imported"]
    again = import_returns(engine, pain002([returned(tx["auto"], message_id, "MS02", "ST-77")]))
    assert [o.status for o in again.outcomes] == ["already_imported"]
    assert entries(engine) == before
    assert [c.balance for c in (anna, firm, auto)] == ["-38.80", "-72.50", "-38.80"]


@pytest.mark.parametrize(("camt_version", "pain_version"), [("02", "03"), ("08", "10")])
def test_both_versions_of_each_message_read_alike(camt_version, pain_version):
    tx = {
        "e2e": "2026-000001",
        "amount": "29.00",
        "reference": "CLINQ-acme-1",
        "debtor": "Anna Müller",
        "iban": CREDITOR_IBAN,
        "remittance": "Rechnung 2026-000001 siggate GmbH",
        "date": "2026-11-30",
    }
    camt = read_return_file(camt054([returned(tx, "M1", "AC04", "R1")], camt_version))
    assert camt.message == f"camt.054.001.{camt_version}"
    (found,) = camt.transactions
    assert (found.end_to_end_id, str(found.amount), found.reason_code, found.bank_reference) == (
        "2026-000001",
        "29.00",
        "AC04",
        "R1",
    )
    assert found.day == date(2026, 12, 3)
    pain = read_return_file(
        pain002(
            [
                returned(tx, "M1", "AM04", "S1"),
                returned(dict(tx, e2e="2026-000002"), "M1", "", "S2", status="ACSC"),
            ],
            pain_version,
        )
    )
    assert pain.message == f"pain.002.001.{pain_version}"
    (found,) = pain.transactions
    assert (found.end_to_end_id, str(found.amount), found.reason_code, found.day) == (
        "2026-000001",
        "29.00",
        "AM04",
        date(2026, 12, 1),
    )
    assert pain.other == 1  # the accepted transaction is no return


def test_a_whole_batch_rejected_is_listed_without_transactions():
    """A pain.002 rejecting the whole file (GrpSts RJCT, no TxInfAndSts): nothing was collected,
    so there is nothing to reverse; the report names the message and the reason."""
    ns = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
    xml = (
        f'<Document xmlns="{ns}"><CstmrPmtStsRpt><GrpHdr><MsgId>P1</MsgId>'
        "<CreDtTm>2026-11-27T09:00:00</CreDtTm></GrpHdr><OrgnlGrpInfAndSts>"
        "<OrgnlMsgId>CLINQ-20261130-CORE-ABC</OrgnlMsgId><OrgnlMsgNmId>pain.008.001.08"
        "</OrgnlMsgNmId><GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf>"
        "</OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>"
    ).encode()
    report = read_return_file(xml)
    assert (report.transactions, report.rejected_batches) == (
        [],
        ["message CLINQ-20261130-CORE-ABC (FF01)"],
    )


def test_what_cannot_be_matched_is_reported_and_changes_nothing(engine):
    customers, tx, message_id = a_collected_month(engine)
    anna, firm, _ = customers
    import_returns(engine, camt054([returned(tx["anna"], message_id, "AC04", "RL-1")]))
    assert anna.balance == "-38.80"  # 29.00 reversed, 9.80 fee (AC04, account closed)
    # A pain.008 collection the bank cannot have: another account's invoice is still open.
    firm.send(
        "direct_debit.returned",
        "2026-12-02T10:00:00+01:00",
        amount="72.50",
        invoice=tx["firm"]["e2e"],
        reason_code="AC01",
    )
    assert firm.balance == "-72.50"  # returned by hand already, without a fee (AC01)
    before = entries(engine)
    report = import_returns(
        engine,
        camt054(
            [
                returned(dict(tx["auto"], e2e="2025-999999"), message_id, "AM04", "RL-2"),
                returned(dict(tx["auto"], amount="28.00"), message_id, "AM04", "RL-3"),
                returned(tx["anna"], message_id, "AM04", "RL-4"),  # the same return again
                returned(tx["firm"], message_id, "MS02", "RL-5"),  # returned by hand before
                returned(tx["auto"], message_id, "", "RL-6"),  # no reason code
            ]
        ),
    )
    # One collection is returned once (issue 24): another bank reference of a returned
    # collection is refused naming the first return (tests/test_direct_debit_returns.py).
    assert [o.status for o in report.outcomes] == [
        "unmatched",
        "unmatched",
        "rejected",
        "rejected",
        "unmatched",
    ]
    assert report.to_json()["rejected"] == 2
    reasons = [o.reason for o in report.outcomes]
    assert reasons[0].startswith("unknown end-to-end id '2025-999999'")
    assert reasons[1].startswith(
        f"the amount 28.00 EUR differs from the collection of invoice {tx['auto']['e2e']} "
        "(29.00 EUR"
    )
    anna_return = event_id(tx["anna"]["e2e"], "RL-1")
    assert reasons[2].startswith(
        f"the collection of invoice {tx['anna']['e2e']} was already returned (event {anna_return})"
    )
    assert reasons[3].startswith(f"the collection of invoice {tx['firm']['e2e']} was already")
    assert reasons[4].startswith("no ISO reason code")
    assert entries(engine) == before
    assert [c.balance for c in customers] == ["-38.80", "-72.50", "0.00"]


def test_a_return_before_the_payment_is_booked_is_reported(engine):
    """The import reverses a payment; without one booked there is nothing to reverse."""
    customers = a_month_of_customers(engine)
    for customer in customers:
        customer.send("clock", "2026-11-20T08:00:00+01:00")
    for customer in customers:
        days(customer, "2026-11-27", 1)
    result = export(engine.store, engine.catalog, date(2026, 11, 30))
    first = transactions(result.xml)[0]
    report = import_returns(engine, pain002([returned(first, result.message_id, "AM04", "S9")]))
    (outcome,) = report.outcomes
    assert outcome.status == "unmatched"
    assert "has no direct debit of 29.00 EUR booked to reverse" in outcome.reason
    assert [c.balance for c in customers] == ["-29.00", "-72.50", "-29.00"]


def test_agb_4_2_3_a_reject_of_a_debit_never_credited_reverses_no_transfer(engine):
    """The customer paid the invoice by transfer before the collection date; the bank then
    rejects the debit before settlement (pain.002, AC04). Nothing was collected: the transfer
    stays booked, the invoice stays paid, no fee, and the reject is reported, not applied."""
    customers = a_month_of_customers(engine)
    for customer in customers:
        customer.send("clock", "2026-11-20T08:00:00+01:00")
    debits = [d for customer in customers for d in days(customer, "2026-11-27", 1)]
    result = export(engine.store, engine.catalog, date(2026, 11, 30))
    first = transactions(result.xml)[0]
    payer = next(c for c in customers if c.name == next(
        d["account"] for d in debits if d["invoice"] == first["e2e"]
    ))  # fmt: skip
    payer.send(
        "payment.received", "2026-11-28T10:00:00+01:00",
        amount=first["amount"], method="bank_transfer", reference=first["e2e"],
    )  # fmt: skip
    balances, before = [c.balance for c in customers], entries(engine)
    report = import_returns(engine, pain002([returned(first, result.message_id, "AC04", "S9")]))
    (outcome,) = report.outcomes
    assert outcome.status == "unmatched"
    assert "a transfer, credit or credit note is no collection" in outcome.reason
    assert [c.balance for c in customers] == balances and entries(engine) == before
    assert open_of(engine, first["e2e"]) == 0


# -- hostile and wrong files ----------------------------------------------------------------


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">
<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>&e;</MsgId></GrpHdr></BkToCstmrDbtCdtNtfctn></Document>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
<CstmrPmtStsRpt><GrpHdr><MsgId>&secret;</MsgId></GrpHdr></CstmrPmtStsRpt></Document>
"""


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (BOMB, "file", "has a DOCTYPE"),
        (EXTERNAL, "file", "has a DOCTYPE"),
        (b"<Document><unclosed></Document>", "file", "not well-formed XML"),
        (b"PK\x03\x04 a zip file", "file", "not well-formed XML"),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"/>',
            "Document",
            "expected the Document of an ISO 20022 camt.054",
        ),
        (b"<Invoice/>", "Document", "the root is 'Invoice'"),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><X/></Document>',
            "Document",
            "needs the message element BkToCstmrDbtCdtNtfctn",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">'
            b"<CstmrPmtStsRpt/></Document>",
            "CstmrPmtStsRpt/GrpHdr/MsgId",
            "is missing",
        ),
    ],
)
def test_a_hostile_or_wrong_file_is_refused_with_a_clear_error(data, field, words):
    with pytest.raises(ReturnFileInvalid) as refused:
        read_return_file(data)
    assert refused.value.field == field
    assert words in refused.value.message


def test_the_collection_file_itself_is_not_a_return_file(engine):
    _, _, _ = a_collected_month(engine)
    recorded = export(engine.store, engine.catalog, date(2026, 11, 30))
    with pytest.raises(ReturnFileInvalid) as refused:
        import_returns(engine, recorded.xml)
    assert "pain.008.001.08" in refused.value.message


# -- the command ------------------------------------------------------------------------------


def test_the_cli_imports_once_and_exits_1_only_for_an_unreadable_file(
    engine, database_url, tmp_path, capsys
):
    _, tx, message_id = a_collected_month(engine)
    path = tmp_path / "camt054.xml"
    path.write_bytes(
        camt054(
            [
                returned(tx["anna"], message_id, "AM04", "RL-1"),
                returned(dict(tx["firm"], e2e="2025-000042"), message_id, "AM04", "RL-2"),
            ]
        )
    )
    assert main(["sepa", "import", str(path), "--db", database_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("camt.054.001.02 camt054-2026-12-03-1: 1 applied, 0 already imported")
    assert ", fee 9.80 EUR" in out
    assert "unmatched: 2025-000042 72.50 EUR AM04: unknown end-to-end id '2025-000042'" in out
    assert main(["sepa", "import", str(path), "--db", database_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["applied"], report["already_imported"], report["unmatched"]) == (0, 1, 1)
    assert report["transactions"][0]["event"] == event_id(tx["anna"]["e2e"], "RL-1")
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BOMB)
    assert main(["sepa", "import", str(bomb), "--db", database_url]) == 1
    assert "has a DOCTYPE" in capsys.readouterr().err
    assert main(["sepa", "import", str(tmp_path / "missing.xml"), "--db", database_url]) == 1


# -- the platform decision --------------------------------------------------------------------


def test_the_decision_puts_each_code_on_one_side(catalog):
    terms = catalog.at(date(2026, 12, 1))
    decision = terms.clause("Platform: sepa-returns")
    assert not set(decision["customer_responsible"]) & set(decision["not_customer_responsible"])
    assert [customer_responsible(c, terms) for c in ("AM04", "AC04", "MD06", "MS02", "SL01")] == [
        True
    ] * 5
    assert [customer_responsible(c, terms) for c in ("MD01", "MS03", "AC01", "AM05", "XX99")] == [
        False
    ] * 5


# -- mandate references are unique per creditor --------------------------------------------------


def test_a_reference_of_another_accounts_mandate_is_refused_at_grant(engine):
    anna = Customer(engine, "anna")
    anna.open(billing_method="postpay", customer_type="consumer")
    granted = anna.send("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate())
    assert granted["status"] == "applied"
    bert = Customer(engine, "bert")
    bert.open(billing_method="postpay", customer_type="consumer")
    refused = bert.send("mandate.granted", "2026-11-02T11:00:00+01:00", **mandate())
    assert (refused["status"], refused["clause"]) == ("rejected", "AGB 4.2.1")
    assert refused["reason"].startswith(
        "/reference: mandate reference 'CLINQ-acme-1' belongs to another account (anna)"
    )
    assert engine.account("bert")["contract"]["sepa_mandate"] is None
    # The owner may amend it (same reference, new IBAN); a revoked reference stays taken.
    amended = anna.send(
        "mandate.granted", "2026-11-03T10:00:00+01:00", **mandate(iban="DE62370400440532013001")
    )
    assert amended["status"] == "applied"
    anna.send("mandate.revoked", "2026-11-04T10:00:00+01:00")
    again = bert.send("mandate.granted", "2026-11-05T10:00:00+01:00", **mandate())
    assert again["status"] == "rejected"
    own = bert.send("mandate.granted", "2026-11-05T10:00:00+01:00", **mandate("BERT-1"))
    assert own["status"] == "applied"


def test_two_accounts_granting_one_reference_in_one_batch_get_it_once(engine):
    carl, dora = Customer(engine, "carl"), Customer(engine, "dora")
    for customer in (carl, dora):
        customer.open(billing_method="postpay", customer_type="consumer")
    results = engine.handle_many(
        [
            carl.event("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate("SHARED-1")),
            dora.event("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate("SHARED-1")),
        ]
    )
    assert [r["status"] for r in results] == ["applied", "rejected"]
    assert "belongs to another account (carl)" in results[1]["reason"]
