"""The impact of a draft before it is published (issue 14): a month replayed twice, compared.

The stored events of the accounts a draft concerns are replayed in memory, once under the terms
in force (the catalog with every publication) and once under the catalog with the draft, and
the ledger entries booked in the period are compared per account and item. Nothing is written
to the real database: each replay runs the engine against its own in-memory SQLite database.

The draft's values are applied to the chosen period **as if in force**: the replay with the
draft gives the draft's version the period's first day as its effective date, whatever date the
draft names. Each account's whole history up to the period's end is replayed, so its state at
the period's start (balance, free minutes, contract, deadlines) is what the engine computes;
the two catalogs agree before the period, so the histories differ only from its first day.

Which accounts are replayed: those with an event in the period whose plan the draft concerns
(:func:`engine.drafting.publishing.concerned_plans`; every plan for a clause). An account is *affected*
when its revenue of some item differs. Revenue is what the monthly invoice lists (calls per
zone, base and user fees, handling and returned-debit fees, default interest) and the refund
fee, net of VAT; VAT is reported beside it. The notices are the customers publishing would
notify (:func:`engine.drafting.publishing.affected_accounts`), as of the database now.

For a clause or a rate table without rules, the first replay watches which accounts read a
parameter the draft changes (:class:`Watch`); only those are replayed with the draft, the others'
revenue is the same by construction. A large month runs in two processes at once (each
rebuilds its catalog from files and publications, which cannot be pickled); a small one here.
"""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, select

from engine.catalog import Catalog, CatalogError, InForce, Terms, TermsFile
from engine.catalog.loader import Appended, load_files
from engine.core.money import format_amount, from_cents
from engine.drafting.publishing import (
    Assessment,
    affected_accounts,
    check_draft,
    concerned_plans,
    indent_version,
    publication_versions,
)
from engine.effects import INVOICED_ITEMS
from engine.engine import Engine
from engine.events import parse_event
from engine.ledger.compact import stored_shapes
from engine.ledger.event_payload import DOCUMENT_COLUMNS, stored_canonical_text
from engine.ledger.tables import (
    accounts,
    epoch_microseconds,
    events,
    ledger_entries,
    outbox,
    publications,
    utc_instant,
)

REVENUE_ITEMS = (*INVOICED_ITEMS, "refund_fee")
VAT_ITEM = "vat"
PARALLEL_FROM = 20_000  # events: from here on the two replays run in two processes
BATCH = 5_000
MAX_DAYS = 366
LARGEST = 20
AS_IF_IN_FORCE = (
    "The draft's values are applied to the whole period as if in force from its first day, "
    "whatever effective date the draft names; nothing is written to the database."
)


class ImpactRefused(ValueError):
    """The impact cannot be computed for this draft or period; the message says why."""


