"""The month's bookings for the accountant: a DATEV Buchungsstapel (issue 12, Platform: datev).

The scenario: three customers open on Friday 2 October 2026 and call the USA (0.29 EUR/min).
Their October invoices are issued on Sunday 1 November; in November one pays by transfer, one
by direct debit that comes back (AGB 4.2.3), one tops up its credit. The flat fee of 9.80 EUR
for the returned debit is on the business customer's December invoice.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.cli.main import main
from engine.catalog import load_catalog
from engine.core.state import Invoice
from engine.interchange.datev import (
    COLUMNS,
    HEADER_FIELDS,
    Batch,
    Chart,
    DatevRefused,
    chart_of,
    document_postings,
    export,
    header_line,
    parse_month,
)
from tests.conftest import Customer, edit

US = "+12125550100"
BERLIN = ZoneInfo("Europe/Berlin")


def a_month(engine) -> dict[str, Customer]:
    """Anna (postpay consumer), Bäckerei Größe (postpay business on CLINQ Premium with two
    users) and Otto (prepay consumer with 50.00 EUR credit)."""
    anna = Customer(engine, "anna")
    anna.open(
        "2026-10-02T09:00:00+02:00",
        billing_method="postpay",
        customer_type="consumer",
        customer={"name": "Anna Müller", "email": "anna@example.org"},
    )
    firm = Customer(engine, "firm")
    firm.open(
        "2026-10-02T09:00:00+02:00",
        users=("anna", "ben"),
        plan="clinq-premium",
        billing_method="postpay",
        customer={"name": "Bäckerei Größe GmbH", "email": "buero@example.org"},
    )
    otto = Customer(engine, "otto")
    otto.open("2026-10-02T09:00:00+02:00", customer_type="consumer")
    otto.send("credit.topped_up", "2026-10-02T09:30:00+02:00", amount="50.00")
    anna.call("2026-10-03T10:00:00+02:00", US, 6000)  # 100 min x 0.29 = 29.00
    firm.call("2026-10-03T10:00:00+02:00", US, 600)  # 10 min x 0.29 = 2.90
    otto.call("2026-10-05T10:00:00+02:00", US, 1200)  # 20 min x 0.29 = 5.80
    for customer in (anna, firm, otto):
        customer.send("clock", "2026-11-01T08:00:00+01:00")
    otto.send("credit.topped_up", "2026-11-05T09:30:00+01:00", amount="20.00")
    anna.send(
        "payment.received",
        "2026-11-10T12:00:00+01:00",
        amount="34.51",
        method="bank_transfer",
        reference="2026-000002",
    )
    firm.send(
        "payment.received",
        "2026-11-12T12:00:00+01:00",
        amount="49.29",
        method="direct_debit",
        reference="2026-000004",
    )
    firm.send(
        "direct_debit.returned", "2026-11-20T12:00:00+01:00", amount="49.29", invoice="2026-000004"
    )
    return {"anna": anna, "firm": firm, "otto": otto}


def rows_of(data: bytes) -> list[list[str]]:
    """The file read back as DATEV writes it: Windows-1252, ';', '"', CRLF."""
    return list(csv.reader(io.StringIO(data.decode("cp1252"), newline=""), delimiter=";"))


def cents(text: str) -> int:
    assert re.fullmatch(r"[0-9]+,[0-9]{2}", text), text
    return int(text.replace(",", ""))


def test_the_header_has_the_documented_fields_in_order(engine):
    a_month(engine)
    data, _ = export(engine.store, engine.catalog, "2026-11")
    header = rows_of(data)[0]
    assert len(header) == len(HEADER_FIELDS) == 31
    expected = {
        "Kennzeichen": "EXTF",
        "Versionsnummer": "700",
        "Formatkategorie": "21",
        "Formatname": "Buchungsstapel",
        "Formatversion": "13",
        # No wall clock: the first instant after the month, Berlin time, with milliseconds.
        "Erzeugt am": "20261201000000000",
        "Importiert": "",
        "Herkunft": "RE",
        "Exportiert von": "siggate GmbH",
        "Importiert von": "",
        "Beraternummer": "1001",  # sample values of Platform: provider
        "Mandantennummer": "1",
        "WJ-Beginn": "20260101",
        "Sachkontenlänge": "4",
        "Datum vom": "20261101",
        "Datum bis": "20261130",
        "Bezeichnung": "CLINQ 2026-11",
        "Diktatkürzel": "",
        "Buchungstyp": "1",  # Finanzbuchführung
        "Rechnungslegungszweck": "0",
        "Festschreibung": "0",  # the tax advisor locks the month after review
        "WKZ": "EUR",
        "Sachkontenrahmen": "03",
    }
    assert {name: header[HEADER_FIELDS.index(name)] for name in expected} == expected
    raw_header = data.split(b"\r\n")[0].decode("cp1252")
    # Text fields are quoted, numbers are not.
    assert raw_header.startswith('"EXTF";700;21;"Buchungsstapel";13;20261201000000000;;"RE";')


def test_the_column_headings_are_the_125_of_format_version_13(engine):
    data, _ = export(engine.store, engine.catalog, "2026-11")
    headings = rows_of(data)[1]
    assert headings == list(COLUMNS)
    assert len(headings) == 125
    positions = {
        1: "Umsatz (ohne Soll/Haben-Kz)",
        2: "Soll/Haben-Kennzeichen",
        3: "WKZ Umsatz",
        7: "Konto",
        8: "Gegenkonto (ohne BU-Schlüssel)",
        9: "BU-Schlüssel",
        10: "Belegdatum",
        11: "Belegfeld 1",
        14: "Buchungstext",
        114: "Festschreibung",
        115: "Leistungsdatum",
        125: "Abw. Skontokonto",
    }
    assert {n: headings[n - 1] for n in positions} == positions


def test_an_empty_month_gives_a_header_only_file(engine):
    data, batch = export(engine.store, engine.catalog, "2026-09")
    assert batch.postings == []
    assert data.count(b"\r\n") == 2 and data.endswith(b"\r\n")
    assert len(rows_of(data)) == 2


def test_the_month_round_trips_through_csv_in_cp1252(engine):
    a_month(engine)
    data, batch = export(engine.store, engine.catalog, "2026-11")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    rows = rows_of(data)[2:]
    assert len(rows) == len(batch.postings) == 12
    for row, posting in zip(rows, batch.postings, strict=True):
        assert len(row) == 125
        assert cents(row[0]) == posting.amount_cents > 0  # decimal comma, always positive
        assert row[1] in ("S", "H") and row[2] == "EUR"
        assert re.fullmatch(r"[0-9]{4}", row[9])  # DDMM, the year is the header's
        assert row[9] == posting.day.strftime("%d%m")
        assert re.fullmatch(r"[A-Za-z0-9$&%*+\-/]{1,36}", row[10])
        assert len(row[13]) <= 60
    # Anna's invoice of Sunday 1 November: 100 minutes to the USA, 29.00 net on 8402 (calls,
    # BU-Schlüssel 40: net on an automatic account), VAT 29.00 x 19 % = 5.51 on 1776.
    assert rows[0][:14] == [
        "29,00", "S", "EUR", "", "", "", "10000", "8402", "40", "0111", "2026-000002", "", "",
        "Rechnung 2026-000002 Verbindungen",
    ]  # fmt: skip
    assert rows[1][:14] == [
        "5,51", "S", "EUR", "", "", "", "10000", "1776", "", "0111", "2026-000002", "", "",
        "Rechnung 2026-000002 Umsatzsteuer 19,00 %",
    ]  # fmt: skip
    # Each text field is quoted in the file.
    line = data.split(b"\r\n")[2].decode("cp1252")
    assert line.startswith('29,00;"S";"EUR";;;;10000;8402;"40";0111;"2026-000002";;;"Rechnung')


def test_the_file_balances_to_the_months_invoices_and_payments(engine):
    a_month(engine)
    _, batch = export(engine.store, engine.catalog, "2026-11")
    revenue = {"8400", "8401", "8402", "2700", "2650"}
    by_contra: dict[str, int] = {}
    for p in batch.postings:
        signed = p.amount_cents if p.side == "S" else -p.amount_cents
        by_contra[p.contra] = by_contra.get(p.contra, 0) + signed
    # Net: anna 29.00; firm 28.94 base (29.90 x 30/31) + 9.58 user (9.90 x 30/31) + 2.90;
    # otto 5.80: 29.00 + 41.42 + 5.80 = 76.22.
    assert sum(by_contra.get(a, 0) for a in revenue) == 7622
    # VAT: 5.51 + 7.87 (41.42 x 19 % = 7.8698) + 1.10 (5.80 x 19 % = 1.102) = 14.48.
    assert by_contra["1776"] == 1448
    invoice_debits = sum(
        p.amount_cents for p in batch.postings if p.side == "S" and p.contra != "1360"
    )
    assert invoice_debits == 7622 + 1448 == 3451 + 4929 + 690  # the gross of the 3 invoices
    # The clearing account: in 20.00 top-up + 34.51 + 49.29, out 49.29 returned.
    clearing = [(p.side, p.amount_cents, p.text) for p in batch.postings if p.contra == "1360"]
    assert clearing == [
        ("H", 2000, "Aufladung Guthaben"),
        ("H", 3451, "Zahlung 2026-000002"),
        ("H", 4929, "Zahlung 2026-000004"),
        ("S", 4929, "Rücklastschrift 2026-000004"),
    ]
    # Against the store: the revenue and VAT booked are the invoices' net and VAT.
    with engine.store.unit(commit=False) as unit:
        issued = [unit.invoice(n) for n in ("2026-000002", "2026-000004", "2026-000005")]
    assert sum(Decimal(i.detail["net"]) for i in issued) == Decimal("76.22")
    assert sum(Decimal(i.detail["vat"]) for i in issued) == Decimal("14.48")
    assert sum(i.amount_cents for i in issued) == invoice_debits
    # Every customer's debtor: anna 10000, firm 10001, otto 10002 (the order they came).
    debtors = {p.document: p.account for p in batch.postings if p.document.startswith("2026")}
    assert debtors == {"2026-000002": "10000", "2026-000004": "10001", "2026-000005": "10002"}


def test_the_returned_debit_fee_is_booked_with_the_invoice_that_lists_it(engine):
    customers = a_month(engine)
    for customer in customers.values():
        customer.send("clock", "2026-12-01T08:00:00+01:00")
    _, batch = export(engine.store, engine.catalog, "2026-12")
    fee = [p for p in batch.postings if "Rücklastschriftgebühr" in p.text]
    # AGB 4.2.3: 9.80 EUR, damages without VAT, on Sonstige Erträge (2700) with no key.
    assert [(f.amount_cents, f.side, f.account, f.contra, f.tax_key) for f in fee] == [
        (980, "S", "10001", "2700", "")
    ]
    # The November invoice for the negative credit asks for booked charges: not booked again.
    numbers = {p.document for p in batch.postings}
    with engine.store.unit(commit=False) as unit:
        kinds = {n: unit.invoice(n).kind for n in numbers}
    assert set(kinds.values()) == {"monthly"}


def test_umlauts_survive_windows_1252(engine):
    a_month(engine)
    data, _ = export(engine.store, engine.catalog, "2026-11")
    assert "Zusätzliche Nutzer".encode("cp1252") in data  # ä is one byte, 0xE4
    assert "Rücklastschrift".encode("cp1252") in data
    assert "BU-Schlüssel".encode("cp1252") in data
    assert "ü".encode() not in data  # never UTF-8
    text = data.decode("cp1252")
    assert "Rechnung 2026-000004 Zusätzliche Nutzer" in text


def test_the_same_month_gives_the_same_file(engine):
    a_month(engine)
    first, _ = export(engine.store, engine.catalog, "2026-11")
    again, _ = export(engine.store, engine.catalog, "2026-11")
    assert first == again
    created = datetime(2026, 12, 3, 9, 15, 30, 250000, tzinfo=BERLIN)
    later, _ = export(engine.store, engine.catalog, "2026-11", created)
    assert rows_of(later)[0][5] == "20261203091530250"
    assert rows_of(later)[2:] == rows_of(first)[2:]


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "November", "2026-11-01", ""])
def test_a_month_is_yyyy_mm_or_a_clear_error(text):
    with pytest.raises(DatevRefused) as refused:
        parse_month(text)
    assert refused.value.field == "month"
    assert "YYYY-MM" in refused.value.message
    assert parse_month("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))


def test_the_cli_writes_the_file_and_refuses_a_bad_month(engine, database_url, tmp_path, capsys):
    a_month(engine)
    out = tmp_path / "EXTF_Buchungsstapel_2026-11.csv"
    assert (
        main(["datev", "export", "--month", "2026-11", "--out", str(out), "--db", database_url])
        == 0
    )
    assert "12 bookings" in capsys.readouterr().err
    assert rows_of(out.read_bytes())[0][:5] == ["EXTF", "700", "21", "Buchungsstapel", "13"]
    assert main(["datev", "export", "--month", "2026-13", "--db", database_url]) == 2
    assert "--month: '2026-13' is not a month (YYYY-MM" in capsys.readouterr().err
    bad = [
        "datev",
        "export",
        "--month",
        "2026-11",
        "--created-at",
        "2026-12-01",
        "--db",
        database_url,
    ]
    assert main(bad) == 2
    assert "--created-at" in capsys.readouterr().err


def test_skr04_books_to_the_skr04_accounts(engine, catalog_copy):
    """The provider YAML chooses the chart; Platform: datev maps both."""
    a_month(engine)
    edit(
        catalog_copy / "rules/platform/provider.yaml",
        "chart_of_accounts: {value: SKR03,",
        "chart_of_accounts: {value: SKR04,",
    )
    terms = load_catalog(catalog_copy).at(date(2026, 11, 30))
    chart = chart_of(terms)
    with engine.store.unit(commit=False) as unit:
        invoice = unit.invoice("2026-000004")
    postings = document_postings(invoice, "10001", chart)
    assert [(p.amount_cents, p.contra, p.tax_key) for p in postings] == [
        (958, "4401", "40"),  # additional user
        (2894, "4400", "40"),  # base price
        (290, "4402", "40"),  # calls
        (787, "3806", ""),  # Umsatzsteuer 19 %
    ]
    batch = Batch(date(2026, 11, 1), date(2026, 11, 30), postings)
    header = header_line(terms, batch, datetime(2026, 12, 1, tzinfo=BERLIN), "CLINQ 2026-11")
    assert header[HEADER_FIELDS.index("Sachkontenrahmen")] == '"04"'


def test_a_credit_note_reverses_the_invoice_bookings(catalog):
    """Credit notes (AGB 4.5.4) plug in at DOCUMENT_POSTINGS: the same items, side H."""
    chart = chart_of(catalog.at(date(2026, 11, 30)))
    note = Invoice(
        number="2026-000009",
        account="anna",
        kind="credit_note",
        issued_on="2026-11-25",
        due_on="2026-11-25",
        amount_cents=-595,
        open_cents=0,
        clause="AGB 4.5.4",
        terms_version="2026-01-01",
        detail={
            "items": [{"kind": "call", "net": "5.00"}],
            "vat_rate": "19.00",
            "vat": "0.95",
        },
    )
    postings = document_postings(note, "10000", chart)
    assert [(p.amount_cents, p.side, p.account, p.contra) for p in postings] == [
        (500, "H", "10000", "8402"),
        (95, "H", "10000", "1776"),
    ]


def test_a_document_kind_without_bookings_is_an_error_not_skipped(catalog):
    chart: Chart = chart_of(catalog.at(date(2026, 11, 30)))
    odd = Invoice("2026-000010", "anna", "dunning", "2026-11-25", "2026-11-25", 100, 100, "X", "v")
    with pytest.raises(DatevRefused, match="'dunning', which has no bookings"):
        document_postings(odd, "10000", chart)


def test_a_debtor_number_never_changes_when_customers_come(engine):
    a_month(engine)
    _, before = export(engine.store, engine.catalog, "2026-11")
    newcomer = Customer(engine, "aaron")  # sorts first by name, comes last
    newcomer.open("2026-11-25T09:00:00+01:00")
    newcomer.send("credit.topped_up", "2026-11-25T09:30:00+01:00", amount="10.00")
    _, after = export(engine.store, engine.catalog, "2026-11")
    assert after.postings[: len(before.postings)] == before.postings
    assert [p.account for p in after.postings if p.text == "Aufladung Guthaben"][-1] == "10003"
