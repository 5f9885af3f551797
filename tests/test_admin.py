"""The admin UI and the publication workflow of AGB 8, through Flask's test client."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.catalog import load_catalog
from engine.drafting.publishing import assess, earliest_effective
from engine.ledger.tables import audit_log
from tests.conftest import Customer, effects_of

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)  # Saturday 21 November 2026
FEE_FILE = "rules/agb/4.2.3-returned-direct-debit.yaml"
PASSWORD = "correct horse battery staple"


def fee_draft(effective_from: str, fee: str = "12.00 EUR") -> str:
    return (
        f"effective_from: {effective_from}\n"
        "values:\n"
        f'  flat_fee: "{fee}"\n'
        "  lower_damage_provable: true\n"
        "  itemised_higher_costs_chargeable: true\n"
    )


@pytest.fixture
def admin(engine):
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with engine.store.db.begin() as connection:
        create_person(connection, "pm@example.com", "product", PASSWORD)
        create_person(connection, "legal@example.com", "legal", PASSWORD)
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    for name, kind in (("anna", "consumer"), ("acme", "business")):
        Customer(engine, name).open(
            at="2026-11-02T09:00:00+01:00",
            customer_type=kind,
            billing_method="autoprepay",
            autoprepay={"threshold": "5.00", "amount": "20.00"},
        )
    return app.test_client()


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def login(client, email: str) -> None:
    token = csrf(client.get("/admin/login").data)
    response = client.post(
        "/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.data


def new_draft(client, file: str) -> int:
    token = csrf(client.get(f"/admin/files/{file}").data)
    response = client.post("/admin/drafts", data={"file": file, "csrf_token": token})
    assert response.status_code == 302, response.data
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def save(client, draft_id: int, text: str):
    token = csrf(client.get(f"/admin/drafts/{draft_id}").data)
    return client.post(f"/admin/drafts/{draft_id}", data={"text": text, "csrf_token": token})


def publish(client, draft_id: int, reason: str = "", ground: str = ""):
    token = csrf(client.get(f"/admin/drafts/{draft_id}").data)
    return client.post(
        f"/admin/drafts/{draft_id}/publish",
        data={"reason": reason, "ground": ground, "csrf_token": token},
    )


# -- notice arithmetic and assessment (AGB 8) --------------------------------------------------


def test_agb_8_1_six_weeks_from_a_notice_on_wednesday_allow_the_change_from_the_thursday_after(
    catalog,
):
    # Notified Wednesday 2026-03-04; six weeks end with Wednesday 2026-04-15.
    assert earliest_effective(catalog, "AGB 8.1", date(2026, 3, 4)) == date(2026, 4, 16)
    assert earliest_effective(catalog, "AGB 8.4", date(2026, 11, 21)) == date(2027, 1, 3)
    assert earliest_effective(catalog, None, date(2026, 11, 21)) == date(2026, 11, 21)


def _assessed(catalog_copy, file: str, old: str, new: str):
    path = catalog_copy / file
    text = path.read_text()
    block = text[text.rindex("  - effective_from:") :]
    first = block.split("\n")[0]
    path.write_text(text + block.replace(first, "  - effective_from: 2027-06-01").replace(old, new))
    terms_file = next(f for f in load_catalog(catalog_copy).files if f.path == file)
    return assess(terms_file, terms_file.versions[-2], terms_file.versions[-1])


def test_agb_8_2_a_higher_fee_is_a_price_increase_with_the_consumers_termination_right(
    catalog_copy,
):
    assessment = _assessed(catalog_copy, FEE_FILE, '"9.80 EUR"', '"12.00 EUR"')
    assert (assessment.notice_clause, assessment.termination_clause, assessment.price_increase) == (
        "AGB 8.1",
        "AGB 8.2",
        True,
    )
    (change,) = [c for c in assessment.changes if c.effect != "unchanged"]
    assert (change.before, change.after, change.effect) == ("9.80 EUR", "12.00 EUR", "disadvantage")


def test_agb_8_2_a_change_of_vat_needs_notice_but_gives_no_termination_right(catalog_copy):
    assessment = _assessed(catalog_copy, "rules/law/ustg-12-vat.yaml", '"19.00 %"', '"21.00 %"')
    assert (assessment.notice_clause, assessment.termination_clause) == ("AGB 8.1", None)


def test_agb_8_5_fewer_free_minutes_are_a_change_of_the_service_description(catalog_copy):
    assessment = _assessed(
        catalog_copy, "tariffs/plans/clinq.yaml", "free_minutes: 60", "free_minutes: 30"
    )
    assert (assessment.notice_clause, assessment.termination_clause) == ("AGB 8.5", "AGB 8.6")


def test_agb_8_4_changes_only_to_the_customers_advantage_may_take_effect_at_once(catalog_copy):
    assessment = _assessed(catalog_copy, FEE_FILE, '"9.80 EUR"', '"7.50 EUR"')
    assert (assessment.disadvantage, assessment.notice_clause) == (False, None)
    longer = _assessed(
        catalog_copy,
        "rules/agb/4.5.1-objection-period.yaml",
        "objection_period: {weeks: 8}",
        "objection_period: {weeks: 10}",
    )
    assert (longer.disadvantage, longer.notice_clause) == (False, None)


# -- people and access -------------------------------------------------------------------------


def test_login_and_logout_with_csrf_protection(admin):
    assert admin.get("/admin/").status_code == 302
    token = csrf(admin.get("/admin/login").data)
    wrong = admin.post(
        "/admin/login", data={"email": "legal@example.com", "password": "no", "csrf_token": token}
    )
    assert wrong.status_code == 401 and b"Wrong e-mail or password." in wrong.data
    forged = admin.post("/admin/login", data={"email": "legal@example.com", "password": PASSWORD})
    assert forged.status_code == 400
    login(admin, "legal@example.com")
    assert b"AGB 4.2.3" in admin.get("/admin/").data
    admin.post("/admin/logout", data={"csrf_token": csrf(admin.get("/admin/").data)})
    assert admin.get("/admin/").status_code == 302


def test_a_product_manager_drafts_plans_but_neither_clauses_nor_publications(admin):
    login(admin, "pm@example.com")
    page = admin.get(f"/admin/files/{FEE_FILE}").data
    assert b"new-draft" not in page
    refused = admin.post(
        "/admin/drafts", data={"file": FEE_FILE, "csrf_token": csrf(page)}, follow_redirects=True
    )
    assert b"may not draft changes of AGB 4.2.3" in refused.data
    draft_id = new_draft(admin, "tariffs/plans/clinq-premium.yaml")
    denied = publish(admin, draft_id, "supplier prices", "supplier_price_increase")
    assert denied.status_code == 403 and b"Only legal publishes" in denied.data


def test_a_schema_error_in_a_draft_is_shown_at_its_line_and_can_be_fixed(admin):
    login(admin, "pm@example.com")
    draft_id = new_draft(admin, "tariffs/plans/clinq-premium.yaml")
    text = admin.get(f"/admin/drafts/{draft_id}").data.decode()
    original = re.search(
        r'<textarea name="text" id="yaml"[^>]*>(.*?)</textarea>', text, re.S
    ).group(1)
    original = original.replace("&#34;", '"').replace("&quot;", '"')
    broken = original.replace('value: "29.90 EUR"', "value: 31.90")
    page = save(admin, draft_id, broken).data.decode()
    assert 'id="error-count"' in page
    line = next(
        i for i, text in enumerate(broken.splitlines(), 1) if text.strip() == "value: 31.90"
    )
    assert f"line {line}, column 12: 31.9 is a YAML number" in page
    fixed = save(
        admin, draft_id, original.replace('value: "29.90 EUR"', 'value: "31.90 EUR"')
    ).data.decode()
    assert 'id="valid"' in fixed and "disadvantage" in fixed


# -- publishing (AGB 8) ------------------------------------------------------------------------


def test_agb_8_1_legal_cannot_raise_the_fee_five_weeks_out_but_six_weeks_out(admin, engine):
    # Notified Saturday 2026-11-21: six weeks end Saturday 2027-01-02; earliest 2027-01-03.
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2026-12-26"))
    early = publish(
        admin, draft_id, "Our bank raised its fees for returned debits.", "supplier_price_increase"
    )
    assert early.status_code == 400
    assert b"the earliest effective date is 2027-01-03, not 2026-12-26" in early.data
    save(admin, draft_id, fee_draft("2027-01-03"))
    no_ground = publish(admin, draft_id, "Our bank raised its fees.", "")
    assert b"choose the ground" in no_ground.data
    done = publish(
        admin, draft_id, "Our bank raised its fees for returned debits.", "supplier_price_increase"
    )
    assert done.status_code == 302
    outbox = admin.get(done.headers["Location"]).data.decode()
    assert outbox.count("<details>") == 2, "one notification per customer"
    assert "Änderung Ihrer Vertragsbedingungen zum 3. Januar 2027" in outbox
    # Sent Saturday: received Monday 2026-11-23 (Platform: receipt); TKG § 57 (1)'s three
    # months (mandatory over AGB 8.2's four weeks) end Tuesday 2027-02-23.
    assert "kündigen" in outbox and "bis einschließlich 23. Februar 2027" in outbox
    with engine.store.db.connect() as connection:
        from engine.ledger import audit

        assert audit.verify(connection) == []
        assert next(e["action"] for e in audit.entries(connection)) == "publish"


def deliver_all(engine, publication: int = 1, sent: datetime = NOW) -> None:
    """The delivery step (billing outbox send) without a mail server: notice.delivered."""
    from engine.delivery.notifications import deliver_publication

    with engine.store.db.begin() as connection:
        events = deliver_publication(connection, publication, sent)
    engine.handle_many(events)


def test_after_publication_a_returned_debit_costs_9_80_before_and_12_00_after(admin, engine):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2027-01-03"))
    publish(admin, draft_id, "Our bank raised its fees.", "supplier_price_increase")
    deliver_all(engine)  # e-mailed Saturday: received Monday 2026-11-23 (Platform: receipt)
    acme = Customer(engine, "acme")
    acme.sent = 100
    before = acme.send("direct_debit.returned", "2027-01-02T12:00:00+01:00", amount="20.00")
    # six weeks from receipt end Monday 2027-01-04: the fee rises for acme on Tuesday 01-05
    held = acme.send("direct_debit.returned", "2027-01-04T12:00:00+01:00", amount="20.00")
    after = acme.send("direct_debit.returned", "2027-01-05T12:00:00+01:00", amount="20.00")
    assert effects_of(before, "charge")[-1]["amount"] == "9.80"
    assert effects_of(held, "charge")[-1]["amount"] == "9.80"
    assert (
        effects_of(after, "charge")[-1]["amount"],
        effects_of(after, "charge")[-1]["terms_version"],
    ) == ("12.00", "2027-01-03")


def test_agb_8_2_a_consumer_terminating_within_four_weeks_leaves_when_the_change_takes_effect(
    admin, engine
):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2027-01-03"))
    publish(admin, draft_id, "Our bank raised its fees.", "supplier_price_increase")
    deliver_all(engine)  # received Monday 2026-11-23: the change takes effect for them 01-05
    anna = Customer(engine, "anna")
    anna.sent = 100
    terminated = anna.send(
        "termination.received", "2026-12-10T10:00:00+01:00", by="customer", channel="email"
    )
    (ends,) = effects_of(terminated, "contract_ends")
    assert (ends["clause"], ends["date"]) == ("AGB 8.2", "2027-01-05")
    acme = Customer(engine, "acme")
    acme.sent = 100
    business = acme.send(
        "termination.received", "2026-12-10T10:00:00+01:00", by="customer", channel="email"
    )
    # TKG § 57 (1) gives the right to every end user: the business leaves the same way
    (ends,) = effects_of(business, "contract_ends")
    assert (ends["clause"], ends["statute"], ends["date"]) == (
        "AGB 8.2",
        "TKG § 57 (1)",
        "2027-01-05",
    )


def test_agb_8_6_every_customer_may_terminate_on_a_disadvantageous_change_of_the_agb(admin, engine):
    # AGB 8.6 gives "dem Kunden" the right, businesses too (AGB 8.2 is for consumers only).
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, "rules/agb/4.4.5-traffic-data-deletion.yaml")
    save(
        admin,
        draft_id,
        "effective_from: 2027-01-03\nvalues:\n"
        "  retention_after_invoice: {weeks: 8}\n  early_deletion_on_request: false\n",
    )
    done = publish(admin, draft_id, "Deletion on request is no longer offered.", "")
    assert done.status_code == 302, done.data
    outbox = admin.get(done.headers["Location"]).data.decode()
    told = outbox.count("bis einschließlich 23. Februar 2027 kündigen")  # TKG § 57 (1)
    assert told == 2, "both customers are told of their right"
    deliver_all(engine)
    assert "Ziffer 8.6" in outbox
    for name, kind in (("anna", "consumer"), ("acme", "business")):
        customer = Customer(engine, name)
        customer.sent = 100
        terminated = customer.send(
            "termination.received", "2026-12-21T10:00:00+01:00", by="customer", channel="email"
        )
        (ends,) = effects_of(terminated, "contract_ends")
        assert (ends["clause"], ends["date"]) == ("AGB 8.6", "2027-01-05"), kind


def test_the_diff_says_which_change_is_to_the_customers_disadvantage(admin):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2027-01-03"))
    publish(admin, draft_id, "Our bank raised its fees.", "supplier_price_increase")
    page = admin.get(f"/admin/diff?file={FEE_FILE}&a=2009-07-03&b=2027-01-03").data.decode()
    assert "9.80 EUR" in page and "12.00 EUR" in page and 'class="disadvantage"' in page


def test_published_versions_are_immutable_and_tampering_with_the_audit_log_is_found(
    admin, engine, capsys
):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2027-01-03"))
    publish(admin, draft_id, "Our bank raised its fees.", "supplier_price_increase")
    again = save(admin, draft_id, fee_draft("2027-02-01"))
    assert (
        b"published versions never change" in admin.get(f"/admin/drafts/{draft_id}").data
        or again.status_code == 302
    )
    url = engine.store.url
    assert main(["audit", "verify", "--db", url]) == 0
    with engine.store.db.begin() as connection:
        connection.execute(
            update(audit_log)
            .where(audit_log.c.action == "publish")
            .values(actor="mallory@example.com")
        )
    assert main(["audit", "verify", "--db", url]) == 1
    assert "TAMPERED" in capsys.readouterr().out


def test_user_create_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'u.sqlite'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "create", "new@example.com", "--role", "legal", "--db", db]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "create", "x@example.com", "--role", "legal", "--db", db]) == 2
    assert "at least 12 characters" in capsys.readouterr().err


def test_terms_export_writes_drafts_as_catalog_files(admin, engine, tmp_path):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2027-01-03"))
    assert main(["terms", "export", "--out", str(tmp_path / "out"), "--db", engine.store.url]) == 0
    exported = (tmp_path / "out" / FEE_FILE).read_text()
    assert exported.endswith(
        '  - effective_from: 2027-01-03\n    values:\n      flat_fee: "12.00 EUR"\n'
        "      lower_damage_provable: true\n      itemised_higher_costs_chargeable: true\n"
    )


class _SmtpCapture:
    """A minimal SMTP server on loopback that records what it receives (for the test only)."""

    def __init__(self):
        import socketserver

        self.messages: list[str] = []
        capture = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 test ESMTP\r\n")
                data, reading = [], False
                for raw in self.rfile:
                    line = raw.decode()
                    if reading:
                        if line == ".\r\n":
                            capture.messages.append("".join(data))
                            data, reading = [], False
                            self.wfile.write(b"250 queued\r\n")
                        else:
                            data.append(line)
                        continue
                    command = line[:4].upper()
                    if command in ("EHLO", "HELO"):
                        self.wfile.write(b"250 test\r\n")
                    elif command == "DATA":
                        reading = True
                        self.wfile.write(b"354 go ahead\r\n")
                    elif command == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        import threading

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_notifications_are_sent_by_smtp_when_configured(admin, engine, monkeypatch, capsys):
    with_address = Customer(engine, "mail")
    with_address.open(
        at="2026-11-02T09:00:00+01:00",
        customer_type="consumer",
        customer={"name": "Maria Muster", "email": "maria@example.com"},
    )
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    save(admin, draft_id, fee_draft("2027-01-03"))
    publish(admin, draft_id, "Our bank raised its fees.", "supplier_price_increase")
    assert main(["outbox", "send", "--db", engine.store.url]) == 2  # not configured
    smtp = _SmtpCapture()
    monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BILLING_SMTP_PORT", str(smtp.port))
    try:
        assert main(["outbox", "send", "--db", engine.store.url]) == 0
    finally:
        smtp.close()
    assert "sent 1, without an e-mail address 2" in capsys.readouterr().out
    (message,) = smtp.messages
    assert "To: maria@example.com" in message
    assert (
        "Änderung Ihrer Vertragsbedingungen" in message
        or "=C3=84nderung" in message
        or "?utf-8?" in message
    )


def test_agb_8_3_a_price_increase_for_business_customers_only_needs_the_statutory_month(
    catalog_copy,
):
    # AGB 8.3 says "jederzeit"; TKG § 57 (2) (mandatory) requires one month's notice
    from engine.drafting.publishing import refusals

    assessment = _assessed(catalog_copy, FEE_FILE, '"9.80 EUR"', '"12.00 EUR"')
    catalog = load_catalog(catalog_copy)
    early = dict(notified_on=date(2027, 6, 1), reason="Supplier prices rose.", ground=None)
    (at_once,) = refusals(catalog, assessment, consumers_affected=False, **early)
    assert at_once.startswith(
        "AGB 8.3 needs the customers to be notified at least 1 month (TKG § 57 (2), mandatory "
        "over AGB 8.3) before the change takes effect"
    )
    assert "the earliest effective date is 2027-07-02" in at_once
    month_ahead = dict(early, notified_on=date(2027, 4, 30))  # a month ends 05-30
    assert refusals(catalog, assessment, consumers_affected=False, **month_ahead) == []
    (problem,) = refusals(
        catalog,
        assessment,
        consumers_affected=True,
        **dict(early, ground="supplier_price_increase"),
    )
    assert problem.startswith(
        "AGB 8.1 needs the customers to be notified at least 6 weeks (AGB 8.1)"
    )