@dataclass(frozen=True)
class Period:
    """Calendar days ``first`` to ``last`` (inclusive) in the platform's time zone."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ImpactRefused(f"--to {self.last} lies before --from {self.first}")
        if (self.last - self.first).days >= MAX_DAYS:
            raise ImpactRefused(f"a period has at most {MAX_DAYS} days")

    @classmethod
    def month_of(cls, day: date) -> Period:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return cls(first, following - timedelta(days=1))

    def __contains__(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class CatalogRecipe:
    """How to build a catalog in another process: the files below ``root`` plus ``appended``."""

    root: Path
    appended: Mapping[str, Sequence[Appended]]

    def load(self) -> Catalog:
        result = load_files(self.root, appended=self.appended)
        if result.errors:
            raise ImpactRefused(_faults(result.errors))
        return Catalog(result.files, self.root)


@dataclass(frozen=True)
class ItemChange:
    """Revenue of one item (``call:de_mobile``, ``returned_debit_fee``) before and after."""

    item: str
    before: Decimal
    after: Decimal

    @property
    def delta(self) -> Decimal:
        return self.after - self.before

    def to_json(self) -> dict[str, str]:
        return {
            "item": self.item,
            "before": format_amount(self.before),
            "after": format_amount(self.after),
            "delta": format_amount(self.delta),
        }


@dataclass(frozen=True)
class AccountChange:
    account: str
    customer_type: str
    plan: str
    before: Decimal
    after: Decimal
    items: tuple[ItemChange, ...]  # only the items that changed

    @property
    def delta(self) -> Decimal:
        return self.after - self.before

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "customer_type": self.customer_type,
            "plan": self.plan,
            "before": format_amount(self.before),
            "after": format_amount(self.after),
            "delta": format_amount(self.delta),
            "items": [i.to_json() for i in self.items],
        }


@dataclass(frozen=True)
class Notices:
    """Who publishing the draft would notify (AGB 8), by customer type."""

    by_customer_type: Mapping[str, int]
    notice_clause: str | None
    termination_clause: str | None

    @property
    def count(self) -> int:
        return sum(self.by_customer_type.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "by_customer_type": dict(self.by_customer_type),
            "notice_clause": self.notice_clause,
            "termination_clause": self.termination_clause,
        }


@dataclass(frozen=True)
class Impact:
    """The draft's effect on one period: revenue per item and account, and the notices."""

    file: str
    citation: str
    draft_effective_from: date
    period: Period
    accounts_replayed: int
    events_replayed: int
    replayed_with_draft: int  # accounts: those that read the draft's changes, or all (Watch)
    changes: tuple[AccountChange, ...]  # affected accounts, largest change first
    by_item: tuple[ItemChange, ...]
    vat_before: Decimal
    vat_after: Decimal
    notices: Notices
    seconds: float = 0.0  # how long the replays took (a measurement, never a business time)

    @property
    def revenue_before(self) -> Decimal:
        return sum((i.before for i in self.by_item), Decimal("0.00"))

    @property
    def revenue_after(self) -> Decimal:
        return sum((i.after for i in self.by_item), Decimal("0.00"))

    @property
    def revenue_delta(self) -> Decimal:
        return self.revenue_after - self.revenue_before

    @property
    def accounts_affected(self) -> dict[str, int]:
        counted = Counter(c.customer_type for c in self.changes)
        return {
            "consumer": counted.get("consumer", 0),
            "business": counted.get("business", 0),
            "total": len(self.changes),
        }

    @property
    def largest(self) -> tuple[AccountChange, ...]:
        return self.changes[:LARGEST]

    def to_json(self) -> dict[str, Any]:
        return {
            "draft": {
                "file": self.file,
                "citation": self.citation,
                "effective_from": self.draft_effective_from.isoformat(),
                "applied_from": self.period.first.isoformat(),
            },
            "period": {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()},
            "note": AS_IF_IN_FORCE,
            "accounts_replayed": self.accounts_replayed,
            "events_replayed": self.events_replayed,
            "accounts_replayed_with_draft": self.replayed_with_draft,
            "accounts_affected": self.accounts_affected,
            "revenue_before": format_amount(self.revenue_before),
            "revenue_after": format_amount(self.revenue_after),
            "revenue_delta": format_amount(self.revenue_delta),
            "vat_before": format_amount(self.vat_before),
            "vat_after": format_amount(self.vat_after),
            "by_item": [i.to_json() for i in self.by_item],
            "largest_changes": [c.to_json() for c in self.largest],
            "notices": self.notices.to_json(),
        }


# -- the draft as a catalog -------------------------------------------------------------------


def as_if_in_force(text: str, first: date) -> str:
    """The draft's version text with ``effective_from`` set to ``first``, without examples.

    The draft is a version as the file writes it, its keys at the left margin; its examples
    belong to its own effective date and play no part in a replay.
    """
    lines, kept, skipping = text.splitlines(), [], False
    for line in lines:
        top_level = bool(line) and not line[0].isspace() and not line.startswith("#")
        if top_level:
            skipping = line.startswith("examples:")
            if line.startswith("effective_from:"):
                line = f"effective_from: {first.isoformat()}"
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def draft_recipe(
    root: Path, published: Mapping[str, Sequence[Appended]], file: str, text: str, first: date
) -> CatalogRecipe:
    """The catalog with the draft in force from ``first`` (on top of every publication)."""
    appended = {name: list(items) for name, items in published.items()}
    draft = Appended(indent_version(as_if_in_force(text, first)), "draft (impact)")
    appended[file] = [*appended.get(file, []), draft]
    return CatalogRecipe(root, appended)


