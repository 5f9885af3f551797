"""Values as the admin UI shows them: always with their unit, never Python's ``True``.

Money ``9.80 EUR``, rates ``0.0179 EUR/min``, percentages ``5.00 %`` (or ``8.00 percentage
points``), periods ``14 days``, counts with the unit the parameter declares (``60 minutes``),
booleans ``yes``/``no``. Amounts stored as integer cents are shown as EUR with two decimals.
"""

from __future__ import annotations

from typing import Any

from engine.catalog.model import ParameterSpec
from engine.core.money import format_amount, from_cents

PERCENT_UNITS = {"percentage_points": "percentage points", "percent_per_year": "% per year"}


def yes_no(value: object) -> str:
    """``yes`` or ``no`` for a boolean (the admin UI is English; customers' letters say ja/nein)."""
    return "yes" if value else "no"


def with_unit(spec: ParameterSpec | None, value: Any) -> str:
    """A parameter's value as a person reads it, with its unit."""
    if isinstance(value, bool):
        return yes_no(value)
    kind = spec.type if spec else None
    unit = (spec.unit if spec else None) or ""
    if kind == "money":
        return f"{value} EUR"
    if kind == "rate":
        return f"{value} EUR/min"
    if kind == "percent":
        return f"{value} {PERCENT_UNITS.get(unit, '%')}"
    if kind == "set":
        return ", ".join(value) if value else "none"
    if kind == "integer" and unit == "day_of_month":
        return f"day {value} of the month"
    if kind == "integer" and unit:
        return f"{value} {unit.replace('_', ' ')}"
    return str(value)  # periods read "14 days", "8 weeks"; texts and references as written


def euros(cents: int | None) -> str:
    """Integer cents as ``12.30 EUR`` (``-4.50 EUR`` for a debt); empty for no amount."""
    if cents is None:
        return ""
    return f"{format_amount(from_cents(cents))} EUR"
