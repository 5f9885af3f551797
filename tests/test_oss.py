"""Consumers in other EU member states: destination VAT (§ 3a (5) UStG) and the One-Stop-Shop
(§ 18j UStG), issue 24 item 3.

A consumer in Paris was charged 19 % German VAT (1.10 on 5.80). Since 2015 a
telecommunications service to a consumer is supplied where the consumer lives: 20 % French VAT
(1.16 on 5.80), declared through the One-Stop-Shop. Figures: CLINQ (no monthly price), calls to
the USA 0.29 EUR a minute (sample rate table), 20 minutes = 5.80 EUR net.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from lxml import etree

from engine.billing.vat_treatment import CannotTax, vat_treatment
from engine.documents.einvoice import FACTUR_X_CII, XRECHNUNG_CII, build_cii, build_ubl
from engine.documents.invoice_pdf import render_invoice
from engine.interchange.eu_sales_list import Quarter
from engine.interchange.oss_return import oss_return, to_csv
from tests.conftest import Customer

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
US = "+12125550100"  # zone world, 0.29 EUR a minute
PARIS = {"street": "8 rue de Londres", "postal_code": "75009", "city": "Paris", "country": "FR"}
DUESSELDORF = {"street": "Kö 1", "postal_code": "40212", "city": "Düsseldorf", "country": "DE"}
ZURICH = {"street": "Bahnhofstr. 1", "postal_code": "8001", "city": "Zürich", "country": "CH"}
TALLINN = {"street": "Narva mnt 1", "postal_code": "10117", "city": "Tallinn", "country": "EE"}


def _consumer(name: str, address: dict) -> dict:
    return {"name": name, "email": "kunde@example.com", "address": address}


# --- the rule: a pure function of the catalog ------------------------------------------------


@pytest.mark.parametrize(
    ("country", "day", "treatment", "rate"),
    [
        ("FR", "2027-01-31", "oss", "20.00"),
        ("AT", "2027-01-31", "oss", "20.00"),
        ("HU", "2027-01-31", "oss", "27.00"),
        ("GR", "2027-01-31", "oss", "24.00"),
        ("FR", "2014-12-31", "domestic", None),  # before 2015: where the provider is
        ("DE", "2027-01-31", "domestic", None),
    ],
)
def test_ustg_3a_5_a_consumer_is_taxed_where_it_lives(catalog, country, day, treatment, rate):
    terms = catalog.at(date.fromisoformat(day))
    decided = vat_treatment(terms, customer_type="consumer", country=country)
    assert decided["treatment"] == treatment, decided
    assert decided["category"] == "S"
    if rate:
        assert (decided["rate"], decided["country"]) == (rate, country)
        assert decided["clauses"] == ["UStG § 3a", "Platform: oss"]
        assert decided["vat_clause"] == "UStG § 3a"


def test_a_rate_change_on_a_date_applies_from_that_date(catalog):
    """Estonia raised its standard rate from 22 to 24 % on 1 July 2025 (UStG § 3a, dated)."""

    def estonia(day: str) -> str:
        terms = catalog.at(date.fromisoformat(day))
        return vat_treatment(terms, customer_type="consumer", country="EE")["rate"]

    assert (estonia("2025-06-30"), estonia("2025-07-01")) == ("22.00", "24.00")


def test_every_member_state_has_a_rate_whenever_destination_taxation_applies(catalog):
    """No consumer in the EU falls through to 19 %: for every day a version of UStG § 3a,
    UStG § 13b or Platform: oss starts, every member state but Germany has a rate."""
    days = {
        version.effective_from
        for citation in ("UStG § 3a", "UStG § 13b", "Platform: oss")
        for version in catalog.at(date(2027, 1, 1)).clause(citation).file.versions
        if version.effective_from >= date(2015, 1, 1)
    }
    for day in sorted(days):
        terms = catalog.at(day)
        for country in sorted(set(terms.clause("UStG § 13b")["eu_member_states"]) - {"DE"}):
            decided = vat_treatment(terms, customer_type="consumer", country=country)
            assert decided["treatment"] == "oss", (day, country)


def test_a_consumer_outside_the_eu_cannot_be_taxed(catalog):
    with pytest.raises(CannotTax) as refused:
        vat_treatment(catalog.at(date(2027, 1, 31)), customer_type="consumer", country="CH")
    assert refused.value.clause == "Platform: oss"
    assert "CH" in refused.value.reason


# --- refused at the customer event -------------------------------------------------------------


def test_a_consumer_the_catalog_cannot_tax_is_refused_naming_the_field(engine):
    zurich = Customer(engine, "zuerich")
    refused = zurich.open(
        customer_type="consumer", country="CH", customer=_consumer("Hans Muster", ZURICH)
    )
    assert (refused["status"], refused["clause"]) == ("rejected", "Platform: oss")
    assert refused["reason"].startswith("/customer/address/country:"), refused["reason"]
    assert engine.account("zuerich") is None  # nothing stored
    # Without an address, the account's country decides and is named.
    bare = Customer(engine, "bare").send(
        "account.opened",
        "2026-11-02T09:00:00+01:00",
        plan="clinq",
        customer_type="consumer",
        billing_method="prepay",
        country="CH",
        area_code="0211",
    )
    assert bare["status"] == "rejected" and bare["reason"].startswith("/country:")
    # A consumer in Düsseldorf who moves to Zurich: the update is refused, the address stays.
    anna = Customer(engine, "anna")
    anna.open(customer_type="consumer", customer=_consumer("Anna Berg", DUESSELDORF))
    moved = anna.send(
        "account.updated", "2026-11-03T09:00:00+01:00", customer=_consumer("Anna Berg", ZURICH)
    )
    assert (moved["status"], moved["clause"]) == ("rejected", "Platform: oss")
    assert moved["reason"].startswith("/customer/address/country:")
    with engine.store.unit(commit=False) as unit:
        assert unit.account("anna").customer["address"]["country"] == "DE"
    # A move to Paris is accepted: French VAT from then on.
    moved = anna.send(
        "account.updated", "2026-11-04T09:00:00+01:00", customer=_consumer("Anna Berg", PARIS)
    )
    assert moved["status"] == "applied"


def test_the_api_answers_the_refusal_with_the_field_and_stores_nothing(engine):
    from billing.wsgi import create_app
    from engine.access.tokens import create_token

    client = create_app(engine=engine).test_client()
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'svc', 'billing-service')}"}
    event = {
        "id": "zuerich-1",
        "type": "account.opened",
        "account": "zuerich",
        "at": "2026-11-02T09:00:00+01:00",
        "plan": "clinq",
        "customer_type": "consumer",
        "billing_method": "prepay",
        "country": "CH",
        "area_code": "0211",
        "customer": _consumer("Hans Muster", ZURICH),
    }
    answer = client.post("/api/v1/events", json=event, headers=headers)
    assert answer.status_code < 500
    assert answer.json["status"] == "rejected"
    assert answer.json["reason"].startswith("/customer/address/country:")
    assert engine.account("zuerich") is None


def test_a_rate_change_applies_to_the_periods_after_it(engine):
    """An Estonian consumer's June 2025 is invoiced at 22 %, July 2025 at 24 % (5.80 net:
    1.276 -> 1.28 and 1.392 -> 1.39)."""
    tallinn = Customer(engine, "tallinn")
    tallinn.open(
        "2025-06-02T09:00:00+02:00",
        customer_type="consumer",
        country="EE",
        customer=_consumer("Mari Tamm", TALLINN),
    )
    tallinn.send("credit.topped_up", "2025-06-02T10:00:00+02:00", amount="20.00")
    tallinn.call("2025-06-03T10:00:00+02:00", US, 1200)
    tallinn.call("2025-07-03T10:00:00+02:00", US, 1200)
    tallinn.send("clock", "2025-08-01T08:00:00+02:00")
    with engine.store.unit(commit=False) as unit:
        found = {i.period: i.detail for i in unit.load_invoices(["tallinn"])["tallinn"]}
    assert (found["2025-06"]["vat_rate"], found["2025-06"]["vat"]) == ("22.00", "1.28")
    assert (found["2025-07"]["vat_rate"], found["2025-07"]["vat"]) == ("24.00", "1.39")


# --- invoices as issued -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger(tmp_path_factory, catalog, decider) -> str:
    """January to March 2027 for consumers in Paris, Vienna and Düsseldorf."""
    from engine.engine import Engine

    path = tmp_path_factory.mktemp("oss") / "ledger.sqlite"
    engine = Engine(f"sqlite:///{path}", catalog=catalog, decider=decider)
    opened = "2027-01-04T09:00:00+01:00"
    accounts = []
    for name, country, address in (
        ("paris", "FR", PARIS),
        ("wien", "AT", {**PARIS, "city": "Wien", "postal_code": "1010", "country": "AT"}),
        ("duesseldorf", "DE", DUESSELDORF),
    ):
        account = Customer(engine, name)
        account.open(
            opened, customer_type="consumer", country=country, customer=_consumer(name, address)
        )
        account.send("credit.topped_up", "2027-01-04T10:00:00+01:00", amount="50.00")
        account.call("2027-01-05T10:00:00+01:00", US, 1200)  # 5.80 net
        accounts.append(account)
    accounts[0].call("2027-03-05T10:00:00+01:00", US, 600)  # Paris, March: 2.90 net
    for account in accounts:
        account.send("clock", "2027-04-01T08:00:00+02:00")
    # A justified objection of 1.20 EUR gross to Paris's March invoice (issued 1 April), in
    # April 2027 (Q2): a credit note at 20 % (1.00 net + 0.20 VAT) for a service of 2027-Q1,
    # a correction of 2027-Q1 in the Q2 return.
    accounts[0].send(
        "objection.received",
        "2027-04-12T10:00:00+02:00",
        month="2027-03",
        channel="letter",
        justified_amount="1.20",
    )
    engine.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def issued(ledger) -> dict:
    from engine.ledger.store import Store

    with Store(ledger) as store, store.unit(commit=False) as unit:
        found = unit.load_invoices(["paris", "wien", "duesseldorf"])
    return {f"{a}:{i.period}": i for a, listed in found.items() for i in listed}


@pytest.fixture(scope="module")
def credit_notes(ledger) -> list:
    from engine.ledger import credit_note_store
    from engine.ledger.store import Store

    with Store(ledger) as store, store.unit(commit=False) as unit:
        return list(credit_note_store.credit_notes_of(unit.connection, "paris"))


def test_ustg_3a_5_a_french_consumer_pays_20_percent_french_vat(issued):
    detail = issued["paris:2027-01"].detail
    assert (detail["net"], detail["vat_rate"], detail["vat"]) == ("5.80", "20.00", "1.16")
    assert detail["gross"] == "6.96"
    treatment = detail["vat_treatment"]
    assert (treatment["treatment"], treatment["country"], treatment["rate"]) == (
        "oss",
        "FR",
        "20.00",
    )
    assert treatment["clauses"] == ["UStG § 3a", "Platform: oss"]
    assert "One-Stop-Shop" in treatment["note"] and "Frankreich" in treatment["note"]


def test_a_german_consumers_invoice_is_unchanged(issued):
    detail = issued["duesseldorf:2027-01"].detail
    assert (detail["net"], detail["vat_rate"], detail["vat"]) == ("5.80", "19.00", "1.10")
    assert detail["vat_treatment"] == {
        "treatment": "domestic",
        "category": "S",
        "note": None,
        "reason": "a consumer: German VAT (UStG § 12)",
        "clauses": ["UStG § 13b"],
        "terms_version": detail["vat_treatment"]["terms_version"],
    }


def test_the_vat_charge_cites_the_destination_rates(ledger):
    from engine.ledger.store import Store

    with Store(ledger) as store, store.unit(commit=False) as unit:
        rows = unit.connection.exec_driver_sql(
            "select account, amount_cents, clause from ledger_entries where kind = 'vat'"
            " order by account, id"
        ).fetchall()
    assert [tuple(r) for r in rows if r[0] == "paris"] == [
        ("paris", -116, "UStG § 3a"),
        ("paris", -58, "UStG § 3a"),
    ]
    assert [tuple(r) for r in rows if r[0] == "duesseldorf"] == [("duesseldorf", -110, "UStG § 12")]


def test_the_pdf_shows_the_french_rate(issued):
    from pypdf import PdfReader

    pdf = render_invoice(issued["paris:2027-01"])
    text = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "Umsatzsteuer 20,00 % (FR, § 3a Abs. 5 UStG)" in text
    assert "19,00 %" not in text and "One-Stop-Shop" in text


def _categories(xml: bytes) -> list[tuple[str | None, str | None]]:
    root = etree.fromstring(xml)
    return [
        (
            tax.findtext("ram:CategoryCode", None, NS),
            tax.findtext("ram:RateApplicablePercent", None, NS),
        )
        for tax in root.iterfind(
            ".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS
        )
    ]


def test_en_16931_the_french_vat_invoice_passes_the_official_rules(rules, issued):
    """Category S at 20 % with the seller's German VAT id (BR-S-02; BT-31); the consumer has
    none (BT-48 is only for reverse charge and intra-Community supplies)."""
    from facturx import xml_check_xsd

    invoice = issued["paris:2027-01"]
    cii = build_cii(invoice, XRECHNUNG_CII)
    assert xml_check_xsd(cii, flavor="factur-x", level="en16931")
    for layer in ("en16931-cii", "xrechnung-cii"):
        errors = rules.errors(layer, cii)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    ubl = build_ubl(invoice)
    for layer in ("en16931-ubl", "xrechnung-ubl"):
        errors = rules.errors(layer, ubl)
        assert not errors, f"{layer}: {[(e.id, e.text) for e in errors]}"
    errors = rules.errors("factur-x", build_cii(invoice, FACTUR_X_CII))
    assert not errors, [(e.id, e.text) for e in errors]
    assert _categories(cii) == [("S", "20.00")]
    assert b"DE999999999" in cii  # BT-31, the seller's VAT id


# --- the One-Stop-Shop return -------------------------------------------------------------------


def test_ustg_18j_the_oss_return_sums_per_member_state_and_rate(issued):
    result = oss_return(issued.values(), Quarter.parse("2027-Q1"))
    # Paris: January 5.80 + 1.16 and March 2.90 + 0.58; Vienna: January 5.80 + 1.16.
    # Düsseldorf is German VAT (UStG § 12) and not in the return.
    assert [(li.country, f"{li.rate}", li.net_cents, li.vat_cents) for li in result.lines] == [
        ("AT", "20.00", 580, 116),
        ("FR", "20.00", 870, 174),
    ]
    rows = list(csv.reader(io.StringIO(to_csv(result))))
    assert rows[1:] == [
        ["1", "AT", "STANDARD", "20.00", "5.80", "1.16", "", ""],
        ["1", "FR", "STANDARD", "20.00", "8.70", "1.74", "", ""],
    ]


def test_ustg_18j_a_credit_note_corrects_the_original_quarter_in_a_later_return(
    issued, credit_notes
):
    (note,) = credit_notes
    assert (note.detail["net"], note.detail["vat"], note.detail["vat_rate"]) == (
        "1.00",
        "0.20",
        "20.00",
    )
    q2 = oss_return(issued.values(), Quarter.parse("2027-Q2"), credit_notes)
    assert q2.lines == []
    assert [(c.country, str(c.quarter), c.vat_cents) for c in q2.corrections] == [
        ("FR", "2027-Q1", -20)
    ]
    assert list(csv.reader(io.StringIO(to_csv(q2))))[1:] == [
        ["4", "FR", "", "", "", "-0.20", "2027", "1"]
    ]
    q1 = oss_return(issued.values(), Quarter.parse("2027-Q1"), credit_notes)
    assert q1.corrections == [] and q1.vat_cents == 290  # issued in Q2: Q1 stays as filed


def test_billing_oss_export_writes_the_quarter_as_csv(ledger, tmp_path, capsys):
    from billing.cli.main import main

    out = tmp_path / "oss.csv"
    assert (
        main(["oss", "export", "--quarter", "2027-Q1", "--db", ledger, "--output", str(out)]) == 0
    )
    assert out.read_text(encoding="utf-8").splitlines()[1:] == [
        "1,AT,STANDARD,20.00,5.80,1.16,,",
        "1,FR,STANDARD,20.00,8.70,1.74,,",
    ]
    assert "2 lines, 0 corrections, 2.90 EUR VAT" in capsys.readouterr().err
    assert main(["oss", "export", "--quarter", "2027-Q5", "--db", ledger]) == 2
    assert "--quarter" in capsys.readouterr().err


# --- DATEV -------------------------------------------------------------------------------------


def test_datev_books_oss_revenue_and_vat_on_their_own_accounts(ledger, catalog, issued):
    """Platform: datev: net on 8339 (not taxable in Germany, taxable in another EU state), the
    French VAT on 1768, both with the member state and rate in DATEV's EU columns; the German
    consumer's invoice keeps 8402 and 1776."""
    from engine.interchange import datev
    from engine.ledger.store import Store

    with Store(ledger) as store, store.unit(commit=False) as unit:
        february = datev.month_postings(unit.connection, catalog, "2027-02")

    def booked(account: str) -> list[tuple]:
        number = issued[f"{account}:2027-01"].number
        return sorted(
            (p.amount_cents, p.contra, p.tax_key, p.eu_country, p.eu_rate)
            for p in february.postings
            if p.document == datev.belegfeld(number)
        )

    assert booked("paris") == [(116, "1768", "", "FR", "20,00"), (580, "8339", "", "FR", "20,00")]
    assert booked("duesseldorf") == [(110, "1776", "", "", ""), (580, "8402", "40", "", "")]
    line = datev.booking_line(
        next(p for p in february.postings if p.eu_country == "FR" and p.contra == "8339")
    )
    eu = datev.COLUMNS.index("EU-Land u. UStID (Bestimmung)")
    assert line[eu : eu + 2] == ['"FR"', "20,00"]


