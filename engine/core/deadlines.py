"""Deadline arithmetic of BGB §§ 187, 188 and 193 and the month-end rules of the contract.

Every function is pure: it takes the day of the event that starts the period and returns a
calendar date. A period "ends" at the end of the returned day.

* § 187 (1): the day of the event is not counted.
* § 188 (1): a period in days ends with its last day. § 188 (2): weeks and months end on the day
  with the same weekday or date number as the event day. § 188 (3): if that date is missing in
  the last month, the period ends on that month's last day.
* § 193: a last day for a declaration or performance on a Saturday, Sunday or public holiday
  moves to the next working day.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from engine.core.calendar import Calendar

PeriodUnit = Literal["days", "weeks", "months", "years", "working_days", "business_days"]
PERIOD_UNITS: tuple[PeriodUnit, ...] = (
    "days",
    "weeks",
    "months",
    "years",
    "working_days",
    "business_days",
)


@dataclass(frozen=True)
class Period:
    """A period of ``count`` units; how it runs is the parameter's ``deadline_rule``."""

    count: int
    unit: PeriodUnit

    def __str__(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.count} {unit[:-1] if self.count == 1 else unit}"

    def to_yaml(self) -> dict[str, int]:
        return {self.unit: self.count}


def last_day_of_month(year: int, month: int) -> date:
    return date(year, month, _stdlib_calendar.monthrange(year, month)[1])


def add_months(day: date, months: int) -> date:
    """The same date number ``months`` later, or that month's last day (BGB § 188 (2), (3))."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, last_day_of_month(year, month).day))


def nth_day_after(day: date, count: int, is_counted) -> date:
    """The ``count``-th day after ``day`` for which ``is_counted`` holds (the event day is not)."""
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if is_counted(current):
            remaining -= 1
    return current


def period_end(event_day: date, period: Period, calendar: Calendar) -> date:
    """The last day of ``period`` starting with an event on ``event_day`` (BGB §§ 187 (1), 188)."""
    if period.unit == "days":
        return event_day + timedelta(days=period.count)
    if period.unit == "weeks":
        return event_day + timedelta(weeks=period.count)
    if period.unit == "months":
        return add_months(event_day, period.count)
    if period.unit == "years":
        return add_months(event_day, 12 * period.count)
    if period.unit == "working_days":
        return nth_day_after(event_day, period.count, calendar.is_working_day)
    return nth_day_after(event_day, period.count, calendar.is_business_day)


def shift_193(day: date, calendar: Calendar) -> date:
    """Move a last day off Saturdays, Sundays and public holidays to the next working day."""
    while not calendar.is_declaration_day(day):
        day += timedelta(days=1)
    return day


def month_end_after_full_days(notice_day: date, period: Period, calendar: Calendar) -> date:
    """The first month end with ``period`` full days strictly between notice day and month end.

    CLINQ SD 1.4: "there must be a full business day between the termination and the date on
    which the termination is to take effect". A notice on Friday 2026-08-28 leaves only
    Saturday and Sunday before Monday 2026-08-31, so the contract ends on 2026-09-30.
    """
    counted = {
        "business_days": calendar.is_business_day,
        "working_days": calendar.is_working_day,
        "days": lambda _day: True,
    }.get(period.unit)
    if counted is None:
        raise ValueError(f"a month-end notice cannot be counted in {period.unit}")
    month_end = last_day_of_month(notice_day.year, notice_day.month)
    while True:
        between = 0
        day = notice_day + timedelta(days=1)
        while day < month_end:
            between += counted(day)
            day += timedelta(days=1)
        if between >= period.count:
            return month_end
        following = month_end + timedelta(days=1)
        month_end = last_day_of_month(following.year, following.month)


def month_end_after_period(notice_day: date, period: Period, calendar: Calendar) -> date:
    """The end of the month in which ``period`` from ``notice_day`` ends (AGB 1.2.1)."""
    end = period_end(notice_day, period, calendar)
    return last_day_of_month(end.year, end.month)


def deadline(
    event_day: date, period: Period, deadline_rule: str, shift: str, calendar: Calendar
) -> date:
    """Apply a parameter's declared ``deadline_rule`` and ``shift`` to ``period``."""
    if deadline_rule == "bgb-188":
        end = period_end(event_day, period, calendar)
    elif deadline_rule == "full-days-before-month-end":
        end = month_end_after_full_days(event_day, period, calendar)
    elif deadline_rule == "days-before-month-end":
        end = month_end_after_period(event_day, period, calendar)
    else:
        raise ValueError(f"unknown deadline rule {deadline_rule!r}")
    return shift_193(end, calendar) if shift == "bgb-193" else end
