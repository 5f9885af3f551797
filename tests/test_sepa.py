"""SEPA direct debits (issue 12): mandates, sequence types, amendments, expiry, the pain.008
file exactly once, the pre-notification on the invoice, the API endpoint and its role."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import xmlschema
from pypdf import PdfReader
from sqlalchemy import func, select

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.catalog.loader import load_files
from engine.documents.invoice_pdf import render_invoice
from engine.events import EventInvalid
from engine.interchange.sepa_export import ExportRefused, export
from engine.ledger.tables import sepa_batches, sepa_collections
from engine.payments.sepa_mandates import collection_date, latest_submission, sequence_type
from tests.conftest import Customer, edit, effects_of

US = "+12125550100"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"}
IBAN = "DE89370400440532013000"  # Commerzbank (37040044)
IBAN_SAME_BANK = "DE62370400440532013001"
IBAN_OTHER_BANK = "DE02120300000000202051"  # Deutsche Kreditbank (12030000)
CREDITOR_ID = "DE98ZZZ09999999999"


def xsd() -> xmlschema.XMLSchema:
    import sepaxml

    return xmlschema.XMLSchema(
        str(Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.08.xsd")
    )


def mandate(reference: str = "CLINQ-acme-1", iban: str = IBAN, **fields) -> dict:
    return {
        "reference": reference,
        "signed_on": "2026-11-01",
        "debtor_name": "Anna Müller",
        "iban": iban,
        **fields,
    }


def postpay(engine, name: str = "acme", customer_type: str = "consumer", **granted) -> Customer:
    customer = Customer(engine, name)
    customer.open(billing_method="postpay", customer_type=customer_type)
    result = customer.send("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate(**granted))
    assert result["status"] == "applied", result
    return customer


def transactions(xml: bytes) -> list[dict]:
    root = ET.fromstring(xml)
    found = []
    for info in root.iterfind(".//p:PmtInf", NS):
        for tx in info.iterfind("p:DrctDbtTxInf", NS):
            found.append(
                {
                    "sequence": info.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS),
                    "date": info.findtext("p:ReqdColltnDt", namespaces=NS),
                    "e2e": tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS),
                    "amount": tx.findtext("p:InstdAmt", namespaces=NS),
                    "reference": tx.findtext(".//p:MndtRltdInf/p:MndtId", namespaces=NS),
                    "signed": tx.findtext(".//p:MndtRltdInf/p:DtOfSgntr", namespaces=NS),
                    "amended": tx.findtext(".//p:MndtRltdInf/p:AmdmntInd", namespaces=NS),
                    "original_iban": tx.findtext(
                        ".//p:AmdmntInfDtls/p:OrgnlDbtrAcct/p:Id/p:IBAN", namespaces=NS
                    ),
                    "original_agent": tx.findtext(
                        ".//p:AmdmntInfDtls/p:OrgnlDbtrAgt/p:FinInstnId/p:Othr/p:Id",
                        namespaces=NS,
                    ),
                    "debtor": tx.findtext("p:Dbtr/p:Nm", namespaces=NS),
                    "iban": tx.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS),
                    "remittance": tx.findtext("p:RmtInf/p:Ustrd", namespaces=NS),
                }
            )
    return found


def collections_count(engine) -> int:
    with engine.store.unit(commit=False) as unit:
        return unit.connection.execute(select(func.count()).select_from(sepa_collections)).scalar()


# -- mandates: validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "pointer", "words"),
    [
        ({"iban": "de89370400440532013000"}, "/iban", "must be an IBAN without spaces, in capital"),
        ({"reference": "CLINQ acme 1"}, "/reference", "1 to 35 characters without spaces"),
        ({"reference": "M" * 36}, "/reference", "must be a mandate reference of 1 to 35"),
        ({"reference": "Mandat-Ä"}, "/reference", "letters without accents"),
        ({"bic": "COBADEFF1"}, "/bic", "must be a BIC of 8 or 11 capital letters"),
        ({"scheme": "B2C"}, "/scheme", "must be one of: CORE, B2B"),
        ({"signed_on": "2026-02-30"}, "/signed_on", "must be a calendar date that exists"),
    ],
)
def test_a_bad_mandate_is_refused_with_its_field(engine, fields, pointer, words):
    customer = Customer(engine)
    customer.open(billing_method="postpay")
    with pytest.raises(EventInvalid) as refused:
        customer.send("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate(**fields))
    assert refused.value.field == pointer
    assert words in refused.value.message
    assert engine.account("acme")["contract"].get("sepa_mandate") is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"iban": "DE89370400440532013001"}, "/iban: 'DE89370400440532013001' is not a valid IBAN"),
        ({"iban": "AA0000000000000"}, "/iban: 'AA0000000000000' is not a valid IBAN"),
        ({"bic": "COBAXXFFXXX"}, "/bic: 'COBAXXFFXXX' is not a valid BIC"),
        ({"signed_on": "2026-11-03"}, "/signed_on: the mandate is signed on 2026-11-03, after"),
    ],
)
def test_a_mandate_that_cannot_be_used_is_rejected_citing_agb_4_2_1(engine, fields, words):
    """Well-formed, but its check digits or dates fail: a rejected event naming the field."""
    customer = Customer(engine)
    customer.open(billing_method="postpay")
    result = customer.send("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate(**fields))
    assert (result["status"], result["clause"]) == ("rejected", "AGB 4.2.1")
    assert result["reason"].startswith(words), result["reason"]
    assert engine.account("acme")["contract"].get("sepa_mandate") is None


def test_a_sepa_field_needs_the_whole_mandate(engine):
    customer = Customer(engine)
    customer.open(billing_method="postpay")
    with pytest.raises(EventInvalid) as refused:
        customer.send("mandate.granted", "2026-11-02T10:00:00+01:00", iban=IBAN)
    assert refused.value.field == "/reference"
    with pytest.raises(EventInvalid) as refused:
        customer.send("mandate.granted", "2026-11-02T10:00:00+01:00", scheme="CORE")
    assert refused.value.field == "/iban"


def test_the_reference_takes_the_whole_sepa_character_set(engine):
    customer = postpay(engine, reference="A-z0+?/-:().,'" + "9" * 21)
    assert len(customer.engine.account("acme")["contract"]["sepa_mandate"]["reference"]) == 35


def test_b2b_is_only_for_business_customers(engine):
    consumer = Customer(engine, "anna")
    consumer.open(billing_method="postpay", customer_type="consumer")
    refused = consumer.send("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate(scheme="B2B"))
    assert refused["status"] == "rejected"
    assert "AGB 4.2.1" in str(refused) and "only for business customers" in str(refused)
    business = Customer(engine, "firm")
    business.open(billing_method="postpay", customer_type="business")
    granted = business.send(
        "mandate.granted", "2026-11-02T10:00:00+01:00", **mandate("FIRM-1", scheme="B2B")
    )
    assert effects_of(granted, "mandate_granted")[0]["scheme"] == "B2B"


def test_a_wrong_creditor_id_in_provider_yaml_is_a_located_error(catalog_copy):
    path = catalog_copy / "rules/platform/provider.yaml"
    edit(path, "value: DE98ZZZ09999999999", "value: DE98ZZZ09999999998")
    edit(path, "value: DE89370400440532013000", "value: DE89370400440532013001")
    errors = [str(e) for e in load_files(catalog_copy).errors]
    assert any(
        e.startswith("rules/platform/provider.yaml:")
        and "creditor_id: 'DE98ZZZ09999999998' is not a valid SEPA creditor identifier" in e
        and e.endswith("(at /versions/0/values/creditor_id)")
        for e in errors
    ), errors
    assert any("(at /versions/0/values/iban)" in e for e in errors), errors


# -- dates: AGB 4.2.2 and the scheme's lead time ---------------------------------------------


def test_collection_date_is_one_target_day_after_the_submission(catalog):
    terms = catalog.at(date(2026, 11, 20))
    # AGB 4.2.2 day Friday 27 Nov: submitted that day, collected Monday 30 Nov.
    assert collection_date(date(2026, 11, 27), terms) == date(2026, 11, 30)
    # A Saturday: submitted Monday, collected Tuesday.
    assert collection_date(date(2026, 11, 28), terms) == date(2026, 12, 1)
    # Christmas: 24 Dec (Thu) submitted, 25 and 26 Dec are TARGET2 holidays, collected 28 Dec.
    assert collection_date(date(2026, 12, 24), terms) == date(2026, 12, 28)
    # Good Friday 2027-03-26 and Easter Monday 2027-03-29: submitted Tue 30, collected Wed 31.
    assert collection_date(date(2027, 3, 26), terms) == date(2027, 3, 31)
    assert latest_submission(date(2026, 12, 28), terms) == date(2026, 12, 24)


# -- sequence types, amendments, expiry --------------------------------------------------------


def test_sequence_types_over_a_mandates_life():
    recurrent = {"one_off": False, "collections": 0}
    assert sequence_type(recurrent, "concluded") == "FRST"
    assert sequence_type({**recurrent, "collections": 1}, "concluded") == "RCUR"
    assert sequence_type({**recurrent, "collections": 3}, "ended") == "FNAL"
    assert sequence_type(recurrent, "ended") == "FRST"  # the only collection is the first
    assert sequence_type({"one_off": True, "collections": 0}, "concluded") == "OOFF"


def next_month(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def months_of_calls(customer: Customer, months: list[str]) -> list[dict]:
    """A call in each month, its invoice on the 1st, the debit of AGB 4.2.2 (a clock each
    morning), the file of its date and the bank's booking of it: the debits, in order."""
    debits = []
    for month in months:
        customer.call(f"{month}-03T10:00:00+01:00", US, 600)
        found = days(customer, f"{next_month(month)}-01", 14)
        collect(customer.engine, [customer], found)
        debits += found
    return debits


