"""The notice legal previews is the notice in the outbox and the e-mail the customer receives,
and its delivery starts the customer's windows (AGB 8; TKG § 57; Platform: receipt).

The e-mail goes through a real SMTP conversation (tests/smtp_sink.py, aiosmtpd's server)
by ``billing outbox send``, which posts ``notice.delivered`` to the engine.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from sqlalchemy import select

import billing.cli.operations as operations
from billing.cli.main import main
from billing.wsgi import create_app
from engine.ledger.tables import outbox
from tests.smtp_sink import SmtpSink
from tests.test_admin import csrf, login, new_draft, publish, save
from tests.test_cli_terms import FEE_FILE, GROUND, NOW, REASON, fee_version, platform

SENT = datetime(2026, 11, 19, 9, 30, tzinfo=UTC)  # Thursday 10:30 in Düsseldorf


def test_the_previewed_letter_is_the_outbox_and_the_email_and_delivery_starts_the_window(
    tmp_path, catalog, decider, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = platform(url, catalog, decider)
    try:
        app = create_app(engine=engine)
        app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
        client = app.test_client()
        login(client, "legal@example.com")
        draft_id = new_draft(client, FEE_FILE)
        save(client, draft_id, fee_version("2027-01-19"))
        token = csrf(client.get(f"/admin/drafts/{draft_id}").data)
        page = client.post(
            f"/admin/drafts/{draft_id}/letter",
            data={"reason": REASON, "ground": GROUND, "csrf_token": token},
        )
        shown = html.unescape(page.data.decode())
        previews = re.findall(r'<pre class="letter">(.*?)</pre>', shown, re.S)
        by_account = {re.search(r"Kundennummer: (\w+)", p).group(1): p for p in previews}
        assert set(by_account) == {"anna", "acme"}
        assert publish(client, draft_id, REASON, GROUND).status_code == 302

        with engine.store.db.connect() as connection:
            stored = {m.account: m for m in connection.execute(select(outbox))}
        for account, letter in by_account.items():
            assert stored[account].body == letter, "the preview is the letter in the outbox"

        monkeypatch.setattr(operations, "sending_instant", lambda: SENT)
        with SmtpSink() as sink:
            monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
            monkeypatch.setenv("BILLING_SMTP_PORT", str(sink.port))
            monkeypatch.setenv("BILLING_SMTP_FROM", "billing@siggate.example")
            assert main(["outbox", "send", "--db", url]) == 0
        mails = {recipients[0]: message for _, recipients, message in sink.messages}
        assert set(mails) == {"anna@example.com", "acme@example.com"}
        for account, letter in by_account.items():
            mail = mails[f"{account}@example.com"]
            assert mail["Subject"] == "Änderung Ihrer Vertragsbedingungen zum 19. Januar 2027"
            assert mail.get_content().rstrip("\n") == letter, "the e-mail is the previewed text"

        consumer = by_account["anna"]
        # TKG § 57 (1), not AGB 8.2's four weeks; and no deemed approval the statute does not give
        assert "geht sie Ihnen am 19. November 2026 zu, können Sie bis einschließlich " in consumer
        assert "19. Februar 2027 kündigen" in consumer
        assert "genehmigt" not in consumer and "Vertragsbestandteil" not in consumer
        assert "Anna Muster\nKö 1\n40212 Düsseldorf\n\nKundennummer: anna\n" in consumer
        assert "Datum: 19. November 2026" in consumer
        business = by_account["acme"]
        assert "19. Februar 2027 kündigen" in business and "genehmigt" not in business

        with engine.store.db.connect() as connection:
            sent = {m.account: m for m in connection.execute(select(outbox))}
        assert {m.status for m in sent.values()} == {"sent"}
        assert sent["anna"].sent_at == "2026-11-19T09:30:00+00:00"
        # the engine learned of the delivery: the window runs from receipt that Thursday
        right = engine.account("anna")["contract"]["special_termination"]
        assert (right["received_on"], right["until"], right["statute"]) == (
            "2026-11-19",
            "2027-02-19",
            "TKG § 57 (1)",
        )
    finally:
        engine.close()
