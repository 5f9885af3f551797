"""The replays behind a draft's impact (AGB 8): a month's stored events applied in memory.

:mod:`engine.drafting.impact` compares what two replays booked; this module runs them. The
stored events of the accounts a draft concerns are read once (:class:`StoredMonth`) and replayed
by an engine on its own in-memory SQLite database, once under the catalog in force and once under
the catalog with the draft in force from the period's first day (:func:`draft_recipe`); nothing is
written to the real database. Each replay answers the revenue cents per account and item booked
in the period.

For a clause or a rate table without rules, the first replay watches which accounts read a
parameter the draft changes (:class:`Watch`); only those are replayed with the draft, the others'
revenue is the same by construction. A large month runs in two processes at once (each
rebuilds its catalog from files and publications, which cannot be pickled); a small one here.

Invoice numbers are global and gapless, so a replay of some accounts numbers their invoices
otherwise than the real engine did. An event naming a stored invoice (a returned debit and its
fee, a reminder, an objection, a payment's reference) is translated, just before the replay
applies it, to the number the replay gave the same invoice, found by what identifies it in its
account (:class:`InvoiceNames`); the engine's numbering stays as it is. An event naming an
invoice the replay did not issue (the draft changes whether it is issued) is left as stored, so
refused, and counted per event type (``unmatched:`` items beside the revenue).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from engine.catalog import Catalog, CatalogError, InForce, Terms, TermsFile
from engine.catalog.loader import Appended, load_files
from engine.collector import collector_paused
from engine.drafting.publishing import indent_version
from engine.effects import INVOICED_ITEMS
from engine.engine import Engine
from engine.events import Event, parse_event
from engine.ledger.compact import stored_shapes
from engine.ledger.event_payload import DOCUMENT_COLUMNS, stored_canonical_text
from engine.ledger.tables import (
    accounts,
    epoch_microseconds,
    events,
    invoices,
    ledger_entries,
    outbox,
    publications,
)

REVENUE_ITEMS = (*INVOICED_ITEMS, "refund_fee")
VAT_ITEM = "vat"
UNMATCHED = "unmatched:"  # item prefix: events naming a stored invoice the replay did not issue
PARALLEL_FROM = 20_000  # events: from here on the two replays run in two processes
BATCH = 5_000
MAX_DAYS = 366


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
    root: Path,
    published: Mapping[str, Sequence[Appended]],
    file: str,
    text: str,
    first: date,
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
    invoices: dict[str, tuple[str, tuple]] = field(default_factory=dict)  # number: (account, id)

    def of(self, names: set[str]) -> StoredMonth:
        """The part of the month that concerns the accounts ``names``."""
        return StoredMonth(
            payloads=[p for p in self.payloads if p[0] in names],
            accounts={a: v for a, v in self.accounts.items() if a in names},
            publications=self.publications,
            outbox=[row for row in self.outbox if row["account"] in names],
            invoices={n: v for n, v in self.invoices.items() if v[0] in names},
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
        (
            r.account,
            stored_canonical_text(r),
        )  # the event as received (ledger/event_payload.py)
        for r in connection.execute(query)
        if r.account in wanted
    ]
    # terms.notified events are checked against their publication and outbox (AGB 8)
    stored.publications = [dict(r._mapping) for r in connection.execute(select(publications))]
    notified = connection.execute(
        select(outbox).where(outbox.c.publication.in_([p["id"] for p in stored.publications]))
    )
    stored.outbox = [dict(r._mapping) for r in notified if r.account in wanted]
    # the invoices events may name, and what identifies each in its account (InvoiceNames)
    issued = connection.execute(
        select(
            invoices.c.account,
            invoices.c.number,
            invoices.c.kind,
            invoices.c.issued_on,
            invoices.c.state,
        ).order_by(invoices.c.account, invoices.c.number)
    )
    by_account: dict[str, list[tuple]] = {}
    for r in issued:
        if r.account in wanted:
            period = orjson.loads(r.state).get("period")
            by_account.setdefault(r.account, []).append((r.number, r.kind, period, r.issued_on))
    stored.invoices = {
        number: (account, identity)
        for account, rows in by_account.items()
        for identity, number in identities(rows)
    }
    return stored


def _utc(day: date, zone) -> int:
    """The start of ``day`` as ``events.at_utc`` stores instants (migration 0014)."""
    return epoch_microseconds(datetime.combine(day, time(0), zone))


# -- invoices named by number ------------------------------------------------------------------

# The fields naming an invoice by its number: a returned debit's, a reminder's, an objection's,
# and a payment's reference.
NAMING = {
    "direct_debit.returned": ("invoice", "end_to_end_id"),
    "reminder.sent": ("invoice",),
    "objection.received": ("invoice",),
    "payment.received": ("reference",),
}


def identities(invoices: Iterable[tuple]) -> Iterator[tuple[tuple, str]]:
    """``(identity, number)`` of one account's invoices ``(number, kind, period, issued_on)``,
    oldest first: the identity is the kind, the period (else the issue day) and how many
    invoices of that kind and period came before; the number is global, the identity is not."""
    seen: Counter[tuple] = Counter()
    for number, kind, period, issued_on in invoices:
        key = (kind, period or issued_on)
        yield (*key, seen[key]), number
        seen[key] += 1


class InvoiceNames:
    """The stored invoices events name, found again in a replay (AGB 4.2.3, AGB 8).

    ``stored`` maps a stored invoice number to its account and identity (:func:`identities`).
    ``unmatched`` counts per account and event type the events naming a stored invoice of which
    the replay issued no counterpart.
    """

    def __init__(self, stored: Mapping[str, tuple[str, tuple]]):
        self.stored = stored
        self.unmatched: Counter[tuple[str, str]] = Counter()

    def translate(self, event: Event, invoices: Sequence) -> Event:
        """``event`` naming the replay's numbers of the stored invoices it names. Where the
        replay has no counterpart the number is kept (the engine refuses it, or a payment's
        reference finds nothing) and counted; a value naming no stored invoice of the account
        is kept too, unless the replay gave that number to one (then it is marked unknown)."""
        fields = NAMING.get(event.type)
        if fields is None or not any(name in event.data for name in fields):
            return event
        replayed = {
            identity: number
            for identity, number in identities(
                (i.number, i.kind, i.period, i.issued_on) for i in invoices
            )
        }
        numbers = set(replayed.values())
        renamed, missing = {}, False
        for name in fields:
            value = event.data.get(name)
            account, identity = self.stored.get(value, (None, None))
            if account == event.account and identity in replayed:
                renamed[name] = replayed[identity]
            elif account == event.account:
                missing = True
                if value in numbers:  # the replay's number of another invoice
                    renamed[name] = f"{value} (not issued in the replay)"
            elif value in numbers:
                renamed[name] = f"{value} (not an invoice of the account)"
        if missing:
            self.unmatched[(event.account, event.type)] += 1
        changed = {k: v for k, v in renamed.items() if v != event.data[k]}
        return replace(event, data={**event.data, **changed}) if changed else event


def unmatched(revenue: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Events naming a stored invoice the replay did not issue, per event type, summed."""
    counted: Counter[str] = Counter()
    for items in revenue.values():
        for item, count in items.items():
            if item.startswith(UNMATCHED):
                counted[item.removeprefix(UNMATCHED)] += count
    return dict(sorted(counted.items()))


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
    """An engine on its own in-memory database whose catalog never changes; an event naming a
    stored invoice names the replay's (:class:`InvoiceNames`)."""

    watch: Watch | None = None
    names: InvoiceNames | None = None

    def refresh_catalog(self, unit) -> None:  # the catalog is the one given, publications aside
        return None

    def _apply(self, event, state, pending, invoices, *args, **kwargs):
        if self.names is not None:
            event = self.names.translate(event, invoices)
        watch = self.watch
        if watch is not None:
            in_period = self.catalog.local_date(event.at) >= watch.first
            watch.account = event.account if in_period else None
            if in_period and event.type == "terms.notified":
                watch.touched.add(event.account)  # a notice reads the publications' files
        return super()._apply(event, state, pending, invoices, *args, **kwargs)


