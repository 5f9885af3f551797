"""Impact before publishing (issue 14): a month replayed under the terms and under a draft.

Figures are computed by hand in the comments; nothing an impact run does may reach the
database it reads (the counts of events, ledger entries, accounts, outbox and publications are
compared before and after).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.cli.main import main
from engine.catalog import PROJECT_ROOT
from engine.core.state import Invoice
from engine.drafting.impact import AS_IF_IN_FORCE, Period, counts, describe, draft_impact
from engine.drafting.impact_replay import InvoiceNames
from engine.engine import Engine
from engine.events import parse_event
from tests.conftest import Customer
from tests.test_admin import FEE_FILE, fee_draft

RATES_FILE = "tariffs/rates/sipgate-team.yaml"
CREDIT_FILE = "rules/clinq-sd/1.3-credit-account.yaml"
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))
WORLD = "+12125550100"  # rest of the world: 0.2900 EUR/min, billed per started minute


@pytest.fixture(scope="module")
def month(tmp_path_factory, decider):
    """Three customers; November 2026 has three returned direct debits and two world calls.

    anna (consumer): direct debits returned on 10 and 20 November, calls of 61 s and 200 s.
    acme (business): a return on 20 October (before the period) and one on 12 November.
    bert (consumer): only top-ups; the draft changes nothing for him.
    """
    url = f"sqlite:///{tmp_path_factory.mktemp('impact') / 'ledger.sqlite'}"
    engine = Engine(url, decider=decider)
    anna, acme, bert = Customer(engine, "anna"), Customer(engine, "acme"), Customer(engine, "bert")
    acme.open(at="2026-10-01T09:00:00+02:00", customer_type="business")
    anna.open(at="2026-10-01T09:00:00+02:00", customer_type="consumer")
    bert.open(at="2026-10-01T09:00:00+02:00", customer_type="consumer")
    for customer in (anna, acme, bert):
        customer.send("credit.topped_up", "2026-10-01T09:05:00+02:00", amount="50.00")
    assert (
        acme.send("direct_debit.returned", "2026-10-20T10:00:00+02:00", amount="20.00")["status"]
        == "applied"
    )
    for customer, day in ((anna, "10"), (acme, "12"), (anna, "20")):
        at = f"2026-11-{day}T10:00:00+01:00"
        assert (
            customer.send("payment.received", at, amount="20.00", method="direct_debit")["status"]
            == "applied"
        )
        assert customer.send("direct_debit.returned", at, amount="20.00")["status"] == "applied"
    assert anna.call("2026-11-03T11:00:00+01:00", WORLD, 61)["status"] == "applied"
    assert anna.call("2026-11-04T11:00:00+01:00", WORLD, 200)["status"] == "applied"
    bert.send("credit.topped_up", "2026-11-05T09:00:00+01:00", amount="10.00")
    yield engine
    engine.close()


def same(impact) -> dict:
    """The impact's figures, without how many accounts the shortcut replayed with the draft."""
    shown = impact.to_json()
    del shown["accounts_replayed_with_draft"]
    return shown


def impact_of(engine, file, text, period=NOVEMBER, **options):
    with engine.store.db.connect() as connection:
        before = counts(connection)
        impact = draft_impact(connection, PROJECT_ROOT, file, text, period, **options)
        assert counts(connection) == before  # nothing was written
    return impact


def item(impact, name):
    return next(i for i in impact.by_item if i.item == name)


def rates_draft(world: str) -> str:
    """The rate table's version with another world rate, as the admin editor holds it."""
    from admin_ui.views import _latest_version_text

    text = _latest_version_text(PROJECT_ROOT, {}, RATES_FILE)
    assert text.count('world: "0.2900 EUR/min"') == 1
    text = text.replace('world: "0.2900 EUR/min"', f'world: "{world}"')
    return "effective_from: 2027-02-01\n" + text.split("\n", 1)[1]


