"""Invoices and itemised bills: the monthly run, PDF content by text extraction, the EVN."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from billing.cli.main import main
from billing.demo import month_of_events
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.catalog import PROJECT_ROOT
from engine.documents.invoice_pdf import render_invoice
from engine.documents.itemised_bill import ItemisedBillRefused, itemised_bill
from tests.conftest import Customer, effects_of


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def month(engine):
    """A replayed demo month (both plans) and its invoice run on 1 December."""
    engine.handle_many(list(month_of_events("2026-11", accounts=8, calls=800, seed=4)))
    engine.advance(__import__("datetime").datetime.fromisoformat("2026-12-01T00:00:00+01:00"))
    return engine


def invoices(engine) -> list:
    with engine.store.unit(commit=False) as unit:
        found = unit.load_invoices([f"acct-{i:06d}" for i in range(8)])
    return sorted((i for lst in found.values() for i in lst), key=lambda i: i.number)


def test_agb_4_3_1_the_monthly_run_issues_one_invoice_per_account_numbered_without_gaps(month):
    issued = invoices(month)
    monthly = [i for i in issued if i.kind == "monthly"]
    assert len(monthly) == 8
    assert [i.number for i in issued] == [f"2026-{n:06d}" for n in range(1, len(issued) + 1)]
    assert {i.period for i in monthly} == {"2026-11"}
    before = len(issued)
    month.advance(__import__("datetime").datetime.fromisoformat("2026-12-01T00:00:00+01:00"))
    assert len(invoices(month)) == before, "re-running the month issues nothing twice"


def test_an_invoice_has_the_mandatory_content_of_section_14_ustg_and_the_objection_hint(month):
    invoice = next(
        i for i in invoices(month) if i.kind == "monthly" and i.detail["customer"].get("vat_id")
    )
    text = text_of(render_invoice(invoice))
    detail = invoice.detail
    customer = detail["customer"]
    for expected in (
        f"Rechnung {invoice.number}",  # number
        "Rechnungsdatum 01.12.2026",  # date
        "Leistungszeitraum 01.11.2026 bis 30.11.2026",  # period of service
        customer["name"],
        customer["address"]["street"],
        "40212 Düsseldorf",  # the customer
        f"USt-IdNr. des Kunden {customer['vat_id']}",
        "siggate GmbH",
        "Gladbacher Str. 74",
        "40219 Düsseldorf",  # the supplier
        "USt-IdNr. DE999999999",
        "Steuernummer",  # the supplier's tax numbers
        "Summe netto",
        "Umsatzsteuer 19,00 %",
        "Rechnungsbetrag brutto",
        "als genehmigt (AGB 4.5.1, 4.5.3)",  # AGB 4.5.3: the hint
        "keinen Einzelverbindungsnachweis (AGB 4.3.3)",
        "Geschäftsführer: Tim Mustermann, Thilo Beispiel",  # GmbHG § 35a
        "IBAN DE89 3704 0044 0532 0130 00",  # the account to pay to
    ):
        assert expected in text, expected
    net = detail["net"].replace(".", ",")
    assert f"{net} EUR" in text
    assert not re.search(r"\+\d{6,}", text), "no destination numbers on an invoice (AGB 4.3.3)"


def test_bgb_286_3_a_consumer_invoice_points_out_default_after_30_days_a_business_one_not(month):
    monthly = [i for i in invoices(month) if i.kind == "monthly"]
    by_type = {i.detail["customer_type"]: i for i in monthly}
    assert set(by_type) == {"consumer", "business"}
    consumer = " ".join(text_of(render_invoice(by_type["consumer"])).split())
    assert "Hinweis nach § 286 Abs. 3 BGB" in consumer
    assert "30 Tagen nach Fälligkeit und Zugang dieser Rechnung" in consumer
    assert "§ 286" not in text_of(render_invoice(by_type["business"]))


def test_vat_is_added_only_to_supplies_and_the_credit_pays_first(engine):
    acme = Customer(engine)
    acme.open(
        plan="clinq-premium",
        at="2026-11-02T09:00:00+01:00",
        billing_method="autoprepay",
        autoprepay={"threshold": "5.00", "amount": "20.00"},
    )
    acme.send("credit.topped_up", "2026-11-03T09:00:00+01:00", amount="30.00")
    acme.send("direct_debit.returned", "2026-11-04T09:00:00+01:00", amount="20.00")
    issued = effects_of(acme.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    (monthly,) = [e for e in issued if e["clause"] == "AGB 4.3.1"]
    with engine.store.unit(commit=False) as unit:
        detail = unit.invoice(monthly["invoice"]).detail
    # 29.90 x 29/30 = 28.90 base (taxable) and the 9.80 fee (damages, no VAT).
    assert [(i["kind"], i["net"], i["vat"]) for i in detail["items"]] == [
        ("base_fee", "28.90", True),
        ("returned_debit_fee", "9.80", False),
    ]
    assert (detail["net"], detail["vat"], detail["gross"]) == ("38.70", "5.49", "44.19")
    # Credit: 30.00 - 28.90 - 20.00 (reversed) - 9.80 = -28.70, invoiced on 20 November
    # (CLINQ SD 1.3); with VAT the debt is 34.19: 10.00 was paid by credit, 28.70 is claimed by
    # the earlier invoice, 5.49 is due.
    assert (detail["paid_by_credit"], detail["claimed_by_earlier_invoices"], detail["due"]) == (
        "10.00",
        "28.70",
        "5.49",
    )
    assert detail["earlier_invoices"] == ["2026-000001"]


def test_clinq_sd_2_5_only_premium_accounts_get_an_itemised_bill(month):
    with pytest.raises(ItemisedBillRefused) as refused:
        itemised_bill(month, next(a for a in _accounts(month) if a.plan == "clinq").id, "2026-11")
    assert refused.value.clause == "CLINQ SD 2.5"


def test_clinq_sd_2_5_flat_rate_connections_are_not_listed(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium", evn={"enabled": True})
    acme.call("2026-11-03T10:00:00+01:00", "+33612345678", 600)  # EU flat rate
    acme.call("2026-11-03T11:00:00+01:00", "+12125550100", 61)
    bill = itemised_bill(engine, "acme", "2026-11")
    assert [(c["to"], c["price"], c["start"]) for c in bill["connections"]] == [
        ("+12125550100", "0.58", "11:00:00")
    ]


def test_agb_5_5_numbers_are_shortened_on_request_and_the_bill_can_be_deactivated(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium", evn={"enabled": True, "shorten": True})
    acme.call("2026-11-03T11:00:00+01:00", "+12125550100", 61)
    assert itemised_bill(engine, "acme", "2026-11")["connections"][0]["to"] == "+12125550xxx"
    acme.send("account.updated", "2026-11-04T10:00:00+01:00", evn={"enabled": False})
    with pytest.raises(ItemisedBillRefused) as refused:
        itemised_bill(engine, "acme", "2026-11")
    assert refused.value.clause == "AGB 5.5"


def test_agb_4_4_5_deleted_traffic_data_no_longer_appear(engine):
    acme = Customer(engine)
    acme.open(plan="clinq-premium")
    acme.call("2026-11-03T11:00:00+01:00", "+12125550100", 61)
    acme.send("clock", "2026-12-01T00:00:00+01:00")
    assert len(itemised_bill(engine, "acme", "2026-11")["connections"]) == 1
    acme.send("data_deletion.requested", "2026-12-02T10:00:00+01:00", scope="traffic_data")
    bill = itemised_bill(engine, "acme", "2026-11")
    assert (bill["connections"], bill["traffic_data_deleted"]) == ([], True)


def test_the_api_serves_invoices_and_itemised_bills_as_json_and_pdf(month):
    app = create_app(engine=month)
    headers = {"Authorization": f"Bearer {create_token(month.store, 'docs', 'reader')}"}
    client = app.test_client()
    premium = next(a for a in _accounts(month) if a.plan == "clinq-premium").id
    listed = client.get(f"/api/v1/accounts/{premium}/invoices", headers=headers).json["invoices"]
    number = listed[-1]["number"]
    assert client.get(f"/api/v1/invoices/{number}", headers=headers).json["period"] == "2026-11"
    pdf = client.get(f"/api/v1/invoices/{number}.pdf", headers=headers)
    assert pdf.mimetype == "application/pdf" and f"Rechnung {number}" in text_of(pdf.data)
    evn = client.get(f"/api/v1/accounts/{premium}/evn?month=2026-11", headers=headers)
    assert evn.status_code == 200 and evn.json["connections"]
    evn_pdf = client.get(f"/api/v1/accounts/{premium}/evn.pdf?month=2026-11", headers=headers)
    assert "Einzelverbindungsnachweis 2026-11" in text_of(evn_pdf.data)
    clinq = next(a for a in _accounts(month) if a.plan == "clinq").id
    refused = client.get(f"/api/v1/accounts/{clinq}/evn?month=2026-11", headers=headers)
    assert refused.status_code == 409 and "(CLINQ SD 2.5)" in refused.json["error"]["message"]
    assert client.get("/api/v1/invoices/2026-999999", headers=headers).status_code == 404


def test_billing_invoices_run_and_pdf(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BILLING_SIGNING_P12", raising=False)
    db = f"sqlite:///{tmp_path / 'l.sqlite'}"
    events = tmp_path / "month.jsonl"
    assert main(["demo", "--accounts", "3", "--calls", "200"]) == 0
    events.write_text(capsys.readouterr().out)
    assert main(["replay", str(events), "--db", db]) == 0
    capsys.readouterr()
    assert main(["invoices", "run", "--month", "2026-11", "--db", db]) == 0
    run = capsys.readouterr()
    assert run.out.startswith("3 invoices issued for 2026-11")
    # No certificate configured: the operator hears of each unsigned business invoice.
    unsigned = [line for line in run.err.splitlines() if line.startswith("warning: invoice ")]
    assert unsigned and all("is not signed" in line for line in unsigned)
    assert main(["invoices", "run", "--month", "2026-11", "--db", db]) == 0
    assert capsys.readouterr().out.startswith("0 invoices issued")
    out = tmp_path / "invoice.pdf"
    assert main(["invoices", "pdf", "2026-000001", "--out", str(out), "--db", db]) == 0
    assert "Rechnung 2026-000001" in text_of(out.read_bytes())
    capsys.readouterr()
    number = unsigned[-1].split()[2]
    assert main(["invoices", "pdf", number, "--out", str(out), "--db", db]) == 0
    assert capsys.readouterr().err == f"{unsigned[-1]}\n"
    assert "signiert" not in text_of(out.read_bytes())
    artefacts = PROJECT_ROOT / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    (artefacts / "sample-invoice.pdf").write_bytes(out.read_bytes())


def test_billing_invoices_pdf_of_a_business_invoice_prints_no_warning(
    tmp_path, capsys, monkeypatch
):
    """An operator writing a business customer's (signed, Factur-X) invoice sees only the result:
    no library's deprecation warning on the terminal, on every invoice."""
    db = f"sqlite:///{tmp_path / 'l.sqlite'}"
    events = tmp_path / "month.jsonl"
    assert main(["demo", "--accounts", "3", "--calls", "200"]) == 0
    events.write_text(capsys.readouterr().out)
    assert main(["replay", str(events), "--db", db]) == 0
    path, _ = _throwaway_certificate(tmp_path)
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTHONWARN")
    }
    environment.update(BILLING_SIGNING_P12=str(path), BILLING_SIGNING_PASSPHRASE="secret")
    # Issued documents are rendered (and signed) once, when they are issued.
    monkeypatch.setenv("BILLING_SIGNING_P12", str(path))
    monkeypatch.setenv("BILLING_SIGNING_PASSPHRASE", "secret")
    capsys.readouterr()
    assert main(["invoices", "run", "--month", "2026-11", "--db", db]) == 0
    assert capsys.readouterr().err == ""  # every invoice AGB 4.3.2 wants signed is signed
    billing = Path(sys.executable).with_name("billing")
    written = []
    for number in ("2026-000001", "2026-000002", "2026-000003"):
        out = tmp_path / f"{number}.pdf"
        done = subprocess.run(
            [billing, "invoices", "pdf", number, "--out", str(out), "--db", db],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
        )
        assert (done.returncode, done.stderr) == (0, "")
        written.append((done.stdout, text_of(out.read_bytes())))
    business = [
        stdout for stdout, text in written if "Diese Rechnung ist elektronisch signiert" in text
    ]
    assert business, "the demo month has a business customer whose invoice is signed"
    assert all("ZUGFeRD" in stdout for stdout in business)


