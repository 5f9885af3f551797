"""``billing terms`` shows the parameters in force at a date, with their sources."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

import billing.cli.terms as terms_cli
from admin_ui.audit_sentences import sentence
from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.people import create_person
from engine.catalog import PROJECT_ROOT, load_catalog
from engine.drafting.publishing import indent_version
from engine.engine import Engine
from engine.ledger.tables import audit_log, outbox, publications
from tests.conftest import Customer
from tests.test_admin import login, new_draft, publish, save


def test_terms_show_prints_a_clause_in_force(capsys):
    assert main(["terms", "show", "AGB 4.2.3", "--at", "2026-11-21"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [
        "AGB 4.2.3: Returned direct debit (Rücklastschrift)",
        "  file: rules/agb/4.2.3-returned-direct-debit.yaml",
        "  in force on 2026-11-21: version of 2009-07-03 (terms version 2026-01-01)",
    ]
    assert "  flat_fee                          9.80 EUR" in out


def test_terms_show_marks_sample_values_and_accepts_plan_ids(capsys):
    assert main(["terms", "show", "clinq-premium", "--at", "2026-11-21T10:00:00+01:00"]) == 0
    out = capsys.readouterr().out
    assert "monthly_price            29.90 EUR  [sample]" in out
    assert "local_numbers            10\n" in out


def test_terms_show_as_json_carries_amounts_as_strings(capsys):
    assert main(["terms", "show", "CLINQ SD 1.4", "--at", "2026-11-21", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["terms_version"] == "2026-01-01"
    assert document["parameters"]["notice_period"]["value"] == {"business_days": 1}
    assert document["parameters"]["valid_channels"]["value"] == ["email", "letter", "fax"]
    assert main(["terms", "show", "AGB 4.1.4", "--at", "2026-11-21", "--json"]) == 0
    fee = json.loads(capsys.readouterr().out)["parameters"]["handling_fee"]
    assert fee["value"] == "3.90"
    assert fee["disadvantage"] == "increase"
    assert fee["label_de"].startswith("Bearbeitungsgebühr")  # as customers' letters name it


def test_terms_show_before_a_clause_existed_is_an_error(capsys):
    assert main(["terms", "show", "CLINQ SD 1.4", "--at", "2019-05-01"]) == 2
    version = load_catalog().at(date(2019, 5, 1)).version  # the newest edition before then
    assert capsys.readouterr().err == (
        "error: CLINQ SD 1.4 (rules/clinq-sd/1.4-term-and-termination.yaml) is not part of "
        f"terms version {version}: its first version starts 2020-01-01 (asked for 2019-05-01)\n"
    )


def test_terms_list_and_history(capsys):
    assert main(["terms", "list", "--at", "2026-11-21"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Terms in force on 2026-11-21: terms version 2026-01-01\n")
    assert "CLINQ SD 2.2" in out and "(3 sample values)" in out
    assert main(["terms", "history", "BGB § 247"]) == 0
    history = capsys.readouterr().out
    assert "  from 2013-01-01\n    rate = -0.13 %\n" in history


# -- billing terms publish: the admin UI's Publish from git (AGB 8) ------------------------------

NOW = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)  # Thursday 19 November 2026, 10:00 in Düsseldorf
FEE_FILE = "rules/agb/4.2.3-returned-direct-debit.yaml"
REASON = "Unsere Bank hat ihre Gebühren für Rücklastschriften erhöht."
GROUND = "supplier_price_increase"
PASSWORD = "correct horse battery staple"


def fee_version(effective_from: str) -> str:
    return (
        f"effective_from: {effective_from}\nvalues:\n"
        '  flat_fee: "12.50 EUR"\n  lower_damage_provable: true\n'
        "  itemised_higher_costs_chargeable: true\n"
    )


def reviewed_file(tmp_path: Path, version: str) -> Path:
    """The catalog file as the merge request holds it: the new version appended."""
    target = tmp_path / "merge-request" / FEE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    source = (PROJECT_ROOT / FEE_FILE).read_text(encoding="utf-8").rstrip("\n")
    target.write_text(source + "\n" + indent_version(version), encoding="utf-8")
    return target


def platform(url: str, catalog, decider) -> Engine:
    """A ledger with a consumer and a business (with e-mail and address) and legal and product."""
    engine = Engine(url, catalog=catalog, decider=decider)
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
        create_person(connection, "pm@example.com", "product", PASSWORD)
    address = {"street": "Kö 1", "postal_code": "40212", "city": "Düsseldorf", "country": "DE"}
    for name, kind in (("anna", "consumer"), ("acme", "business")):
        customer = {"name": f"{name.title()} Muster", "email": f"{name}@example.com"}
        Customer(engine, name).open(customer_type=kind, customer={**customer, "address": address})
    return engine


def published(engine) -> tuple[list, list, list[str]]:
    with engine.store.db.connect() as connection:
        rows = connection.execute(select(publications)).all()
        shown = [
            {k: getattr(r, k) for k in r._fields if k not in ("id", "published_at")} for r in rows
        ]
        messages = [
            (m.account, m.recipient, m.subject, m.body, m.status)
            for m in connection.execute(select(outbox).order_by(outbox.c.account))
        ]
        entries = connection.execute(select(audit_log).where(audit_log.c.action == "publish")).all()
    said = [
        sentence({"actor": e.actor, "action": e.action, "detail": json.loads(e.detail)})
        for e in entries
    ]
    return shown, messages, said


def publish_in_the_admin_ui(engine, version: str):
    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    client = app.test_client()
    login(client, "legal@example.com")
    draft_id = new_draft(client, FEE_FILE)
    save(client, draft_id, version)
    return publish(client, draft_id, REASON, GROUND)


def test_billing_terms_publish_publishes_as_the_admin_ui_does(
    tmp_path, catalog, decider, monkeypatch, capsys
):
    """Same publication, same notices (letters), same audit sentence by either path."""
    version = fee_version("2027-01-19")
    by_ui = platform(f"sqlite:///{tmp_path / 'ui.sqlite'}", catalog, decider)
    cli_url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    by_cli = platform(cli_url, catalog, decider)
    try:
        assert publish_in_the_admin_ui(by_ui, version).status_code == 302
        monkeypatch.setattr(terms_cli, "publishing_instant", lambda: NOW)
        args = [
            "terms", "publish", str(reviewed_file(tmp_path, version)),
            "--effective", "2027-01-19", "--reason", REASON, "--ground", GROUND,
            "--as", "legal@example.com", "--db", cli_url,
        ]  # fmt: skip
        assert main(args) == 0
        out = capsys.readouterr().out
        assert out.strip() == (
            "Published AGB 4.2.3 from 2027-01-19 (publication 1); letters queued for 2 customers."
        )
        ui, cli = published(by_ui), published(by_cli)
        assert ui == cli
        publication, messages, sentences = cli
        assert publication[0]["published_by"] == "legal@example.com"
        assert [m[0] for m in messages] == ["acme", "anna"]
        assert "Kundennummer: anna" in messages[1][3] and "Anna Muster" in messages[1][3]
        assert sentences == [
            "legal@example.com published a new version of AGB 4.2.3 effective from 2027-01-19 "
            "(publication 1), notifying 2 customers on 2026-11-19 under AGB 8.1; ground "
            f"supplier_price_increase; reason: \u201c{REASON}\u201d."
        ]
    finally:
        by_ui.close()
        by_cli.close()


def test_billing_terms_publish_refuses_what_the_admin_ui_refuses(
    tmp_path, catalog, decider, monkeypatch, capsys
):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = platform(url, catalog, decider)
    monkeypatch.setattr(terms_cli, "publishing_instant", lambda: NOW)
    try:
        early = reviewed_file(tmp_path, fee_version("2026-12-01"))
        base = ["terms", "publish", str(early), "--effective", "2026-12-01", "--db", url]
        # too early for AGB 8.1's six weeks: the admin UI's sentence, and nothing published
        assert (
            main([*base, "--reason", REASON, "--ground", GROUND, "--as", "legal@example.com"]) == 1
        )
        out = capsys.readouterr().out
        assert (
            "  refused: AGB 8.1 needs the customers to be notified at least 6 weeks (AGB 8.1) "
            "before the change takes effect: notified on 2026-11-19, the earliest effective "
            "date is 2027-01-01, not 2026-12-01."
        ) in out
        page = publish_in_the_admin_ui(engine, fee_version("2026-12-01")).data.decode()
        assert "the earliest effective date is 2027-01-01, not 2026-12-01." in page
        good = reviewed_file(tmp_path, fee_version("2027-01-19"))
        base = ["terms", "publish", str(good), "--effective", "2027-01-19", "--db", url]
        # a price increase without its reason (AGB 8.1)
        assert main([*base, "--ground", GROUND, "--as", "legal@example.com"]) == 1
        assert (
            "  refused: A price increase needs its reason (AGB 8.1): customers are told why."
            in capsys.readouterr().out
        )
        # only legal publishes
        assert main([*base, "--reason", REASON, "--ground", GROUND, "--as", "pm@example.com"]) == 2
        assert "Only legal publishes changes of the terms (AGB 8)" in capsys.readouterr().err
        assert main([*base, "--reason", REASON, "--ground", GROUND]) == 2
        assert "--as EMAIL" in capsys.readouterr().err
        # --effective names the version
        assert main([*base[:4], "2027-01-20", *base[5:], "--dry-run"]) == 2
        assert "takes effect 2027-01-19, not 2027-01-20" in capsys.readouterr().err
        with engine.store.db.connect() as connection:
            assert connection.execute(select(publications)).all() == []
            assert connection.execute(select(outbox)).all() == []
    finally:
        engine.close()


def test_billing_terms_publish_dry_run_prints_the_check_and_the_letters(
    tmp_path, catalog, decider, monkeypatch, capsys
):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = platform(url, catalog, decider)
    monkeypatch.setattr(terms_cli, "publishing_instant", lambda: NOW)
    try:
        good = reviewed_file(tmp_path, fee_version("2027-01-19"))
        args = ["terms", "publish", str(good), "--effective", "2027-01-19", "--db", url]
        assert main([*args, "--reason", REASON, "--ground", GROUND, "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "  flat_fee: 9.80 EUR -> 12.50 EUR (disadvantage)" in out
        assert "  example ok  " in out
        assert (
            "  notice: AGB 8.1; earliest effective date 2027-01-01; notifies 1 consumers and "
            "1 businesses"
        ) in out
        assert "--- letter to Verbraucher (1; shown: customer anna) ---" in out
        assert "bis einschließlich 19. Februar 2027 kündigen" in out
        assert out.rstrip().endswith("publishable: yes")
        with engine.store.db.connect() as connection:
            assert connection.execute(select(publications)).all() == []
    finally:
        engine.close()
