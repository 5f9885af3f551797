"""E-mail a customer can rely on (issue 27; AGB 2.3, 4.3.1, 8; UStG § 14; docs/mail.md).

Every issued invoice and credit note is queued once, with the archived file its customer gets
attached, and sent through a real SMTP conversation (tests/smtp_sink.py, aiosmtpd's server) by
the one sending service (engine/services/mail_delivery.py) that ``billing outbox send`` and the
scheduler call. A refusing server leaves the message ``failed`` with the reason and it is tried
again after the backoff; two senders never send one message twice.
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from lxml import etree
from sqlalchemy import insert, select, update

from billing.cli.main import main
from engine.catalog import PROJECT_ROOT
from engine.delivery.notifications import SmtpSettings
from engine.documents import archive
from engine.documents.document_mail import attachment_for
from engine.engine import Engine
from engine.ledger import audit
from engine.ledger.document_archive import ArchivedFile, files_of
from engine.ledger.store import create_database_engine
from engine.ledger.tables import invoices, outbox
from engine.services.mail_delivery import record_bounce, send_outbox
from tests.conftest import Customer, effects_of
from tests.smtp_sink import SmtpSink

ADDRESS = {"street": "Königsallee 1", "postal_code": "40212", "city": "Düsseldorf", "country": "DE"}
SENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday 1 December, 10:00 in Düsseldorf
DE = "+4921155555"


def customer(engine, account_id: str, kind: str = "business", **data) -> Customer:
    account = Customer(engine, account_id)
    fields = {"name": f"{account_id.title()} GmbH", "email": f"rechnung@{account_id}.example"}
    fields |= data
    result = account.open(
        plan="clinq-premium", customer_type=kind, customer={"address": ADDRESS, **fields}
    )
    assert result["status"] == "applied", result
    account.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    account.call("2026-11-03T10:00:00+01:00", DE, 600)
    return account


def month(engine) -> dict[str, str]:
    """Three customers' November invoices, issued on 1 December: their numbers by account."""
    accounts = [
        customer(engine, "firma", vat_id="DE123456788"),  # Factur-X (UStG § 14)
        customer(engine, "amt", vat_id="DE123456788", einvoice_format="xrechnung-cii"),
        customer(engine, "kundin", "consumer", name="Erika Muster"),
    ]
    numbers = {}
    for account in accounts:
        result = account.send("clock", "2026-12-01T08:00:00+01:00")
        (issued,) = effects_of(result, "invoice_issued")
        numbers[account.name] = issued["invoice"]
    return numbers


def settings(sink: SmtpSink, **more) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=sink.port, sender="rechnung@clinq.example", **more)


def messages(engine) -> dict[str, object]:
    """The outbox by document number (or account, for notices)."""
    with engine.store.db.connect() as connection:
        rows = connection.execute(select(outbox).order_by(outbox.c.id)).all()
    return {row.document or row.account: row for row in rows}


def attachments(mail) -> list:
    return list(mail.iter_attachments())


@pytest.fixture
def ledger(tmp_path, catalog, decider):
    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
    yield engine
    engine.close()


