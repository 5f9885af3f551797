"""Default interest (AGB 4.4.4; BGB §§ 247, 288, 289).

Interest runs on each calendar day of default at the base rate in force on that day plus the
margin (5 points for consumers, 8 for businesses as the contract says), over a 365-day year,
simple (no interest on interest), and is rounded once, when it is charged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from engine.core.money import MoneyRule


def default_interest(
    principal: Decimal,
    first_day: date,
    until: date,
    margin: Decimal,
    base_rate_on: Callable[[date], Decimal],
    money: MoneyRule,
    days_in_year: int = 365,
) -> Decimal:
    """Interest on ``principal`` for each day from ``first_day`` up to, not including, ``until``.

    >>> from engine.money import MoneyRule
    >>> rule = MoneyRule("EUR", Decimal("0.01"), "half_up")
    >>> default_interest(Decimal("1000.00"), date(2026, 3, 1), date(2026, 3, 26),
    ...                  Decimal("5.00"), lambda day: Decimal("0.12"), rule)
    Decimal('3.51')
    """
    if until <= first_day or principal <= 0:
        return money.round(Decimal(0))
    exact = Decimal(0)
    day = first_day
    while day < until:
        exact += principal * (base_rate_on(day) + margin) / 100 / days_in_year
        day += timedelta(days=1)
    return money.round(exact)