def test_a_returned_debit_fee_raised_from_9_80_to_12_00_on_three_returns_adds_6_60(month):
    impact = impact_of(month, FEE_FILE, fee_draft("2027-01-01", "12.00 EUR"))
    # AGB 4.2.3: three returns in November at 9.80 = 29.40 before, at 12.00 = 36.00 after;
    # acme's October return lies before the period and counts in neither.
    fee = item(impact, "returned_debit_fee")
    assert (fee.before, fee.after, fee.delta) == (
        Decimal("29.40"),
        Decimal("36.00"),
        Decimal("6.60"),
    )
    assert impact.revenue_delta == Decimal("6.60")
    # the calls (0.58 + 1.16 = 1.74) do not change
    assert item(impact, "call:world").delta == 0
    assert impact.revenue_before == Decimal("31.14")  # 29.40 + 1.74
    assert impact.accounts_affected == {"consumer": 1, "business": 1, "total": 2}
    anna, acme = impact.changes  # the largest change first: anna 2 x 2.20, acme 1 x 2.20
    assert (anna.account, anna.delta, acme.account, acme.delta) == (
        "anna",
        Decimal("4.40"),
        "acme",
        Decimal("2.20"),
    )
    # AGB 8.1 notice to every open customer; consumers may terminate (AGB 8.2)
    assert impact.notices.count == 3
    assert impact.notices.by_customer_type == {"consumer": 2, "business": 1}
    assert (impact.notices.notice_clause, impact.notices.termination_clause) == (
        "AGB 8.1",
        "AGB 8.2",
    )
    # the draft's own effective date is named; its values apply to November as if in force
    assert impact.draft_effective_from == date(2027, 1, 1)
    assert impact.accounts_replayed == 3
    # only anna and acme read the fee in November; bert's replay with the draft is skipped
    assert impact.replayed_with_draft == 2


def test_a_world_rate_of_0_35_instead_of_0_29_on_six_billed_minutes_adds_0_36(month):
    # anna's calls: 61 s -> 2 minutes, 200 s -> 4 minutes (whole minutes, 60/60 increments)
    # before 6 x 0.29 = 1.74; after 2 x 0.35 + 4 x 0.35 = 0.70 + 1.40 = 2.10; delta 0.36
    impact = impact_of(month, RATES_FILE, rates_draft("0.3500 EUR/min"))
    world = item(impact, "call:world")
    assert (world.before, world.after, world.delta) == (
        Decimal("1.74"),
        Decimal("2.10"),
        Decimal("0.36"),
    )
    assert item(impact, "returned_debit_fee").delta == 0
    assert [c.account for c in impact.changes] == ["anna"]
    assert impact.accounts_affected == {"consumer": 1, "business": 0, "total": 1}
    assert impact.replayed_with_draft == 1  # only anna's calls read the world rate


def test_replaying_only_the_accounts_that_read_the_file_equals_replaying_everyone(month):
    """The shortcut (see engine/drafting/impact.py, Watch) against two full replays."""
    draft = fee_draft("2027-01-01", "12.00 EUR")
    watched = impact_of(month, FEE_FILE, draft)
    everyone = impact_of(month, FEE_FILE, draft, exhaustive=True, parallel=True)
    assert same(watched) == same(everyone)
    assert (watched.replayed_with_draft, everyone.replayed_with_draft) == (2, 3)
    rate = rates_draft("0.3500 EUR/min")  # only the accounts that read the world rate
    assert same(impact_of(month, RATES_FILE, rate)) == (
        same(impact_of(month, RATES_FILE, rate, exhaustive=True))
    )
    # the large month's way: each half of the accounts watched in a process of its own
    halves = impact_of(month, FEE_FILE, draft, parallel=True)
    assert halves.to_json() == watched.to_json()  # the same two accounts with the draft


def test_billing_terms_impact_prints_json_for_an_exported_catalog_file(month, tmp_path, capsys):
    # the file as `billing terms export` writes it: the catalog file plus the draft version
    exported = tmp_path / "exports" / FEE_FILE
    exported.parent.mkdir(parents=True)
    version = "".join("    " + line + "\n" for line in fee_draft("2027-01-01").splitlines())
    source = (PROJECT_ROOT / FEE_FILE).read_text(encoding="utf-8").rstrip("\n")
    exported.write_text(
        source + "\n  # draft 1 by legal@example.com\n" + "  - " + version[4:], encoding="utf-8"
    )
    url = str(month.store.url)
    period = ["--from", "2026-11-01", "--to", "2026-11-30"]
    code = main(["terms", "impact", str(exported), *period, "--json", "--db", url])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"accounts_affected", "revenue_before", "revenue_after", "revenue_delta"} <= set(shown)
    assert (shown["revenue_before"], shown["revenue_after"], shown["revenue_delta"]) == (
        "31.14",
        "37.74",
        "6.60",
    )
    fee = next(i for i in shown["by_item"] if i["item"] == "returned_debit_fee")
    assert fee == {
        "item": "returned_debit_fee",
        "before": "29.40",
        "after": "36.00",
        "delta": "6.60",
    }
    assert shown["notices"]["count"] == 3
    assert shown["note"] == AS_IF_IN_FORCE
    assert shown["draft"] == {
        "file": FEE_FILE,
        "citation": "AGB 4.2.3",
        "effective_from": "2027-01-01",
        "applied_from": "2026-11-01",
    }


