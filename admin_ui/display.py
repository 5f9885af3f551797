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


# What the admin UI calls the engine's identifiers (items, zones, grounds, plans, methods):
# people read "Returned debit fee", never ``returned_debit_fee``. English, as the admin UI is;
# what customers read is German (engine/documents/german.py).
LABELS = {
    # items of charges and credits (engine/effects.py; invoice lines, AGB 4.3.1)
    "call": "Calls",
    "base_fee": "Base fee",
    "additional_user_fee": "Additional users",
    "handling_fee": "Handling fee (payment request, AGB 4.1.4)",
    "returned_debit": "Returned direct debit",
    "returned_debit_fee": "Returned debit fee (AGB 4.2.3)",
    "default_interest": "Default interest (AGB 4.4.4)",
    "refund": "Refund",
    "refund_fee": "Refund fee (AGB 1.4.1)",
    "withdrawal_refund": "Refund after withdrawal (AGB 9.3)",
    "objection_credit": "Credit after a justified objection (AGB 4.5.4)",
    "credit_refund": "Refund of credit",
    "credit_note": "Credit note",
    "outstanding": "Outstanding amount",
    "payment": "Payment",
    "top_up": "Top-up",
    "vat": "VAT",
    # destination zones (the price list)
    "de_landline": "German landline",
    "de_mobile": "German mobile networks",
    "de_freephone": "Freephone numbers (0800)",
    "de_premium_rate": "Premium-rate numbers (0900)",
    "de_directory": "Directory enquiries",
    "emergency": "Emergency calls",
    "eu_landline": "EU landline",
    "eu_mobile": "EU mobile networks",
    "world": "Outside the EU",
    # grounds of a price increase for consumers (AGB 8.1)
    "vat_change": "Change of the VAT rate",
    "regulator_order": "Order of a regulator",
    "supplier_price_increase": "Price increase of an upstream supplier",
    # plans (CLINQ SD 2.1, 2.2); methods and the like read well with spaces (below)
    "clinq": "CLINQ",
    "clinq-premium": "CLINQ Premium",
}


def label(identifier: object) -> str:
    """An identifier as people read it: ``call:de_premium_rate`` is "Calls: Premium-rate
    numbers (0900)", ``supplier_price_increase`` "Price increase of an upstream supplier";
    what the table does not know is shown with spaces for its underscores."""
    text = "" if identifier is None else str(identifier)
    if text in LABELS:
        return LABELS[text]
    kind, colon, zone = text.partition(":")
    if colon and kind in LABELS:
        return f"{LABELS[kind]}: {label(zone)}"
    parts = text.split("@")
    if len(parts) == 4:  # a part month after a plan change: item@plan@from@to (effects.py)
        return f"{label(parts[0])} ({label(parts[1])}, {parts[2]} to {parts[3]})"
    if text.isidentifier() and "_" in text:
        return text.replace("_", " ")
    return text
