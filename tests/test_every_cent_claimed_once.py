"""Every cent of debt is claimed exactly once (AGB 4.4.1, CLINQ SD 1.3, UStG § 14 (4) nos. 7-8).

An invoice claims what no open invoice covers: the invoice of the 20th the outstanding amount of
the credit account, the monthly invoice the part of its gross that is debt and that no earlier
open invoice claims. Scenario of issue 24 (prepay, business, CLINQ, no mandate, no payment after
October):

- October: top-up 6.00, 21 minutes to the US (21 x 0.29 = 6.09). The monthly invoice of
  1 November: 6.09 + 19 % VAT 1.16 = 7.25 gross, 6.00 paid by credit, 1.25 open.
- November: 27 minutes to the US (7.83) and 236 minutes to a French mobile (236 x 0.149 =
  35.16): 42.99 net. On 20 November the balance is -1.25 - 42.99 = -44.24: the invoice of the
  20th asks for 44.24 - 1.25 (claimed by October's invoice) = 42.99.
- The monthly invoice of 1 December: 42.99 + 8.17 VAT = 51.16 gross; the balance is -52.41.
  The invoice of the 20th claims 42.99 of it; October's 1.25 claims October's debt, not
  November's: 8.17 is due. The three invoices claim 1.25 + 42.99 + 8.17 = 52.41.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.engine import Engine
from tests.conftest import Customer, effects_of

US, FRENCH_MOBILE = "+12125550100", "+33612345678"


@pytest.fixture
def three_invoices(engine) -> tuple[Customer, list[dict]]:
    acme = Customer(engine)
    acme.open(at="2026-10-01T09:00:00+02:00")
    acme.send("credit.topped_up", "2026-10-01T10:00:00+02:00", amount="6.00")
    acme.call("2026-10-05T10:00:00+02:00", US, 21 * 60)
    issued = effects_of(acme.send("clock", "2026-11-01T08:00:00+01:00"), "invoice_issued")
    acme.call("2026-11-03T10:00:00+01:00", US, 27 * 60)
    acme.call("2026-11-04T10:00:00+01:00", FRENCH_MOBILE, 236 * 60)
    issued += effects_of(acme.send("clock", "2026-11-20T08:00:00+01:00"), "invoice_issued")
    issued += effects_of(acme.send("clock", "2026-12-01T08:00:00+01:00"), "invoice_issued")
    return acme, issued


def _invoices(engine, account: str = "acme") -> list:
    with engine.store.unit(commit=False) as unit:
        return unit.load_invoices([account])[account]


def test_agb_4_4_1_an_amount_left_open_is_not_deducted_from_the_next_month(engine, three_invoices):
    acme, _ = three_invoices
    october, twentieth, november = _invoices(engine)
    assert (october.kind, october.amount_cents, october.open_cents) == ("monthly", 725, 125)
    assert (twentieth.kind, twentieth.amount_cents) == ("negative_credit", 4299)
    assert november.detail["gross"] == "51.16"
    assert acme.balance == "-52.41"
    assert november.detail["paid_by_credit"] == "0.00"
    # Only the invoice of the 20th claims part of November's 51.16; October's 1.25 is October's.
    assert november.detail["claimed_by_earlier_invoices"] == "42.99"
    assert november.detail["earlier_invoices"] == [twentieth.number]
    assert november.detail["due"] == "8.17"
    assert november.open_cents == 817
    assert sum(i.open_cents for i in (october, twentieth, november)) == 5241  # the debt, once


def test_agb_4_4_1_the_november_invoice_names_only_the_invoice_that_claims_its_charges(
    engine, three_invoices
):
    from tests.test_settlement_invoice import _text

    _, issued = three_invoices
    november = _invoices(engine)[-1]
    text = _text(november)
    assert f"bereits angefordert mit Rechnung {issued[1]['invoice']}" in text
    assert issued[0]["invoice"] not in text.split("bereits angefordert")[1].split("\n")[0]
    assert "42,99 EUR" in text and "8,17 EUR" in text
    assert "44,24" not in text and "6,92" not in text


def test_clinq_sd_1_3_credit_offsets_what_open_invoices_claim_beyond_the_debt(engine):
    # The invoice of the 20th asks for 29.00 (100 minutes to the US). A transfer of 29.00
    # without reference settles no invoice of its own (AGB 4.2.4), but the credit account now
    # owes nothing: the invoice may not ask for money the customer does not owe, and its
    # direct debit would collect it twice. The credit offsets it (CLINQ SD 1.3).
    acme = Customer(engine)
    acme.open(at="2026-11-02T09:00:00+01:00")
    acme.call("2026-11-03T10:00:00+01:00", US, 100 * 60)
    (invoice,) = effects_of(acme.send("clock", "2026-11-20T08:00:00+01:00"), "invoice_issued")
    paid = acme.send(
        "payment.received", "2026-11-25T10:00:00+01:00", amount="30.00", method="bank_transfer"
    )
    assert effects_of(paid, "payment_unallocated")[0]["amount"] == "30.00"
    (offset,) = effects_of(paid, "claims_offset_by_credit")
    assert (offset["clause"], offset["offset"], offset["balance"]) == (
        "CLINQ SD 1.3",
        [{"invoice": invoice["invoice"], "amount": "29.00", "open": "0.00"}],
        "1.00",
    )
    assert [i.open_cents for i in _invoices(engine)] == [0]


# -- the invariant, under any sequence of events (hypothesis) ----------------------------------

START = datetime.fromisoformat("2026-10-01T09:00:00+02:00")
NUMBERS = [US, FRENCH_MOBILE, "+4921112345678", "+33112345678"]

ACTIONS = st.one_of(
    st.tuples(st.just("call"), st.sampled_from(NUMBERS), st.integers(1, 300)),
    st.tuples(st.just("topup"), st.integers(100, 6000)),
    st.tuples(st.just("transfer"), st.integers(1, 6000)),  # no reference: credit (AGB 4.2.4)
    st.tuples(st.just("pay"), st.integers(0, 9), st.integers(1, 6000)),  # with a reference
    st.tuples(st.just("debit"), st.integers(1, 6000)),  # a collection: the oldest open invoice
    st.tuples(st.just("return"), st.integers(0, 9)),  # a collection comes back
    st.tuples(st.just("objection"), st.integers(0, 9), st.integers(1, 3000)),
    st.tuples(st.just("objection_month"), st.integers(1, 2000)),
)


@st.composite
def histories(draw):
    """An account (plan, billing method, customer type) and steps: days to wait, then an action."""
    account = {
        "plan": draw(st.sampled_from(["clinq", "clinq-premium"])),
        "billing_method": draw(st.sampled_from(["prepay", "autoprepay", "postpay"])),
        "customer_type": draw(st.sampled_from(["business", "consumer"])),
    }
    steps = draw(st.lists(st.tuples(st.integers(0, 9), ACTIONS), min_size=8, max_size=30))
    return account, steps


class Ledger:
    """Sends one history's events and reads back what the invariant is about."""

    def __init__(self, engine, account: dict):
        self.engine, self.customer = engine, Customer(engine, "p")
        if account["billing_method"] == "autoprepay":
            account = {**account, "autoprepay": {"threshold": "5.00", "amount": "20.00"}}
        self.customer.open(at=START.isoformat(), **account)
        self.collections: list[tuple[str, str]] = []  # (invoice, amount) a debit settled

    def state(self):
        with self.engine.store.unit(commit=False) as unit:
            account = unit.load_accounts(["p"])["p"]
            invoices = unit.load_invoices(["p"]).get("p", [])
        return account, invoices

    def act(self, at: datetime, action: tuple) -> None:
        send, when = self.customer.send, at.isoformat()
        _, invoices = self.state()
        numbers = [i.number for i in invoices]
        kind = action[0]
        if kind == "call":
            self.customer.call(when, action[1], action[2] * 60)
        elif kind == "topup":
            send("credit.topped_up", when, amount=_euro(action[1]))
        elif kind == "transfer":
            send("payment.received", when, amount=_euro(action[1]), method="bank_transfer")
        elif kind == "pay" and numbers:
            reference = numbers[action[1] % len(numbers)]
            send(
                "payment.received",
                when,
                amount=_euro(action[2]),
                method="bank_transfer",
                reference=reference,
            )
        elif kind == "debit":
            result = send("payment.received", when, amount=_euro(action[1]), method="direct_debit")
            for allocated in effects_of(result, "payment_allocated"):
                self.collections.append((allocated["invoice"], allocated["amount"]))
        elif kind == "return" and self.collections:
            invoice, amount = self.collections.pop(action[1] % len(self.collections))
            send("direct_debit.returned", when, amount=amount, invoice=invoice)
        elif kind == "objection" and numbers:
            number = numbers[action[1] % len(numbers)]
            send(
                "objection.received",
                when,
                invoice=number,
                channel="letter",
                justified_amount=_euro(action[2]),
            )
        elif kind == "objection_month":
            month = (at.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
            send(
                "objection.received",
                when,
                month=month,
                channel="letter",
                justified_amount=_euro(action[1]),
            )

    def check(self, after: str) -> None:
        """The invariant of the module's docstring, at this instant."""
        account, invoices = self.state()
        debt = max(0, -account.balance_cents)
        claimed = sum(i.open_cents for i in invoices if i.open_cents > 0)
        uninvoiced = sum(
            total[0] for items in account.period_charges.values() for total in items.values()
        )
        unclaimed = debt - claimed
        where = (
            f"after {after}: balance {account.balance_cents}, open "
            f"{[(i.number, i.open_cents) for i in invoices if i.open_cents]}, "
            f"uninvoiced {uninvoiced}"
        )
        assert unclaimed >= 0, f"open invoices claim more than the debt {where}"
        assert unclaimed <= max(uninvoiced, 0), f"debt that no invoice will claim {where}"
        assert all(0 <= i.open_cents <= i.amount_cents for i in invoices), where


def _euro(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_clinq_sd_1_3_open_invoices_and_what_no_invoice_claims_yet_make_the_debt(
    tmp_path_factory, catalog, decider, history
):
    """At every instant: debt = what open invoices still claim + what no invoice claims yet.

    The debt is the negative balance of the credit account (0 when it is in credit); what open
    invoices claim is the sum of their open amounts. "What no invoice claims yet" is the rest,
    debt - claimed, and it is honest when

    - it is never below 0: no open invoice asks for money the customer does not owe (after
      a top-up, a payment with or without reference, a credit note, a justified objection);
    - it is never more than the charges not yet invoiced (net, as booked: their VAT is booked
      into the balance only with the monthly invoice that claims it): every other cent of debt
      is claimed by an open invoice. So right after a monthly invoice run with no newer
      charges it is 0, whenever the balance is negative.

    Returned direct debits return what a collection paid of its invoice (a return of a
    top-up, with no invoice, is debt the invoice of the 20th claims: not generated here).
    """
    account, steps = history
    engine = Engine(f"sqlite:///{tmp_path_factory.mktemp('c') / 'l.sqlite'}", catalog, decider)
    try:
        ledger = Ledger(engine, account)
        at = START
        for days, action in steps:
            at += timedelta(days=days, hours=1)
            ledger.customer.send("clock", at.isoformat())
            ledger.check(f"clock {at:%Y-%m-%d}")
            ledger.act(at, action)
            ledger.check(f"{action} on {at:%Y-%m-%d}")
        at = (at.replace(day=1) + timedelta(days=32)).replace(day=1)
        ledger.customer.send("clock", at.isoformat())  # the last month invoiced
        ledger.check(f"clock {at:%Y-%m-%d}")
    finally:
        engine.close()


def test_agb_4_4_1_several_invoices_claiming_part_of_the_gross_are_named_with_their_amounts():
    from engine.documents.invoice_pdf import payable_line, settled_lines

    detail = {
        "paid_by_credit": "0.00",
        "claimed_by_earlier_invoices": "30.00",
        "earlier_invoices": ["2026-000002", "2026-000003"],
        "earlier_claims": [
            {"invoice": "2026-000002", "amount": "10.00"},
            {"invoice": "2026-000003", "amount": "20.00"},
        ],
        "due": "5.00",
        "due_on": "2026-12-01",
    }
    assert settled_lines(detail) == [
        ("bereits angefordert mit Rechnung 2026-000002", "10.00"),
        ("bereits angefordert mit Rechnung 2026-000003", "20.00"),
    ]
    assert payable_line(detail) == (
        "Zahlbar bis 01.12.2026 (fällig mit Zugang, AGB 4.4.1)",
        "5.00",
    )
    assert payable_line(detail | {"due": "0.00"}) == (
        "Mit dieser Rechnung ist nichts zusätzlich zu zahlen",
        None,
    )