def _faults(errors: Iterable[CatalogError]) -> str:
    shown = [f"{e.path}:{e.line}: {e.message}" for e in list(errors)[:5]]
    return "the draft does not load as if in force from the period's first day: " + "; ".join(shown)


# -- reading the stored events ----------------------------------------------------------------


@dataclass
class StoredMonth:
    """The stored events the replays need, read once (nothing else of the database is used)."""

    payloads: list[tuple[str, str]] = field(default_factory=list)  # (account, event JSON)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # id: (type, plan)
    publications: list[dict] = field(default_factory=list)
    outbox: list[dict] = field(default_factory=list)

    def of(self, names: set[str]) -> StoredMonth:
        """The part of the month that concerns the accounts ``names``."""
        return StoredMonth(
            payloads=[p for p in self.payloads if p[0] in names],
            accounts={a: v for a, v in self.accounts.items() if a in names},
            publications=self.publications,
            outbox=[row for row in self.outbox if row["account"] in names],
        )


def read_stored(
    connection: Connection, catalog: Catalog, period: Period, plans: set[str] | None
) -> StoredMonth:
    """Every stored event up to the period's end of the accounts with an event in the period
    (of the concerned plans), each account's events in their stored order."""
    zone = catalog.at(period.first).calendar.zone
    start = _utc(period.first, zone)
    end = _utc(period.last + timedelta(days=1), zone)
    active = select(events.c.account).where(events.c.at_utc >= start, events.c.at_utc < end)
    rows = connection.execute(
        select(accounts.c.id, accounts.c.customer_type, accounts.c.plan).where(
            accounts.c.id.in_(active.distinct().scalar_subquery())
        )
    ).all()
    stored = StoredMonth(
        accounts={r.id: (r.customer_type, r.plan) for r in rows if plans is None or r.plan in plans}
    )
    if not stored.accounts:
        return stored
    query = (
        select(*DOCUMENT_COLUMNS)
        .where(events.c.at_utc < end)
        .order_by(events.c.account, events.c.seq)
    )
    wanted = stored.accounts
    stored.payloads = [
        (r.account, stored_canonical_text(r))  # the event as received (ledger/event_payload.py)
        for r in connection.execute(query)
        if r.account in wanted
    ]
    # terms.notified events are checked against their publication and outbox (AGB 8)
    stored.publications = [dict(r._mapping) for r in connection.execute(select(publications))]
    notified = connection.execute(
        select(outbox).where(outbox.c.publication.in_([p["id"] for p in stored.publications]))
    )
    stored.outbox = [dict(r._mapping) for r in notified if r.account in wanted]
    return stored


def _utc(day: date, zone) -> int:
    """The start of ``day`` as ``events.at_utc`` stores instants (migration 0014)."""
    return epoch_microseconds(datetime.combine(day, time(0), zone))


def counts(connection: Connection) -> dict[str, int]:
    """Rows of the tables an impact run must never change (for tests and the report)."""
    return {
        table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for table in (events, ledger_entries, accounts, outbox, publications)
    }


# -- one replay -------------------------------------------------------------------------------


class Watch:
    """Which accounts read the draft's changes during the period (the replay's reads).

    An account whose events in the period never read a parameter the draft changes gets the
    same result under both catalogs: they agree on every other value, and before the period on
    these. ``changed`` names those parameters (None: any read of the file counts); a read of
    the whole file (``Catalog.file``, e.g. a value at another day) always counts.
    """

    def __init__(self, citation: str, first: date, changed: frozenset[str] | None = None):
        self.citation = citation
        self.first = first
        self.changed = changed
        self.account: str | None = None  # the account of the event being applied, in the period
        self.touched: set[str] = set()

    def saw(self, citation: str) -> None:
        if citation == self.citation and self.account is not None:
            self.touched.add(self.account)

    def read(self, citation: str, name: str) -> None:
        if self.changed is None or name in self.changed:
            self.saw(citation)


@dataclass(frozen=True)
class _WatchedInForce(InForce):
    watch: Watch | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, name: str) -> Any:
        if self.watch is not None:
            self.watch.read(self.citation, name)
        return super().__getitem__(name)


