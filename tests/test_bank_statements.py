"""Money in from the bank (issue 28): camt.053.001.08 statements built here as ISO 20022 and
the Deutsche Kreditwirtschaft's DFÜ-Abkommen (Anlage 3) describe them; each credit that names
an invoice or customer number is booked as ``payment.received`` (AGB 4.2.1, 4.2.4), the rest
waits for finance; imported once per entry reference; hostile files refused as the returns
import refuses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from lxml import etree
from sqlalchemy import func, select

from billing.cli.main import main
from engine.interchange.bank_statements import (
    AssignmentRefused,
    StatementInvalid,
    assign,
    credits,
    event_id,
    import_statement,
    read_statement,
)
from engine.ledger.tables import audit_log, bank_credits, ledger_entries
from tests.test_sepa import postpay

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
IBAN = "DE89370400440532013000"


def _element(parent, tag: str, text: str | None = None, **attributes):
    child = etree.SubElement(parent, tag, **attributes)
    if text is not None:
        child.text = text
    return child


def camt053(credits_: list[dict], version: str = "08", day: str = "2026-12-03") -> bytes:
    """A camt.053 account statement (BkToCstmrStmt/Stmt) with one booked entry per credit:
    ``{"ref", "amount", "text", "debtor", "e2e", "sign"}``."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"

    def q(tag: str) -> str:
        return f"{{{ns}}}{tag}"

    def path(parent, tags: str, text: str | None = None, **attributes):
        *outer, last = tags.split("/")
        for tag in outer:
            parent = _element(parent, q(tag))
        return _element(parent, q(last), text, **attributes)

    root = etree.Element(q("Document"), nsmap={None: ns})
    body = _element(root, q("BkToCstmrStmt"))
    header = _element(body, q("GrpHdr"))
    _element(header, q("MsgId"), f"camt053-{day}")
    _element(header, q("CreDtTm"), f"{day}T06:00:00+01:00")
    statement = _element(body, q("Stmt"))
    _element(statement, q("Id"), f"stmt-{day}")
    _element(statement, q("ElctrncSeqNb"), "42")
    _element(statement, q("CreDtTm"), f"{day}T06:00:00+01:00")
    path(statement, "Acct/Id/IBAN", IBAN)
    for credit in credits_:
        entry = _element(statement, q("Ntry"))
        _element(entry, q("Amt"), credit["amount"], Ccy=credit.get("currency", "EUR"))
        _element(entry, q("CdtDbtInd"), credit.get("sign", "CRDT"))
        path(entry, "Sts/Cd", "BOOK")
        path(entry, "BookgDt/Dt", day)
        path(entry, "ValDt/Dt", day)
        _element(entry, q("AcctSvcrRef"), credit["ref"])
        path(entry, "BkTxCd/Domn/Cd", "PMNT")
        path(entry, "BkTxCd/Domn/Fmly/Cd", "RCDT")
        path(entry, "BkTxCd/Domn/Fmly/SubFmlyCd", "ESCT")
        tx = path(entry, "NtryDtls/TxDtls")
        path(tx, "Refs/EndToEndId", credit.get("e2e", "NOTPROVIDED"))
        path(tx, "Amt", credit["amount"], Ccy=credit.get("currency", "EUR"))
        path(tx, "RltdPties/Dbtr/Pty/Nm", credit.get("debtor", "Max Mustermann"))
        path(tx, "RmtInf/Ustrd", credit.get("text", ""))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def invoiced(engine):
    """anna (postpay consumer, 29.00) and firm (postpay business, 72.50) with November's
    invoices issued on 20 November, both open."""
    anna = postpay(engine, "anna")
    firm = postpay(engine, "firm", customer_type="business", reference="FIRM-1", bic="COBADEFFXXX")
    for customer, minutes in ((anna, 100), (firm, 250)):
        customer.call("2026-11-03T10:00:00+01:00", "+12125550100", minutes * 60)
        customer.send("clock", "2026-11-20T08:00:00+01:00")
    with engine.store.unit(commit=False) as unit:
        found = unit.load_invoices(["anna", "firm"])
    return {account: found[account][0] for account in ("anna", "firm")}


def count(engine, table) -> int:
    with engine.store.db.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_statement_books_by_invoice_and_customer_number_and_queues_the_rest(engine):
    anna = invoiced(engine)["anna"]
    data = camt053(
        [
            {"ref": "BANK-0001", "amount": "29.00", "text": f"Rechnung {anna.number} danke"},
            {"ref": "BANK-0002", "amount": "50.00", "text": "Kundennummer firm Abschlag"},
            {"ref": "BANK-0003", "amount": "12.34", "text": "Miete Dezember"},
            {"ref": "BANK-0004", "amount": "99.00", "sign": "DBIT", "text": "Lastschrift"},
        ]
    )
    report = import_statement(engine, data, actor="finance@example.com", at=NOW)
    assert report.message == "camt.053.001.08"
    assert [(o.status, o.account, o.invoice) for o in report.outcomes] == [
        ("booked", "anna", anna.number),
        ("booked", "firm", None),
        ("queued", None, None),
    ]
    assert report.other == 1  # the debit is no credit
    with engine.store.unit(commit=False) as unit:
        assert unit.invoice(anna.number).open_cents == 0  # paid: AGB 4.2.4 by its reference
        assert unit.invoice(anna.number).status == "paid"
    # Without an invoice number the transfer is booked to the customer's account (AGB 4.2.4).
    assert engine.account("firm")["balance"] == "-22.50"
    assert [e["kind"] for e in engine.ledger("firm")][-1] == "payment"
    assert report.outcomes[2].reason == "names no invoice number and no customer number"
    assert report.outcomes[0].event["id"] == event_id("BANK-0001")
    with engine.store.db.connect() as connection:
        queued = credits(connection, "queued")
        assert [(r.entry_reference, r.amount_cents) for r in queued] == [("BANK-0003", 1234)]
        actions = connection.execute(select(audit_log.c.action)).scalars().all()
    assert "bank_statement_imported" in actions


