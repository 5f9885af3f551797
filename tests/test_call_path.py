"""The call path (engine/billing/call_path.py) against the general path, scenario by scenario.

Every scenario is sent to two engines on the same catalog: one rates ordinary calls on the
call path, the other (``call_path = None``) every call through a ``Booking`` as before. Each
result must be the same, and so must every stored account, ledger entry, deadline and
invoice. The counters say which path took a call: refusals, a plan change due that day and a
balance the rules act on are left to the general path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog import load_catalog
from engine.engine import Engine, EventConflict
from tests.conftest import Customer, edit, effects_of

LANDLINE = "+4921112345678"  # 0.0179 EUR/min (sipgate team sample)
MOBILE = "+4917612345678"  # 0.0690 EUR/min
US = "+12125550100"  # 0.2900 EUR/min, 60/60
EU_MOBILE = "+33612345678"


class Twins:
    """Sends each event to an engine with the call path and to one without; compares."""

    def __init__(self, folder: Path, catalog, decider):
        self.fast = Engine(f"sqlite:///{folder / 'fast.sqlite'}", catalog, decider)
        self.general = Engine(f"sqlite:///{folder / 'general.sqlite'}", catalog, decider)
        self.general.call_path = None

    def handle(self, raw: dict) -> dict:
        return self.handle_many([raw])[0]

    def handle_many(self, raws: list[dict], **options) -> list[dict]:
        fast = self.fast.handle_many(raws, **options)
        assert fast == self.general.handle_many(raws, **options)
        return fast

    def account(self, name: str) -> dict | None:
        """``Engine.account`` of both, compared with every stored field of the account."""
        found = self.fast.account(name)
        assert found == self.general.account(name)
        assert self.stored(self.fast, name) == self.stored(self.general, name)
        return found

    def ledger(self, name: str) -> list[dict]:
        found = self.fast.ledger(name, limit=1000)
        assert found == self.general.ledger(name, limit=1000)
        return found

    @staticmethod
    def stored(engine: Engine, name: str) -> tuple:
        """The account row (with ``period_charges``), its deadlines and invoices as stored."""
        with engine.store.unit(commit=False) as unit:
            return (
                unit.account(name),
                unit.deadlines_of(name),
                unit.load_invoices([name]).get(name, []),
            )

    @property
    def taken(self) -> int:
        return self.fast.call_path.taken

    @property
    def left(self) -> int:
        return self.fast.call_path.left

    def close(self) -> None:
        self.fast.close()
        self.general.close()


@pytest.fixture
def twins(tmp_path, catalog, decider):
    pair = Twins(tmp_path, catalog, decider)
    yield pair
    pair.close()


def call(customer: Customer, at: str, to: str, duration_s: int, **fields) -> dict:
    """A call event of ``customer`` (not sent), user anna unless given."""
    return customer.event(
        "call", at, **{"user": "anna", "to": to, "duration_s": duration_s, **fields}
    )


def test_refused_calls_leave_no_trace_and_the_calls_around_them_are_rated(twins):
    # CLINQ SD 2.1 (only the account's users), Price list: zones (no zone), CLINQ SD 3.1 (no
    # emergency call from abroad), CLINQ SD 1.2 (an account not opened): refused, in one batch
    # between two ordinary calls that the call path rates on the batch's copy of the account.
    acme = Customer(twins)
    acme.open()
    ghost = Customer(twins, "ghost")
    results = twins.handle_many(
        [
            call(acme, "2026-11-03T10:00:00+01:00", US, 10 * 60),  # 10 x 0.29 = 2.90
            call(acme, "2026-11-03T10:05:00+01:00", LANDLINE, 60, user="mallory"),
            call(acme, "2026-11-03T10:06:00+01:00", "999", 60),
            call(acme, "2026-11-03T10:07:00+01:00", "110", 60, caller_country="FR"),
            call(ghost, "2026-11-03T10:08:00+01:00", US, 60),
            call(acme, "2026-11-03T10:10:00+01:00", US, 61),  # 2 started minutes: 0.58
        ]
    )
    assert [(r["status"], r.get("clause")) for r in results] == [
        ("applied", None),
        ("rejected", "CLINQ SD 2.1"),
        ("rejected", "Price list: zones"),
        ("rejected", "CLINQ SD 3.1"),
        ("rejected", "CLINQ SD 1.2"),
        ("applied", None),
    ]
    assert (twins.taken, twins.left) == (2, 4)
    assert twins.account("acme")["balance"] == "-3.48"  # 2.90 + 0.58
    assert [e["amount"] for e in twins.ledger("acme") if e["kind"] == "call"] == ["-2.90", "-0.58"]
    assert twins.account("ghost") is None


def test_agb_2_11_a_blocked_account_calls_only_emergency_numbers(twins):
    # AGB 2.11: misuse that goes on after the request to stop leads to a block on the 17th;
    # a blocked account's call is refused (general path), an emergency call still goes through.
    acme = Customer(twins)
    acme.open()
    acme.send("misuse.detected", "2026-11-02T10:00:00+01:00", description="resale")
    acme.send("clock", "2026-11-17T00:00:00+01:00")
    before = twins.taken, twins.left
    refused = acme.call("2026-11-18T10:00:00+01:00", US, 60)
    assert (refused["status"], refused["clause"]) == ("rejected", "AGB 2.11")
    emergency = acme.call("2026-11-18T10:05:00+01:00", "112", 60)
    assert effects_of(emergency, "charge")[0]["clause"] == "CLINQ SD 3.1"
    assert (twins.taken, twins.left) == (before[0], before[1] + 2)
    twins.account("acme")
    twins.ledger("acme")


def test_agb_3_4_calls_across_a_terms_version_change_use_the_tariff_at_their_start(
    catalog_copy, decider, tmp_path
):
    # AGB 3.4: from 2026-12-01 the world rate is 0.39 EUR/min (a new price list version); a
    # call that starts on 30 November keeps 0.29. Both are in one batch: the pricing of each
    # terms version is its own.
    rates = catalog_copy / "tariffs/rates/sipgate-team.yaml"
    text = rates.read_text()
    new_version = text[text.index("  - effective_from: 2020-01-01") :].replace(
        "2020-01-01", "2026-12-01"
    )
    rates.write_text(text + new_version.replace('world: "0.2900', 'world: "0.3900'))
    twins = Twins(tmp_path, load_catalog(catalog_copy), decider)
    acme = Customer(twins)
    acme.open()
    acme.send("credit.topped_up", "2026-11-02T09:05:00+01:00", amount="50.00")  # AGB 4.1.1
    before, after = twins.handle_many(
        [
            call(acme, "2026-11-30T23:50:00+01:00", US, 30 * 60),  # 30 x 0.29 = 8.70
            call(acme, "2026-12-01T00:30:00+01:00", US, 30 * 60),  # 30 x 0.39 = 11.70
        ]
    )
    assert [(e["amount"], e["terms_version"], e["rate"]) for e in effects_of(before, "charge")] == [
        ("8.70", "2026-01-01", "0.2900")
    ]
    assert [(e["amount"], e["terms_version"], e["rate"]) for e in effects_of(after, "charge")] == [
        ("11.70", "2026-12-01", "0.3900")
    ]
    assert (twins.taken, twins.left) == (2, 0)
    twins.account("acme")
    assert [e["terms_version"] for e in twins.ledger("acme") if e["kind"] == "call"] == [
        "2026-01-01",
        "2026-12-01",
    ]
    twins.close()


def test_clinq_sd_2_1_free_minutes_running_out_within_a_call_split_it(twins):
    # CLINQ SD 2.1: 60 free minutes to German landline and mobile per month. After 50 minutes a
    # 15-minute mobile call uses the last 10 free and pays 5: 5 x 0.0690 = 0.345 -> 0.35 EUR.
    # A December call starts a new pool.
    acme = Customer(twins)
    acme.open()
    first, split, december = twins.handle_many(
        [
            call(acme, "2026-11-03T10:00:00+01:00", LANDLINE, 50 * 60),
            call(acme, "2026-11-03T11:00:00+01:00", MOBILE, 15 * 60),
            call(acme, "2026-12-01T00:30:00+01:00", LANDLINE, 60),
        ]
    )
    assert effects_of(first, "free_minutes_used")[0]["left_seconds"] == 600
    (free,) = effects_of(split, "free_minutes_used")
    (charge,) = effects_of(split, "charge")
    assert (free["minutes"], free["seconds"], free["left_seconds"]) == (10, 600, 0)
    assert (charge["billed_seconds"], charge["charged_seconds"], charge["amount"]) == (
        900,
        300,
        "0.35",
    )
    assert effects_of(december, "free_minutes_used")[0]["left_seconds"] == 3540
    assert (twins.taken, twins.left) == (3, 0)
    assert twins.account("acme")["free_minutes_left"]["seconds"] == 3540
    (entry,) = [e for e in twins.ledger("acme") if e["kind"] == "call"]
    assert (entry["amount"], entry["detail"]["charged_seconds"]) == ("-0.35", 300)


def test_clinq_sd_2_1_a_call_reported_late_uses_its_own_months_free_minutes(twins):
    # CLINQ SD 2.1: the free minutes are a pool per month. November's 60 minutes are used up
    # on the 3rd; December has used 10 when a 10-minute call of 30 November is reported: it
    # pays in full (0.0179 x 10 = 0.179 -> 0.18 EUR) and December's pool stays at 50 left.
    acme = Customer(twins)
    acme.open()
    acme_calls = [
        call(acme, "2026-11-03T10:00:00+01:00", LANDLINE, 60 * 60),
        call(acme, "2026-12-02T10:00:00+01:00", LANDLINE, 10 * 60),
    ]
    twins.handle_many(acme_calls)
    (late,) = twins.handle_many([call(acme, "2026-11-30T18:00:00+01:00", LANDLINE, 10 * 60)])
    assert effects_of(late, "free_minutes_used") == []
    (charge,) = effects_of(late, "charge")
    assert (charge["charged_seconds"], charge["amount"]) == (600, "0.18")
    (december,) = twins.handle_many([call(acme, "2026-12-03T10:00:00+01:00", LANDLINE, 10 * 60)])
    assert effects_of(december, "free_minutes_used")[0]["left_seconds"] == 40 * 60
    # one more late call, in a month with minutes left: October's pool is its own
    (october,) = twins.handle_many([call(acme, "2026-10-31T12:00:00+01:00", LANDLINE, 5 * 60)])
    assert effects_of(october, "free_minutes_used")[0]["left_seconds"] == 55 * 60
    # the account shows its current pool, December's, not the late call's month
    assert twins.account("acme")["free_minutes_left"] == {
        "month": "2026-12",
        "minutes": 40,
        "seconds": 40 * 60,
    }


def test_clinq_sd_2_2_premium_eu_calls_are_flat_rate_without_a_ledger_entry(twins):
    # CLINQ SD 2.2: the Premium EU all-net flat; a world call is still charged (10 x 0.29).
    acme = Customer(twins)
    acme.open(plan="clinq-premium")
    calls_before = len([e for e in twins.ledger("acme") if e["kind"] == "call"])
    eu, world = twins.handle_many(
        [
            call(acme, "2026-11-03T10:00:00+01:00", EU_MOBILE, 3600),
            call(acme, "2026-11-03T11:00:00+01:00", US, 600),
        ]
    )
    (flat,) = effects_of(eu, "charge")
    assert (flat["amount"], flat["flat_rate"], flat["clause"]) == ("0.00", True, "CLINQ SD 2.2")
    assert effects_of(world, "charge")[0]["amount"] == "2.90"
    assert (twins.taken, twins.left) == (2, 0)
    calls = [e for e in twins.ledger("acme") if e["kind"] == "call"]
    assert [e["amount"] for e in calls[calls_before:]] == ["-2.90"]
    assert twins.account("acme")["contract"]["last_use"] == "2026-11-03"  # AGB 1.5


def test_a_plan_change_due_on_the_day_of_a_call_takes_effect_first(twins):
    # Platform: plan-changes: a downgrade from Premium to CLINQ takes effect on 1 December.
    # The first call of that day goes the general way (the change fires with it); the next one
    # is rated on the call path under CLINQ (plan history), with the pool CLINQ SD 2.1 gives.
    acme = Customer(twins)
    acme.open(plan="clinq-premium")
    acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq")
    november, first, second = twins.handle_many(
        [
            call(acme, "2026-11-30T23:00:00+01:00", MOBILE, 3000),  # Premium: in the flat
            call(acme, "2026-12-01T10:00:00+01:00", MOBILE, 3000),  # 50 of 60 free minutes
            call(acme, "2026-12-01T11:00:00+01:00", MOBILE, 15 * 60),  # 10 free, 5 x 0.069
        ]
    )
    assert effects_of(november, "charge")[0]["flat_rate"] is True
    assert effects_of(first, "plan_changed")[0]["plan"] == "clinq"
    assert effects_of(first, "free_minutes_used")[0]["left_seconds"] == 600
    assert effects_of(second, "charge")[0]["amount"] == "0.35"
    assert effects_of(second, "free_minutes_used")[0]["minutes"] == 10
    assert (twins.taken, twins.left) == (2, 1)
    assert twins.account("acme")["plan"] == "clinq"
    twins.ledger("acme")


def test_a_call_reported_late_is_rated_under_the_plan_at_its_start(twins):
    # AGB 3.4 and Platform: plan-changes: after an upgrade at 10:00, a call that started at
    # 09:59 keeps CLINQ's price (10 x 0.0290 to a French landline); one at 10:00 is flat.
    acme = Customer(twins)
    acme.open(users=("anna", "ben", "carl"))
    acme.send("plan.changed", "2026-11-11T10:00:00+01:00", plan="clinq-premium")
    after, late = twins.handle_many(
        [
            call(acme, "2026-11-11T10:00:00+01:00", "+33112345678", 600),
            call(acme, "2026-11-11T09:59:00+01:00", "+33112345678", 600),
        ]
    )
    assert effects_of(after, "charge")[0]["flat_rate"] is True
    assert effects_of(late, "charge")[0]["amount"] == "0.29"
    assert (twins.taken, twins.left) == (2, 0)
    twins.account("acme")
    twins.ledger("acme")


def test_agb_4_1_2_a_call_that_takes_the_credit_below_the_threshold_requests_one_top_up(twins):
    # AGB 4.1.2: autoprepay tops up below the customer's minimum (5.00). 10.00 - 2.90 = 7.10
    # (call path); - 2.90 = 4.20: the rules request 25.00 (general path); - 0.29 = 3.91: the
    # request is pending, nothing more (call path).
    acme = Customer(twins)
    acme.open(billing_method="autoprepay", autoprepay={"threshold": "5.00", "amount": "25.00"})
    acme.send(
        "payment.received", "2026-11-02T09:05:00+01:00", amount="10.00", method="direct_debit"
    )
    above, below, again = twins.handle_many(
        [
            call(acme, "2026-11-03T10:00:00+01:00", US, 10 * 60),
            call(acme, "2026-11-03T11:00:00+01:00", US, 10 * 60),
            call(acme, "2026-11-03T12:00:00+01:00", US, 60),
        ]
    )
    assert effects_of(above, "topup_requested") == []
    assert [(e["amount"], e["balance"]) for e in effects_of(below, "topup_requested")] == [
        ("25.00", "4.20")
    ]
    assert effects_of(again, "topup_requested") == []
    assert (twins.taken, twins.left) == (2, 1)
    account = twins.account("acme")
    assert (account["balance"], account["autoprepay"]["topup_pending"]) == ("3.91", True)


def test_clinq_sd_1_3_a_call_crossing_minus_10_eur_schedules_one_invoice(twins):
    # CLINQ SD 1.3: from -10 EUR an invoice on the next 20th. -8.70 (call path), -10.15: the
    # deadline is set (general path), -10.44: already scheduled, nothing more (call path).
    acme = Customer(twins)
    acme.open()
    small, crossing, more = twins.handle_many(
        [
            call(acme, "2026-11-03T10:00:00+01:00", US, 30 * 60),
            call(acme, "2026-11-03T11:00:00+01:00", US, 5 * 60),
            call(acme, "2026-11-04T11:00:00+01:00", US, 60),
        ]
    )
    assert effects_of(small, "deadline_set") == []
    assert [e["date"] for e in effects_of(crossing, "deadline_set")] == ["2026-11-20"]
    assert effects_of(more, "deadline_set") == []
    assert (twins.taken, twins.left) == (2, 1)
    account = twins.account("acme")
    assert account["balance"] == "-10.44"
    assert [d["kind"] for d in account["deadlines"]].count("negative_credit_invoice") == 1


def test_a_quote_or_a_refused_batch_leaves_the_kept_account_as_it_was(twins):
    # The call path changes the batch's own copy of an account, never the state the engine
    # keeps between batches: a quote stores nothing, and a batch refused for a conflicting id
    # (nothing of it applied) leaves the next call to be rated from the stored balance.
    acme = Customer(twins)
    acme.open()
    twins.handle(call(acme, "2026-11-03T09:00:00+01:00", US, 60))  # -0.29
    quoted = twins.fast.quote(call(acme, "2026-11-03T10:00:00+01:00", US, 10 * 60))
    assert effects_of(quoted, "charge")[0]["amount"] == "2.90"
    reused = call(acme, "2026-11-03T11:00:00+01:00", US, 60)
    reused["id"] = "acme-1"  # the id of account.opened, with other content
    for engine in (twins.fast, twins.general):
        with pytest.raises(EventConflict):
            engine.handle_many(
                [call(acme, "2026-11-03T10:30:00+01:00", US, 10 * 60), reused],
                refuse_conflicts=True,
            )
    assert twins.account("acme")["balance"] == "-0.29"
    twins.handle(call(acme, "2026-11-03T12:00:00+01:00", US, 60))
    assert twins.account("acme")["balance"] == "-0.58"
    assert len([e for e in twins.ledger("acme") if e["kind"] == "call"]) == 2


def test_a_new_publication_gives_new_pricings(catalog_copy, decider, tmp_path):
    # The pricings and zones are kept per terms version and forgotten when the catalog changes
    # (engine.refresh_catalog): a call after a reload is rated with the catalog now in force.
    rates = catalog_copy / "tariffs/rates/sipgate-team.yaml"
    engine = Engine(f"sqlite:///{tmp_path / 'l.sqlite'}", load_catalog(catalog_copy), decider)
    acme = Customer(engine)
    acme.open()
    first = acme.call("2026-11-03T10:00:00+01:00", US, 600)
    assert effects_of(first, "charge")[0]["amount"] == "2.90"
    edit(rates, 'world: "0.2900', 'world: "0.3900')
    engine.catalog = load_catalog(catalog_copy)
    engine._publications = -1  # as if the admin UI published: the next unit reloads
    with engine.store.unit(commit=False) as unit:
        engine._base_root = catalog_copy
        engine.refresh_catalog(unit)
    second = acme.call("2026-11-03T11:00:00+01:00", US, 600)
    assert effects_of(second, "charge")[0]["amount"] == "3.90"
    engine.close()
