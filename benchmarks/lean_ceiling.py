"""A lean ceiling for the ordinary call (issue 30): the minimal pipeline, written for this
benchmark and used by nothing in the product.

    .venv/bin/python benchmarks/lean_ceiling.py benchmarks/out/month-1000-100000-<hash>.jsonl \
        benchmarks/out/lean.sqlite

Per call: parse with orjson; check every field on the raw dict (exact key set, types, the event
schema's own id, account, instant, user and number patterns, duration bounds), the account known
and the user on it; find the zone by longest prefix; bill by the rate table's first and next
increments; use the plan's shared free-minute pool of the Berlin calendar month; price in
integer cents with one half-up rounding; the Premium EU flat and free emergency calls (refused
from abroad); update the balance; an event row (payload and compact result) and, when money
moves, a ledger row with clause and terms version, as the platform books them. Rows go through
``executemany`` in one transaction per batch on SQLite (WAL), the accounts touched are written
back once per batch, and one result line per event goes to /dev/null. account.opened,
user.added and money in (credit.topped_up, payment.received) are applied; any other event is
stored with a short result. No balance rules, fees, blocks or invoices: a ceiling, not a product.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sqlite3
import time
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import orjson

from engine.billing.calls import PRICING_CLAUSE
from engine.catalog import load_catalog
from engine.events import flat_event_schemas

TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}
MONEY_IN = {
    "credit.topped_up": ("top_up", "AGB 4.1.1"),
    "payment.received": ("payment", "AGB 4.2.1"),
}
FLAT, FREE_MINUTES, RATED = 1, 2, 3
INVALID = ("invalid", '""')


class Tables(NamedTuple):
    """The terms of a day, compiled for the lean pipeline (see :func:`pricing`)."""

    version: str
    days: tuple[date, date]  # the first day in force and the first day not
    time_zone: ZoneInfo
    zones: tuple[dict, dict, int]  # prefixes, short numbers, the longest prefix
    emergency: tuple[str, list, list]  # CLINQ SD 3.1: zone, account and caller countries
    plans: dict[str, tuple]  # plan -> zone table, first and next increment, pool in seconds


class Account:
    """The hot fields of an account: all the lean pipeline keeps."""

    __slots__ = (
        "balance",
        "country",
        "free_used",
        "head",
        "id",
        "method",
        "month",
        "plan",
        "users",
    )

    def __init__(self, account_id: str, plan: str, country: str, method: str):
        self.id, self.plan, self.country, self.method = account_id, plan, country, method
        self.balance, self.month, self.free_used = 0, "", 0
        self.users: set[str] = set()
        self.add_user(None)

    def add_user(self, user: str | None) -> None:
        """A user added; the state's fixed part as JSON, kept until the users change."""
        if user is not None:
            self.users.add(user)
        fixed = (self.plan, self.country, self.method, sorted(self.users))
        self.head = orjson.dumps(fixed)[:-1].decode()

    def row(self) -> tuple[str, str]:
        """The accounts row: the fixed part, then balance, month and free seconds used."""
        return self.id, f'{self.head},{self.balance},"{self.month}",{self.free_used}]'


def pricing(day: date) -> Tables:
    """The terms in force on ``day`` as plain tables: prefix -> zone; per plan a table zone ->
    (flat, free minutes or rated; rate in 1/10000 EUR a minute), the increments and the monthly
    pool in seconds; the emergency rule (CLINQ SD 3.1); the days the version is in force."""
    catalog = load_catalog()
    terms = catalog.at(day)
    # the platform rounds once, half up, to the cent (Platform: money): so does this pipeline
    assert (terms.money.rounding, terms.money.minor_unit) == ("half_up", Decimal("0.01"))
    zones, emergency = terms.zones, terms.clause("CLINQ SD 3.1")
    plans = {}
    for plan_id in catalog.plans:
        plan = terms.plan(plan_id)
        rates = terms.rates(plan["rate_table"])
        table = {}
        for zone in {*zones.prefixes.values(), *zones.short_numbers.values()}:
            units = rates[zone] * 10000
            assert units == int(units), (zone, rates[zone])
            how = FLAT if zone in plan["flat_rate_zones"] else RATED
            table[zone] = (FREE_MINUTES if zone in plan["free_minutes_zones"] else how, int(units))
        increments = rates["first_increment"], rates["next_increment"]
        plans[plan_id] = (table, *increments, plan["free_minutes"] * 60)
    later = [edition for edition in catalog.editions if edition > terms.effective_from]
    return Tables(
        terms.version,
        (terms.effective_from, min(later, default=date.max)),
        ZoneInfo(terms.clause("Platform: calendar")["time_zone"]),
        (zones.prefixes, zones.short_numbers, zones.longest),
        (emergency["zone"], emergency["account_countries"], emergency["caller_countries"]),
        plans,
    )