def days(customer: Customer, first: str, count: int) -> list[dict]:
    """The clock each morning of ``count`` days from ``first``: the debits requested."""
    debits = []
    start = date.fromisoformat(first)
    for offset in range(count):
        day = date.fromordinal(start.toordinal() + offset)
        result = customer.send("clock", f"{day}T08:00:00+01:00")
        debits += [
            dict(d, account=customer.name) for d in effects_of(result, "direct_debit_requested")
        ]
    return debits


def collect(engine, customers: list[Customer], debits: list[dict]) -> None:
    """The files of the debits' dates, then each debit booked as paid on its date (what the
    bank statement will say: camt.054 import is not built yet)."""
    for day in sorted({d["collection_date"] for d in debits}):
        for scheme in ("CORE", "B2B"):
            try:
                export(engine.store, engine.catalog, date.fromisoformat(day), scheme)
            except ExportRefused as refused:
                assert refused.message.startswith(f"no {scheme} direct debits"), refused
    by_name = {c.name: c for c in customers}
    for debit in debits:
        by_name[debit["account"]].send(
            "payment.received",
            f"{debit['collection_date']}T12:00:00+01:00",
            amount=debit["amount"],
            method="direct_debit",
            reference=debit["invoice"],
        )


def test_first_then_recurrent_then_amended(engine):
    acme = postpay(engine)
    debits = months_of_calls(acme, ["2026-11", "2026-12"])
    assert [(d["sequence_type"], d["reference"]) for d in debits] == [
        ("FRST", "CLINQ-acme-1"),
        ("RCUR", "CLINQ-acme-1"),
    ]
    amended = acme.send(
        "mandate.granted", "2027-01-02T10:00:00+01:00", **mandate(iban=IBAN_SAME_BANK)
    )
    assert effects_of(amended, "mandate_granted")[0]["amendment"] is True
    debits += months_of_calls(acme, ["2027-01", "2027-02"])
    assert [d["sequence_type"] for d in debits] == ["FRST", "RCUR", "RCUR", "RCUR"]
    january = export(engine.store, engine.catalog, date.fromisoformat(debits[2]["collection_date"]))
    (tx,) = transactions(january.xml)
    assert (tx["amended"], tx["original_iban"], tx["iban"]) == ("true", IBAN, IBAN_SAME_BANK)
    february = export(
        engine.store, engine.catalog, date.fromisoformat(debits[3]["collection_date"])
    )
    (tx,) = transactions(february.xml)
    assert tx["amended"] is None, "the amendment is reported once"


