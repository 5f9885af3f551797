"""The impact of a draft before it is published (AGB 8): a month replayed twice, compared.

The stored events of the accounts a draft concerns are replayed in memory, once under the terms
in force (the catalog with every publication) and once under the catalog with the draft
(:mod:`engine.drafting.impact_replay`), and the ledger entries booked in the period are compared
per account and item here. Nothing is written to the real database: each replay runs the engine
against its own in-memory SQLite database.

The draft's values are applied to the chosen period **as if in force**: the replay with the
draft gives the draft's version the period's first day as its effective date, whatever date the
draft names. Each account's whole history up to the period's end is replayed, so its state at
the period's start (balance, free minutes, contract, deadlines) is what the engine computes;
the two catalogs agree before the period, so the histories differ only from its first day.
An event naming an invoice (a returned direct debit, whose fee a draft may change) names in each
replay the invoice that replay issued in its place; those naming one a replay did not issue are
counted (:class:`Unmatched`).

Which accounts are replayed: those with an event in the period whose plan the draft concerns
(:func:`engine.contract.publications.concerned_plans`; every plan for a clause). An account is
*affected* when its revenue of some item differs. Revenue is what the monthly invoice lists
(calls per zone, base and user fees, handling and returned-debit fees, default interest) and
the refund fee, net of VAT; VAT is reported beside it. The notices are the customers publishing
would notify (:func:`engine.contract.publications.affected_accounts`), as of the database now.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from engine.catalog import Catalog, TermsFile
from engine.contract.publications import (
    affected_accounts,
    concerned_plans,
    publication_versions,
)
from engine.core.money import format_amount, from_cents
from engine.drafting.impact_replay import (
    UNMATCHED,
    VAT_ITEM,
    CatalogRecipe,
    ImpactRefused,
    Period,
    Watch,
    draft_recipe,
    read_stored,
    terms_impact,
    unmatched,
    watchable,
)
from engine.drafting.publishing import Assessment, validate_draft
from engine.ledger.tables import (
    accounts,
    events,
    ledger_entries,
    outbox,
    publications,
    utc_instant,
)

LARGEST = 20
AS_IF_IN_FORCE = (
    "The draft's values are applied to the whole period as if in force from its first day, "
    "whatever effective date the draft names; nothing is written to the database."
)


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
class Unmatched:
    """Stored events naming an invoice a replay did not issue, per event type, in each replay.

    A replay finds the invoice an event names by its identity in the account, not its number
    (engine/drafting/impact_replay.py, InvoiceNames); an invoice the draft does not issue (or
    the terms in force, replayed) has none, and the event is left as stored: a returned debit
    (and its fee), a reminder or an objection is then refused, a payment's reference finds
    nothing. Counted so that the preview of AGB 8 says what it could not replay.
    """

    before: Mapping[str, int]
    after: Mapping[str, int]

    NOTE = (
        "Stored events naming an invoice the replay did not issue are left as stored: a "
        "returned debit (and its fee), a reminder or an objection is refused there, a "
        "payment's reference finds no invoice."
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "before": sum(self.before.values()),
            "after": sum(self.after.values()),
            "by_type_before": dict(self.before),
            "by_type_after": dict(self.after),
            "note": self.NOTE,
        }

    def describe(self) -> str:
        """The line ``billing terms impact`` prints, e.g. ``0 before, 1 after
        (direct_debit.returned 1)``."""

        def counted(by_type: Mapping[str, int], replay: str) -> str:
            types = ", ".join(f"{kind} {count}" for kind, count in by_type.items())
            return f"{sum(by_type.values())} {replay}" + (f" ({types})" if types else "")

        return (
            "  events naming an invoice the replay did not issue (left as stored): "
            f"{counted(self.before, 'before')}, {counted(self.after, 'after')}"
        )


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
    unmatched: Unmatched  # events naming an invoice a replay did not issue
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
            "period": {
                "from": self.period.first.isoformat(),
                "to": self.period.last.isoformat(),
            },
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
            "unmatched_invoice_events": self.unmatched.to_json(),
        }


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
            if _is_revenue(item) and was.get(item, 0) != now.get(item, 0)
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
    items = sorted(i for i in set(totals_before) | set(totals_after) if _is_revenue(i))
    by_item = tuple(
        ItemChange(item, from_cents(totals_before[item]), from_cents(totals_after[item]))
        for item in items
    )
    return tuple(changes), by_item, (totals_before[VAT_ITEM], totals_after[VAT_ITEM])


def _revenue(items: Mapping[str, int]) -> int:
    return sum(cents for item, cents in items.items() if _is_revenue(item))


def _is_revenue(item: str) -> bool:
    """Not VAT, nor a count of events the replay could not match (``unmatched:``)."""
    return item != VAT_ITEM and not item.startswith(UNMATCHED)


def counts(connection: Connection) -> dict[str, int]:
    """Rows of the tables an impact run must never change (for tests and the report)."""
    return {
        table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for table in (events, ledger_entries, accounts, outbox, publications)
    }


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
    check = validate_draft(root, published, file, text)
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
            {
                "consumer": notified.get("consumer", 0),
                "business": notified.get("business", 0),
            },
            assessment.notice_clause,
            assessment.termination_clause,
        ),
        unmatched=Unmatched(unmatched(before), unmatched(after)),
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
        impact.unmatched.describe(),
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