def test_agb_4_3_1_each_issued_invoice_is_mailed_once_with_the_file_its_customer_gets(ledger):
    from facturx import get_xml_from_pdf

    numbers = month(ledger)
    queued = messages(ledger)
    assert {queued[n].status for n in numbers.values()} == {"queued"}
    assert queued[numbers["firma"]].attachment == "pdf"
    assert queued[numbers["amt"]].attachment == "xrechnung-cii"
    with SmtpSink() as sink:
        report = send_outbox(ledger, settings(sink), SENT)
        assert (report.configured, report.sent, report.failed, report.still_queued) == (
            True,
            3,
            0,
            0,
        )
        again = send_outbox(ledger, settings(sink), SENT + timedelta(hours=1))
    assert again.sent == 0 and len(sink.messages) == 3, "the second run sends nothing"
    mails = {recipients[0]: mail for _, recipients, mail in sink.messages}
    assert set(mails) == {
        "rechnung@firma.example",
        "rechnung@amt.example",
        "rechnung@kundin.example",
    }
    with ledger.store.db.connect() as connection:
        archived = {n: files_of(connection, "invoice", n) for n in numbers.values()}

    firma = mails["rechnung@firma.example"]
    assert firma["Subject"] == f"Ihre Rechnung {numbers['firma']} vom 1. Dezember 2026"
    assert firma["From"] == "rechnung@clinq.example"
    (pdf,) = attachments(firma)
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"Rechnung-{numbers['firma']}.pdf"
    assert pdf.get_content() == archived[numbers["firma"]]["pdf"].content, "the archived bytes"
    name, xml = get_xml_from_pdf(io.BytesIO(pdf.get_content()), check_xsd=True)
    assert name == "factur-x.xml"
    assert etree.fromstring(xml).tag.endswith("CrossIndustryInvoice")
    body = firma.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith(
        "Firma GmbH\n\nKundennummer: firma\n\nSehr geehrte Kundin, sehr geehrter Kunde,\n\nanbei "
    )
    assert "ZUGFeRD / Factur-X" in body and "UStG § 14" in body
    assert "innerhalb von acht Wochen nach Zugang" in body  # the hint of AGB 4.5.3

    (cii,) = attachments(mails["rechnung@amt.example"])
    assert cii.get_content_type() == "application/xml"
    assert cii.get_content() == archived[numbers["amt"]]["xrechnung-cii"].content
    assert etree.fromstring(cii.get_content()).tag.endswith("CrossIndustryInvoice")
    assert "XRechnung (UN/CEFACT CII)" in mails["rechnung@amt.example"].get_body().get_content()

    (plain,) = attachments(mails["rechnung@kundin.example"])
    assert plain.get_content() == archived[numbers["kundin"]]["pdf"].content
    assert not get_xml_from_pdf(io.BytesIO(plain.get_content()), check_xsd=False)[1]
    assert mails["rechnung@kundin.example"].get_body().get_content().startswith("Erika Muster\n")

    sent = messages(ledger)
    for number in numbers.values():
        row = sent[number]
        assert (row.status, row.sent_at, row.attempts) == ("sent", "2026-12-01T09:00:00+00:00", 1)
    ids = {mail["Message-ID"] for mail in mails.values()}
    assert ids == {sent[n].message_id for n in numbers.values()} and len(ids) == 3
    assert all(i.startswith("<") and i.endswith("@clinq.example>") for i in ids)


def test_a_credit_note_is_mailed_like_an_invoice(ledger):
    numbers = month(ledger)
    firma = Customer(ledger, "firma")
    firma.sent = 100
    result = firma.send(
        "objection.received",
        "2026-12-05T10:00:00+01:00",
        invoice=numbers["firma"],
        channel="letter",
        justified_amount="1.00",
    )
    (note,) = effects_of(result, "credit_note.issued")
    number = note["credit_note"]
    assert messages(ledger)[number].kind == "credit_note"
    with SmtpSink() as sink:
        assert send_outbox(ledger, settings(sink), SENT + timedelta(days=4)).sent == 4
    (mail,) = [m for _, _, m in sink.messages if m["Subject"].startswith("Ihre Gutschrift")]
    assert mail["Subject"] == f"Ihre Gutschrift {number} vom 5. Dezember 2026"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert f"Rechnungskorrektur zu Rechnung Nr. {numbers['firma']} vom 01.12.2026" in body
    assert "Gutschriftbetrag: 1,00 EUR" in body
    (pdf,) = attachments(mail)
    with ledger.store.db.connect() as connection:
        assert pdf.get_content() == files_of(connection, "credit_note", number)["pdf"].content