def test_billing_terms_impact_reads_one_version_with_file_and_prints_text(month, tmp_path, capsys):
    draft = tmp_path / "world.yaml"
    draft.write_text(rates_draft("0.3500 EUR/min"), encoding="utf-8")
    url = str(month.store.url)
    args = ["terms", "impact", str(draft), "--file", RATES_FILE, "--db", url]
    # without --from and --to: the last complete month of the stored events (November: the
    # latest event, 20 November, is not the month's last day, so October)
    assert main(args) == 0
    assert "on 2026-10-01 to 2026-10-31" in capsys.readouterr().out
    assert main([*args, "--from", "2026-11-01", "--to", "2026-11-30"]) == 0
    out = capsys.readouterr().out
    assert "delta 0.36 EUR" in out
    # anna's revenue also holds her two returned-debit fees: 19.60 + 1.74 = 21.34
    assert "anna (consumer, clinq): 21.34 -> 21.70 EUR (0.36; call:world 0.36)" in out
    assert "3 customers (consumers: 2, businesses: 1)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-30", "--to", "2026-11-01"], "--to 2026-11-01 lies before --from"),
        (["--from", "2026-11-01"], "give both --from and --to"),
        (["--from", "2025-01-01", "--to", "2026-11-30"], "at most 366 days"),
    ],
)
def test_a_bad_period_is_refused_naming_it(month, tmp_path, capsys, args, message):
    draft = tmp_path / "fee.yaml"
    draft.write_text(fee_draft("2027-01-01"), encoding="utf-8")
    url = str(month.store.url)
    assert main(["terms", "impact", str(draft), "--file", FEE_FILE, "--db", url, *args]) == 2
    assert message in capsys.readouterr().err