def test_an_amendment_to_another_bank_says_smnda(engine):
    acme = postpay(engine)
    months_of_calls(acme, ["2026-11"])
    acme.send("mandate.granted", "2026-12-02T10:00:00+01:00", **mandate(iban=IBAN_OTHER_BANK))
    (debit,) = months_of_calls(acme, ["2026-12"])
    result = export(engine.store, engine.catalog, date.fromisoformat(debit["collection_date"]))
    (tx,) = transactions(result.xml)
    assert (tx["amended"], tx["original_agent"], tx["original_iban"]) == ("true", "SMNDA", None)
    xsd().validate(result.xml)


def test_a_new_reference_is_a_new_mandate_and_starts_with_frst(engine):
    acme = postpay(engine)
    months_of_calls(acme, ["2026-11"])
    acme.send("mandate.granted", "2026-12-02T10:00:00+01:00", **mandate("CLINQ-acme-2"))
    (debit,) = months_of_calls(acme, ["2026-12"])
    assert (debit["sequence_type"], debit["reference"]) == ("FRST", "CLINQ-acme-2")


def test_a_one_off_mandate_collects_once_with_ooff(engine):
    acme = postpay(engine, one_off=True)
    debits = months_of_calls(acme, ["2026-11", "2026-12"])
    assert [d["sequence_type"] for d in debits] == ["OOFF"]
    assert engine.account("acme")["contract"]["mandate"] is False