@dataclass(frozen=True)
class _WatchedTerms(Terms):
    watch: Watch | None = field(default=None, compare=False, repr=False)

    def clause(self, citation: str):
        found = super().clause(citation)
        watch = self.watch
        if watch is None or citation != watch.citation:
            return found
        if watch.changed is None:
            watch.saw(citation)
        return _WatchedInForce(found.file, found.version, found.terms_version, watch=watch)


class _WatchedCatalog(Catalog):
    """The same catalog, telling ``watch`` of every read of the draft's file through it."""

    def __init__(self, catalog: Catalog, watch: Watch):
        super().__init__(catalog.files, catalog.root)
        self.watch = watch
        self._watched: dict[date, _WatchedTerms] = {}

    def at(self, instant):
        plain = super().at(instant)
        terms = self._watched.get(plain.effective_from)
        if terms is None:
            terms = _WatchedTerms(self, plain.effective_from, watch=self.watch)
            self._watched[plain.effective_from] = terms
        return terms

    def file(self, citation: str):
        self.watch.saw(citation)
        return super().file(citation)


class _Replay(Engine):
    """An engine on its own in-memory database whose catalog never changes."""

    watch: Watch | None = None

    def refresh_catalog(self, unit) -> None:  # the catalog is the one given, publications aside
        return None

    def _apply(self, event, *args, **kwargs):
        watch = self.watch
        if watch is not None:
            in_period = self.catalog.local_date(event.at) >= watch.first
            watch.account = event.account if in_period else None
            if in_period and event.type == "terms.notified":
                watch.touched.add(event.account)  # a notice reads the publications' files
        return super()._apply(event, *args, **kwargs)


def replay_revenue(
    catalog: Catalog, stored: StoredMonth, period: Period, decider=None, watch: Watch | None = None
) -> dict[str, dict[str, int]]:
    """Replay ``stored`` in memory under ``catalog``; revenue cents per account and item booked
    in ``period`` (VAT under ``vat``). With ``watch``, note who read the watched file."""
    engine = _Replay(
        "sqlite://",
        catalog=_WatchedCatalog(catalog, watch) if watch else catalog,
        decider=decider,
    )
    engine.watch = watch
    try:
        with engine.store.db.begin() as connection:
            if stored.publications:
                connection.execute(insert(publications), stored.publications)
            if stored.outbox:
                connection.execute(insert(outbox), stored.outbox)
        parsed = []
        for _, payload in stored.payloads:
            event = parse_event(orjson.loads(payload))
            if catalog.local_date(event.at) <= period.last:
                parsed.append(event)
        for start in range(0, len(parsed), BATCH):
            engine.handle_events(parsed[start : start + BATCH])
        with engine.store.db.connect() as connection:
            rows = connection.execute(
                select(
                    ledger_entries.c.account,
                    ledger_entries.c.kind,
                    ledger_entries.c.amount_cents,
                    ledger_entries.c.booked_at,
                    ledger_entries.c.detail,
                ).where(ledger_entries.c.kind.in_([*REVENUE_ITEMS, VAT_ITEM]))
            ).all()
            shapes = stored_shapes(connection)  # a call's detail is compact (ledger/compact.py)
    finally:
        engine.close()
    revenue: dict[str, dict[str, int]] = {name: {} for name in stored.accounts}
    for row in rows:
        if catalog.local_date(datetime.fromisoformat(row.booked_at)) not in period:
            continue
        item = row.kind
        if item == "call":
            item = f"call:{shapes.detail_constant(row.detail, 'zone', '?')}"
        items = revenue.setdefault(row.account, {})
        items[item] = items.get(item, 0) - row.amount_cents
    return revenue


def _replay_in_child(
    recipe: CatalogRecipe,
    stored: StoredMonth,
    period: Period,
    watched: tuple[str, frozenset[str] | None] | None = None,
) -> tuple[dict[str, dict[str, int]], set[str]]:
    """One replay in a child process (``python -m engine.impact``), given and answering by
    pickle through its standard input and output; a fault comes back as its message. With
    ``watched`` (a citation and the changed parameters) also the accounts that read them."""
    answer = subprocess.run(
        [sys.executable, "-m", "engine.drafting.impact"],
        input=pickle.dumps((recipe, stored, period, watched)),
        capture_output=True,
        check=False,
    )
    if answer.returncode != 0:
        raise ImpactRefused(answer.stderr.decode(errors="replace").strip().splitlines()[-1])
    return pickle.loads(answer.stdout)


