"""Rating calls: billed time by increment, and the price of billed time at a per-minute rate.

A call is priced with the tariff in force at its start (AGB 3.4). The first increment is billed
for any connected call, the rest in whole next increments (``60/60``: per started minute).
"""

from __future__ import annotations

from decimal import Decimal

from engine.core.money import MoneyRule


def billed_seconds(duration_s: int, first_increment: int, next_increment: int) -> int:
    """Seconds billed for a call that was connected ``duration_s`` seconds."""
    if duration_s <= 0:
        return 0
    if duration_s <= first_increment:
        return first_increment
    rest = duration_s - first_increment
    return first_increment + -(-rest // next_increment) * next_increment


def price(seconds: int, rate_per_minute: Decimal, money: MoneyRule) -> Decimal:
    """The charge for ``seconds`` at ``rate_per_minute``, rounded once by the money rule."""
    return money.round(rate_per_minute * seconds / 60)


def split_free_seconds(billed: int, free_left: int) -> tuple[int, int]:
    """Split billed seconds into the part the free minutes cover and the part that is charged."""
    free = min(billed, max(free_left, 0))
    return free, billed - free
