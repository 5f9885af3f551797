"""Generated months on the fast lane and on the general path (issue 30: the twins judge).

The engine rates ordinary calls on a lane of their own (engine/billing/call_path.py); an engine
with ``call_path = None`` rates every call through a ``Booking``. Hypothesis generates small
months (October into November across the end of summer time, or November into December): one
to four accounts of both plans, both customer types and every billing method, in Germany and
in Austria, with their users; calls of edge durations to every zone and to a number without
one, from abroad and by users the account does not have; top-ups, payments, plan changes, users
added and removed, now and then a mandate, misuse, a termination or a withdrawal; clocks on the
20th and at the month's end (the negative-credit invoice of CLINQ SD 1.3, monthly invoices, a
new pool of free minutes); calls reported late; events sent again and ids reused with other
content; instants with other UTC offsets. A written month covers the same in every run.

Each month goes to two engines on the same catalog and decider, cut into the same generated
transactions (one event each, or batches). Both must give exactly the same result for every
event and store it alike, and have the same ledger, account (``Engine.account``), stored
account row with its ``period_charges``, deadlines and invoices, and quote the same call at the
end: the lane is a shortcut, never another tariff (AGB 3.4). Documents are not archived here:
archiving runs after the commit and is the same for both.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalog import PROJECT_ROOT, Catalog, load_catalog
from engine.engine import Engine

MAX_EXAMPLES = 50  # the whole file: about 20 s on the 2-core machine
BERLIN = ZoneInfo("Europe/Berlin")
# Numbers of every zone of tariffs/zones.yaml; None: a short number without a zone.
NUMBERS: dict[str | None, tuple[str, ...]] = {
    "de_landline": ("+4921112345678", "+493012345678"),
    "de_mobile": ("+4917612345678", "+4915112345678"),
    "eu_landline": ("+33112345678", "+4312345678"),
    "eu_mobile": ("+33612345678", "+436641234567"),
    "world": ("+12125550100", "+41441234567"),
    "de_freephone": ("+4980012345",),
    "de_premium_rate": ("+4990012345",),
    "de_directory": ("+4911833",),
    "emergency": ("110", "112"),
    None: ("999", "115"),
}
# Connected seconds around the 60/60 increments and the 60 free minutes (CLINQ SD 2.1).
DURATIONS = (0, 1, 59, 60, 61, 119, 120, 121, 3599, 3600, 3601)
# Where the caller was: absent (DE), Germany, EU member states, outside the EU.
CALLERS = (None, None, None, "DE", "FR", "AT", "US", "CH")
KINDS = ("call",) * 16 + ("late call",) * 3 + ("topup",) * 2 + ("payment", "clock", "user", "plan")
# Now and then: a mandate (AGB 4.1.4), misuse (AGB 2.11), a termination, a withdrawal (AGB 9).
RARE = {
    "mandate": ({"type": "mandate.granted"}, {"type": "mandate.revoked"}),
    "misuse": (
        {"type": "misuse.detected", "description": "resale"},
        {"type": "misuse.detected", "resolved": True},
    ),
    "termination": ({"type": "termination.received", "by": "customer", "channel": "letter"},),
    "withdrawal": ({"type": "withdrawal.received", "channel": "email"},),
}
# How an instant is written: in Berlin (mostly), in UTC, at another offset, with a fraction.
STYLES = ("berlin", "berlin", "berlin", "utc", "india", "fraction")
INDIA = timezone(timedelta(hours=5, minutes=30))


def instant(at: datetime, style: str = "berlin") -> str:
    if style == "utc":
        return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if style == "india":
        return at.astimezone(INDIA).isoformat(timespec="seconds")
    if style == "fraction":
        return at.astimezone(BERLIN).isoformat(timespec="milliseconds")
    return at.astimezone(BERLIN).isoformat(timespec="seconds")


def berlin(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def clocks(month: date) -> tuple[datetime, ...]:
    """The clocks an account may get: the 20th (CLINQ SD 1.3), the month's end and the next
    month's first (monthly invoice, free minutes), the next month's 20th."""
    following = next_month(month)
    return (
        berlin(month.replace(day=20), 6),
        berlin(following - timedelta(days=1), 23, 59),
        berlin(following),
        berlin(following, 6),
        berlin(following.replace(day=20), 6),
    )


@st.composite
def calls(draw, account: str, users: list[str], at: datetime) -> dict:
    """A call of ``account`` at ``at``: mostly by one of its users, to any zone."""
    zone = draw(st.sampled_from(list(NUMBERS)))
    event = {
        "type": "call",
        "account": account,
        "at": instant(at, draw(st.sampled_from(STYLES))),
        "user": draw(st.sampled_from([*users, *users, *users, "mallory"])),
        "to": draw(st.sampled_from(NUMBERS[zone])),
        "duration_s": draw(
            st.one_of(st.sampled_from(DURATIONS), st.integers(min_value=0, max_value=4 * 3600))
        ),
    }
    caller = draw(st.sampled_from(CALLERS))
    if caller is not None:
        event["caller_country"] = caller
    return event


@st.composite
def openings(draw, account: str, opening: datetime) -> tuple[list[dict], list[str]]:
    """``account.opened`` with the account's users and perhaps a first credit."""
    method = draw(st.sampled_from(["prepay", "autoprepay", "postpay"]))
    at = instant(opening + timedelta(minutes=draw(st.integers(0, 60 * 24))))
    opened = {
        "type": "account.opened",
        "account": account,
        "at": at,
        "plan": draw(st.sampled_from(["clinq", "clinq-premium"])),
        "customer_type": draw(st.sampled_from(["business", "consumer"])),
        "billing_method": method,
        "country": draw(st.sampled_from(["DE", "DE", "AT"])),
        "area_code": "0211",
    }
    if method == "autoprepay":  # AGB 4.1.2
        opened["autoprepay"] = {
            "threshold": draw(st.sampled_from(["5.00", "10.00", "20.00"])),
            "amount": draw(st.sampled_from(["10.00", "25.00"])),
        }
    users = [f"u{n}" for n in range(draw(st.integers(1, 3)))]
    events = [opened] + [
        {"type": "user.added", "account": account, "at": at, "user": user} for user in users
    ]
    if draw(st.booleans()):
        amount = draw(st.sampled_from(["5.00", "10.00", "50.00"]))
        events.append({"type": "credit.topped_up", "account": account, "at": at, "amount": amount})
    return events, users