def replay_revenue(
    catalog: Catalog,
    stored: StoredMonth,
    period: Period,
    decider=None,
    watch: Watch | None = None,
) -> dict[str, dict[str, int]]:
    """Replay ``stored`` in memory under ``catalog``; revenue cents per account and item booked
    in ``period`` (VAT under ``vat``; under ``unmatched:TYPE`` the events of the type naming a
    stored invoice the replay did not issue). With ``watch``, note who read the watched file."""
    engine = _Replay(
        "sqlite://",
        catalog=_WatchedCatalog(catalog, watch) if watch else catalog,
        decider=decider,
    )
    engine.watch = watch
    engine.names = InvoiceNames(stored.invoices)
    try:
        with engine.store.db.begin() as connection:
            if stored.publications:
                connection.execute(insert(publications), stored.publications)
            if stored.outbox:
                connection.execute(insert(outbox), stored.outbox)
        parsed = []
        # the parsed month lives until it is replayed: no collector passes over it meanwhile
        with collector_paused(len(stored.payloads)):
            for _, payload in stored.payloads:
                event = parse_event(orjson.loads(payload))
                if catalog.local_date(event.at) <= period.last:
                    parsed.append(event)
            # one transaction in slices: each account is written back once (Engine.apply_in_slices)
            slices = [parsed[start : start + BATCH] for start in range(0, len(parsed), BATCH)]
            engine.apply_in_slices(lambda: slices, lambda results: None)
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
    for (account, kind), count in engine.names.unmatched.items():
        revenue.setdefault(account, {})[UNMATCHED + kind] = count
    return revenue


def _replay_in_child(
    recipe: CatalogRecipe,
    stored: StoredMonth,
    period: Period,
    watched: tuple[str, frozenset[str] | None] | None = None,
) -> tuple[dict[str, dict[str, int]], set[str]]:
    """One replay in a child process (``python -m engine.drafting.impact_replay``), given and
    answering by pickle through its standard input and output; a fault comes back as its
    message. With ``watched`` (a citation and the changed parameters) also the accounts that
    read them."""
    answer = subprocess.run(
        [sys.executable, "-m", "engine.drafting.impact_replay"],
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


if __name__ == "__main__":
    _child_main()
