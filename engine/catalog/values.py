"""Typed parameter values: each YAML form becomes one plain Python value.

=========  ======================  =========================
type       YAML                    Python
=========  ======================  =========================
money      ``"9.80 EUR"``          ``Decimal("9.80")`` (EUR)
rate       ``"0.0179 EUR/min"``    ``Decimal("0.0179")``
percent    ``"5.00 %"``            ``Decimal("5.00")``
integer    ``60``                  ``int``
period     ``{weeks: 8}``          :class:`Period`
boolean    ``true``                ``bool``
text       ``half_up``             ``str``
set        ``[email, fax]``        ``tuple[str, ...]`` (as written)
reference  ``BGB § 247``           ``str`` (checked to exist)
cron       ``"0 0 1 * *"``         ``str`` (checked by APScheduler)
=========  ======================  =========================
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.core.deadlines import PERIOD_UNITS, Period

# The zone of every schedule (Platform: calendar names it; Platform: schedule uses it).
CRON_ZONE = "Europe/Berlin"

_MONEY = re.compile(r"^(-?[0-9]+\.[0-9]{2}) EUR$")
_RATE = re.compile(r"^([0-9]+\.[0-9]{2,4}) EUR/min$")
_PERCENT = re.compile(r"^(-?[0-9]+\.[0-9]{2}) %$")


class ValueTypeError(ValueError):
    """A value does not have the form its declared type needs."""


def parse_value(type_: str, raw: Any) -> Any:
    """Turn the YAML value ``raw`` of a parameter declared as ``type_`` into its Python value."""
    parser = _PARSERS[type_]
    return parser(raw)


def _money(raw: Any) -> Decimal:
    return Decimal(_match(_MONEY, raw, "money like '9.80 EUR'"))


def _rate(raw: Any) -> Decimal:
    return Decimal(_match(_RATE, raw, "a rate like '0.0179 EUR/min'"))


def _percent(raw: Any) -> Decimal:
    return Decimal(_match(_PERCENT, raw, "a percentage like '5.00 %'"))


def _integer(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueTypeError(f"expected an integer, got {raw!r}")
    return raw


def _period(raw: Any) -> Period:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValueTypeError(f"expected a period like {{weeks: 8}}, got {raw!r}")
    ((unit, count),) = raw.items()
    if unit not in PERIOD_UNITS or isinstance(count, bool) or not isinstance(count, int):
        raise ValueTypeError(f"expected a period like {{weeks: 8}}, got {raw!r}")
    return Period(count, unit)


def _boolean(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueTypeError(f"expected true or false, got {raw!r}")
    return raw


def _text(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise ValueTypeError(f"expected text, got {raw!r}")
    return raw


def _cron(raw: Any) -> str:
    """A crontab line of five fields (minute hour day month weekday), as APScheduler reads it."""
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.cron import CronTrigger

    text = _text(raw)
    try:
        CronTrigger.from_crontab(text, timezone=ZoneInfo(CRON_ZONE))
    except ValueError as exc:
        raise ValueTypeError(
            f"expected a cron expression of five fields like '0 0 1 * *', got {raw!r}: {exc}"
        ) from None
    return text


def _set(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueTypeError(f"expected a list of names like [email, fax], got {raw!r}")
    return tuple(raw)


def _match(pattern: re.Pattern[str], raw: Any, expected: str) -> str:
    match = pattern.match(raw) if isinstance(raw, str) else None
    if match is None:
        hint = (
            " (write amounts as quoted strings, never as YAML numbers)" if _is_number(raw) else ""
        )
        raise ValueTypeError(f"expected {expected}, got {raw!r}{hint}")
    return match.group(1)


def _is_number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


_PARSERS = {
    "money": _money,
    "rate": _rate,
    "percent": _percent,
    "integer": _integer,
    "period": _period,
    "boolean": _boolean,
    "text": _text,
    "set": _set,
    "reference": _text,
    "cron": _cron,
}


def format_value(type_: str, value: Any) -> str:
    """The value as a person reads it, in the form the YAML uses."""
    if type_ == "money":
        return f"{value} EUR"
    if type_ == "rate":
        return f"{value} EUR/min"
    if type_ == "percent":
        return f"{value} %"
    if type_ == "set":
        return "[" + ", ".join(value) + "]"
    if type_ == "boolean":
        return "true" if value else "false"
    return str(value)


def value_to_json(type_: str, value: Any) -> Any:
    """The value as JSON carries it: decimals as strings, periods as ``{unit: count}``."""
    if isinstance(value, Period):
        return value.to_yaml()
    if isinstance(value, tuple):
        return list(value)
    if type_ in ("money", "rate", "percent"):
        return f"{value}"
    return value