def test_the_same_statement_twice_books_nothing_twice(engine):
    invoices = invoiced(engine)
    data = camt053(
        [
            {"ref": "BANK-1", "amount": "29.00", "text": invoices["anna"].number},
            {"ref": "BANK-2", "amount": "5.00", "text": "unknown"},
        ]
    )
    import_statement(engine, data, actor="a", at=NOW)
    entries, rows = count(engine, ledger_entries), count(engine, bank_credits)
    again = import_statement(engine, data, actor="a", at=NOW)
    assert [o.status for o in again.outcomes] == ["already_imported", "already_imported"]
    assert (count(engine, ledger_entries), count(engine, bank_credits)) == (entries, rows)


def test_finance_assigns_a_queued_credit_and_the_invoice_is_paid(engine):
    invoices = invoiced(engine)
    firm = invoices["firm"]
    import_statement(
        engine,
        camt053([{"ref": "BANK-9", "amount": "72.50", "text": "Telefon Dezember"}]),
        actor="a",
        at=NOW,
    )
    with engine.store.db.connect() as connection:
        (queued,) = credits(connection, "queued")
    with pytest.raises(AssignmentRefused) as refused:
        assign(engine, queued.id, "anna", firm.number, actor="fin@example.com", at=NOW)
    assert refused.value.field == "invoice"
    with pytest.raises(AssignmentRefused) as refused:
        assign(engine, queued.id, "nobody", None, actor="fin@example.com", at=NOW)
    assert refused.value.field == "account"
    with pytest.raises(AssignmentRefused) as refused:
        assign(engine, queued.id, "firm", "2026\x00-1", actor="fin@example.com", at=NOW)
    assert refused.value.field == "invoice"
    result = assign(engine, queued.id, "firm", firm.number, actor="fin@example.com", at=NOW)
    assert result["status"] == "applied"
    with engine.store.unit(commit=False) as unit:
        assert unit.invoice(firm.number).status == "paid"
    with pytest.raises(AssignmentRefused, match="assigned already"):
        assign(engine, queued.id, "firm", None, actor="fin@example.com", at=NOW)
    with engine.store.db.connect() as connection:
        assert credits(connection, "queued") == []
        assert (
            "bank_credit_assigned" in connection.execute(select(audit_log.c.action)).scalars().all()
        )


def test_a_camt054_credit_notification_is_read_alike():
    data = camt053([{"ref": "R1", "amount": "10.00", "text": "acme"}])
    text = (
        data.replace(b"camt.053.001.08", b"camt.054.001.08")
        .replace(b"BkToCstmrStmt", b"BkToCstmrDbtCdtNtfctn")
        .replace(b"<Stmt>", b"<Ntfctn>")
        .replace(b"</Stmt>", b"</Ntfctn>")
    )
    statement = read_statement(text)
    assert statement.message == "camt.054.001.08"
    assert [(c.entry_reference, str(c.amount), c.remittance) for c in statement.credits] == [
        ("R1", "10.00", "acme")
    ]


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&lol2;</Document>'
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&x;</Document>'
)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (BOMB, "file", "DOCTYPE"),
        (EXTERNAL, "file", "DOCTYPE"),
        (BOMB.decode().encode("utf-16"), "file", "DOCTYPE"),
        (b"<Document", "file", "not well-formed"),
        (b"<Document xmlns='urn:example'/>", "Document", "camt.053"),
        (
            b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.008.001.08'/>",
            "Document",
            "camt.053",
        ),
        (
            b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'/>",
            "Document",
            "BkToCstmrStmt",
        ),
        (b" " * (64 * 1024 * 1024 + 1), "file", "larger than"),
    ],
)
def test_a_hostile_or_wrong_file_is_refused_and_changes_nothing(engine, data, field, words):
    before = count(engine, ledger_entries), count(engine, bank_credits), count(engine, audit_log)
    with pytest.raises(StatementInvalid) as refused:
        import_statement(engine, data, actor="a", at=NOW)
    assert refused.value.field == field
    assert words in refused.value.message
    after = count(engine, ledger_entries), count(engine, bank_credits), count(engine, audit_log)
    assert after == before


def test_the_cli_imports_once_and_exits_1_for_an_unreadable_file(engine, tmp_path, capsys):
    invoices = invoiced(engine)
    url = engine.store.url
    statement = tmp_path / "statement.xml"
    statement.write_bytes(
        camt053([{"ref": "CLI-1", "amount": "29.00", "text": invoices["anna"].number}])
    )
    engine.close()
    assert main(["bank", "import", str(statement), "--db", url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["booked"], report["queued"]) == (1, 0)
    assert report["credits"][0]["invoice"] == invoices["anna"].number
    assert main(["bank", "import", str(statement), "--db", url]) == 0
    assert "0 booked, 0 queued, 1 already imported" in capsys.readouterr().out
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BOMB)
    assert main(["bank", "import", str(bomb), "--db", url]) == 1
    assert "DOCTYPE" in capsys.readouterr().err
    assert main(["invoices", "list", "--status", "paid", "--db", url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["number"] for i in listed["invoices"]] == [invoices["anna"].number]