def test_a_draft_with_errors_or_without_its_file_is_refused(month, tmp_path, capsys):
    url = str(month.store.url)
    broken = tmp_path / "broken.yaml"
    broken.write_text(fee_draft("2027-01-01").replace('"12.00 EUR"', "12.00"), encoding="utf-8")
    period = ["--from", "2026-11-01", "--to", "2026-11-30"]
    assert main(["terms", "impact", str(broken), "--file", FEE_FILE, "--db", url, *period]) == 2
    assert "the draft has 1 error(s); line 3" in capsys.readouterr().err
    assert main(["terms", "impact", str(broken), "--db", url, *period]) == 2
    assert "name the file it belongs to with --file" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    assert main(["terms", "impact", str(missing), "--file", FEE_FILE, "--db", url]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_a_period_without_events_affects_no_one(month):
    impact = impact_of(month, FEE_FILE, fee_draft("2027-01-01"), Period.month_of(date(2026, 8, 5)))
    assert (impact.accounts_replayed, impact.revenue_delta, impact.changes) == (0, 0, ())


def test_the_draft_cannot_be_applied_before_a_version_of_its_file(month):
    from engine.drafting.impact import ImpactRefused

    with pytest.raises(ImpactRefused, match="does not load as if in force"):
        impact_of(month, FEE_FILE, fee_draft("2027-01-01"), Period.month_of(date(2009, 7, 3)))
    assert Path(PROJECT_ROOT / FEE_FILE).exists()


def legal_in_the_admin_ui(engine: Engine):
    """A test client of the admin UI on ``engine``, logged in as legal."""
    from billing.wsgi import create_app
    from engine.access.people import create_person
    from tests.test_admin import NOW, PASSWORD, login

    app = create_app(engine=engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    client = app.test_client()
    login(client, "legal@example.com")
    return client


def test_the_draft_page_shows_the_impact_with_a_chart_and_refuses_bad_dates(month):
    from tests.test_admin import csrf, new_draft, save

    client = legal_in_the_admin_ui(month)
    draft_id = new_draft(client, FEE_FILE)
    assert save(client, draft_id, fee_draft("2027-01-01")).status_code == 200
    page = client.get(f"/admin/drafts/{draft_id}").data.decode()
    assert 'id="impact-run"' in page and 'id="impact-chart"' not in page
    with month.store.db.connect() as connection:
        before = counts(connection)
    shown = client.get(f"/admin/drafts/{draft_id}/impact?from=2026-11-01&to=2026-11-30")
    assert shown.status_code == 200
    page = shown.data.decode()
    assert '<strong id="impact-delta" class="disadvantage">+6.60</strong>' in page
    assert 'id="impact-chart"' in page and 'data-item="returned_debit_fee"' in page
    assert "Accounts affected: <strong>2</strong>" in page
    assert "notify <strong>3</strong> customers" in page
    assert 'id="impact-unmatched"' not in page  # every return named an invoice found again
    assert csrf(page.encode())  # the rest of the draft page is there
    with month.store.db.connect() as connection:
        assert counts(connection) == before
    for query, message in (
        ("from=2026-13-01&to=2026-11-30", "from: &#39;2026-13-01&#39; is not a date"),
        ("from=2026-11-30&to=2026-11-01", "lies before"),
        ("from=2026-11-01", "to: &#39;&#39; is not a date"),
    ):
        refused = client.get(f"/admin/drafts/{draft_id}/impact?{query}")
        assert refused.status_code == 200
        assert "No impact: " in refused.data.decode()
        assert message in refused.data.decode()
    # empty dates: the last complete month of the stored events (October here)
    default = client.get(f"/admin/drafts/{draft_id}/impact").data.decode()
    assert 'value="2026-10-01"' in default and "2026-10-01 to 2026-10-31" in default


# -- returns that name their invoice (AGB 4.2.3) ------------------------------------------------


@pytest.fixture(scope="module")
def named(tmp_path_factory, decider):
    """A return naming its invoice, whose number the replay gives another invoice.

    early (consumer): a world call of 35 minutes in October, -10.15 EUR, invoiced on 20 October
    (CLINQ SD 1.3): invoice 2026-000001; no event in November, so never replayed.
    dora (consumer): the same in November: invoice 2026-000002 on 20 November, collected on the
    23rd, the debit returned on the 25th naming 2026-000002 (AM04: 9.80 EUR fee). Replaying dora
    alone numbers her invoice 2026-000001.
    """
    url = f"sqlite:///{tmp_path_factory.mktemp('impact-named') / 'ledger.sqlite'}"
    engine = Engine(url, decider=decider)
    early, dora = Customer(engine, "early"), Customer(engine, "dora")
    for customer, month, offset in ((early, "10", "+02:00"), (dora, "11", "+01:00")):
        customer.open(at="2026-10-01T09:00:00+02:00", customer_type="consumer")
        assert (
            customer.call(f"2026-{month}-05T10:00:00{offset}", WORLD, 2100)["status"] == "applied"
        )
        issued = customer.send("clock", f"2026-{month}-20T08:00:00{offset}")
        assert [e["invoice"] for e in issued["effects"] if e["kind"] == "invoice_issued"] == [
            f"2026-00000{1 if customer is early else 2}"
        ]
    paid = dora.send(
        "payment.received", "2026-11-23T10:00:00+01:00", amount="10.15", method="direct_debit"
    )
    assert paid["status"] == "applied"
    returned = dora.send(
        "direct_debit.returned",
        "2026-11-25T10:00:00+01:00",
        amount="10.15",
        invoice="2026-000002",
        end_to_end_id="2026-000002",
        reason_code="AM04",
    )
    assert returned["status"] == "applied"
    yield engine
    engine.close()


def credit_draft(threshold: str) -> str:
    """CLINQ SD 1.3 with another threshold for the negative-credit invoice."""
    from admin_ui.views import _latest_version_text

    text = _latest_version_text(PROJECT_ROOT, {}, CREDIT_FILE)
    assert text.count('invoice_threshold: "-10.00 EUR"') == 1
    text = text.replace('invoice_threshold: "-10.00 EUR"', f'invoice_threshold: "{threshold}"')
    kept = [line for line in text.splitlines()[1:] if not line.startswith("note:")]
    return "effective_from: 2027-02-01\n" + "\n".join(kept) + "\n"


def test_a_return_naming_its_invoice_counts_its_fee_before_and_after(named):
    """The replay finds dora's 2026-000002 as its own 2026-000001 (the negative-credit invoice
    of November, CLINQ SD 1.3): the fee of 9.80 counts before, 12.00 after (AGB 8 preview)."""
    impact = impact_of(named, FEE_FILE, fee_draft("2027-01-01", "12.00 EUR"))
    fee = item(impact, "returned_debit_fee")
    assert (fee.before, fee.after, fee.delta) == (
        Decimal("9.80"),
        Decimal("12.00"),
        Decimal("2.20"),
    )
    assert [(c.account, c.delta) for c in impact.changes] == [("dora", Decimal("2.20"))]
    assert impact.accounts_replayed == 1  # early has no event in November
    assert (impact.unmatched.before, impact.unmatched.after) == ({}, {})
    assert impact.to_json()["unmatched_invoice_events"]["after"] == 0
    shown = describe(impact)
    assert "events naming an invoice the replay did not issue (left as stored): 0 before, " in shown
    # the same with two full replays and in two processes
    everyone = impact_of(
        named, FEE_FILE, fee_draft("2027-01-01", "12.00 EUR"), exhaustive=True, parallel=True
    )
    assert same(everyone) == same(impact)


def test_a_return_naming_an_invoice_the_draft_does_not_issue_is_counted_unmatched(
    named, tmp_path, capsys
):
    """Under a threshold of -20.00 EUR dora's -10.15 EUR is not invoiced: the replay with the
    draft has no counterpart of 2026-000002, so the return stays as stored, is refused there and
    its fee is missing after; the preview says so instead of dropping it silently."""
    impact = impact_of(named, CREDIT_FILE, credit_draft("-20.00 EUR"))
    fee = item(impact, "returned_debit_fee")
    assert (fee.before, fee.after) == (Decimal("9.80"), Decimal("0.00"))
    assert (impact.unmatched.before, impact.unmatched.after) == (
        {},
        {"direct_debit.returned": 1},
    )
    assert "0 before, 1 after (direct_debit.returned 1)" in describe(impact)
    draft = tmp_path / "credit.yaml"
    draft.write_text(credit_draft("-20.00 EUR"), encoding="utf-8")
    period = ["--from", "2026-11-01", "--to", "2026-11-30"]
    args = ["terms", "impact", str(draft), "--file", CREDIT_FILE, "--db", str(named.store.url)]
    assert main([*args, *period, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["unmatched_invoice_events"]
    assert {k: v for k, v in shown.items() if k != "note"} == {
        "before": 0,
        "after": 1,
        "by_type_before": {},
        "by_type_after": {"direct_debit.returned": 1},
    }
    assert "left as stored" in shown["note"]
    # legal sees it on the draft's page too
    from tests.test_admin import new_draft, save

    client = legal_in_the_admin_ui(named)
    draft_id = new_draft(client, CREDIT_FILE)
    assert save(client, draft_id, credit_draft("-20.00 EUR")).status_code == 200
    page = client.get(f"/admin/drafts/{draft_id}/impact?from=2026-11-01&to=2026-11-30")
    shown_page = page.data.decode()
    assert 'id="impact-unmatched"' in shown_page
    assert "0 before and 1 with the draft (direct_debit.returned 1)" in shown_page


def test_a_stored_number_the_replay_gave_another_invoice_does_not_name_it():
    """A return of dora's stored 2026-000002 (November's negative-credit invoice) where the
    replay issued no such invoice but numbered her monthly invoice 2026-000002: not applied to
    the wrong invoice (AGB 4.2.3), counted as unmatched; one with a counterpart is renamed."""
    names = InvoiceNames(
        {
            "2026-000002": ("dora", ("negative_credit", "2026-11", 0)),
            "2026-000007": ("dora", ("monthly", "2026-11", 0)),
        }
    )
    replayed = [
        Invoice("2026-000002", "dora", "monthly", "2026-12-01", "2026-12-01", 500, 500, "", "")
    ]
    replayed[0].period = "2026-11"

    def returned(number: str):
        return parse_event(
            {
                "id": f"r-{number}",
                "type": "direct_debit.returned",
                "account": "dora",
                "at": "2026-12-10T10:00:00+01:00",
                "amount": "5.00",
                "invoice": number,
            }
        )

    assert names.translate(returned("2026-000007"), replayed).data["invoice"] == "2026-000002"
    assert names.unmatched == {}
    kept = names.translate(returned("2026-000002"), replayed).data["invoice"]
    assert kept != "2026-000002" and kept.startswith("2026-000002")
    assert names.unmatched == {("dora", "direct_debit.returned"): 1}
