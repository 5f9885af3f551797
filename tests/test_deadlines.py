"""Deadlines as BGB §§ 187, 188, 193 count them, with NRW holidays (Platform: calendar)."""

from __future__ import annotations

from datetime import date

import pytest

from engine.catalog import Period
from engine.core.deadlines import (
    add_months,
    deadline,
    month_end_after_full_days,
    month_end_after_period,
    period_end,
    shift_193,
)


@pytest.fixture(scope="module")
def calendar(catalog):
    return catalog.at(date(2026, 1, 1)).calendar


def test_nrw_holidays_come_from_the_calendar(calendar):
    assert calendar.holiday(date(2026, 6, 4)) == "Fronleichnam"  # Corpus Christi: NRW, not Berlin
    assert calendar.holiday(date(2026, 11, 1)) == "Allerheiligen"
    assert calendar.holiday(date(2026, 10, 31)) is None  # Reformation Day is no holiday in NRW
    assert calendar.is_business_day(date(2026, 8, 28))  # a Friday
    assert not calendar.is_business_day(date(2026, 8, 29))  # a Saturday ...
    assert calendar.is_working_day(date(2026, 8, 29))  # ... is a Werktag
    assert not calendar.is_working_day(date(2026, 12, 26))  # a Saturday, but a holiday


def test_six_weeks_from_a_wednesday_end_on_the_wednesday_six_weeks_later(calendar):
    # legal-facts: notice received Wednesday 2026-03-04 -> end of Wednesday 2026-04-15.
    assert period_end(date(2026, 3, 4), Period(6, "weeks"), calendar) == date(2026, 4, 15)


def test_the_event_day_is_not_counted(calendar):
    assert period_end(date(2026, 3, 4), Period(10, "days"), calendar) == date(2026, 3, 14)


def test_one_month_from_the_31st_ends_on_the_last_day_of_a_shorter_month(calendar):
    # § 188 (3): one month from Saturday 2026-01-31 ends at the end of 2026-02-28 ...
    end = period_end(date(2026, 1, 31), Period(1, "months"), calendar)
    assert end == date(2026, 2, 28)
    # ... a Saturday, so a payment deadline moves to Monday 2026-03-02 (§ 193).
    assert shift_193(end, calendar) == date(2026, 3, 2)


def test_month_arithmetic_in_leap_years():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)


def test_a_deadline_ending_on_a_public_holiday_moves_to_the_next_working_day(calendar):
    # Eight weeks from an invoice received Friday 2026-03-06 end on Friday 2026-05-01,
    # Labour Day; the objection deadline moves to Monday 2026-05-04.
    assert deadline(date(2026, 3, 6), Period(8, "weeks"), "bgb-188", "bgb-193", calendar) == date(
        2026, 5, 4
    )
    assert deadline(date(2026, 3, 6), Period(8, "weeks"), "bgb-188", "none", calendar) == date(
        2026, 5, 1
    )


def test_section_193_skips_a_whole_holiday_weekend(calendar):
    # Good Friday 2026-04-03, Saturday, Sunday, Easter Monday 2026-04-06.
    assert shift_193(date(2026, 4, 3), calendar) == date(2026, 4, 7)


def test_six_working_days_count_saturdays_but_not_sundays_or_holidays(calendar):
    # AGB 4.2.2: invoice received Friday 2026-12-18: Sat 19, Mon 21, Tue 22, Wed 23, Thu 24,
    # (Fri 25 and Sat 26 are Christmas holidays, Sun 27), Mon 28 is the sixth working day.
    assert period_end(date(2026, 12, 18), Period(6, "working_days"), calendar) == date(2026, 12, 28)


def test_business_days_skip_easter(calendar):
    assert period_end(date(2026, 4, 2), Period(1, "business_days"), calendar) == date(2026, 4, 7)


ONE_BUSINESS_DAY = Period(1, "business_days")


@pytest.mark.parametrize(
    ("notice", "contract_ends"),
    [
        # CLINQ SD 1.4: Friday 2026-08-28 leaves only Saturday and Sunday before Monday 31 August.
        (date(2026, 8, 28), date(2026, 9, 30)),
        # Thursday 2026-08-27 leaves Friday 28 August as a full business day.
        (date(2026, 8, 27), date(2026, 8, 31)),
        # A notice on the last day of a month can only take effect a month later.
        (date(2026, 8, 31), date(2026, 9, 30)),
        # Tuesday 2026-12-29: Wednesday 30 December is a business day.
        (date(2026, 12, 29), date(2026, 12, 31)),
        # Wednesday 2026-12-30: nothing lies between it and New Year's Eve.
        (date(2026, 12, 30), date(2027, 1, 31)),
        # Thursday 2029-03-29: the only weekday before Saturday 31 March is Good Friday.
        (date(2029, 3, 29), date(2029, 4, 30)),
        # February in a leap year.
        (date(2028, 2, 25), date(2028, 2, 29)),
    ],
)
def test_clinq_terminates_to_a_month_end_with_a_full_business_day_between(
    calendar, notice, contract_ends
):
    assert month_end_after_full_days(notice, ONE_BUSINESS_DAY, calendar) == contract_ends


@pytest.mark.parametrize(
    ("notice", "contract_ends"),
    [
        (date(2026, 1, 15), date(2026, 2, 28)),  # 30 days end 2026-02-14
        (date(2026, 1, 1), date(2026, 1, 31)),  # 30 days end exactly on 2026-01-31
        (date(2026, 1, 2), date(2026, 2, 28)),
        (date(2024, 1, 30), date(2024, 2, 29)),  # leap year: 30 days end 2024-02-29
    ],
)
def test_products_without_their_own_rule_terminate_with_30_days_to_a_month_end(
    calendar, notice, contract_ends
):
    assert month_end_after_period(notice, Period(30, "days"), calendar) == contract_ends


def test_the_termination_rule_in_the_catalog_applies_the_clinq_month_end_rule(catalog):
    terms = catalog.at(date(2026, 8, 28))
    termination = terms.clause("CLINQ SD 1.4")
    assert termination.deadline("notice_period", date(2026, 8, 28), terms.calendar) == date(
        2026, 9, 30
    )


def test_a_withdrawal_period_ending_on_a_sunday_is_extended_to_monday(catalog):
    # AGB 9.1: two weeks from a conclusion on Sunday 2026-03-01 end on Sunday 2026-03-15 and
    # move to Monday 2026-03-16 (§ 193).
    terms = catalog.at(date(2026, 3, 1))
    withdrawal = terms.clause("AGB 9.1")
    assert withdrawal.deadline("withdrawal_period", date(2026, 3, 1), terms.calendar) == date(
        2026, 3, 16
    )


def test_a_month_end_notice_cannot_be_counted_in_weeks(calendar):
    with pytest.raises(ValueError, match="cannot be counted in weeks"):
        month_end_after_full_days(date(2026, 1, 1), Period(1, "weeks"), calendar)
