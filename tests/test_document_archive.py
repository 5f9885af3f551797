"""Issued documents never change (GoBD, § 14b UStG; issue 24 item 4): an invoice or credit note is
rendered once when it is issued, its bytes are archived with their SHA-256 (the hash in the
audit chain), and the API, the admin UI and the command line serve exactly those bytes after.
A later fact (a collection date moved by a late debit run, a return) never edits a document."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from pypdf import PdfReader
from sqlalchemy import func, select

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.access.tokens import create_token
from engine.catalog import PROJECT_ROOT
from engine.documents import archive as document_archive
from engine.ledger import audit
from engine.ledger.store import Store
from engine.ledger.tables import audit_log
from engine.ledger.tables import document_archive as archive_table
from engine.services import documents
from tests.conftest import Customer, effects_of
from tests.test_admin import PASSWORD, csrf

US = "+12125550100"
IBAN = "DE89370400440532013000"


def text_of(pdf: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split()
    )


def postpay(engine, name: str = "acme") -> Customer:
    """A consumer paying by SEPA direct debit (AGB 4.2.2): its invoices pre-notify the debit."""
    from tests.test_credit_notes import ADDRESS

    customer = Customer(engine, name)
    customer.open(
        billing_method="postpay",
        customer_type="consumer",
        customer={"name": "Anna Müller", "email": "anna@example.com", "address": ADDRESS},
    )
    granted = customer.send(
        "mandate.granted",
        "2026-11-02T10:00:00+01:00",
        reference=f"CLINQ-{name}-1",
        signed_on="2026-11-01",
        debtor_name="Anna Müller",
        iban=IBAN,
    )
    assert granted["status"] == "applied", granted
    return customer


class Faces:
    """The three doors an operator or a billing service downloads a document through."""

    def __init__(self, engine, tmp_path):
        self.engine, self.tmp_path, self.url = engine, tmp_path, engine.store.url
        app = create_app(engine=engine)
        app.config.update(SECRET_KEY="document-archive")
        self.api = app.test_client()
        self.reader = {"Authorization": f"Bearer {create_token(engine.store, 'r', 'reader')}"}
        with engine.store.db.begin() as connection:
            create_person(connection, "viewer@example.com", "viewer", PASSWORD)
        self.admin = app.test_client()
        token = csrf(self.admin.get("/admin/login").data)
        self.admin.post(
            "/admin/login",
            data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": token},
        )
        self.written = 0

    def cli(self, *args: str) -> bytes:
        self.written += 1
        out = self.tmp_path / f"download-{self.written}"
        assert main([*args, "--out", str(out), "--db", self.url]) == 0
        return out.read_bytes()

    def get(self, client, path: str, **headers) -> bytes:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.data
        return response.data

    def invoice(self, number: str) -> dict[str, bytes]:
        return {
            "api pdf": self.get(self.api, f"/api/v1/invoices/{number}.pdf", **self.reader),
            "api xml": self.get(self.api, f"/api/v1/invoices/{number}.xml", **self.reader),
            "api ubl": self.get(
                self.api, f"/api/v1/invoices/{number}.xml?format=xrechnung-ubl", **self.reader
            ),
            "admin pdf": self.get(self.admin, f"/admin/invoices/{number}.pdf"),
            "admin xml": self.get(self.admin, f"/admin/invoices/{number}.xml"),
            "cli pdf": self.cli("invoices", "pdf", number),
            "cli xml": self.cli("invoices", "xml", number),
        }

    def credit_note(self, number: str) -> dict[str, bytes]:
        return {
            "api pdf": self.get(self.api, f"/api/v1/credit-notes/{number}.pdf", **self.reader),
            "api xml": self.get(self.api, f"/api/v1/credit-notes/{number}.xml", **self.reader),
            "admin pdf": self.get(self.admin, f"/admin/credit-notes/{number}.pdf"),
            "admin xml": self.get(self.admin, f"/admin/credit-notes/{number}.xml"),
            "cli pdf": self.cli("credit-notes", "pdf", number),
            "cli xml": self.cli("credit-notes", "xml", number),
        }


def archived_entries(engine) -> list[dict]:
    with engine.store.db.connect() as connection:
        return [e for e in audit.entries(connection) if e["action"] == "document_archived"]


def test_gobd_an_invoice_downloaded_before_and_after_a_late_debit_run_is_byte_identical(
    engine, tmp_path
):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    (issued,) = effects_of(acme.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
    number = issued["invoice"]
    faces = Faces(engine, tmp_path)
    before = faces.invoice(number)
    assert before["api pdf"] == before["admin pdf"] == before["cli pdf"]
    assert before["api xml"] == before["admin xml"] == before["cli xml"]
    # AGB 4.2.2: the debit may come on Tuesday 8 December, collected on Wednesday 9th, as the
    # invoice pre-notifies it.
    assert "wird am 09.12.2026 mit der Mandatsreferenz CLINQ-acme-1" in text_of(before["api pdf"])

    # The debit run comes late, on Monday 14 December: the bank collects on Tuesday 15th.
    (debit,) = effects_of(acme.send("clock", "2026-12-14T08:00:00+01:00"), "direct_debit_requested")
    assert debit["collection_date"] == "2026-12-15"

    after = faces.invoice(number)
    for face, content in before.items():
        assert after[face] == content, f"{face}: the issued document changed"
    assert "15.12.2026" not in text_of(after["api pdf"])
    # The later fact is kept apart, for the file to the bank (and a letter), not on the invoice.
    with engine.store.unit(commit=False) as unit:
        invoice = unit.invoice(number)
    assert invoice.detail["mandate"]["collection_date"] == "2026-12-09"
    assert invoice.detail["direct_debit"]["collection_date"] == "2026-12-15"

    # The audit chain holds the SHA-256 of the bytes served, and it is intact.
    (entry,) = [e for e in archived_entries(engine) if e["detail"]["number"] == number]
    assert entry["detail"]["kind"] == "invoice"
    assert entry["detail"]["sha256"]["pdf"] == hashlib.sha256(before["api pdf"]).hexdigest()
    assert entry["detail"]["sha256"]["xrechnung-cii"] == (
        hashlib.sha256(before["api xml"]).hexdigest()
    )
    assert entry["detail"]["sha256"]["xrechnung-ubl"] == (
        hashlib.sha256(before["api ubl"]).hexdigest()
    )
    with engine.store.db.connect() as connection:
        assert audit.verify(connection) == []
    assert main(["audit", "verify", "--db", engine.store.url]) == 0
    assert main(["documents", "verify", "--db", engine.store.url]) == 0


def test_gobd_the_invoice_is_archived_when_it_is_issued_not_when_first_asked_for(engine):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    (issued,) = effects_of(acme.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
    with engine.store.db.connect() as connection:
        rows = connection.execute(
            select(archive_table.c.format, archive_table.c.sha256).where(
                archive_table.c.number == issued["invoice"]
            )
        ).all()
    assert {row.format for row in rows} == {"pdf", "xrechnung-cii", "xrechnung-ubl", "factur-x"}
    assert len(archived_entries(engine)) == 1


def test_serving_never_renders_an_archived_document_again(engine, monkeypatch, tmp_path):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    (issued,) = effects_of(acme.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
    faces = Faces(engine, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("an archived document was rendered again")

    monkeypatch.setattr(document_archive, "render_invoice_files", refuse)
    monkeypatch.setattr(document_archive, "render_credit_note_files", refuse)
    downloads = faces.invoice(issued["invoice"])
    assert downloads["api pdf"].startswith(b"%PDF")


def test_a_document_not_archived_yet_is_archived_on_first_request_once(
    database_url, catalog, decider, tmp_path
):
    from engine.engine import Engine

    # A crash between the commit that issued the invoice and its archiving.
    engine = Engine(database_url, catalog=catalog, decider=decider, archive_documents=False)
    try:
        acme = postpay(engine)
        acme.call("2026-11-03T10:00:00+01:00", US, 600)
        (issued,) = effects_of(acme.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
        number = issued["invoice"]
        assert archived_entries(engine) == []
        first = documents.invoice_pdf(engine.store, number, engine.catalog)
        again = documents.invoice_xml(engine.store, number)
        assert documents.invoice_pdf(engine.store, number, engine.catalog) == first
        (entry,) = archived_entries(engine)
        assert entry["detail"]["sha256"]["pdf"] == hashlib.sha256(first.content).hexdigest()
        assert entry["detail"]["sha256"]["xrechnung-cii"] == (
            hashlib.sha256(again.content).hexdigest()
        )
    finally:
        engine.close()


def objected(engine) -> tuple:
    """AGB 4.5.4: a business customer's November invoice, 12.34 EUR of it objected to on
    5 December and credited; the customer, the invoice_issued and credit_note.issued effects."""
    from tests.test_credit_notes import business

    firma = business(engine, "firma")
    firma.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    firma.call("2026-11-03T10:00:00+01:00", "+4921155555", 600)
    (invoice,) = effects_of(firma.send("clock", "2026-12-01T00:00:00+01:00"), "invoice_issued")
    objection = firma.send(
        "objection.received",
        "2026-12-05T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="12.34",
    )
    (note,) = effects_of(objection, "credit_note.issued")
    return firma, invoice, note


def test_gobd_a_credit_note_is_served_as_issued_and_its_hash_is_in_the_audit_chain(
    engine, tmp_path, monkeypatch
):
    firma, invoice, note = objected(engine)
    faces = Faces(engine, tmp_path)
    before = faces.credit_note(note["credit_note"])
    assert before["api pdf"] == before["admin pdf"] == before["cli pdf"]
    assert before["api xml"] == before["admin xml"] == before["cli xml"]
    # Later facts: another objection and the next month's invoice run.
    firma.send(
        "objection.received",
        "2026-12-10T10:00:00+01:00",
        invoice=invoice["invoice"],
        channel="letter",
        justified_amount="5.00",
    )
    firma.send("clock", "2027-01-01T00:00:00+01:00")
    monkeypatch.setattr(document_archive, "render_credit_note_files", None)  # never again
    after = faces.credit_note(note["credit_note"])
    assert after == before
    entries = {e["detail"]["number"]: e for e in archived_entries(engine)}
    entry = entries[note["credit_note"]]
    assert entry["detail"]["kind"] == "credit_note"
    assert entry["detail"]["sha256"]["pdf"] == hashlib.sha256(before["api pdf"]).hexdigest()
    assert entry["detail"]["sha256"]["xrechnung-cii"] == (
        hashlib.sha256(before["api xml"]).hexdigest()
    )
    with engine.store.db.connect() as connection:
        assert audit.verify(connection) == []


def _alembic(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_a_database_migrated_from_0017_gets_its_existing_documents_archived_once(
    tmp_path, catalog, decider, capsys
):
    from engine.engine import Engine
    from tests.test_credit_notes import scenario

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = Engine(url, catalog=catalog, decider=decider, archive_documents=False)
    scenario(engine)
    with engine.store.db.connect() as connection:
        invoices = connection.exec_driver_sql("SELECT count(*) FROM invoices").scalar_one()
        notes = connection.exec_driver_sql("SELECT count(*) FROM credit_notes").scalar_one()
    engine.close()
    command.downgrade(_alembic(url), "0017")  # as the database was before this change
    assert main(["db", "upgrade", "--db", url]) == 0
    capsys.readouterr()
    assert main(["documents", "archive", "--db", url]) == 0
    out = capsys.readouterr().out
    assert f"archived {invoices} invoices and {notes} credit notes" in out
    with Store(url) as store, store.db.connect() as connection:
        documents_archived = connection.execute(
            select(func.count(func.distinct(archive_table.c.number)))
        ).scalar_one()
        entries = connection.execute(
            select(func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == "document_archived")
        ).scalar_one()
        assert audit.verify(connection) == []
    assert documents_archived == entries == invoices + notes
    assert main(["documents", "archive", "--db", url]) == 0  # once: nothing is left to do
    assert "archived 0 invoices and 0 credit notes" in capsys.readouterr().out
    assert main(["documents", "verify", "--db", url]) == 0


def test_documents_verify_finds_an_archived_file_changed_in_the_database(engine, capsys):
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    (issued,) = effects_of(acme.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
    with engine.store.db.begin() as connection:
        connection.execute(
            archive_table.update()
            .where(archive_table.c.number == issued["invoice"], archive_table.c.format == "pdf")
            .values(content=b"%PDF-1.7 forged")
        )
    assert main(["documents", "verify", "--db", engine.store.url]) == 1
    out = capsys.readouterr().out
    assert f"invoice {issued['invoice']} (pdf)" in out


def test_replaying_into_a_fresh_database_archives_the_same_unsigned_documents(
    tmp_path, catalog, decider
):
    from engine.engine import Engine

    sums = []
    for name in ("first", "second"):
        engine = Engine(f"sqlite:///{tmp_path / name}.sqlite", catalog=catalog, decider=decider)
        acme = postpay(engine)
        acme.call("2026-11-03T10:00:00+01:00", US, 600)
        acme.send("clock", "2026-12-14T08:00:00+01:00")
        with engine.store.db.connect() as connection:
            sums.append(
                sorted(
                    (row.number, row.format, row.sha256)
                    for row in connection.execute(select(archive_table))
                )
            )
        engine.close()
    assert sums[0] == sums[1] and sums[0]


def test_the_archive_instant_is_the_one_wall_clock_reading_of_archiving(engine, monkeypatch):
    moment = datetime(2026, 12, 1, 7, 0, 5, tzinfo=UTC)
    monkeypatch.setattr(document_archive, "archive_instant", lambda: moment)
    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    acme.send("clock", "2026-12-01T08:00:00+01:00")
    (entry,) = archived_entries(engine)
    assert entry["at"] == "2026-12-01T07:00:05+00:00"
    with engine.store.db.connect() as connection:
        stamps = {row.archived_at for row in connection.execute(select(archive_table))}
    assert stamps == {"2026-12-01T07:00:05+00:00"}


@pytest.mark.parametrize(
    ("cents", "shown"), [(-5, "-0.05"), (-1234, "-12.34"), (0, "0.00"), (4299, "42.99")]
)
def test_the_api_shows_negative_invoice_amounts_as_decimal_strings(cents, shown):
    from api.documents import describe_invoice
    from engine.core.state import Invoice

    invoice = Invoice(
        number="2026-000001",
        account="acme",
        kind="monthly",
        issued_on="2026-12-01",
        due_on="2026-12-01",
        amount_cents=cents,
        open_cents=cents,
        clause="AGB 4.3.1",
        terms_version="2026-01-01",
        status="open",
    )
    described = describe_invoice(invoice)
    assert (described["amount"], described["open"]) == (shown, shown)
    assert json.loads(json.dumps(described))["amount"] == shown


def test_agb_4_3_2_a_signed_invoice_is_signed_once_when_issued_and_served_as_signed(
    tmp_path, capsys
):
    """The certificate signs when the invoice is issued and archived (``billing invoices run``);
    every download after is those bytes, though a signature is never made twice alike."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.test_documents import _throwaway_certificate

    db = f"sqlite:///{tmp_path / 'l.sqlite'}"
    events = tmp_path / "month.jsonl"
    assert main(["demo", "--accounts", "3", "--calls", "200"]) == 0
    events.write_text(capsys.readouterr().out)
    assert main(["replay", str(events), "--db", db]) == 0
    capsys.readouterr()
    path, _ = _throwaway_certificate(tmp_path)
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTHONWARN")
    }
    environment.update(BILLING_SIGNING_P12=str(path), BILLING_SIGNING_PASSPHRASE="secret")
    billing = Path(sys.executable).with_name("billing")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [billing, *args, "--db", db], capture_output=True, text=True, env=environment
        )

    done = run("invoices", "run", "--month", "2026-11")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr

    def download(number: str, name: str) -> bytes:
        out = tmp_path / name
        done = run("invoices", "pdf", number, "--out", str(out))
        assert (done.returncode, done.stderr) == (0, "")
        return out.read_bytes()

    numbers = ("2026-000001", "2026-000002", "2026-000003")
    first = {number: download(number, f"{number}.pdf") for number in numbers}
    signed = [n for n in numbers if "elektronisch signiert" in text_of(first[n])]
    assert signed, "the demo month has a business customer whose invoice is signed"
    assert download(signed[0], "again.pdf") == first[signed[0]]


