"""Changes of the terms that hold up (issue 26): the statute wins where it is mandatory, the
windows run from receipt, and a notice never delivered changes nothing for that customer.

AGB 8.1, 8.2, 8.6; TKG § 57 (1), (2); TKG § 71; BGB §§ 130, 187, 188, 193; Platform: receipt.
Legal publishes through the one publishing service (engine/drafting/terms_publishing.py); the
delivery step sends the notices and posts ``notice.delivered`` (engine/delivery/notifications.py).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.catalog import load_catalog
from engine.contract.term_changes import received_on
from engine.delivery.notifications import deliver_publication, mark_sent
from engine.drafting.terms_publishing import publish_version
from engine.engine import Engine
from engine.ledger.tables import outbox
from tests.conftest import Customer

FEE_FILE = "rules/agb/4.2.3-returned-direct-debit.yaml"
REASON = "Unsere Bank hat ihre Gebühren für Rücklastschriften erhöht."


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def platform(catalog, decider):
    engine = Engine("sqlite://", catalog=catalog, decider=decider)
    yield engine
    engine.close()


def open_customer(engine, name: str, kind: str, plan: str = "clinq", **customer) -> Customer:
    account = Customer(engine, name)
    data = {"name": f"{name.title()} Muster", "email": f"{name}@example.com", **customer}
    result = account.open(
        at="2026-11-02T09:00:00+01:00", customer_type=kind, plan=plan, customer=data
    )
    assert result["status"] == "applied", result
    return account


def fee_text(effective_from: str, fee: str = "12.50 EUR") -> str:
    return (
        f'effective_from: {effective_from}\nvalues:\n  flat_fee: "{fee}"\n'
        "  lower_damage_provable: true\n  itemised_higher_costs_chargeable: true\n"
    )


def publish_fee(engine, published: str, effective_from: str) -> int:
    done = publish_version(
        engine,
        engine.catalog.file("AGB 4.2.3"),
        fee_text(effective_from),
        actor="legal@example.com",
        notified_at=at(published),
        reason=REASON,
        ground="supplier_price_increase",
    )
    assert not done.refused, done.problems
    return done.publication


def deliver(engine, publication: int, sent: str, accounts=None) -> list[dict]:
    """The delivery step: mark the notices sent at ``sent``, post notice.delivered."""
    with engine.store.db.begin() as connection:
        if accounts is None:
            events = deliver_publication(connection, publication, at(sent))
        else:
            rows = connection.execute(
                outbox.select().where(
                    outbox.c.publication == publication, outbox.c.account.in_(accounts)
                )
            ).all()
            events = mark_sent(connection, rows, at(sent))
    return engine.handle_many(events)


def terminate(customer: Customer, day: str) -> dict:
    result = customer.send(
        "termination.received", f"{day}T10:00:00+01:00", by="customer", channel="email"
    )
    assert result["status"] == "applied", result
    (ends,) = [e for e in result["effects"] if e["kind"] == "contract_ends"]
    return ends


# -- receipt (Platform: receipt; BGB § 130) -----------------------------------------------------


def test_an_email_counts_as_received_on_a_business_day_before_18_00_else_the_next_one(catalog):
    terms = catalog.at(at("2026-11-19T10:00:00+01:00"))
    assert received_on(terms, "email", at("2026-11-19T17:59:00+01:00")).isoformat() == "2026-11-19"
    assert received_on(terms, "email", at("2026-11-19T18:00:00+01:00")).isoformat() == "2026-11-20"
    # Friday evening: Monday; Saturday: Monday
    assert received_on(terms, "email", at("2026-11-20T19:00:00+01:00")).isoformat() == "2026-11-23"
    assert received_on(terms, "email", at("2026-11-21T10:00:00+01:00")).isoformat() == "2026-11-23"
    # Christmas (NRW public holidays 25 and 26 December): the next business day is Monday 28th
    assert received_on(terms, "email", at("2026-12-24T19:00:00+01:00")).isoformat() == "2026-12-28"
    # a letter: the third day after posting, the next working day (Werktag) if that is a Sunday
    assert received_on(terms, "letter", at("2026-11-19T10:00:00+01:00")).isoformat() == "2026-11-23"
    assert received_on(terms, "letter", at("2026-11-18T10:00:00+01:00")).isoformat() == "2026-11-21"


# -- the statute wins where it is mandatory (TKG § 57 (1), § 71 (1)) --------------------------


def test_a_consumer_who_terminates_seven_weeks_after_receipt_leaves_when_the_change_takes_effect(
    platform,
):
    anna = open_customer(platform, "anna", "consumer")
    number = publish_fee(platform, "2026-11-19T10:00:00+01:00", "2027-01-19")
    (delivered,) = deliver(platform, number, "2026-11-19T10:05:00+01:00")
    (received,) = [e for e in delivered["effects"] if e["kind"] == "notice_received"]
    assert received["received_on"] == "2026-11-19"
    assert received["termination_until"] == "2027-02-19"  # three months, not AGB 8.2's four weeks
    assert received["statute"] == "TKG § 57 (1)" and received["clause"] == "AGB 8.2"
    assert "TKG § 57 (1) 3 months instead of AGB 8.2 4 weeks" in received["termination_why"]
    ends = terminate(anna, "2027-01-07")  # seven weeks after receipt
    assert (ends["clause"], ends["statute"], ends["date"]) == (
        "AGB 8.2",
        "TKG § 57 (1)",
        "2027-01-19",
    )


def test_a_termination_after_the_change_took_effect_but_within_three_months_ends_at_once(
    platform,
):
    # TKG § 57 (1) sentence 3: the contract ends when the change takes effect, at the earliest
    anna = open_customer(platform, "anna", "consumer")
    deliver(
        platform,
        publish_fee(platform, "2026-11-19T10:00:00+01:00", "2027-01-19"),
        "2026-11-19T10:05:00+01:00",
    )
    ends = terminate(anna, "2027-02-10")
    assert (ends["clause"], ends["date"]) == ("AGB 8.2", "2027-02-10")


def test_a_consumer_who_terminates_after_three_months_leaves_with_the_ordinary_notice(platform):
    anna = open_customer(platform, "anna", "consumer")
    deliver(
        platform,
        publish_fee(platform, "2026-11-19T10:00:00+01:00", "2027-01-19"),
        "2026-11-19T10:05:00+01:00",
    )
    ends = terminate(anna, "2027-02-22")
    assert ends["clause"] != "AGB 8.2" and "statute" not in ends


@pytest.mark.parametrize(
    ("sent", "day", "special"),
    [
        # received Friday 2026-11-27: three months end Saturday 2027-02-27; BGB § 193: Monday
        ("2026-11-27T10:00:00+01:00", "2027-02-27", True),  # the nominal last day, a Saturday
        ("2026-11-27T10:00:00+01:00", "2027-03-01", True),  # the shifted last day
        ("2026-11-27T10:00:00+01:00", "2027-03-02", False),  # the day after
        # received Tuesday 2026-12-29: three months end on Easter Monday 2027-03-29 (NRW holiday)
        ("2026-12-29T10:00:00+01:00", "2027-03-28", True),  # the day before
        ("2026-12-29T10:00:00+01:00", "2027-03-30", True),  # the holiday's next working day
        ("2026-12-29T10:00:00+01:00", "2027-03-31", False),  # the day after
    ],
)
def test_the_last_day_to_terminate_moves_off_weekends_and_nrw_holidays(
    platform, sent, day, special
):
    anna = open_customer(platform, "anna", "consumer")
    number = publish_fee(platform, sent, "2027-03-01" if sent < "2026-12" else "2027-02-15")
    deliver(platform, number, sent)
    ends = terminate(anna, day)
    assert (ends["clause"] == "AGB 8.2") is special, ends


# -- whom the statute protects (TKG § 57 (1) "Endnutzer"; TKG § 71) ------------------------------


def test_a_business_is_an_end_user_and_holds_the_statutory_right_even_with_a_recorded_waiver(
    platform,
):
    # rules/law/tkg-71-scope.yaml: waiver_effective false until legal confirms (the source and
    # the customer-favourable reading are in the law file)
    acme = open_customer(platform, "acme", "business")
    firm = open_customer(platform, "firm", "business", tkg_rights_waived=True)
    deliver(
        platform,
        publish_fee(platform, "2026-11-19T10:00:00+01:00", "2027-01-19"),
        "2026-11-19T10:05:00+01:00",
    )
    for customer in (acme, firm):
        ends = terminate(customer, "2027-01-07")
        assert (ends["clause"], ends["statute"], ends["date"]) == (
            "AGB 8.2",
            "TKG § 57 (1)",
            "2027-01-19",
        )
    law = load_catalog().at(at("2026-11-19T10:00:00+01:00")).clause("TKG § 71")
    assert law.file.path == "rules/law/tkg-71-scope.yaml"
    assert "legal should confirm" in law.file.summary


def test_a_waiver_legal_confirmed_leaves_the_business_with_agb_8_2_as_written(
    catalog_copy, decider
):
    path = catalog_copy / "rules/law/tkg-71-scope.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("waiver_effective: false", "waiver_effective: true"))
    engine = Engine("sqlite://", catalog=load_catalog(catalog_copy), decider=decider)
    try:
        firm = open_customer(engine, "firm", "business", tkg_rights_waived=True)
        acme = open_customer(engine, "acme", "business")
        deliver(
            engine,
            publish_fee(engine, "2026-11-19T10:00:00+01:00", "2027-01-19"),
            "2026-11-19T10:05:00+01:00",
        )
        assert terminate(firm, "2026-12-01")["clause"] != "AGB 8.2"
        assert terminate(acme, "2026-12-01")["clause"] == "AGB 8.2"
    finally:
        engine.close()


# -- a notice never delivered -------------------------------------------------------------------


def test_a_notice_never_delivered_starts_no_window(platform):
    anna = open_customer(platform, "anna", "consumer")
    publish_fee(platform, "2026-11-19T10:00:00+01:00", "2027-01-19")
    notice = platform.account("anna")["contract"]["term_notices"]["1"]
    assert (notice["received_on"], notice["effective_for_customer"]) == (None, None)
    ends = terminate(anna, "2026-12-01")
    assert ends["clause"] != "AGB 8.2"


def premium_price_text(catalog, effective_from: str, price: str) -> str:
    """The newest version of CLINQ Premium with another monthly price, as the editor holds it."""
    path = catalog.root / catalog.file(catalog.plan_citation("clinq-premium")).path
    lines = path.read_text(encoding="utf-8").splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("  - effective_from:"))
    version = [line[4:] for line in lines[start:] if line.startswith("    ")]
    text = "\n".join([f"effective_from: {effective_from}", *version]) + "\n"
    return text.replace('value: "29.90 EUR"', f'value: "{price}"', 1)


def test_a_price_change_is_held_back_for_a_customer_whose_notice_was_not_received(platform):
    # New monthly price from 2027-01-01, published and e-mailed Thursday 2026-11-19 (six weeks
    # end 2026-12-31). Anna received it at once; Bert's notice left only on 2026-12-01, so six
    # weeks from receipt end 2027-01-12; Carl's was never delivered.
    customers = {
        name: open_customer(platform, name, "consumer", plan="clinq-premium")
        for name in ("anna", "bert", "carl")
    }
    done = publish_version(
        platform,
        platform.catalog.file(platform.catalog.plan_citation("clinq-premium")),
        premium_price_text(platform.catalog, "2027-01-01", "34.90 EUR"),
        actor="legal@example.com",
        notified_at=at("2026-11-19T10:00:00+01:00"),
        reason="Unser Vorlieferant hat seine Preise erhöht.",
        ground="supplier_price_increase",
    )
    assert not done.refused, done.problems
    deliver(platform, done.publication, "2026-11-19T10:05:00+01:00", ["anna"])
    (bert,) = deliver(platform, done.publication, "2026-12-01T10:00:00+01:00", ["bert"])
    (received,) = [e for e in bert["effects"] if e["kind"] == "notice_received"]
    assert received["effective_on"] == "2027-01-13"
    fees = {}
    for name, customer in customers.items():
        clock = customer.send("clock", "2027-01-01T08:00:00+01:00")
        fees[name] = [
            e["amount"]
            for e in clock["effects"]
            if e.get("item") == "base_fee" and e.get("period") == "2027-01"
        ]
    assert fees == {"anna": ["34.90"], "bert": ["29.90"], "carl": ["29.90"]}


def rates_text(catalog, effective_from: str, mobile: str) -> str:
    """The newest version of the rate table with another German mobile rate."""
    path = catalog.root / "tariffs/rates/sipgate-team.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("  - effective_from:"))
    version = [line[4:] for line in lines[start + 1 :] if line.startswith("    ")]
    text = "\n".join([f"effective_from: {effective_from}", *version]) + "\n"
    return text.replace('de_mobile: "0.0690 EUR/min"', f'de_mobile: "{mobile}"', 1)


def test_calls_are_rated_at_the_old_rate_while_the_notice_is_not_received(platform):
    # A higher mobile rate from 2027-01-04, published Thursday 2026-11-19; only Anna's notice
    # was delivered. 70 minutes to a German mobile on 2027-01-05: 60 free (CLINQ), 10 charged.
    anna = open_customer(platform, "anna", "business")
    carl = open_customer(platform, "carl", "business")
    for customer in (anna, carl):
        customer.send("credit.topped_up", "2026-11-02T10:00:00+01:00", amount="20.00")
    done = publish_version(
        platform,
        platform.catalog.file("Price list: sipgate-team"),
        rates_text(platform.catalog, "2027-01-04", "0.0990 EUR/min"),
        actor="legal@example.com",
        notified_at=at("2026-11-19T10:00:00+01:00"),
        reason="Die Zustellentgelte der Mobilfunknetze sind gestiegen.",
    )
    assert not done.refused, done.problems
    deliver(platform, done.publication, "2026-11-19T10:05:00+01:00", ["anna"])
    for customer in (anna, carl):
        customer.send("clock", "2027-01-01T08:00:00+01:00")  # a new month: a full pool
    charged = {}
    for name, customer in (("anna", anna), ("carl", carl)):
        call = customer.call("2027-01-05T10:00:00+01:00", "+4917612345678", 4200)
        charged[name] = [e["amount"] for e in call["effects"] if e["kind"] == "charge"]
    assert charged == {"anna": ["0.99"], "carl": ["0.69"]}


def test_a_forged_delivery_starts_nothing(platform):
    anna = open_customer(platform, "anna", "consumer")
    number = publish_fee(platform, "2026-11-19T10:00:00+01:00", "2027-01-19")
    forged = {
        "id": "forged-delivery",
        "type": "notice.delivered",
        "account": "anna",
        "at": "2026-11-18T10:00:00+01:00",  # before the publication
        "publication": number,
        "channel": "email",
    }
    assert platform.handle(forged)["status"] == "rejected"
    unknown = platform.handle(
        {**forged, "id": "forged-2", "at": "2026-11-20T10:00:00+01:00", "publication": 99}
    )
    assert (unknown["status"], unknown["clause"]) == ("rejected", "AGB 8.6")
    assert platform.account("anna")["contract"]["special_termination"] is None
    assert terminate(anna, "2026-12-01")["clause"] != "AGB 8.2"
