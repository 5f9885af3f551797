"""A realistic month of account events, generated deterministically from a seed.

Used for the demo data, the tests and the benchmark. Events stream out in time order (a day at
a time), so a month of a million calls never sits in memory.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")

# Share of calls per destination, and a prefix to dial in each (see tariffs/zones.yaml).
DESTINATIONS = (
    (0.44, ("+49211", "+4930", "+4989", "+4940")),  # German landline
    (0.30, ("+49151", "+49160", "+49170", "+49176")),  # German mobile
    (0.08, ("+331", "+3491", "+3906", "+4312")),  # EU landline
    (0.07, ("+336", "+346", "+393", "+4366")),  # EU mobile
    (0.06, ("+1212", "+4144", "+7495", "+8613")),  # rest of the world
    (0.025, ("+49800",)),  # freephone
    (0.01, ("+49900", "+49118")),  # premium-rate and directory
    (0.005, ("112", "110")),  # emergency
)


@dataclass(frozen=True)
class DemoAccount:
    id: str
    plan: str
    customer_type: str
    billing_method: str
    users: tuple[str, ...]


def month_of_events(
    month: str = "2026-11", accounts: int = 100, calls: int = 10_000, seed: int = 1
) -> Iterator[dict]:
    """Events of one month for ``accounts`` accounts making ``calls`` calls, in time order."""
    rng = random.Random(seed)
    year, number = map(int, month.split("-"))
    days = _stdlib_calendar.monthrange(year, number)[1]
    first = date(year, number, 1)
    population = [_account(rng, i) for i in range(accounts)]
    counter = iter(range(1, 1 << 62))

    # The set's parameters are part of every id: two different demo sets never reuse an id for
    # other content (the engine would answer ``conflict``).
    prefix = f"demo-{month}-s{seed}-a{accounts}-c{calls}"

    def event_id(kind: str) -> str:
        return f"{prefix}-{kind}-{next(counter):08d}"

    opening = datetime(year, number, 1, 0, 5, tzinfo=BERLIN)
    for account in population:
        yield _opened(account, event_id("open"), opening)
        for user in account.users:
            yield {
                "id": event_id("user"),
                "type": "user.added",
                "account": account.id,
                "at": _instant(opening + timedelta(minutes=1)),
                "user": user,
            }
        if account.billing_method == "prepay":
            yield {
                "id": event_id("topup"),
                "type": "credit.topped_up",
                "account": account.id,
                "at": _instant(opening + timedelta(minutes=2)),
                "amount": rng.choice(("20.00", "50.00", "100.00")),
            }
    per_day = [calls // days + (1 if d < calls % days else 0) for d in range(days)]
    for offset, count in enumerate(per_day):
        day = first + timedelta(days=offset)
        yield from _calls_of_day(rng, population, day, count, event_id)
        if offset % 7 == 6:
            yield from _payments(rng, population, day, event_id)
        if day.day == 20 or offset == days - 1:
            at = datetime(day.year, day.month, day.day, 23, 59, tzinfo=BERLIN)
            for account in population:
                yield {
                    "id": event_id("clock"),
                    "type": "clock",
                    "account": account.id,
                    "at": _instant(at),
                }


def _account(rng: random.Random, index: int) -> DemoAccount:
    plan = "clinq-premium" if rng.random() < 0.35 else "clinq"
    users = rng.choice((1, 1, 2, 3, 5)) if plan == "clinq" else rng.choice((1, 2, 4, 8))
    method = rng.choice(("autoprepay", "autoprepay", "autoprepay", "prepay", "postpay"))
    return DemoAccount(
        id=f"acct-{index:06d}",
        plan=plan,
        customer_type=rng.choice(("business", "business", "consumer")),
        billing_method=method,
        users=tuple(f"user-{index:06d}-{u}" for u in range(users)),
    )


def _opened(account: DemoAccount, event_id: str, at: datetime) -> dict:
    event = {
        "id": event_id,
        "type": "account.opened",
        "account": account.id,
        "at": _instant(at),
        "plan": account.plan,
        "customer_type": account.customer_type,
        "billing_method": account.billing_method,
        "country": "DE",
        "area_code": "0211",
    }
    if account.billing_method == "autoprepay":
        event["autoprepay"] = {"threshold": "5.00", "amount": "25.00"}
    number = int(account.id.rsplit("-", 1)[-1])
    business = account.customer_type == "business"
    event["customer"] = {
        "name": f"Demo {'GmbH' if business else 'Kundin'} {number}",
        "email": f"{account.id}@example.com",
        "address": {
            "street": f"Königsallee {number % 90 + 1}",
            "postal_code": "40212",
            "city": "Düsseldorf",
            "country": "DE",
        },
    }
    if business:
        event["customer"]["vat_id"] = sample_vat_id(number)
        event["customer"]["input_tax_deduction"] = True
    if account.plan == "clinq-premium":
        event["evn"] = {"enabled": True, "shorten": account.customer_type == "consumer"}
    return event


def _calls_of_day(rng, population, day: date, count: int, event_id) -> Iterator[dict]:
    start = datetime(day.year, day.month, day.day, 7, 0, tzinfo=BERLIN)
    seconds = sorted(rng.randrange(0, 13 * 3600) for _ in range(count))
    weights = [w for w, _ in DESTINATIONS]
    for second in seconds:
        account = population[rng.randrange(len(population))]
        (prefixes,) = rng.choices([p for _, p in DESTINATIONS], weights)
        prefix = rng.choice(prefixes)
        number = prefix if not prefix.startswith("+") else prefix + _digits(rng, 12 - len(prefix))
        event = {
            "id": event_id("call"),
            "type": "call",
            "account": account.id,
            "at": _instant(start + timedelta(seconds=second)),
            "user": rng.choice(account.users),
            "to": number,
            "duration_s": min(int(rng.expovariate(1 / 170)) + 1, 4 * 3600),
        }
        if rng.random() < 0.02:
            event["caller_country"] = rng.choice(("FR", "AT", "US"))
        yield event


def _payments(rng, population, day: date, event_id) -> Iterator[dict]:
    at = datetime(day.year, day.month, day.day, 6, 0, tzinfo=BERLIN)
    for account in population:
        if account.billing_method in ("autoprepay", "postpay"):
            yield {
                "id": event_id("pay"),
                "type": "payment.received",
                "account": account.id,
                "at": _instant(at),
                "amount": "25.00",
                "method": rng.choice(("direct_debit", "credit_card")),
            }


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(max(count, 4)))


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def sample_vat_id(number: int) -> str:
    """A well-formed German VAT id for sample customer ``number`` (check digit of § 27a UStG's
    scheme, ISO 7064 MOD 11,10, as python-stdnum computes it); not a registered one."""
    from stdnum.iso7064 import mod_11_10

    base = f"{10000000 + number:08d}"
    return f"DE{base}{mod_11_10.calc_check_digit(base)}"