@st.composite
def months(draw) -> list[dict]:
    """A month of events in a plausible order: the openings first, then everything else in
    time order, but for calls reported late, events sent again and ids reused."""
    month = draw(st.sampled_from([date(2026, 11, 1), date(2026, 10, 1)]))
    opening = berlin(month.replace(day=2), 9)
    last = berlin(next_month(month).replace(day=21), 12)  # after the next month's 20th
    names = [f"a{n}" for n in range(draw(st.integers(1, 4)))]
    events: list[dict] = []
    users: dict[str, list[str]] = {}
    timeline: list[tuple[datetime, dict]] = []
    for name in names:
        opened, users[name] = draw(openings(name, opening))
        events += opened
        for at in draw(st.lists(st.sampled_from(clocks(month)), unique=True)):
            timeline.append((at, {"type": "clock", "account": name, "at": instant(at)}))
    span = int((last - opening).total_seconds() // 60) - 60 * 24
    for _ in range(draw(st.integers(3, 40))):
        at = opening + timedelta(days=1, minutes=draw(st.integers(0, span)))
        name = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(KINDS + tuple(RARE)))
        timeline.append((at, draw(happenings(kind, name, users[name], at, opening))))
    timeline.sort(key=lambda item: item[0])
    events += [event for _, event in timeline]
    for number, event in enumerate(events):
        event["id"] = f"{event['account']}-{number}"
    for _ in range(draw(st.integers(0, 3))):  # one id, one content
        first = draw(st.integers(0, len(events) - 1))
        resent = dict(events[first])
        if draw(st.booleans()):  # the id again with another instant: a conflict
            later = datetime.fromisoformat(resent["at"]) + timedelta(seconds=1)
            resent["at"] = instant(later)
        events.insert(draw(st.integers(first + 1, len(events))), resent)
    return events