def plain_check(flat: dict):
    """The check of an event type's flat schema: the key set, then each plain field's type,
    pattern, enum and bounds (of a string: its length); of an object or array only its type."""
    allowed, required = frozenset(flat["properties"]), frozenset(flat["required"])
    fields = []
    for key, spec in flat["properties"].items():
        kind = TYPES[spec.get("type", "string")]
        pattern = re.compile(spec["pattern"]).search if "pattern" in spec else None
        choices = spec.get("enum") or ([spec["const"]] if "const" in spec else None)
        low = spec.get("minimum", spec.get("minLength", -1))
        high = spec.get("maximum", spec.get("maxLength", 1 << 62))
        fields.append((key, kind, pattern, choices, low, high))

    def check(event: dict) -> bool:
        if not required <= event.keys() <= allowed:
            return False
        for key, kind, pattern, choices, low, high in fields:
            if key in event:
                value = event[key]
                if type(value) is not kind or (pattern and not pattern(value)):
                    return False
                if choices and value not in choices:
                    return False
                size = len(value) if kind is str else value if kind is int else 0
                if not low <= size <= high:
                    return False
        return True

    return check


def call_check(flat: dict):
    """The check of a call on the raw dict: the exact key set, each field's type, the schema's
    own patterns (id, account, instant, user, number, caller country) and duration bounds."""
    fields = flat["properties"]
    keys = frozenset(flat["required"])
    keys_abroad = keys | {"caller_country"}
    id_ok, account_ok, at_ok, user_ok, to_ok, country_ok = (
        re.compile(fields[key]["pattern"]).match
        for key in ("id", "account", "at", "user", "to", "caller_country")
    )
    low, high = fields["duration_s"]["minimum"], fields["duration_s"]["maximum"]
    values = itemgetter("id", "account", "at", "user", "to", "duration_s")

    def valid(event: dict) -> bool:
        found = event.keys()
        if found != keys:
            caller = event.get("caller_country")
            if found != keys_abroad or type(caller) is not str or not country_ok(caller):
                return False
        i, account, at, user, to, seconds = values(event)
        if not (type(i) is type(account) is type(at) is type(user) is type(to) is str):
            return False
        if type(seconds) is not int or not low <= seconds <= high:
            return False
        return bool(id_ok(i) and account_ok(account) and at_ok(at) and user_ok(user) and to_ok(to))

    return valid


