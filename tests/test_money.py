"""Money is Decimal in EUR cents, rounded once per charge, half up (Platform: money)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.core.money import format_amount, parse_amount


def test_the_catalog_declares_cents_and_rounding_half_up(catalog):
    money = catalog.at(date(2026, 1, 1)).money
    assert (money.currency, money.minor_unit, money.rounding) == ("EUR", Decimal("0.01"), "half_up")
    assert money.round(Decimal("0.005")) == Decimal("0.01")
    assert money.round(Decimal("0.0149")) == Decimal("0.01")
    assert money.round(Decimal("-0.005")) == Decimal("-0.01")
    assert money.round(Decimal("1000") * 25 * Decimal("5.12") / 36500) == Decimal("3.51")


@pytest.mark.parametrize(
    ("text", "amount"),
    [("9.80", "9.80"), ("9.8", "9.80"), ("-10", "-10.00"), ("0", "0.00"), ("12500.00", "12500.00")],
)
def test_amounts_in_json_are_decimal_strings(text, amount):
    assert parse_amount(text) == Decimal(amount)
    assert format_amount(parse_amount(text)) == amount


@pytest.mark.parametrize("bad", [9.8, 10, "9.805", "9,80", "1e3", "", " 9.80", "NaN", "09.80"])
def test_anything_but_a_decimal_string_with_at_most_two_decimals_is_refused(bad):
    with pytest.raises(ValueError, match="decimal string in EUR"):
        parse_amount(bad)