def test_the_platforms_other_choices_are_catalog_data(catalog_copy):
    """Platform: place-of-supply as_consumer taxes an EU business without a VAT id like a
    consumer; Platform: oss not_taxable bills a consumer outside the EU without VAT (O)."""
    from engine.catalog import load_catalog
    from tests.conftest import edit

    edit(
        catalog_copy / "rules/platform/place-of-supply.yaml",
        "      eu_business_without_vat_id: domestic_vat",
        "      eu_business_without_vat_id: as_consumer",
    )
    # the last version's choice (the earlier versions keep refuse)
    text = (catalog_copy / "rules/platform/oss.yaml").read_text()
    head, _, last = text.rpartition("      third_country_consumers: refuse")
    (catalog_copy / "rules/platform/oss.yaml").write_text(
        head + "      third_country_consumers: not_taxable" + last
    )
    terms = load_catalog(catalog_copy).at(date(2027, 1, 31))
    business = vat_treatment(terms, customer_type="business", country="AT")
    assert (business["treatment"], business["rate"]) == ("oss", "20.00")
    assert business["clauses"] == [
        "UStG § 13b",
        "Platform: place-of-supply",
        "UStG § 3a",
        "Platform: oss",
    ]
    swiss = vat_treatment(terms, customer_type="consumer", country="CH")
    assert (swiss["treatment"], swiss["category"], swiss["rate"]) == ("not_taxable", "O", "0.00")