def test_ustg_14_the_attachment_rules():
    def file(fmt: str, content: bytes | None = b"x") -> ArchivedFile:
        return ArchivedFile(
            "invoice", "1", fmt, fmt, "application/xml", fmt, content, None, None, ""
        )

    files = {f: file(f) for f in ("pdf", "xrechnung-cii", "xrechnung-ubl", "factur-x")}
    assert attachment_for("business", {}, files) == "pdf"
    assert attachment_for("business", {"einvoice_format": "zugferd"}, files) == "pdf"
    assert attachment_for("business", {"einvoice_format": "xrechnung-ubl"}, files) == (
        "xrechnung-ubl"
    )
    public = {"leitweg_id": "04011000-1234512345-06"}
    assert attachment_for("business", public, files) == "xrechnung-cii"
    chosen = public | {"einvoice_format": "xrechnung-ubl"}
    assert attachment_for("business", chosen, files) == "xrechnung-ubl"
    assert attachment_for("consumer", {"einvoice_format": "xrechnung-cii"}, files) == "pdf"
    refused = files | {"xrechnung-cii": file("xrechnung-cii", None)}  # BR-DE-… could not be made
    assert attachment_for("business", public, refused) == "pdf"


def test_an_smtp_server_that_refuses_for_now_leaves_failed_with_the_reason_then_it_is_sent(
    ledger,
):
    numbers = month(ledger)
    firma = numbers["firma"]
    with SmtpSink() as sink:
        sink.data_replies.append("451 4.3.0 Mailbox busy, try again later")
        first = send_outbox(ledger, settings(sink), SENT)
        assert (first.sent, first.retry_later, first.failed) == (2, 1, 0)
        failed = messages(ledger)[firma]
        assert failed.status == "failed"
        assert failed.error == "451 4.3.0 Mailbox busy, try again later"
        assert (failed.attempts, failed.next_attempt_at) == (1, "2026-12-01T09:05:00+00:00")
        assert any("451 4.3.0 Mailbox busy" in error for error in first.errors)
        early = send_outbox(ledger, settings(sink), SENT + timedelta(minutes=4))
        assert early.sent == 0, "not before the backoff"
        later = send_outbox(ledger, settings(sink), SENT + timedelta(minutes=5))
        assert later.sent == 1
    row = messages(ledger)[firma]
    assert (row.status, row.sent_at, row.attempts, row.error) == (
        "sent",
        "2026-12-01T09:05:00+00:00",
        2,
        None,
    )
    (mail,) = [m for _, to, m in sink.messages if to == ["rechnung@firma.example"]]
    assert mail["Message-ID"] == failed.message_id == row.message_id, "stable across retries"


def test_a_refused_recipient_is_given_up_and_a_closed_port_is_retried(ledger):
    numbers = month(ledger)
    with SmtpSink() as sink:
        port = sink.port
    closed = send_outbox(ledger, SmtpSettings(host="127.0.0.1", port=port, timeout=5), SENT)
    assert (closed.sent, closed.retry_later) == (0, 3)
    for number in numbers.values():
        row = messages(ledger)[number]
        assert row.status == "failed" and f"SMTP server 127.0.0.1:{port}" in row.error
        assert row.next_attempt_at == "2026-12-01T09:05:00+00:00"
    with SmtpSink() as sink:
        sink.rcpt_replies.append("550 5.1.1 <rechnung@firma.example>: no such user")
        report = send_outbox(ledger, settings(sink), SENT + timedelta(minutes=5))
        assert (report.sent, report.failed, report.retry_later) == (2, 1, 0)
        given_up = messages(ledger)[numbers["firma"]]
        assert (given_up.status, given_up.attempts, given_up.next_attempt_at) == ("failed", 2, None)
        assert "550 5.1.1 <rechnung@firma.example>: no such user" in given_up.error
        assert send_outbox(ledger, settings(sink), SENT + timedelta(days=2)).sent == 0