def _accounts(engine):
    with engine.store.unit(commit=False) as unit:
        return list(unit.load_accounts([f"acct-{i:06d}" for i in range(8)]).values())


def _throwaway_certificate(directory):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "siggate GmbH (test)")])
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "signing.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"billing", key, certificate, None, serialization.BestAvailableEncryption(b"secret")
        )
    )
    return path, certificate.public_bytes(serialization.Encoding.DER)


def test_agb_4_3_2_invoices_of_customers_entitled_to_deduct_input_tax_are_signed(month, tmp_path):
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from engine.documents.signing import SigningKey, invoice_document

    entitled = next(
        i
        for i in invoices(month)
        if i.kind == "monthly" and i.detail["customer"].get("input_tax_deduction")
    )
    consumer = next(
        i
        for i in invoices(month)
        if i.kind == "monthly" and not i.detail["customer"].get("input_tax_deduction")
    )
    path, certificate = _throwaway_certificate(tmp_path)
    signed = invoice_document(entitled, month.catalog, SigningKey(str(path), b"secret"))
    assert "Diese Rechnung ist elektronisch signiert (AGB 4.3.2)." in text_of(signed)
    (signature,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    trust = ValidationContext(trust_roots=[asn1_x509.Certificate.load(certificate)])
    status = validate_pdf_signature(signature, trust)
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    plain = invoice_document(consumer, month.catalog, SigningKey(str(path), b"secret"))
    assert PdfFileReader(io.BytesIO(plain)).embedded_signatures == []
    assert "signiert" not in text_of(plain)


def test_agb_4_3_2_an_unsigned_invoice_tells_the_operator_not_the_customer(month, caplog):
    # No configuration on a customer's document (issue 24): without a certificate the invoice
    # goes out unsigned and silent about it; the log, the CLI and the admin UI say so.
    from engine.documents.signing import invoice_document, unsigned_warning

    entitled = next(
        i
        for i in invoices(month)
        if i.kind == "monthly" and i.detail["customer"].get("input_tax_deduction")
    )
    with caplog.at_level("WARNING", logger="engine.documents.signing"):
        text = text_of(invoice_document(entitled, month.catalog, None))
    for leak in ("signiert", "Signaturzertifikat", "konfiguriert", "BILLING_"):
        assert leak not in text
    warning = unsigned_warning(entitled, month.catalog)
    assert warning == (
        f"invoice {entitled.number} (account {entitled.account}) is not signed, although its "
        "customer is entitled to deduct input tax (AGB 4.3.2): no signing certificate is "
        "configured (BILLING_SIGNING_P12)"
    )
    assert warning in caplog.messages


def test_agb_4_3_2_the_admin_ui_shows_unsigned_invoices_on_the_customer_page(month, monkeypatch):
    from engine.access.people import create_person
    from tests.test_admin import PASSWORD, csrf

    monkeypatch.delenv("BILLING_SIGNING_P12", raising=False)
    app = create_app(engine=month)
    app.config.update(SECRET_KEY="documents")
    with month.store.db.begin() as connection:
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    client = app.test_client()
    token = csrf(client.get("/admin/login").data)
    client.post(
        "/admin/login",
        data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": token},
    )
    by_account = {i.account: i for i in invoices(month) if i.kind == "monthly"}
    entitled = next(
        i for i in by_account.values() if i.detail["customer"].get("input_tax_deduction")
    )
    other = next(
        i for i in by_account.values() if not i.detail["customer"].get("input_tax_deduction")
    )
    page = client.get(f"/admin/accounts/{entitled.account}").data.decode()
    assert 'id="unsigned-invoices"' in page
    assert f"invoice {entitled.number} (account {entitled.account}) is not signed" in page
    assert 'id="unsigned-invoices"' not in client.get(f"/admin/accounts/{other.account}").text


def test_agb_4_4_1_an_invoice_paid_from_credit_says_there_is_nothing_to_pay(engine):
    # Top-up 50.00; 10 minutes to the US: 2.90 + 0.55 VAT = 3.45, all paid by the credit.
    # Another customer tops up 2.00 for the same calls: 2.00 paid by credit, 1.45 payable.
    full, part = Customer(engine, "voll"), Customer(engine, "teil")
    for customer, top_up in ((full, "50.00"), (part, "2.00")):
        customer.open(at="2026-11-02T09:00:00+01:00")
        customer.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount=top_up)
        customer.call("2026-11-03T10:00:00+01:00", "+12125550100", 600)
        customer.send("clock", "2026-12-01T08:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        found = unit.load_invoices(["voll", "teil"])
    (paid,), (partly,) = found["voll"], found["teil"]
    text = " ".join(text_of(render_invoice(paid)).split())
    assert "Bereits aus Ihrem Guthaben bezahlt — es ist nichts zu zahlen" in text
    assert "Zahlbar bis" not in text and "bereits aus Ihrem Guthaben bezahlt 3,45 EUR" in text
    text = " ".join(text_of(render_invoice(partly)).split())
    assert "bereits aus Ihrem Guthaben bezahlt 2,00 EUR" in text
    assert "Zahlbar bis 01.12.2026 (fällig mit Zugang, AGB 4.4.1) 1,45 EUR" in text
    assert "nichts zu zahlen" not in text


def test_the_admin_ui_offers_invoices_and_itemised_bills_as_downloads(month):
    from engine.access.people import create_person
    from tests.test_admin import PASSWORD, csrf

    app = create_app(engine=month)
    app.config.update(SECRET_KEY="documents")
    with month.store.db.begin() as connection:
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    client = app.test_client()
    token = csrf(client.get("/admin/login").data)
    client.post(
        "/admin/login",
        data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": token},
    )
    premium = next(a for a in _accounts(month) if a.plan == "clinq-premium").id
    page = client.get(f"/admin/accounts/{premium}").data.decode()
    number = re.search(r"/admin/invoices/(\d{4}-\d{6})\.pdf", page).group(1)
    pdf = client.get(f"/admin/invoices/{number}.pdf")
    assert pdf.mimetype == "application/pdf" and f"Rechnung {number}" in text_of(pdf.data)
    assert f"/admin/invoices/{number}.xml" in page  # XRechnung 3.0 (CII), next to the PDF
    xml = client.get(f"/admin/invoices/{number}.xml")
    assert xml.mimetype == "application/xml" and b"kosit:xrechnung_3.0" in xml.data
    evn = client.get(f"/admin/accounts/{premium}/evn.pdf?month=2026-11")
    assert "Einzelverbindungsnachweis 2026-11" in text_of(evn.data)
    assert b"acct-000000" in client.get("/admin/accounts").data


@pytest.mark.parametrize("font", ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"])
def test_the_embedded_font_subset_covers_german_text_and_european_names(font):
    """The shipped DejaVu Sans subsets (engine/documents/fonts/README.md) keep every character
    the documents print and the scripts of European names and addresses."""
    from fontTools.ttLib import TTFont

    from engine.documents.invoice_pdf import FONTS

    cmap = TTFont(FONTS / font).getBestCmap()
    text = (
        "Rechnung Gebühr Rücklastschrift Straße äöüÄÖÜß € § – „“ ‚‘ … · × ° ² ½ № "
        "Łódź Dvořák Ærøskøbing Şişli Târgu Mureș Ζωή Παπαδόπουλος Дмитрий Шевченко Ђорђе"
    )
    assert [c for c in text if ord(c) not in cmap] == []