def _child_main() -> None:
    recipe, stored, period, watched = pickle.load(sys.stdin.buffer)
    watch = Watch(watched[0], period.first, watched[1]) if watched else None
    try:
        revenue = replay_revenue(recipe.load(), stored, period, watch=watch)
    except ImpactRefused as refused:
        sys.exit(f"{refused}")
    sys.stdout.buffer.write(pickle.dumps((revenue, watch.touched if watch else set())))


def _halves(stored: StoredMonth) -> list[StoredMonth]:
    """The month split into two by account (accounts are replayed independently)."""
    names = sorted(stored.accounts)
    middle = len(names) // 2
    return [stored.of(set(names[:middle])), stored.of(set(names[middle:]))]


def _in_two(jobs: list[tuple]) -> list[tuple[dict, set[str]]]:
    """Run two child replays at once (the machine's two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: _replay_in_child(*job), jobs))


# -- both replays -----------------------------------------------------------------------------

# Files read once per terms version and kept (Terms' cached zones, calendar, money): a watch
# cannot see every account that uses them.
UNWATCHABLE = ("Price list: zones", "Platform: calendar", "Platform: money")


def watchable(before: TermsFile, draft_has_rules: bool) -> bool:
    """Whether replaying only the accounts that read the draft's changes is exact.

    Exact for clauses and rate tables, except for a file whose versions have rules (the
    compiled rules decide without reading the file each time; every plan has them) and the
    files :data:`UNWATCHABLE` names; for those the two full replays run side by side.
    """
    has_rules = draft_has_rules or any(v.rules for v in before.versions)
    return (
        before.kind in ("clause", "rates") and not has_rules and before.citation not in UNWATCHABLE
    )


def terms_impact(
    stored: StoredMonth,
    now: CatalogRecipe,
    with_draft: CatalogRecipe,
    period: Period,
    *,
    watch: Watch | None = None,
    catalogs: tuple[Catalog, Catalog] | None = None,
    decider=None,
    parallel: bool | None = None,
) -> tuple[dict, dict]:
    """Replay ``stored`` under the terms in force and under the draft: revenue per account and
    item in ``period`` for each.

    With ``watch`` (see :func:`watchable`) the draft's replay covers only the accounts that
    read the draft's file in the first replay; the others' revenue is the same by construction.
    Without, both replay everything. When ``parallel`` (default: a large month) the work runs
    in two processes at once: the two full replays side by side, or each replay's accounts
    split in two halves.
    """
    if parallel is None:
        parallel = len(stored.payloads) >= PARALLEL_FROM
    if watch is not None and parallel:
        # each half of the accounts in a process of its own, then the draft for those that read
        watched = (watch.citation, watch.changed)
        halves = _in_two([(now, half, period, watched) for half in _halves(stored)])
        before = {name: items for revenue, _ in halves for name, items in revenue.items()}
        watch.touched = set().union(*(touched for _, touched in halves))
        after = dict(before)
        touched = stored.of(watch.touched)
        if len(touched.payloads) >= PARALLEL_FROM:
            for revenue, _ in _in_two([(with_draft, half, period) for half in _halves(touched)]):
                after.update(revenue)
        elif watch.touched:
            after.update(replay_revenue(with_draft.load(), touched, period, decider))
        return before, after
    if parallel:
        done = _in_two([(now, stored, period), (with_draft, stored, period)])
        return done[0][0], done[1][0]
    current, drafted = catalogs or (now.load(), with_draft.load())
    if watch is not None:
        before = replay_revenue(current, stored, period, decider, watch)
        after = dict(before)
        if watch.touched:
            after.update(replay_revenue(drafted, stored.of(watch.touched), period, decider))
        return before, after
    return (
        replay_revenue(current, stored, period, decider),
        replay_revenue(drafted, stored, period, decider),
    )


# -- the comparison ---------------------------------------------------------------------------


def compare(
    before: Mapping[str, Mapping[str, int]],
    after: Mapping[str, Mapping[str, int]],
    customers: Mapping[str, tuple[str, str]],
) -> tuple[tuple[AccountChange, ...], tuple[ItemChange, ...], tuple[int, int]]:
    """Affected accounts (largest change first), revenue per item, and VAT before and after."""
    changes, totals_before, totals_after = [], Counter(), Counter()
    for account in sorted(set(before) | set(after)):
        was, now = before.get(account, {}), after.get(account, {})
        totals_before.update(was)
        totals_after.update(now)
        differing = tuple(
            ItemChange(item, from_cents(was.get(item, 0)), from_cents(now.get(item, 0)))
            for item in sorted(set(was) | set(now))
            if item != VAT_ITEM and was.get(item, 0) != now.get(item, 0)
        )
        if differing:
            customer_type, plan = customers.get(account, ("?", "?"))
            changes.append(
                AccountChange(
                    account,
                    customer_type,
                    plan,
                    from_cents(_revenue(was)),
                    from_cents(_revenue(now)),
                    differing,
                )
            )
    changes.sort(key=lambda c: (-abs(c.delta), c.account))
    items = sorted((set(totals_before) | set(totals_after)) - {VAT_ITEM})
    by_item = tuple(
        ItemChange(item, from_cents(totals_before[item]), from_cents(totals_after[item]))
        for item in items
    )
    return tuple(changes), by_item, (totals_before[VAT_ITEM], totals_after[VAT_ITEM])


def _revenue(items: Mapping[str, int]) -> int:
    return sum(cents for item, cents in items.items() if item != VAT_ITEM)


# -- the whole run ----------------------------------------------------------------------------


def draft_impact(
    connection: Connection,
    root: Path,
    file: str,
    text: str,
    period: Period,
    *,
    decider=None,
    parallel: bool | None = None,
    exhaustive: bool = False,
) -> Impact:
    """The impact of the draft ``text`` of ``file`` on ``period``, read from ``connection``
    (nothing is written there). ``exhaustive`` replays every account under the draft too,
    even where watching the reads would do."""
    import time as _time

    published = publication_versions(connection)
    check = check_draft(root, published, file, text, examples=False)
    if check.errors:
        first = check.errors[0]
        where = f"line {first['line']}: " if first["line"] else ""
        raise ImpactRefused(
            f"the draft has {len(check.errors)} error(s); {where}{first['message']}"
        )
    assessment: Assessment = check.assessment
    now = CatalogRecipe(root, published)
    current = now.load()
    terms_file = _terms_file(current, file)
    with_draft = draft_recipe(root, published, file, text, period.first)
    drafted = with_draft.load()
    started = _time.monotonic()
    stored = read_stored(connection, current, period, concerned_plans(current, terms_file))
    draft_file = _terms_file(drafted, file)
    watch = None
    if watchable(terms_file, bool(draft_file.versions[-1].rules)) and not exhaustive:
        changed = frozenset(c.name for c in assessment.changes if c.effect != "unchanged")
        watch = Watch(terms_file.citation, period.first, changed)
    before, after = terms_impact(
        stored,
        now,
        with_draft,
        period,
        watch=watch,
        catalogs=(current, drafted),
        decider=decider,
        parallel=parallel,
    )
    changes, by_item, (vat_before, vat_after) = compare(before, after, stored.accounts)
    notified = Counter(a.customer_type for a in affected_accounts(connection, current, terms_file))
    return Impact(
        file=file,
        citation=assessment.citation,
        draft_effective_from=assessment.effective_from,
        period=period,
        accounts_replayed=len(stored.accounts),
        events_replayed=len(stored.payloads),
        replayed_with_draft=len(watch.touched) if watch else len(stored.accounts),
        changes=changes,
        by_item=by_item,
        vat_before=from_cents(vat_before),
        vat_after=from_cents(vat_after),
        notices=Notices(
            {"consumer": notified.get("consumer", 0), "business": notified.get("business", 0)},
            assessment.notice_clause,
            assessment.termination_clause,
        ),
        seconds=_time.monotonic() - started,
    )


def _terms_file(catalog: Catalog, file: str) -> TermsFile:
    for terms_file in catalog.files:
        if terms_file.path == file:
            return terms_file
    raise ImpactRefused(f"there is no catalog file {file!r}")


def default_period(connection: Connection, catalog: Catalog) -> Period | None:
    """The last complete month of the stored events: the latest event's month if that event
    falls on the month's last day, else the month before; None without events."""
    latest = connection.execute(select(func.max(events.c.at_utc))).scalar_one_or_none()
    if latest is None:
        return None
    day = catalog.local_date(utc_instant(latest))
    month = Period.month_of(day)
    if day == month.last:
        return month
    return Period.month_of(month.first - timedelta(days=1))


