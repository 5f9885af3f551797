"""Which days are business days, working days and public holidays (Platform: calendar).

Holidays come from the ``holidays`` package for the country and subdivision the catalog
names (Germany, Nordrhein-Westfalen: the provider's seat). Instants become calendar dates in
the catalog's time zone (Europe/Berlin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=256)
def _holidays_of(country: str, subdivision: str, year: int) -> dict[date, str]:
    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year, language="de"))


@dataclass(frozen=True)
class Calendar:
    """The platform calendar: time zone, public holidays, business and working weekdays."""

    time_zone: str
    holiday_country: str
    holiday_subdivision: str
    business_weekdays: frozenset[int]
    working_weekdays: frozenset[int]

    @classmethod
    def from_names(
        cls,
        *,
        time_zone: str,
        holiday_country: str,
        holiday_subdivision: str,
        business_days: tuple[str, ...],
        working_days: tuple[str, ...],
    ) -> Calendar:
        return cls(
            time_zone=time_zone,
            holiday_country=holiday_country,
            holiday_subdivision=holiday_subdivision,
            business_weekdays=frozenset(WEEKDAYS.index(d) for d in business_days),
            working_weekdays=frozenset(WEEKDAYS.index(d) for d in working_days),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local_date(self, instant: datetime) -> date:
        """The calendar date of ``instant`` in the platform's time zone."""
        return to_local_date(instant, self.time_zone)

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on ``day``, or None."""
        return _holidays_of(self.holiday_country, self.holiday_subdivision, day.year).get(day)

    def is_holiday(self, day: date) -> bool:
        return self.holiday(day) is not None

    def is_business_day(self, day: date) -> bool:
        """Monday to Friday and not a public holiday (CLINQ SD 1.4, as the calendar declares)."""
        return day.weekday() in self.business_weekdays and not self.is_holiday(day)

    def is_working_day(self, day: date) -> bool:
        """A Werktag: Monday to Saturday and not a public holiday (AGB 4.2.2)."""
        return day.weekday() in self.working_weekdays and not self.is_holiday(day)

    def is_declaration_day(self, day: date) -> bool:
        """A day on which a deadline may end under BGB § 193: not Saturday, Sunday or holiday."""
        return day.weekday() < 5 and not self.is_holiday(day)


def to_local_date(instant: datetime, time_zone: str) -> date:
    """The calendar date of an aware ``instant`` in ``time_zone``; naive instants are refused."""
    last = _last_local_date
    if last[0] is instant and last[1] == time_zone:
        return last[2]  # the same instant asked again (the catalog, then the handler)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no UTC offset")
    day = instant.astimezone(ZoneInfo(time_zone)).date()
    _remember_local_date((instant, time_zone, day))
    return day


def _remember_local_date(entry: tuple) -> None:
    global _last_local_date
    _last_local_date = entry  # one tuple, replaced whole: safe between threads


_last_local_date: tuple = (None, None, None)
