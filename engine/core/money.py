"""Money: EUR amounts as ``Decimal`` with one rounding rule (Platform: money).

Every charge is computed exactly and rounded once, to the cent, when it becomes a ledger
entry. JSON carries amounts as strings with two decimals (``"9.80"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
CENT = Decimal("0.01")
_AMOUNT = re.compile(r"^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")


@dataclass(frozen=True)
class MoneyRule:
    """Currency, smallest unit and rounding mode declared in ``rules/platform/money.yaml``."""

    currency: str
    minor_unit: Decimal
    rounding: str

    def round(self, amount: Decimal) -> Decimal:
        """Round an exact amount to the ledger's precision with the declared mode."""
        return amount.quantize(self.minor_unit, rounding=ROUNDING_MODES[self.rounding])


def parse_amount(text: str) -> Decimal:
    """Parse a JSON amount string in EUR (``"9.80"``, ``"-10"``); floats are refused."""
    if not isinstance(text, str) or not _AMOUNT.match(text):
        raise ValueError(f"an amount is a decimal string in EUR like '9.80', not {text!r}")
    return Decimal(text).quantize(CENT)


def format_amount(amount: Decimal) -> str:
    """An amount as JSON carries it: two decimals, no currency (``"9.80"``)."""
    return f"{amount.quantize(CENT):f}"


def to_cents(amount: Decimal) -> int:
    """An amount in EUR as integer cents: how money is stored and enters the rule engine."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} EUR is not a whole number of cents")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    """Integer cents as an amount in EUR with two decimals."""
    return (Decimal(cents) / 100).quantize(CENT)