def test_a_mandate_unused_for_36_months_expires_and_agb_4_1_4_applies(engine):
    acme = Customer(engine)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "20.00"})
    acme.send("credit.topped_up", "2026-11-02T09:30:00+01:00", amount="300.00")
    granted = acme.send("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate())
    (expiry,) = [
        e for e in effects_of(granted, "deadline_set") if e["deadline"] == "sepa_mandate_expiry"
    ]
    assert expiry["date"] == "2029-11-02"  # signed 2026-11-01, 36 months, the day after
    for year in (2027, 2028, 2029):  # in use (AGB 1.5), but never debited: the credit pays
        for month in ("05", "11"):
            acme.send("activity", f"{year}-{month}-01T09:00:00+01:00", kind="login")
    assert effects_of(acme.send("clock", "2029-11-01T23:00:00+01:00"), "mandate_expired") == []
    (expired,) = effects_of(acme.send("clock", "2029-11-02T08:00:00+01:00"), "mandate_expired")
    assert (expired["reference"], expired["since"], expired["clause"]) == (
        "CLINQ-acme-1",
        "2026-11-01",
        "AGB 4.1.4",
    )
    contract = engine.account("acme")["contract"]
    assert (contract["mandate"], contract["sepa_mandate"]) == (False, None)
    negative = acme.call("2029-11-03T10:00:00+01:00", US, 1200 * 60)  # 348.00 EUR
    assert effects_of(negative, "topup_requested") == []
    (letter,) = effects_of(negative, "notice_sent")
    assert (letter["template"], letter["clause"]) == ("settle_negative_credit", "AGB 4.1.4")
    assert effects_of(negative, "charge")[-1]["amount"] == "3.90"


def test_a_collection_restarts_the_36_months(engine):
    acme = postpay(engine)
    (debit,) = months_of_calls(acme, ["2026-11"])
    assert (debit["date"], debit["collection_date"]) == ("2026-12-08", "2026-12-09")
    with engine.store.unit(commit=False) as unit:
        pending = [d for d in unit.deadlines_of("acme") if d["kind"] == "sepa_mandate_expiry"]
    assert [d["date"] for d in pending if d["status"] == "pending"] == ["2029-12-10"]


# -- the file ----------------------------------------------------------------------------------


def a_month_of_customers(engine) -> list[Customer]:
    """Two postpay customers (a consumer, a business with a BIC) and an autoprepay consumer,
    each with a CORE mandate, and their calls of November."""
    anna = postpay(engine, "anna")
    firm = postpay(engine, "firm", customer_type="business", reference="FIRM-1", bic="COBADEFFXXX")
    auto = Customer(engine, "auto")
    auto.open(
        billing_method="autoprepay",
        customer_type="consumer",
        autoprepay={"threshold": "5.00", "amount": "20.00"},
    )
    auto.send("mandate.granted", "2026-11-02T10:00:00+01:00", **mandate("AUTO-1"))
    for customer, minutes in ((anna, 100), (firm, 250), (auto, 100)):
        customer.call("2026-11-03T10:00:00+01:00", US, minutes * 60)
    return [anna, firm, auto]


def test_a_month_of_autoprepay_and_postpay_customers_makes_a_valid_pain_008(engine):
    customers = a_month_of_customers(engine)
    for customer in customers:
        customer.send("clock", "2026-11-20T08:00:00+01:00")
    # AGB 4.2.2: Friday 27 Nov; the file reaches the bank that day, collection Monday 30 Nov.
    debits = [d for customer in customers for d in days(customer, "2026-11-27", 1)]
    assert len(debits) == 3
    assert {d["collection_date"] for d in debits} == {"2026-11-30"}
    result = export(engine.store, engine.catalog, date(2026, 11, 30))
    xsd().validate(result.xml)
    found = transactions(result.xml)
    assert [(t["e2e"], t["amount"], t["sequence"], t["reference"]) for t in found] == [
        (d["invoice"], d["amount"], "FRST", d["reference"])
        for d in sorted(debits, key=lambda d: d["invoice"])
    ]
    assert {t["date"] for t in found} == {"2026-11-30"}
    assert all(t["signed"] == "2026-11-01" and t["iban"] == IBAN for t in found)
    assert all(t["remittance"] == f"Rechnung {t['e2e']} siggate GmbH" for t in found)
    root = ET.fromstring(result.xml)
    assert root.findtext(".//p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", namespaces=NS) == CREDITOR_ID
    assert root.findtext(".//p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == IBAN
    assert root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == str(len(debits))
    assert root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS) == result.message_id
    assert root.findtext(".//p:GrpHdr/p:CreDtTm", namespaces=NS) == "2026-11-27T00:00:00+01:00"
    assert result.total_cents == sum(int(d["amount"].replace(".", "")) for d in debits)

    # Exactly once: the same date again is the same file and no second collection.
    again = export(engine.store, engine.catalog, date(2026, 11, 30))
    assert (again.xml, again.message_id, again.created) == (result.xml, result.message_id, False)
    assert collections_count(engine) == len(debits)

    # A later month never repeats an earlier collection.
    collect(engine, customers, debits)
    later = [d for customer in customers for d in days(customer, "2026-12-01", 14)]
    assert {d["collection_date"] for d in later} == {"2026-12-09"}
    december = export(engine.store, engine.catalog, date(2026, 12, 9))
    assert december.created
    xsd().validate(december.xml)
    found = transactions(december.xml)
    assert {t["e2e"] for t in found} == {d["invoice"] for d in later}
    assert not {t["e2e"] for t in found} & {d["invoice"] for d in debits}
    assert {t["sequence"] for t in found} == {"RCUR"}
    with engine.store.unit(commit=False) as unit:
        batches = unit.connection.execute(select(sepa_batches.c.collection_date)).scalars().all()
    assert sorted(batches) == ["2026-11-30", "2026-12-09"]


def test_a_b2b_collection_goes_into_its_own_file(engine):
    firm = postpay(engine, "firm", customer_type="business", reference="FIRM-1", scheme="B2B")
    firm.call("2026-11-03T10:00:00+01:00", US, 600)
    (debit,) = days(firm, "2026-12-01", 14)
    day = date.fromisoformat(debit["collection_date"])
    with pytest.raises(ExportRefused) as refused:
        export(engine.store, engine.catalog, day)
    assert refused.value.field == "collection_date"
    result = export(engine.store, engine.catalog, day, "B2B")
    xsd().validate(result.xml)
    assert ET.fromstring(result.xml).findtext(".//p:LclInstrm/p:Cd", namespaces=NS) == "B2B"


def test_too_late_for_the_lead_time_is_refused_and_records_nothing(engine):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    (debit,) = days(acme, "2026-12-01", 14)
    assert debit["collection_date"] == "2026-12-09"
    late = datetime(2026, 12, 9, 8, tzinfo=ZoneInfo("Europe/Berlin"))
    with pytest.raises(ExportRefused) as refused:
        export(engine.store, engine.catalog, date(2026, 12, 9), created_at=late)
    assert refused.value.field == "created_at"
    assert "must reach the bank by 2026-12-08" in refused.value.message
    assert collections_count(engine) == 0
    in_time = datetime(2026, 12, 8, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    result = export(engine.store, engine.catalog, date(2026, 12, 9), created_at=in_time)
    assert b"<CreDtTm>2026-12-08T09:30:00+01:00</CreDtTm>" in result.xml


def test_a_revoked_mandate_or_a_paid_invoice_is_not_collected(engine):
    anna = postpay(engine, "anna")
    bert = postpay(engine, "bert", reference="BERT-1")
    for customer in (anna, bert):
        customer.call("2026-11-03T10:00:00+01:00", US, 600)
    (_,) = days(anna, "2026-12-01", 14)
    (paid,) = days(bert, "2026-12-01", 14)
    anna.send("mandate.revoked", "2026-12-08T10:00:00+01:00")
    bert.send(
        "payment.received",
        "2026-12-08T10:00:00+01:00",
        amount=paid["amount"],
        method="bank_transfer",
        reference=paid["invoice"],
    )
    with pytest.raises(ExportRefused):
        export(engine.store, engine.catalog, date(2026, 12, 9))
    assert collections_count(engine) == 0


def test_a_late_clock_moves_the_collection_date(engine):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    acme.send("clock", "2026-12-01T08:00:00+01:00")
    (debit,) = effects_of(acme.send("clock", "2026-12-14T08:00:00+01:00"), "direct_debit_requested")
    # Due on Tuesday 8 December (AGB 4.2.2); fired on Monday 14th: collected on Tuesday 15th.
    assert (debit["date"], debit["collection_date"]) == ("2026-12-08", "2026-12-15")
    with engine.store.unit(commit=False) as unit:
        detail = unit.invoice(debit["invoice"]).detail
    # The invoice keeps the date it pre-notified (GoBD: issued documents never change); the
    # moved date is the file's (tests/test_document_archive.py).
    assert detail["mandate"]["collection_date"] == "2026-12-09"
    assert detail["direct_debit"]["collection_date"] == "2026-12-15"
    assert detail["direct_debit"]["prenotified_collection_date"] == "2026-12-09"


# -- pre-notification --------------------------------------------------------------------------


def test_the_invoice_carries_the_pre_notification(engine):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 6000)
    acme.send("clock", "2026-11-20T08:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        invoice = unit.invoice("2026-000001")
    assert invoice.detail["mandate"] == {
        "reference": "CLINQ-acme-1",
        "creditor_id": CREDITOR_ID,
        "collection_date": "2026-11-30",
        "iban": IBAN,  # the e-invoice names the account debited (EN 16931 BT-91)
    }
    text = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(render_invoice(invoice))).pages
    )
    assert (
        "Der Betrag von 29,00 EUR wird am 30.11.2026 mit der Mandatsreferenz CLINQ-acme-1 und "
        f"der Gläubiger-ID {CREDITOR_ID} eingezogen." in " ".join(text.split())
    )