@st.composite
def happenings(
    draw, kind: str, name: str, users: list[str], at: datetime, opening: datetime
) -> dict:
    """An event of ``kind`` (KINDS, RARE) for account ``name`` at ``at``."""
    base = {"account": name, "at": instant(at, draw(st.sampled_from(STYLES)))}
    if kind == "call":
        return draw(calls(name, users, at))
    if kind == "late call":  # sent after the events of the next minutes, hours or days
        late = at - timedelta(minutes=draw(st.integers(1, 60 * 24 * 3)))
        return draw(calls(name, users, max(late, opening)))
    if kind == "topup":  # AGB 4.1.1
        amount = draw(st.sampled_from(["1.00", "10.00", "25.00", "100.00"]))
        return {**base, "type": "credit.topped_up", "amount": amount}
    if kind == "payment":  # AGB 4.2.1
        amount = draw(st.sampled_from(["0.58", "10.00", "25.00"]))
        method = draw(st.sampled_from(["direct_debit", "bank_transfer", "credit_card"]))
        return {**base, "type": "payment.received", "amount": amount, "method": method}
    if kind == "clock":
        return {**base, "type": "clock"}
    if kind == "user":  # mostly a new user (CLINQ SD 2.1), sometimes one removed
        user = draw(st.sampled_from(users + ["u3"] * 2 * len(users)))
        return {**base, "type": "user.added" if user == "u3" else "user.removed", "user": user}
    if kind == "plan":  # Platform: plan-changes (a change to the same plan is refused)
        return {
            **base,
            "type": "plan.changed",
            "plan": draw(st.sampled_from(["clinq-premium", "clinq"])),
        }
    return {**base, **draw(st.sampled_from(RARE[kind]))}


def batches(events: list[dict], sizes: list[int]) -> Iterator[list[dict]]:
    """``events`` cut into transactions of ``sizes`` (repeated until all are sent)."""
    done, turn = 0, 0
    while done < len(events):
        size = sizes[turn % len(sizes)]
        yield events[done : done + size]
        done, turn = done + size, turn + 1


def stored(engine: Engine, name: str) -> tuple:
    """The account row (with ``period_charges``), its deadlines and invoices as stored."""
    with engine.store.unit(commit=False) as unit:
        return (
            unit.account(name),
            unit.deadlines_of(name),
            unit.load_invoices([name]).get(name, []),
        )


def stored_results(engine: Engine, ids: list[str]) -> dict[str, dict | None]:
    """The result stored with each event, rendered from the database's shapes alone."""
    with engine.store.unit(commit=False) as unit:
        return {event_id: unit.event_result(event_id) for event_id in ids}


def twins(folder: Path, catalog, decider) -> tuple[Engine, Engine]:
    """An engine with the lane and one rating every call on the general path."""
    fast = Engine(f"sqlite:///{folder / 'fast.sqlite'}", catalog, decider, archive_documents=False)
    general = Engine(
        f"sqlite:///{folder / 'general.sqlite'}", catalog, decider, archive_documents=False
    )
    general.call_path = None
    return fast, general


def seen(engine: Engine, names: list[str]) -> dict[str, tuple]:
    """What ``engine`` shows and stores of each account: ledger, account, row, deadlines,
    invoices."""
    return {
        name: (engine.ledger(name, limit=10_000), engine.account(name), stored(engine, name))
        for name in names
    }


def same(view: str, shown: dict[str, tuple], expected: dict[str, tuple]) -> None:
    for name, (ledger, account, row) in expected.items():
        assert shown[name][0] == ledger, f"{view}: the ledger of {name}"
        assert shown[name][1] == account, f"{view}: Engine.account({name!r})"
        assert shown[name][2] == row, f"{view}: the stored account {name}"


def reopened(engine: Engine, catalog, decider) -> Engine:
    """The engine's database in a new engine: a restart (accounts read from the database)."""
    return Engine(engine.store.url, catalog, decider, archive_documents=False)


def counters(engine: Engine) -> Counter:
    lane = engine.call_path
    assert lane is not None
    return Counter(taken=lane.taken, left=lane.left)


def compare(
    events: list[dict],
    sizes: list[int],
    folder: Path,
    catalog,
    decider,
    restart: int | None = None,
) -> Counter:
    """Send ``events`` to both twins in the same transactions (the lane's engine restarted
    before transaction number ``restart``) and compare everything, also as the lane's engine
    shows it after another restart; how many calls the lane took and left to the general
    path."""
    fast, general = twins(folder, catalog, decider)
    engines = [fast, general]
    counted: Counter = Counter()
    try:
        first: dict[str, dict] = {}  # each id's first result: what is stored for it
        for number, batch in enumerate(batches(events, sizes)):
            if number == restart:
                counted.update(counters(fast))
                fast = reopened(fast, catalog, decider)
                engines.append(fast)
            on_lane, general_path = fast.handle_many(batch), general.handle_many(batch)
            for event, mine, theirs in zip(batch, on_lane, general_path, strict=True):
                assert mine == theirs, f"{event}: lane {mine}, general path {theirs}"
                first.setdefault(event["id"], mine)
        assert general.call_path is None
        counted.update(counters(fast))
        # every call rated once, on one path or the other (duplicates and conflicts are not)
        calls = len({e["id"] for e in events if e["type"] == "call"})
        assert counted["taken"] + counted["left"] == calls, counted
        kept = stored_results(fast, list(first))
        assert kept == stored_results(general, list(first))
        for event_id, result in first.items():
            if result["status"] in ("applied", "rejected"):
                assert kept[event_id] == result, event_id
        names = sorted({e["account"] for e in events})
        expected = seen(general, names)
        same("lane", seen(fast, names), expected)
        engines.append(reopened(fast, catalog, decider))
        same("lane after a restart", seen(engines[-1], names), expected)
        for name in names:  # a quote rates on a copy of the account and stores nothing
            quoted = {**QUOTED, "id": f"{name}-quote", "account": name}
            assert fast.quote(quoted) == general.quote(quoted), name
        same("lane after the quotes", seen(fast, names), expected)
        return counted
    finally:
        for engine in engines:
            engine.close()