def draft_from_file(path: Path, catalog: Catalog, file: str | None = None) -> tuple[str, str]:
    """``(catalog file, version text)`` of a draft file: either a whole catalog file whose last
    version is the draft (as ``billing terms export`` writes it; the catalog file is the one
    whose path the draft file's path ends with), or one version's text with ``--file``."""
    text = path.read_text(encoding="utf-8")
    if re.search(r"^versions:", text, re.MULTILINE):
        resolved = path.resolve().as_posix()
        matching = [f.path for f in catalog.files if resolved.endswith("/" + f.path)]
        target = file or (matching[0] if len(matching) == 1 else None)
        if target is None:
            raise ImpactRefused(
                f"{path} does not end with the path of a catalog file "
                "(e.g. exports/rules/agb/4.2.3-returned-direct-debit.yaml); name it with --file"
            )
        lines = text.rstrip("\n").splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("  - effective_from:")]
        if not starts:
            raise ImpactRefused(f"{path} has no version ('  - effective_from:' lines)")
        return target, "\n".join(line[4:] for line in lines[starts[-1] :]) + "\n"
    if file is None:
        raise ImpactRefused(
            f"{path} holds one version, not a catalog file: name the file it belongs to with "
            "--file (e.g. --file rules/agb/4.2.3-returned-direct-debit.yaml)"
        )
    return file, text