def test_the_fifth_failure_gives_up(ledger):
    month(ledger)
    with SmtpSink() as sink:
        port = sink.port
    at = SENT
    for waited in (
        timedelta(0),
        *[timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)],
    ):
        at += waited
        assert send_outbox(ledger, SmtpSettings(host="127.0.0.1", port=port), at).retry_later == 3
    last = send_outbox(ledger, SmtpSettings(host="127.0.0.1", port=port), at + timedelta(hours=12))
    assert (last.retry_later, last.failed) == (0, 3)
    assert {(r.attempts, r.next_attempt_at) for r in messages(ledger).values()} == {(5, None)}


def test_two_senders_at_once_send_each_message_once(database_url, catalog, decider):
    engine = Engine(database_url, catalog=catalog, decider=decider)
    other = Engine(database_url, catalog=catalog, decider=decider)  # as a second server would
    try:
        month(engine)
        with SmtpSink() as sink:
            sink.data_delay = 0.2  # both senders are sending while the other claims
            reports = []
            start = threading.Barrier(2)

            def send(node: Engine) -> None:
                start.wait()
                reports.append(send_outbox(node, settings(sink), SENT))

            senders = [threading.Thread(target=send, args=(node,)) for node in (engine, other)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
        assert sorted(r.sent for r in reports) in ([0, 3], [1, 2])
        assert len(sink.messages) == 3
        assert len({m["Message-ID"] for _, _, m in sink.messages}) == 3
        assert {r.status for r in messages(engine).values()} == {"sent"}
    finally:
        other.close()
        engine.close()


def test_starttls_with_login_over_a_checked_certificate(ledger):
    month(ledger)
    with SmtpSink(tls=True, login=("billing", "s3cret")) as sink:
        plain = send_outbox(ledger, settings(sink), SENT)
        assert plain.sent == 0 and plain.retry_later == 3  # the server requires STARTTLS
        secure = settings(sink, starttls=True, ca_file=sink.ca_file, user="billing")
        refused = send_outbox(ledger, secure, SENT + timedelta(minutes=5))
        assert refused.sent == 0 and "535" in refused.errors[0]  # no password
        good = SmtpSettings(**{**secure.__dict__, "password": "s3cret"})
        assert send_outbox(ledger, good, SENT + timedelta(minutes=35)).sent == 3
    assert len(sink.messages) == 3


def test_without_smtp_nothing_is_sent_and_the_messages_stay_queued(ledger):
    month(ledger)
    report = send_outbox(ledger, None, SENT)
    assert report.to_json() == {
        "configured": False,
        "sent": 0,
        "failed": 0,
        "retry_later": 0,
        "no_address": 0,
        "still_queued": 3,
        "errors": [],
    }


def test_an_account_without_an_e_mail_address_on_file_is_no_address(ledger):
    anon = Customer(ledger, "anon")
    anon.open(plan="clinq-premium", customer_type="consumer")
    anon.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="100.00")
    anon.call("2026-11-03T10:00:00+01:00", DE, 600)
    (issued,) = effects_of(anon.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
    row = messages(ledger)[issued["invoice"]]
    assert (row.status, row.recipient) == ("no_address", None)
    with SmtpSink() as sink:
        assert send_outbox(ledger, settings(sink), SENT).sent == 0
    assert not sink.messages


def test_publication_letters_are_sent_with_their_time_and_start_the_window(ledger):
    from tests.test_term_changes import open_customer, publish_fee

    open_customer(ledger, "anna", "consumer")
    publication = publish_fee(ledger, "2026-11-19T10:00:00+01:00", "2027-01-19")
    (letter,) = messages(ledger).values()
    assert (letter.kind, letter.publication, letter.status) == ("notice", publication, "queued")
    with SmtpSink() as sink:
        report = send_outbox(ledger, settings(sink), datetime(2026, 11, 19, 9, 30, tzinfo=UTC))
    assert report.sent == 1 and not report.errors
    (letter,) = messages(ledger).values()
    assert (letter.status, letter.sent_at) == ("sent", "2026-11-19T09:30:00+00:00")
    (_, _, mail) = sink.messages[0]
    assert mail["Message-ID"] == letter.message_id and not attachments(mail)
    right = ledger.account("anna")["contract"]["special_termination"]
    assert right["received_on"] == "2026-11-19"  # notice.delivered reached the engine


def test_billing_outbox_send_list_and_bounce(ledger, monkeypatch, capsys):
    import billing.cli.operations as operations

    numbers = month(ledger)
    url = ledger.store.url
    monkeypatch.setattr(operations, "sending_instant", lambda: SENT)
    assert main(["outbox", "send", "--db", url]) == 2  # no BILLING_SMTP_HOST: says so
    assert "BILLING_SMTP_HOST" in capsys.readouterr().err
    with SmtpSink() as sink:
        monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("BILLING_SMTP_PORT", str(sink.port))
        assert main(["outbox", "send", "--db", url]) == 0
    assert "sent 3, without an e-mail address 0, failed 0" in capsys.readouterr().out
    assert main(["outbox", "list", "--status", "sent", "--db", url]) == 0
    listed = capsys.readouterr().out
    assert (
        f"invoice\t{numbers['firma']}\tfirma\trechnung@firma.example\tsent\t1\t2026-12-01" in listed
    )

    message_id = messages(ledger)[numbers["kundin"]].message_id
    assert (
        main(
            [
                "outbox",
                "bounce",
                message_id.strip("<>"),
                "--reason",
                "5.2.2 mailbox full",
                "--db",
                url,
            ]
        )
        == 0
    )
    row = messages(ledger)[numbers["kundin"]]
    assert (row.status, row.error, row.next_attempt_at) == (
        "failed",
        "bounced: 5.2.2 mailbox full",
        None,
    )
    assert row.sent_at == "2026-12-01T09:00:00+00:00"  # it was sent; the bounce came after
    with ledger.store.db.connect() as connection:
        (entry,) = [e for e in audit.entries(connection) if e["action"] == "outbox_bounce"]
    assert entry["detail"]["reason"] == "5.2.2 mailbox full"
    capsys.readouterr()
    assert main(["outbox", "bounce", "<nobody@x>", "--reason", "x", "--db", url]) == 2
    assert "no message in the outbox has the Message-ID <nobody@x>" in capsys.readouterr().err
    assert main(["outbox", "list", "--status", "failed", "--db", url]) == 0
    assert "bounced: 5.2.2 mailbox full (gave up)" in capsys.readouterr().out


def test_a_bounce_needs_a_reason_and_a_sent_message(ledger):
    from engine.services.mail_delivery import BounceRefused

    numbers = month(ledger)
    with ledger.store.db.begin() as connection:
        queued = update(outbox).where(outbox.c.document == numbers["firma"])
        connection.execute(queued.values(message_id="<m1@x>"))  # queued, not sent
    with pytest.raises(BounceRefused, match="reason"):
        record_bounce(ledger.store, "<m1@x>", "  ", actor="t", at=SENT)
    with pytest.raises(BounceRefused, match="only a sent message bounces"):
        record_bounce(ledger.store, "<m1@x>", "gone", actor="t", at=SENT)
    assert messages(ledger)[numbers["firma"]].status == "queued"


def test_a_document_archived_late_is_mailed_once(tmp_path, catalog, decider):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    crashed = Engine(url, catalog=catalog, decider=decider, archive_documents=False)
    try:
        numbers = month(crashed)  # the process died between the commit and the archive
        assert messages(crashed) == {}
        archive.archive_missing(crashed.store, catalog)  # billing documents archive
        archive.archive_missing(crashed.store, catalog)
        rows = messages(crashed)
        assert {rows[n].status for n in numbers.values()} == {"queued"} and len(rows) == 3
    finally:
        crashed.close()


def test_documents_issued_before_the_upgrade_are_never_mailed_by_surprise(
    tmp_path, catalog, decider
):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    db = create_database_engine(url)
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with db.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0020")
    with db.begin() as connection:
        connection.execute(
            insert(invoices),
            [
                {
                    "number": "2026-000001",
                    "account": "old",
                    "kind": "monthly",
                    "issued_on": "2026-10-01",
                    "due_on": "2026-10-01",
                    "amount_cents": 1000,
                    "open_cents": 0,
                    "clause": "AGB 4.3.1",
                    "terms_version": "2026-01-01",
                    "status": "paid",
                    "state": "{}",
                }
            ],
        )
    db.dispose()
    engine = Engine(url, catalog=catalog, decider=decider)  # upgrades to the newest revision
    try:
        (row,) = messages(engine).values()
        assert (row.kind, row.document, row.status) == ("invoice", "2026-000001", "skipped")
        assert "not mailed on upgrade" in row.error
        with SmtpSink() as sink:
            assert send_outbox(engine, settings(sink), SENT).sent == 0
        assert not sink.messages
    finally:
        engine.close()


def test_the_admin_outbox_shows_kind_document_status_time_error_and_attempts(ledger):
    from admin_ui.views import letters_said
    from billing.wsgi import create_app
    from engine.access.people import create_person
    from tests.test_admin import PASSWORD, login
    from tests.test_term_changes import open_customer, publish_fee

    numbers = month(ledger)
    with SmtpSink() as sink:
        sink.data_replies.append("451 4.3.0 Mailbox busy, try again later")
        send_outbox(ledger, settings(sink), SENT)
    open_customer(ledger, "anna", "consumer")
    publication = publish_fee(ledger, "2026-11-19T10:00:00+01:00", "2027-01-19")
    assert letters_said(ledger, publication) == "letters queued for 4 customers"
    with ledger.store.db.begin() as connection:
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    app = create_app(engine=ledger)
    app.config.update(SECRET_KEY="test")
    client = app.test_client()
    login(client, "viewer@example.com")
    page = client.get("/admin/outbox").data.decode()
    assert numbers["firma"] in page and "Ihre Rechnung" in page
    assert "451 4.3.0 Mailbox busy, try again later" in page
    assert "next attempt 2026-12-01T09:05:00+00:00" in page
    assert "2026-12-01T09:00:00+00:00" in page  # the sent time of the others
    assert f"publication {publication}" in page
    failed = client.get("/admin/outbox?status=failed&kind=invoice").data.decode()
    assert numbers["firma"] in failed and numbers["kundin"] not in failed
    assert client.get("/admin/outbox?status=lost").status_code == 400
    with SmtpSink() as sink:
        send_outbox(ledger, settings(sink), SENT + timedelta(minutes=5))
    assert letters_said(ledger, publication) == "4 sent"


def test_en_16931_the_e_invoices_mailed_pass_the_official_rules(rules, ledger):
    from facturx import get_xml_from_pdf

    month(ledger)
    with SmtpSink() as sink:
        send_outbox(ledger, settings(sink), SENT)
    mails = {recipients[0]: mail for _, recipients, mail in sink.messages}
    (pdf,) = attachments(mails["rechnung@firma.example"])
    _, xml = get_xml_from_pdf(io.BytesIO(pdf.get_content()), check_xsd=False)
    assert rules.errors("factur-x", xml) == []
    (cii,) = attachments(mails["rechnung@amt.example"])
    assert rules.errors("xrechnung-cii", cii.get_content()) == []


def test_a_scratch_database_in_memory_mails_nothing(catalog, decider):
    scratch = Engine("sqlite://", catalog=catalog, decider=decider)
    try:
        month(scratch)
        assert messages(scratch) == {}
    finally:
        scratch.close()