QUOTED = {
    "type": "call",
    "at": "2026-12-21T12:00:00+01:00",
    "user": "u0",
    "to": "+12125550100",
    "duration_s": 61,
}
OPENED = {"plan": "clinq", "customer_type": "business", "country": "DE", "area_code": "0211"}
PREMIUM_IN_AUSTRIA = {  # a consumer on autoprepay (AGB 4.1.2), without a mandate (AGB 4.1.4)
    "plan": "clinq-premium",
    "customer_type": "consumer",
    "country": "AT",
    "billing_method": "autoprepay",
    "autoprepay": {"threshold": "5.00", "amount": "25.00"},
}


class Written:
    """A month written by hand: what every run rates, whatever hypothesis generates."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def add(self, account: str, type_: str, at: str, **fields) -> dict:
        event = {
            "id": f"{account}-{len(self.events)}",
            "type": type_,
            "account": account,
            "at": f"2026-{at}:00+01:00",
            **fields,
        }
        self.events.append(event)
        return event

    def call(self, account: str, at: str, to: str, duration_s: int, **fields) -> dict:
        fields = {"user": "u0", "to": to, "duration_s": duration_s, **fields}
        return self.add(account, "call", at, **fields)


def written_month() -> list[dict]:
    """Three accounts through November into December: free minutes running out (CLINQ SD
    2.1), the Premium flat (2.2), emergency calls (3.1), a top-up requested (AGB 4.1.2), the
    negative-credit invoice (CLINQ SD 1.3), monthly invoices, a new month's pool, a call
    reported late across the month's end, an event sent again and an id reused."""
    month = Written()
    month.add("w0", "account.opened", "11-02T09:00", **OPENED, billing_method="prepay")
    month.add("w0", "user.added", "11-02T09:00", user="u0")
    month.add("w0", "credit.topped_up", "11-02T09:05", amount="10.00")  # AGB 4.1.1
    month.call("w0", "11-03T10:00", "+4921112345678", 50 * 60)  # free
    month.call("w0", "11-03T11:00", "+4917612345678", 15 * 60)  # 10 free, 5 x 0.069
    month.call("w0", "11-03T12:00", "+12125550100", 30 * 60)  # 8.70
    month.call("w0", "11-04T10:00", "+4990012345", 10 * 60)  # 9.90: -8.95
    crossing = month.call("w0", "11-05T10:00", "+12125550100", 5 * 60)  # -10.40: SD 1.3
    month.call("w0", "11-06T10:00", "112", 61)  # free (SD 3.1)
    month.call("w0", "11-06T10:05", "110", 60, caller_country="FR")  # refused (SD 3.1)
    month.call("w0", "11-06T10:10", "999", 60)  # no zone
    month.call("w0", "11-06T10:15", "+12125550100", 60, user="mallory")  # not a user
    month.add("w0", "clock", "11-20T06:00")  # the negative-credit invoice
    month.call("w0", "11-25T10:00", "+4917612345678", 59)
    month.add("w0", "clock", "11-30T23:59")
    month.add("w0", "clock", "12-01T00:00")  # the monthly invoice; a new pool
    month.call("w0", "12-02T10:00", "+4921112345678", 61)
    month.call("w0", "11-30T22:00", "+4921112345678", 120)  # reported late
    month.events.append(dict(crossing))  # sent again
    month.events.append({**crossing, "duration_s": 1})  # the id with other content

    month.add("w1", "account.opened", "11-02T10:00", **{**OPENED, **PREMIUM_IN_AUSTRIA})
    month.add("w1", "user.added", "11-02T10:00", user="u0")
    month.add("w1", "payment.received", "11-02T10:05", amount="40.00", method="credit_card")
    month.call("w1", "11-03T10:00", "+33612345678", 3600)  # Premium: flat (SD 2.2)
    month.call("w1", "11-03T11:00", "+12125550100", 10 * 60)  # 2.90
    month.call("w1", "11-03T12:00", "+12125550100", 61 * 60)  # 17.69: below 5.00
    month.call("w1", "11-03T13:00", "+12125550100", 60)  # the top-up is pending
    month.call("w1", "11-03T14:00", "112", 60)  # no German account: refused (SD 3.1)
    month.add("w1", "clock", "12-01T06:00")

    month.add("w2", "account.opened", "11-02T11:00", **OPENED, billing_method="postpay")
    month.add("w2", "user.added", "11-02T11:00", user="u0")
    month.call("w2", "11-10T10:00", "+33112345678", 600, caller_country="US")  # 0.29
    month.call("w2", "11-10T11:00", "+4980012345", 600)  # freephone
    month.add("w2", "clock", "12-01T06:00")
    month.add("w2", "payment.received", "12-05T06:00", amount="10.00", method="bank_transfer")
    month.call("w2", "12-06T10:00", "+4921112345678", 3601)  # 61 of 60 free minutes
    month.call("w2", "12-06T11:00", "+12125550100", 61)  # the December prices, if any
    month.call("w2", "12-06T12:00", "+4917612345678", 95)
    return month.events


