"""GoBD: invoices and the bookings behind them are kept, unchanged, for the statutory period
(UStG § 14b, HGB § 257, AO § 147 as amended by BEG IV in 2025; Platform: retention), and
deleting traffic data (AGB 4.4.5) or an inactive account (AGB 1.5) never deletes them."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from engine.catalog import PROJECT_ROOT
from engine.contract.retention import kept_until
from engine.interchange.datev import export
from engine.ledger.tables import events, invoices, ledger_entries
from tests.conftest import effects_of
from tests.test_datev import a_month


def books(engine) -> dict[str, list[tuple]]:
    """Every row of the books: events, ledger entries, and each invoice's content."""
    with engine.store.unit(commit=False) as unit:
        run = unit.connection.execute
        return {
            "events": [tuple(r) for r in run(select(events).order_by(events.c.seq))],
            "ledger": [tuple(r) for r in run(select(ledger_entries).order_by(ledger_entries.c.id))],
            "invoices": [
                (
                    *(r.number, r.account, r.kind, r.issued_on, r.amount_cents, r.clause),
                    unit.invoice(r.number).detail.get("items"),
                )
                for r in run(select(invoices).order_by(invoices.c.number))
            ],
        }


def assert_kept(before: dict, after: dict) -> None:
    """Nothing deleted or changed: every earlier row is still there as it was."""
    for table in ("events", "ledger", "invoices"):
        assert after[table][: len(before[table])] == before[table], table


def test_an_invoice_is_kept_eight_years_after_the_end_of_its_year():
    from engine.catalog import load_catalog

    catalog = load_catalog()
    # Issued Sunday 1 November 2026: the period begins 31 Dec 2026, eight years (§ 14b UStG,
    # § 147 (3) AO as amended by BEG IV): kept through 31 Dec 2034.
    assert kept_until("invoice", date(2026, 11, 1), catalog) == date(2034, 12, 31)
    assert kept_until("credit_note", date(2026, 12, 31), catalog) == date(2034, 12, 31)
    # The ledger and the event log are books: ten years, through 31 Dec 2036.
    assert kept_until("ledger_entry", date(2026, 11, 1), catalog) == date(2036, 12, 31)
    assert kept_until("event", date(2026, 1, 1), catalog) == date(2036, 12, 31)
    # An invoice of 2014: its ten years ran out on 31 Dec 2024, before BEG IV took effect.
    assert kept_until("invoice", date(2014, 6, 30), catalog) == date(2024, 12, 31)
    # An invoice of 2018: ten years would run to 2028; on 1 Jan 2025 the period was still
    # running, so the eight years apply: through 31 Dec 2026.
    assert kept_until("invoice", date(2018, 6, 30), catalog) == date(2026, 12, 31)
    # Notices to customers are commercial letters: six years (§ 257 (4) HGB).
    assert kept_until("letter", date(2026, 11, 1), catalog) == date(2032, 12, 31)


def test_deleting_traffic_data_keeps_invoices_and_their_bookings(engine):
    """AGB 4.4.5: early deletion on request and the deletion eight weeks after receipt."""
    customers = a_month(engine)
    november, _ = export(engine.store, engine.catalog, "2026-11")
    before = books(engine)
    result = customers["anna"].send(
        "data_deletion.requested", "2026-11-25T10:00:00+01:00", scope="traffic_data"
    )
    assert [e["invoice"] for e in effects_of(result, "traffic_data_deleted")] == [
        "2026-000001",
        "2026-000002",
    ]
    # Eight weeks after Sunday 1 November end Sunday 27 December; deleted on Tuesday 29th
    # (the objection window of AGB 4.5.2 runs to Monday 28th, § 193 BGB).
    deleted = effects_of(
        customers["otto"].send("clock", "2026-12-29T08:00:00+01:00"), "traffic_data_deleted"
    )
    assert [(e["invoice"], e["date"]) for e in deleted] == [("2026-000005", "2026-12-29")]
    after = books(engine)
    assert_kept(before, after)
    with engine.store.unit(commit=False) as unit:
        assert unit.invoice("2026-000002").traffic_data_deleted_on == "2026-11-25"
    again, _ = export(engine.store, engine.catalog, "2026-11")
    assert again == november


def test_deleting_an_inactive_account_keeps_its_invoices_and_bookings(engine):
    """AGB 1.5: a year without use, an e-mail, four weeks, the account is deleted."""
    customers = a_month(engine)
    november, _ = export(engine.store, engine.catalog, "2026-11")
    before = books(engine)
    otto = customers["otto"]
    # Last use: the top-up of Thursday 5 November 2026.
    notice = otto.send("clock", "2027-11-06T08:00:00+01:00")
    assert effects_of(notice, "notice_sent")[0]["template"] == "inactive_account_deletion"
    # Four weeks from Saturday 6 November 2027 end Saturday 4 December; an objection on
    # Monday 6th is in time (§ 193 BGB), so the account is deleted on Tuesday 7 December.
    assert effects_of(otto.send("clock", "2027-12-06T08:00:00+01:00"), "account_deleted") == []
    deleted = effects_of(otto.send("clock", "2027-12-07T08:00:00+01:00"), "account_deleted")
    assert [e["clause"] for e in deleted] == ["AGB 1.5"]
    assert engine.account("otto")["status"] == "deleted"
    after = books(engine)
    assert_kept(before, after)
    otto_invoices = [row for row in after["invoices"] if row[1] == "otto"]
    assert [(row[0], row[4]) for row in otto_invoices] == [("2026-000005", 690)]
    assert sum(1 for row in after["ledger"] if row[1] == "otto") == sum(
        1 for row in before["ledger"] if row[1] == "otto"
    )
    again, _ = export(engine.store, engine.catalog, "2026-11")
    assert again == november


BOOKS = ("events", "ledger_entries", "invoices")


def test_no_code_deletes_or_truncates_the_books():
    """The platform's code never deletes a row of the books (GoBD: unalterable)."""
    pattern = re.compile(
        rf"(delete\(\s*({'|'.join(BOOKS)})\b|DELETE\s+FROM\s+({'|'.join(BOOKS)})\b"
        rf"|TRUNCATE\s+(TABLE\s+)?({'|'.join(BOOKS)})\b)",
        re.IGNORECASE,
    )
    found = [
        f"{path.relative_to(PROJECT_ROOT)}: {match.group(0)}"
        for folder in ("engine", "api", "admin_ui")
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_a_retention_period_ends_on_31_december_even_on_a_sunday_without_193():
    """Keeping is a duty that lasts, not an act due by a day: § 193 BGB does not move the end.
    Invoices of 30 and 31 Dec 2026 (the day before and the year's last day) are kept through
    Sunday 31 Dec 2034 (not Tuesday 2 Jan 2035, after New Year's Day); one of 1 Jan 2027 (the
    day after) through 31 Dec 2035."""
    from engine.catalog import load_catalog

    catalog = load_catalog()
    assert date(2034, 12, 31).weekday() == 6
    assert kept_until("invoice", date(2026, 12, 30), catalog) == date(2034, 12, 31)
    assert kept_until("invoice", date(2026, 12, 31), catalog) == date(2034, 12, 31)
    assert kept_until("invoice", date(2027, 1, 1), catalog) == date(2035, 12, 31)