def test_archiving_builds_each_cii_once_and_archives_the_bytes_built_alone(engine, monkeypatch):
    """The PDF's embedded Factur-X, the XRechnung and Factur-X files and the UBL's check all
    ask for the invoice's CII: archiving builds each profile once (einvoice.built_once), and
    the files hold exactly what each format gives built on its own."""
    from engine.documents import einvoice

    acme = postpay(engine)
    acme.call("2026-11-03T10:00:00+01:00", US, 600)
    engine.archive = None
    (issued,) = effects_of(acme.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
    with engine.store.unit(commit=False) as unit:
        invoice = unit.invoice(issued["invoice"])
    alone = {fmt: einvoice.build_einvoice(invoice, fmt) for fmt in einvoice.FORMATS}
    built = []
    build = einvoice._build_cii
    monkeypatch.setattr(
        einvoice, "_build_cii", lambda inv, fmt: built.append(fmt) or build(inv, fmt)
    )
    files = document_archive.render_invoice_files(invoice, engine.catalog, None, "2026-12-01")
    assert sorted(built) == sorted(set(built))  # no profile twice
    assert {f.format: f.content for f in files if f.format != "pdf"} == alone


def test_archiving_a_credit_note_builds_its_factur_x_once_and_archives_the_bytes_built_alone(
    engine, monkeypatch
):
    """The credit note PDF's embedded Factur-X and the Factur-X file are one build
    (einvoice.built_once), and each file holds what its format gives built on its own."""
    from engine.documents import credit_note_einvoice
    from engine.ledger import credit_note_store

    engine.archive = None
    _, _, issued = objected(engine)
    with engine.store.unit(commit=False) as unit:
        note = credit_note_store.credit_note(unit.connection, issued["credit_note"])
    alone = {
        fmt: credit_note_einvoice.build_credit_note_einvoice(note, fmt)
        for fmt in credit_note_einvoice.FORMATS
    }
    built = []
    build = credit_note_einvoice._build_credit_note_cii
    monkeypatch.setattr(
        credit_note_einvoice,
        "_build_credit_note_cii",
        lambda n, fmt: built.append(fmt) or build(n, fmt),
    )
    files = document_archive.render_credit_note_files(note, "2026-12-05")
    assert sorted(built) == sorted(set(built))  # no profile twice
    assert "factur-x" in built
    assert {f.format: f.content for f in files if f.format != "pdf"} == alone