WRITTEN = written_month()
SIZES = st.one_of(st.just([1]), st.lists(st.integers(1, 30), min_size=1, max_size=4))
LANE: Counter = Counter()  # the lane's counters over the generated months of a run


@pytest.fixture(scope="module")
def catalogs(catalog, tmp_path_factory) -> dict[str, Catalog]:
    """The shipped catalog, and one with new prices from 1 December 2026 (AGB 3.4: world and
    German mobile dearer, billed in 30-second steps after the first minute)."""
    root = tmp_path_factory.mktemp("catalog")
    for folder in ("rules", "tariffs", "schemas", "docs"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    rates = root / "tariffs/rates/sipgate-team.yaml"
    text = rates.read_text(encoding="utf-8")
    december = text[text.index("  - effective_from: 2020-01-01") :]
    for old, new in (
        ("2020-01-01", "2026-12-01"),
        ('world: "0.2900', 'world: "0.3900'),
        ('de_mobile: "0.0690', 'de_mobile: "0.0790'),
        ("next_increment: 60", "next_increment: 30"),
    ):
        assert december.count(old) == 1, old
        december = december.replace(old, new)
    rates.write_text(text + december, encoding="utf-8")
    return {"shipped": catalog, "new prices in December": load_catalog(root)}


@pytest.fixture(scope="module")
def lane_counted() -> Iterator[Counter]:
    """The lane's counters over the module's generated months: both paths must have rated."""
    yield LANE
    assert LANE["taken"] > 0, f"the lane took no call in the generated months: {LANE}"
    assert LANE["left"] > 0, f"the lane left no call to the general path: {LANE}"


@pytest.mark.parametrize(
    ("sizes", "restart", "prices"),
    [
        ([1], None, "shipped"),
        ([7, 30], 2, "shipped"),
        ([len(WRITTEN)], None, "shipped"),
        ([5], 3, "new prices in December"),
    ],
    ids=["single", "batches-restarted", "one", "december-prices"],
)
def test_agb_3_4_the_written_month_rates_the_same_on_the_lane_and_the_general_path(
    tmp_path, catalogs, decider, sizes, restart, prices
):
    counted = compare(WRITTEN, sizes, tmp_path, catalogs[prices], decider, restart)
    # The ordinary calls go on the lane; at least the two crossings the balance rules act on
    # (AGB 4.1.2 for w1, CLINQ SD 1.3 for w0) go the general way.
    assert counted["taken"] >= 10 and counted["left"] >= 2, counted


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    events=months(),
    sizes=SIZES,
    restart=st.one_of(st.none(), st.integers(1, 12)),
    prices=st.sampled_from(["shipped", "new prices in December"]),
)
def test_agb_3_4_a_generated_month_rates_the_same_on_the_lane_and_the_general_path(
    tmp_path_factory, catalogs, decider, lane_counted, events, sizes, restart, prices
):
    folder = tmp_path_factory.mktemp("twins")
    lane_counted.update(compare(events, sizes, folder, catalogs[prices], decider, restart))