def call_rater(tables: Tables, add_entry):
    """``rate(event, account)``: a valid call of a known user priced, the account changed and
    its ledger row added when money moves; the status and the compact result."""
    version, (first_day, until), time_zone, zones, emergency_rule, plans = tables
    prefixes, short, longest = zones
    emergency, emergency_accounts, emergency_callers = emergency_rule
    months: dict[str, str] = {}  # an instant's hour and offset -> its Berlin month, or ""

    def month_of(at: str) -> str:
        """The calendar month in Berlin (AGB 3.4: the call's start), "" outside the version."""
        try:
            local = datetime.fromisoformat(at).astimezone(time_zone).date()
        except ValueError:  # the pattern held, the date does not exist (2026-02-30)
            return ""
        month = local.strftime("%Y-%m") if first_day <= local < until else ""
        if at[-2:] == "00" or at[-1] == "Z":  # a whole-hour offset: one month per local hour
            months[at[:13] + at[-6:]] = month
        return month

    def rate(event: dict, account: Account) -> tuple[str, str]:
        at, to = event["at"], event["to"]
        month = months.get(at[:13] + at[-6:]) or month_of(at)
        zone = None
        if to[0] == "+":  # the longest prefix wins
            for length in range(min(longest, len(to)), 1, -1):
                zone = prefixes.get(to[:length])
                if zone is not None:
                    break
        else:  # short numbers match exactly
            zone = short.get(to)
        if zone is None or not month:
            return "rejected", '"no zone, or no terms at this instant"'
        if zone == emergency:  # CLINQ SD 3.1: free from Germany, impossible abroad
            caller = event.get("caller_country", "DE")
            if account.country in emergency_accounts and caller in emergency_callers:
                return "applied", f'["{zone}",0,0,"free"]'
            return "rejected", '"CLINQ SD 3.1"'
        table, first, following, pool = plans[account.plan]
        how, rate = table[zone]
        if how == FLAT:  # CLINQ SD 2.2: the Premium EU flat rate
            return "applied", f'["{zone}",0,0,"flat"]'
        seconds = event["duration_s"]  # AGB 3.4: the first increment, then whole next ones
        if seconds > first:
            billed = first + -(-(seconds - first) // following) * following
        else:
            billed = first if seconds > 0 else 0
        free = 0
        if how == FREE_MINUTES and billed:  # CLINQ SD 2.1: one pool a calendar month
            if account.month != month:
                account.month, account.free_used = month, 0
            free = min(billed, max(pool - account.free_used, 0))
            account.free_used += free
        charged = billed - free
        cents = (rate * charged * 2 + 6000) // 12000  # rate x seconds / 60, rounded half up
        if cents:
            account.balance -= cents
            detail = f'["{zone}",{billed},{charged}]'
            add_entry(
                (account.id, event["id"], "call", -cents, PRICING_CLAUSE, version, at, detail)
            )
        return "applied", f'["{zone}",{billed},{charged},{free},{cents}]'

    return rate


def open_store(database: Path) -> sqlite3.Connection:
    """A fresh SQLite file in WAL mode with the three tables; transactions are explicit."""
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # as the platform's store
    db.execute(  # the id is the key: one id, one event
        "CREATE TABLE events (id TEXT PRIMARY KEY, account TEXT, type TEXT, at TEXT,"
        " payload BLOB, result TEXT)"
    )
    db.execute(
        "CREATE TABLE ledger (account TEXT, event_id TEXT, kind TEXT, amount_cents INTEGER,"
        " clause TEXT, terms_version TEXT, at TEXT, detail TEXT)"
    )
    db.execute("CREATE TABLE accounts (id TEXT PRIMARY KEY, state TEXT) WITHOUT ROWID")
    return db


def run(path: Path, database: Path, batch: int, sink_path: str = "/dev/null") -> dict:
    """Apply the month in ``path`` to a fresh SQLite file: the figures and the call total."""
    tables = pricing(date(2026, 11, 15))
    flats = flat_event_schemas()
    checks = {kind: plain_check(flat) for kind, flat in flats.items() if kind != "call"}
    valid_call = call_check(flats["call"])
    db = open_store(database)
    accounts: dict[str, Account] = {}
    events, ledger, lines, touched = [], [], [], set()
    rate = call_rater(tables, ledger.append)

    def apply(event: dict, kind: str, account: Account | None) -> tuple[str, str]:
        """Any event but a call, checked: opened, users and money in applied, the rest stored."""
        check = checks.get(kind) if type(kind) is str else None
        if check is None or not check(event):
            return INVALID
        if kind == "account.opened":
            if account is not None:
                return "rejected", '"account exists"'
            name, plan = event["account"], event["plan"]
            account = accounts[name] = Account(
                name, plan, event["country"], event["billing_method"]
            )
            result = '"opened"'
        elif account is None:
            return "rejected", '"no such account"'
        elif kind == "user.added":
            account.add_user(event["user"])
            result = '"user added"'
        elif kind not in MONEY_IN:
            return "applied", '"stored"'
        else:  # money in: the amount's pattern allows at most two decimals
            whole, _, part = event["amount"].partition(".")
            cents = int(whole) * 100 + int(part.ljust(2, "0"))
            account.balance += cents
            entry, clause = MONEY_IN[kind]
            ledger.append(
                (account.id, event["id"], entry, cents, clause, tables.version, event["at"], "")
            )
            result = f"{cents}"
        touched.add(account)
        return "applied", result

    counts = {"applied": 0, "rejected": 0, "invalid": 0}
    calls = 0
    loads, add_event, add_line = orjson.loads, events.append, lines.append
    started, cpu_started = time.perf_counter(), time.process_time()
    with path.open("rb") as source, open(sink_path, "w") as sink:
        for line in source:
            try:
                event = loads(line)
                kind, event_id, name, at = event["type"], event["id"], event["account"], event["at"]
                account = accounts.get(name)
            except (orjson.JSONDecodeError, TypeError, KeyError):  # not an object, or unhashable
                event = kind = event_id = None
            if kind == "call":
                calls += 1
                if not valid_call(event):
                    status, result = INVALID
                elif account is None or event["user"] not in account.users:
                    status, result = "rejected", '"no such account or user"'
                else:
                    status, result = rate(event, account)
                    touched.add(account)
            else:
                status, result = INVALID if event is None else apply(event, kind, account)
            counts[status] += 1
            if status != "invalid":
                add_event((event_id, name, kind, at, line, result))
                add_line(f'{{"id":"{event_id}","status":"{status}","result":{result}}}\n')
            else:  # none of its fields is trusted: the line is kept as it came
                add_event((None, None, None, None, line, result))
                known = event_id if type(event_id) is str else None
                add_line(orjson.dumps({"id": known, "status": status}).decode() + "\n")
            if len(events) >= batch:
                write(db, events, ledger, touched, lines, sink)
        write(db, events, ledger, touched, lines, sink)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    ledger_rows, call_cents = db.execute(
        "SELECT count(*), -sum(amount_cents * (kind = 'call')) FROM ledger"
    ).fetchone()
    db.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "cpu_at_start": cpu_started,
        "events": sum(counts.values()),
        "calls": calls,
        **counts,
        "ledger_rows": ledger_rows,
        "call_charges_cents": call_cents,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def write(db: sqlite3.Connection, events: list, ledger: list, touched: set, lines: list, sink):
    """One transaction for the batch: its events, its ledger rows, the accounts it touched."""
    db.execute("BEGIN")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
    db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ledger)
    db.executemany("INSERT OR REPLACE INTO accounts VALUES (?, ?)", [a.row() for a in touched])
    db.execute("COMMIT")
    sink.write("".join(lines))
    for done in (events, ledger, touched, lines):
        done.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("month", type=Path, help="the generated month (JSON Lines)")
    parser.add_argument("database", type=Path, help="a SQLite file, replaced")
    parser.add_argument("--batch", type=int, default=5000, help="events per transaction")
    args = parser.parse_args()
    print(json.dumps(run(args.month, args.database, args.batch)))


if __name__ == "__main__":
    main()