def describe(impact: Impact) -> str:
    """The impact as ``billing terms impact`` prints it."""
    affected = impact.accounts_affected
    notices = impact.notices
    lines = [
        f"Impact of the draft of {impact.citation} ({impact.file}, effective "
        f"{impact.draft_effective_from}) on {impact.period.first} to {impact.period.last}",
        f"  {AS_IF_IN_FORCE}",
        f"  replayed: {impact.accounts_replayed} accounts, {impact.events_replayed} events "
        f"({impact.replayed_with_draft} accounts also with the draft) in {impact.seconds:.1f} s",
        f"  accounts affected: {affected['total']} (consumers: {affected['consumer']}, "
        f"businesses: {affected['business']})",
        f"  revenue (net of VAT): {format_amount(impact.revenue_before)} EUR before, "
        f"{format_amount(impact.revenue_after)} EUR after, "
        f"delta {format_amount(impact.revenue_delta)} EUR",
        f"  VAT: {format_amount(impact.vat_before)} EUR before, "
        f"{format_amount(impact.vat_after)} EUR after",
        "  by item (EUR):",
    ]
    width = max((len(i.item) for i in impact.by_item), default=4)
    lines += [
        f"    {i.item:<{width}}  {format_amount(i.before):>12}  {format_amount(i.after):>12}  "
        f"{format_amount(i.delta):>10}"
        for i in impact.by_item
    ]
    if impact.largest:
        lines.append(f"  largest changes (of {len(impact.changes)}):")
        lines += [
            f"    {c.account} ({c.customer_type}, {c.plan}): {format_amount(c.before)} -> "
            f"{format_amount(c.after)} EUR ({format_amount(c.delta)}; "
            + ", ".join(f"{i.item} {format_amount(i.delta)}" for i in c.items)
            + ")"
            for c in impact.largest
        ]
    clause = notices.notice_clause or "no notice clause: only to the customers' advantage"
    termination = (
        f", termination right {notices.termination_clause}" if notices.termination_clause else ""
    )
    lines.append(
        f"  notices ({clause}{termination}): {notices.count} customers "
        f"(consumers: {notices.by_customer_type['consumer']}, "
        f"businesses: {notices.by_customer_type['business']})"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    _child_main()