def test_without_a_sepa_mandate_the_invoice_has_no_pre_notification(engine):
    acme = Customer(engine)
    acme.open(billing_method="postpay")  # a mandate on file, but no SEPA data
    acme.call("2026-11-03T10:00:00+01:00", US, 6000)
    acme.send("clock", "2026-11-20T08:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        invoice = unit.invoice("2026-000001")
    assert "mandate" not in invoice.detail
    assert "eingezogen" not in " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO(render_invoice(invoice))).pages
    )


# -- command line and API ----------------------------------------------------------------------


def test_the_cli_writes_the_file_once(engine, database_url, tmp_path, capsys):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    days(acme, "2026-12-01", 14)
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    args = ["sepa", "export", "--collection-date", "2026-12-09", "--db", database_url]
    assert main([*args, "--out", str(first)]) == 0
    assert main([*args, "--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert "as recorded before" in capsys.readouterr().err
    assert main(["sepa", "export", "--collection-date", "2026-11-31", "--db", database_url]) == 2
    assert "--collection-date" in capsys.readouterr().err
    assert collections_count(engine) == 1


def test_the_api_gives_the_file_to_a_finance_token_only(engine):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    days(acme, "2026-12-01", 14)
    app = create_app(engine=engine)
    client = app.test_client()
    finance = {"Authorization": f"Bearer {create_token(engine.store, 'fin', 'finance')}"}
    service = {"Authorization": f"Bearer {create_token(engine.store, 'svc', 'billing-service')}"}
    reader = {"Authorization": f"Bearer {create_token(engine.store, 'dash', 'reader')}"}
    url = "/api/v1/sepa/collections?date=2026-12-09"
    for headers, role in ((service, "billing-service"), (reader, "reader")):
        refused = client.get(url, headers=headers)
        assert refused.status_code == 403
        assert refused.json["error"]["message"] == f"A {role} token may not do this (sepa:export)."
    assert client.get(url).status_code == 401
    assert collections_count(engine) == 0
    response = client.get(url, headers=finance)
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    xsd().validate(response.data)
    assert client.get(url, headers=finance).data == response.data
    assert collections_count(engine) == 1
    for bad, field in (
        ("date=2026-02-30", "date"),
        ("date=30.11.2026", "date"),
        ("date=2026-11-30T00:00:00Z", "date"),
        ("", "date"),
        ("date=2026-11-30&scheme=B2C", "scheme"),
        ("date=2026-11-30&created_at=tomorrow", "created_at"),
    ):
        refused = client.get(f"/api/v1/sepa/collections?{bad}", headers=finance)
        assert (refused.status_code, refused.json["error"]["field"]) == (400, field), bad
    empty = client.get("/api/v1/sepa/collections?date=2026-12-30", headers=finance)
    assert empty.status_code == 404
    late = client.get(
        "/api/v1/sepa/collections?date=2026-12-31&created_at=2026-12-31T08:00:00%2B01:00",
        headers=finance,
    )
    assert late.status_code in (404, 409)


def test_the_file_depends_on_its_content_only(engine):
    """No wall clock, no random ids: the same collections make the same bytes."""
    from engine.interchange.sepa_export import build_xml, due_collections, message_id

    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    days(acme, "2026-12-01", 14)
    terms = engine.catalog.at(date(2026, 12, 9))
    created = datetime(2026, 12, 8, tzinfo=ZoneInfo("Europe/Berlin"))
    with engine.store.unit(commit=False) as unit:
        due = due_collections(unit.connection, date(2026, 12, 9), "CORE")
    msg_id = message_id(date(2026, 12, 9), "CORE", due)
    assert len(msg_id) <= 35
    files = [
        build_xml(
            due,
            date(2026, 12, 9),
            "CORE",
            msg_id,
            created,
            terms.clause("Platform: provider"),
            "pain.008.001.08",
        )
        for _ in range(2)
    ]
    assert files[0] == files[1]
    assert export(engine.store, engine.catalog, date(2026, 12, 9)).xml == files[0]
