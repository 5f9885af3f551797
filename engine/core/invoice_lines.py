"""Invoice lines with quantity, unit and net unit price (EN 16931 BT-129, BT-130, BT-146).

The ledger records, with every charge the monthly invoice lists, what it is a quantity of
(``Quantity``): billed minutes of a call at the zone's per-minute rate (unit ``MIN``), the base
price per month (``MON``, a part month as the fraction of its days, Platform: recurring-fees),
additional users per user and month (``C62``), fees as pieces (``C62``). Charges of one item
(kind and zone) at one unit price add up to one line; a zone whose rate changed within the
month (AGB 3.4: the rate at the call's start) gets one line per rate.

A line's net is what the ledger charged. ``quantity x unit price`` rounded to the cent is not
always that net: every call is rounded to the cent on its own (``Price list``, Platform:
money), and a part month's quantity is printed with ``line_quantity_decimals`` decimals
(Platform: invoicing). The difference is stated as a line charge or allowance (BG-27/BG-28,
"Rundungsdifferenz") so that quantity x price + charge - allowance = line net exactly and the
lines add up to the invoice totals to the cent (BR-CO-10).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from math import gcd

from engine.core.money import MoneyRule, from_cents

MINUTE = "MIN"  # UN/ECE Rec. 20: minute
MONTH = "MON"  # UN/ECE Rec. 20: month
ONE = "C62"  # UN/ECE Rec. 20: one (a piece; a user per month)
# What the customer reads (no catalog identifiers on a customer document); the rules behind
# them are Platform: money, Platform: recurring-fees and Platform: invoicing.
ROUNDING_REASON = (
    "Rundungsdifferenz: laut Preisliste wird jede Verbindung einzeln auf volle Cent gerundet"
)
PART_MONTH_REASON = (
    "Rundungsdifferenz: anteiliger Monat, Menge auf {decimals} Nachkommastellen gerundet"
)


@dataclass(frozen=True)
class Quantity:
    """What a charge is a quantity of: ``amount`` ``unit`` at ``unit_price`` (net) each."""

    amount: Fraction
    unit: str
    unit_price: Decimal


def call_minutes(seconds: int, rate: Decimal) -> Quantity:
    """The charged seconds of a call as minutes at the zone's per-minute rate (AGB 3.4)."""
    return Quantity(Fraction(seconds, 60), MINUTE, rate)


def months(fraction: Fraction, monthly_price: Decimal) -> Quantity:
    """A monthly price for ``fraction`` of a month (1, or days left / days of the month)."""
    return Quantity(fraction, MONTH, monthly_price)


def pieces(count: Fraction | int, price: Decimal) -> Quantity:
    """``count`` pieces at ``price``: users per month, fees."""
    return Quantity(Fraction(count), ONE, price)


def accumulate(total: list, quantity: Quantity, cents: int) -> None:
    """Add a charge of ``cents`` to its ``period_charges`` entry ``[cents, clause, lines]``.

    ``lines`` maps ``"UNIT PRICE"`` to the summed quantity (an exact fraction, as text) and the
    summed net in cents.
    """
    unit_price = f"{quantity.unit_price}"
    add_to_line(
        total, f"{quantity.unit} {unit_price}", quantity.unit, unit_price, quantity.amount, cents
    )


def add_to_line(
    total: list, key: str, unit: str, unit_price: str, amount: Fraction, cents: int
) -> None:
    """:func:`accumulate` with the line's key (``"UNIT PRICE"``) and price text given: the
    call path keeps them per rate instead of formatting them for every call."""
    if len(total) < 3:
        total.append({})
    lines = total[2]
    line = lines.get(key)
    if line is None:
        line = lines[key] = {"unit": unit, "unit_price": unit_price, "quantity": "0", "net": 0}
    line["quantity"] = added_quantity(line["quantity"], amount)
    line["net"] += cents


def added_quantity(text: str, amount: Fraction) -> str:
    """``str(Fraction(text) + amount)``: a summed quantity as text (``"7/2"``, ``"3"``).

    The text is what ``str(Fraction)`` wrote; a plain ``n/d`` of digits is added in integers
    (the hot path of every charged call), anything else through ``Fraction``.
    """
    numerator, _, denominator = text.partition("/")
    if not numerator.isdigit() or not (denominator.isdigit() or not denominator):
        return str(Fraction(text) + amount)
    n, d = int(numerator), int(denominator or 1)
    a, b = amount.numerator, amount.denominator
    top, bottom = n * b + a * d, d * b
    common = gcd(top, bottom)
    top, bottom = top // common, bottom // common
    return f"{top}/{bottom}" if bottom != 1 else f"{top}"


def plain(number: Decimal) -> str:
    """A decimal without trailing zeros and without exponent: 37, 0.5161, 0.069."""
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rounded_quantity(amount: Fraction, decimals: int) -> Decimal:
    """An exact quantity rounded half up to ``decimals`` decimals (Platform: invoicing)."""
    with localcontext() as context:
        context.prec = 40
        value = Decimal(amount.numerator) / Decimal(amount.denominator)
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def item_lines(
    base: dict, cents: int, lines: dict | None, decimals: int, money: MoneyRule
) -> list[dict]:
    """The invoice items of one ledger item: one per unit price, each with ``quantity``,
    ``unit``, ``unit_price``, ``net`` and ``rounding`` (net - quantity x price, rounded).

    Charges recorded without quantities (before the ledger kept them) give one item without
    them, which the documents show as 1 x C62 at its net amount.
    """
    if not lines or sum(line["net"] for line in lines.values()) != cents:
        return [{**base, "net": f"{from_cents(cents)}"}]
    found = []
    for line in sorted(lines.values(), key=lambda line: Decimal(line["unit_price"])):
        quantity = rounded_quantity(Fraction(line["quantity"]), decimals)
        price = Decimal(line["unit_price"])
        product = money.round(quantity * price)
        net = from_cents(line["net"])
        item = {
            **base,
            "net": f"{net}",
            "quantity": plain(quantity),
            "unit": line["unit"],
            "unit_price": f"{price}",
            "rounding": f"{net - product}",
        }
        if net != product:
            reason = ROUNDING_REASON if line["unit"] == MINUTE else PART_MONTH_REASON
            item["rounding_reason"] = reason.format(decimals=decimals)
        found.append(item)
    return found


@dataclass(frozen=True)
class LineFigures:
    """What a document prints for an item: quantity x unit price (+/- rounding) = net."""

    quantity: Decimal
    unit: str
    unit_price: Decimal
    net: Decimal
    rounding: Decimal  # positive: a line charge, negative: a line allowance (BG-28, BG-27)
    rounding_reason: str | None


def figures(item: dict) -> LineFigures:
    """The line figures of an invoice item; an item issued without quantities is 1 x C62 at
    its net (-1 at the positive amount for a negative one, BR-27)."""
    net = Decimal(item["net"])
    if "quantity" not in item:
        sign = Decimal(1) if net >= 0 else Decimal(-1)
        return LineFigures(sign, ONE, abs(net), net, Decimal("0.00"), None)
    return LineFigures(
        Decimal(item["quantity"]),
        item["unit"],
        Decimal(item["unit_price"]),
        net,
        Decimal(item.get("rounding", "0.00")),
        item.get("rounding_reason"),
    )


UNIT_NAMES = {MINUTE: "Min.", MONTH: "Monat(e)", ONE: "Stück"}
