"""Availability of the telephony systems over a year (CLINQ SD 2.3).

From ``outage`` events: the year's time less the outages that were not announced maintenance,
installation or conversion, overlapping outages counted once, as a share of the whole year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from engine.catalog import Catalog
from engine.effects import Booking, Rejected


def record_outage(booking: Booking) -> None:
    """outage: an interruption with its start, end and whether it was maintenance."""
    data = booking.event.data
    start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
    if end <= start:
        raise Rejected("an outage ends after it starts", "CLINQ SD 2.3")
    booking.effect(
        "outage_recorded",
        "CLINQ SD 2.3",
        start=data["start"],
        end=data["end"],
        maintenance=data["maintenance"],
        minutes=int((end - start).total_seconds() // 60),
    )


@dataclass(frozen=True)
class AvailabilityReport:
    year: int
    downtime_seconds: int
    maintenance_seconds: int
    availability_percent: Decimal
    minimum_percent: Decimal

    @property
    def met(self) -> bool:
        return self.availability_percent >= self.minimum_percent

    def describe(self) -> str:
        verdict = "met" if self.met else "NOT met"
        return (
            f"{self.year}: availability {self.availability_percent} % "
            f"(minimum {self.minimum_percent} %, {verdict}); downtime "
            f"{self.downtime_seconds / 3600:.2f} h, maintenance excluded "
            f"{self.maintenance_seconds / 3600:.2f} h (CLINQ SD 2.3)"
        )


def availability(outages: list[dict], year: int, catalog: Catalog) -> AvailabilityReport:
    """The year's average availability, maintenance excluded (CLINQ SD 2.3)."""
    begin = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    counted, maintenance = [], []
    for outage in outages:
        start = max(datetime.fromisoformat(outage["start"]), begin)
        stop = min(datetime.fromisoformat(outage["end"]), end)
        if stop > start:
            (maintenance if outage["maintenance"] else counted).append((start, stop))
    year_seconds = int((end - begin).total_seconds())
    down = _merged_seconds(counted)
    share = (Decimal(year_seconds - down) * 100 / year_seconds).quantize(Decimal("0.001"))
    minimum = catalog.at(datetime(year, 12, 31).date()).clause("CLINQ SD 2.3")[
        "minimum_availability"
    ]
    return AvailabilityReport(year, down, _merged_seconds(maintenance), share, minimum)


def _merged_seconds(intervals: list[tuple[datetime, datetime]]) -> int:
    total, current_start, current_end = 0, None, None
    for start, stop in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += int((current_end - current_start).total_seconds())
            current_start, current_end = start, stop
        else:
            current_end = max(current_end, stop)
    if current_end is not None:
        total += int((current_end - current_start).total_seconds())
    return total
