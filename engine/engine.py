"""The engine: applies the terms in force at each event's instant and records the result.

Python API::

    engine = Engine()                      # $DATABASE_URL or var/billing.sqlite
    engine.handle({"id": "e1", "type": "credit.topped_up", "account": "a1",
                   "at": "2026-11-02T09:00:00+01:00", "amount": "20.00"})
    engine.quote(event)                    # the effects, nothing stored
    engine.advance(until)                  # fire due deadlines of every account

Each event yields ``{"id", "status": "applied" | "duplicate" | "rejected" | "conflict",
"effects"}``; a rejection also has ``reason`` and ``clause``. The same id twice is applied once;
the same id with different content is a ``conflict`` (nothing is stored).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError, OperationalError

from engine.billing.call_path import CallPath
from engine.billing.calls import free_seconds_left, rate_call
from engine.billing.credit import after_booking, receive_payment, top_up
from engine.billing.credit_notes import credit_note_numbers
from engine.billing.invoicing import receive_objection
from engine.billing.plan_changes import apply_due_change, change_plan
from engine.catalog import PROJECT_ROOT, Catalog, NotInForce, Terms, load_catalog
from engine.clock import run_clock
from engine.collector import collector_paused
from engine.contract import lifecycle as contract
from engine.contract.accounts import add_user, open_account, remove_user, update_account
from engine.contract.availability import record_outage
from engine.contract.publications import (
    notified_accounts,
    publication_count,
    publications_by_id,
    terms_catalog,
    verify_notice,
)
from engine.contract.term_changes import held_back_terms, receive_delivery
from engine.core.money import format_amount, from_cents
from engine.core.state import AccountState, CreditNote, Deadline, Invoice, LedgerEntry
from engine.delivery.webhooks import active_subscriptions, queue_messages
from engine.documents.archive import archive_issued
from engine.effects import Booking, InvoiceNumbers, Rejected
from engine.events import Event, EventInvalid, parse_event
from engine.ledger import credit_note_store
from engine.ledger.account_cache import AccountCache, Kept
from engine.ledger.compact import Shapes
from engine.ledger.event_payload import stored_payload
from engine.ledger.store import IN_MEMORY, Store, Unit
from engine.ledger.tables import epoch_microseconds, event_key, stored_at
from engine.payments import payment_terms as payments
from engine.payments import sepa_mandates as sepa
from engine.rules import CompiledRuleset, Decider, compile_ruleset

HANDLERS: dict[str, Callable[[Booking], None]] = {
    "account.opened": open_account,
    "account.updated": update_account,
    "user.added": add_user,
    "user.removed": remove_user,
    "call": rate_call,
    "credit.topped_up": top_up,
    "payment.received": receive_payment,
    "order.received": contract.receive_order,
    "order.confirmed": contract.confirm_order,
    "account.activated": contract.activate,
    "termination.received": contract.receive_termination,
    "withdrawal.received": contract.receive_withdrawal,
    "refund.requested": contract.request_refund,
    "data_deletion.requested": contract.request_data_deletion,
    "activity": contract.record_activity,
    "objection.received": receive_objection,
    "reminder.sent": payments.receive_reminder,
    "direct_debit.returned": payments.return_direct_debit,
    "mandate.revoked": payments.revoke_mandate,
    "mandate.granted": payments.grant_mandate,
    "misuse.detected": payments.detect_misuse,
    "outage": record_outage,
    "terms.notified": contract.receive_terms_notice,
    "notice.delivered": receive_delivery,
    "plan.changed": change_plan,
}


RETRIES = 3
NOTICE_TYPES = ("terms.notified", "notice.delivered")  # checked against their publication


class BatchInvalid(EventInvalid):
    """An event of a batch is invalid; ``index`` says which. Nothing of the batch is applied."""

    def __init__(self, index: int, error: EventInvalid):
        super().__init__(error.field, error.message)
        self.index = index


class EventConflict(ValueError):
    """An event reuses the id of an earlier event with different content.

    Raised (with nothing of the batch applied) when the caller asked to refuse conflicts; else
    the event's result has ``status: conflict``.
    """

    def __init__(self, index: int, event_id: str):
        self.index = index
        self.id = event_id
        self.message = conflict_reason(event_id)
        super().__init__(self.message)


def conflict_reason(event_id: str) -> str:
    return (
        f"the event id {event_id!r} was already used for an event with different content; "
        "an id names one event: send a new id for a new event"
    )


@dataclass
class _Batch:
    """What a transaction will write, collected in event order: what its slices append is
    written slice by slice (``write_slice``), the accounts and the rest once (``write``)."""

    # the applied and rejected events with their results; the ledger entries of the applied
    # (a call the call path rated comes with its stored form, else None)
    event_rows: list[tuple[Event, dict, str | None]] = field(default_factory=list)
    ledger_rows: list[tuple[Event, LedgerEntry, str | None]] = field(default_factory=list)
    # the effect shapes of the stored forms the call path made; those recorded this transaction
    rated_shapes: set[int] = field(default_factory=set)
    recorded_shapes: set[int] = field(default_factory=set)
    changed: dict[str, AccountState] = field(default_factory=dict)
    new_deadlines: list[Deadline] = field(default_factory=list)
    settled: dict[int, tuple[Deadline, str, str]] = field(default_factory=dict)
    new_invoices: dict[str, Invoice] = field(default_factory=dict)
    changed_invoices: dict[str, Invoice] = field(default_factory=dict)
    numbers: InvoiceNumbers | None = None
    mandate_references: list[dict] = field(default_factory=list)
    debit_returns: list[dict] = field(default_factory=list)  # direct_debit_returns rows
    credit_numbers: InvoiceNumbers | None = None
    new_credit_notes: list[CreditNote] = field(default_factory=list)
    # the accounts as the batch leaves them (kept in the AccountCache after the commit)
    versions: dict[str, int] = field(default_factory=dict)
    states: dict[str, AccountState] = field(default_factory=dict)
    pending: dict[str, list[Deadline]] = field(default_factory=dict)
    invoices: dict[str, list[Invoice]] = field(default_factory=dict)
    # the account copies the call path made in this batch (engine/billing/call_path.py)
    owned: dict[str, tuple[AccountState, set]] = field(default_factory=dict)

    def kept(self) -> Iterator[tuple[str, Kept | None]]:
        """What to keep of each account of the batch once it committed (None: forget it).

        A written account's version is one more than the batch read (the batch holds the
        account's write lock); a new deadline's id is not known here, so its account is
        forgotten and loaded again next time.
        """
        scheduled = {d.account for d in self.new_deadlines}
        for name, state in self.states.items():
            if name in scheduled:
                yield name, None
                continue
            version = self.versions.get(name)
            if name in self.changed:
                version = (version or 0) + 1
            if version is None:
                yield name, None
                continue
            yield (
                name,
                Kept(version, state, self.pending.get(name, []), self.invoices.get(name, [])),
            )

    def write_slice(self, unit: Unit, shapes: Shapes) -> set[int]:
        """Write what the slice just applied appends (its events, their ledger entries, the
        mandate references and debit returns they record) and let go of it; the effect shapes
        its rows use (to mark stored after the commit)."""
        used: set[int] = set(self.rated_shapes)
        unit.record_mandate_references(self.mandate_references)
        unit.record_debit_returns(self.debit_returns)
        unit.append_events([_event_row(*row, shapes, used) for row in self.event_rows])
        unit.append_ledger_entries([_ledger_row(*row, shapes, used) for row in self.ledger_rows])
        unit.record_shapes(shapes.missing(used - self.recorded_shapes))
        self.recorded_shapes |= used
        for rows in (self.event_rows, self.ledger_rows, self.mandate_references):
            rows.clear()
        self.debit_returns.clear()
        self.rated_shapes.clear()
        return used

    def write(self, unit: Unit) -> None:
        """Write what the transaction leaves behind, once, after its last slice: the accounts
        as changed, deadlines, invoices, their numbers and credit notes."""
        created = {id(d) for d in self.new_deadlines}
        unit.write(
            self.changed.values(),
            [
                (d, *self.settled[id(d)][1:]) if id(d) in self.settled else (d, "pending", None)
                for d in self.new_deadlines
            ],
            [
                (d.id, status, by)
                for key, (d, status, by) in self.settled.items()
                if key not in created
            ],
            self.new_invoices.values(),
            [i for n, i in self.changed_invoices.items() if n not in self.new_invoices],
            self.numbers.to_write() if self.numbers else {},
        )
        credit_note_store.write(
            unit.connection,
            self.new_credit_notes,
            self.credit_numbers.to_write() if self.credit_numbers else {},
        )


class Engine:
    """Applies account events to the ledger under the terms in force at each event."""

    def __init__(
        self,
        database_url: str | None = None,
        catalog: Catalog | None = None,
        decider: Decider | None = None,
        archive_documents: bool | None = None,
    ):
        """``archive_documents``: render and archive every document a call issues right after
        its commit (engine/documents/archive.py); default yes, except for a database in
        memory (catalog examples, impact analyses: scratch ledgers nobody serves from)."""
        self.catalog = catalog or load_catalog()
        self._base_root = self.catalog.root or PROJECT_ROOT
        self._publications = 0
        self.store = Store(database_url)
        in_memory = self.store.url in IN_MEMORY
        if archive_documents is None:
            archive_documents = not in_memory
        # How the documents a commit issued are archived, called with their invoice and credit
        # note numbers: right here after the commit, by default; None: not at all; a bulk
        # replay hands them to a process beside it (billing/replay_documents.py).
        self.archive: Callable[[list[str], list[str]], None] | None = (
            self._archive_here if archive_documents else None
        )
        self.shapes = Shapes()  # of stored results (engine/ledger/compact.py)
        # account state kept between batches (engine/ledger/account_cache.py)
        self.accounts = AccountCache()
        self.decider = decider or Decider()
        self._rulesets: dict[str, CompiledRuleset] = {}
        # ordinary calls without a Booking (engine/billing/call_path.py); None: every call the
        # general way
        self.call_path: CallPath | None = CallPath(self.decider, self.ruleset, self.shapes)
        with self.store.unit(commit=False) as unit:
            self.refresh_catalog(unit)

    def refresh_catalog(self, unit: Unit) -> None:
        """Take up versions published in the admin UI since the catalog was loaded.

        Every transaction looks (one small query), so a publication takes effect in running
        servers without a restart.
        """
        count = unit.publication_count()
        if count is None:
            count = publication_count(unit.connection)
        if count != self._publications:
            self.catalog = terms_catalog(unit.connection, self._base_root)
            self._rulesets = {}
            if self.call_path is not None:
                self.call_path.forget()
            self._publications = count

    def close(self) -> None:
        self.store.close()

    # -- the Python API -----------------------------------------------------------------------

    def handle(self, raw: Mapping[str, Any], *, refuse_conflicts: bool = False) -> dict[str, Any]:
        """Apply one event (decoded JSON). EventInvalid names the field of a malformed event."""
        return self.handle_events([parse_event(raw)], refuse_conflicts=refuse_conflicts)[0]

    def handle_many(
        self, raws: Iterable[Mapping[str, Any]], *, refuse_conflicts: bool = False
    ) -> list[dict[str, Any]]:
        """Apply events in order in one transaction; if any is malformed, none is applied."""
        raws = list(raws)
        parsed = []
        # the parsed events live until the batch is written (engine/collector.py)
        with collector_paused(len(raws)):
            for index, raw in enumerate(raws):
                try:
                    parsed.append(parse_event(raw))
                except EventInvalid as exc:
                    raise BatchInvalid(index, exc) from None
            return self.handle_events(parsed, refuse_conflicts=refuse_conflicts)

    def handle_events(
        self, events: list[Event], *, refuse_conflicts: bool = False
    ) -> list[dict[str, Any]]:
        """Apply validated events in order in one transaction.

        Writers are serialised per account, so concurrent clients never lose or duplicate an
        entry; a transaction that still collides (the same new event id sent for two accounts
        at once) is rolled back and tried again. An event whose id is known with other content
        gets ``status: conflict`` and is not stored; with ``refuse_conflicts`` the first one
        raises :class:`EventConflict` instead and nothing of the batch is applied.
        """
        results: list[dict[str, Any]] = []

        def the_batch() -> list[list[Event]]:
            results.clear()  # an attempt starts over
            return [events]

        self.apply_in_slices(the_batch, results.extend, refuse_conflicts=refuse_conflicts)
        return results

    def apply_in_slices(
        self,
        slices: Callable[[], Iterable[list[Event]]],
        take: Callable[[list[dict[str, Any]]], None],
        *,
        refuse_conflicts: bool = False,
        end_at_documents: bool = False,
    ) -> int:
        """Apply the events of ``slices()`` in order in one transaction, slice by slice; how
        many slices were applied.

        A slice's events and ledger entries are written as soon as it is applied and its
        results handed to ``take``; the accounts it changed, deadlines and invoices are written
        once, after the last slice. So a bulk replay's cost per account (read, copied, written
        back, kept) is paid once per transaction, while its memory holds one slice
        (billing/replay.py). With ``end_at_documents`` the transaction ends after a slice that
        issued an invoice or a credit note, so that they are archived while the rest is
        applied; the slices after it are left to the caller. A transaction tried again (see
        :meth:`handle_events`) calls ``slices()`` again: the caller starts its results over
        then. Nothing is committed, and no document archived, unless every slice was applied.
        """
        for attempt in range(1, RETRIES + 1):
            try:
                with self.store.unit() as unit:
                    batch, used, applied = self._apply_slices(
                        unit, slices(), take, refuse_conflicts, end_at_documents
                    )
            except (IntegrityError, OperationalError):
                if attempt == RETRIES:
                    raise
                continue
            if batch is None:
                return applied
            self.shapes.mark_stored(used)
            for name, kept in batch.kept():
                if kept is None:
                    self.accounts.forget(name)
                else:
                    self.accounts.keep(name, kept)
            if self.archive is not None:  # after the commit: GoBD, issued documents as issued
                issued = list(batch.new_invoices), [note.number for note in batch.new_credit_notes]
                if issued[0] or issued[1]:
                    self.archive(*issued)
            return applied
        raise AssertionError("unreachable")

    def _apply_slices(
        self,
        unit: Unit,
        slices: Iterable[list[Event]],
        take: Callable[[list[dict[str, Any]]], None],
        refuse_conflicts: bool,
        end_at_documents: bool,
    ) -> tuple[_Batch | None, set[int], int]:
        """One attempt of :meth:`apply_in_slices` in ``unit``: the batch it wrote (None if
        there were no events), the effect shapes its rows use and how many slices it applied."""
        batch: _Batch | None = None
        used: set[int] = set()
        applied = 0
        for events in slices:
            applied += 1
            if not events:
                take([])
                continue
            # a large slice is applied without collector passes (engine/collector.py)
            with collector_paused(len(events)):
                # PostgreSQL: locks, catalog version and reads in one round trip
                unit.prefetch([e.account for e in events], [e.id for e in events])
                if batch is None:  # the terms of the whole transaction are those it began with
                    self.refresh_catalog(unit)
                    batch = _new_batch(unit)
                unit.lock_accounts(e.account for e in events)
                results = self._apply_all(unit, batch, events, refuse_conflicts)
                used |= batch.write_slice(unit, self.shapes)
                # The webhook outbox commits with the events it reports: no message
                # without its event, no stored event without its messages.
                subscriptions = unit.webhook_subscriptions(active_subscriptions)
                queue_messages(unit.connection, events, results, subscriptions)
            take(results)
            if end_at_documents and (batch.new_invoices or batch.new_credit_notes):
                break
        if batch is not None:
            batch.write(unit)
        return batch, used, applied

    def _archive_here(self, invoices: list[str], credit_notes: list[str]) -> None:
        """The default archiving: the documents a commit issued, archived in this process
        right after it (GoBD: issued documents kept as issued; engine/documents/archive.py)."""
        archive_issued(self.store, self.catalog, invoices, credit_notes)

    def quote(self, raw: Mapping[str, Any], *, refuse_conflicts: bool = False) -> dict[str, Any]:
        """The result the event would have now, without storing anything."""
        event = parse_event(raw)
        with self.store.unit(commit=False) as unit:
            self.refresh_catalog(unit)
            return self._apply_all(unit, _new_batch(unit), [event], refuse_conflicts)[0]

    def advance(self, until: datetime, account: str | None = None) -> list[dict[str, Any]]:
        """Fire every deadline due up to ``until`` (one account, or all) by clock events."""
        if until.tzinfo is None:
            raise ValueError("until needs a UTC offset")
        day = self.catalog.local_date(until)
        with self.store.unit(commit=False) as unit:
            due = unit.accounts_with_due_deadlines(day, account)
        instant = until.isoformat()
        return self.handle_many(
            {"id": f"clock:{name}:{instant}", "type": "clock", "account": name, "at": instant}
            for name in due
        )

    def account(self, account_id: str, at: datetime | None = None) -> dict[str, Any] | None:
        """An account as ``billing account show`` prints it; free minutes for ``at``'s month,
        by default for the account's latest month: its latest applied event's, or its current
        free-minute pool's if later (a call reported late does not move it back, CLINQ SD 2.1)."""
        with self.store.unit(commit=False) as unit:
            state = unit.account(account_id)
            if state is None:
                return None
            when = at or datetime.fromisoformat(unit.last_event_at(account_id) or state.opened_at)
            deadlines = unit.deadlines_of(account_id)
        terms = self.catalog.at(when)
        month = terms.calendar.local_date(when).strftime("%Y-%m")
        if at is None and state.free_month is not None and state.free_month > month:
            month = state.free_month
        free_left = free_seconds_left(state, month, terms.plan(state.plan))
        return {
            "id": state.id,
            "plan": state.plan,
            "customer_type": state.customer_type,
            "billing_method": state.billing_method,
            "country": state.country,
            "area_code": state.area_code,
            "status": state.status,
            "opened_at": state.opened_at,
            "balance": format_amount(from_cents(state.balance_cents)),
            "users": state.users,
            "free_minutes_left": {
                "month": month,
                "minutes": free_left // 60,
                "seconds": free_left,
            },
            "autoprepay": None
            if state.autoprepay_threshold_cents is None
            else {
                "threshold": format_amount(from_cents(state.autoprepay_threshold_cents)),
                "amount": format_amount(from_cents(state.autoprepay_amount_cents or 0)),
                "topup_pending": state.topup_pending,
            },
            "contract": dataclasses.asdict(state.contract),
            "deadlines": [d for d in deadlines if d["status"] == "pending"],
        }

    def ledger(self, account_id: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.store.unit(commit=False) as unit:
            rows = unit.ledger_of(account_id, after, limit)
            # a call's detail takes its user, number and duration from its event (compact.py)
            fields = unit.event_fields(r.event_id for r in rows if r.kind == "call")
            return [
                {
                    "id": row.id,
                    "event": row.event_id,
                    "kind": row.kind,
                    "amount": format_amount(from_cents(row.amount_cents)),
                    "clause": row.clause,
                    "terms_version": row.terms_version,
                    "at": row.booked_at,
                    "detail": self.shapes.render_detail(
                        row.detail, unit.connection, fields.get(row.event_id)
                    ),
                }
                for row in rows
            ]

    def ruleset(self, terms: Terms) -> CompiledRuleset:
        """The compiled rules of a terms version (compiled once per process)."""
        ruleset = self._rulesets.get(terms.version)
        if ruleset is None:
            ruleset = self._rulesets.setdefault(terms.version, compile_ruleset(terms))
        return ruleset

    # -- applying events ----------------------------------------------------------------------

    def _apply_all(
        self, unit: Unit, batch: _Batch, events: list[Event], refuse_conflicts: bool = False
    ) -> list[dict]:
        """Apply ``events`` in order to the accounts as the transaction's earlier slices left
        them (``batch``), or as stored; their results, and in ``batch`` what they will write.

        Long on purpose: the loop over the events is the hot path of batch application
        (benchmarks/replay_month.py), where a function call per event for each step would cost.
        """
        # earlier slices' events are stored already: their ids are found here
        known: dict[str, bytes | Event] = dict(unit.existing_event_digests({e.id for e in events}))
        versions, states, pending, invoices = (
            batch.versions,
            batch.states,
            batch.pending,
            batch.invoices,
        )
        read = self._accounts_of(unit, {e.account for e in events} - states.keys())
        for found, into in zip(read, (versions, states, pending, invoices), strict=True):
            into.update(found)
        publications = _notified_publications(unit, events)
        mandate_owners = unit.mandate_reference_owners(
            {e.data["reference"] for e in events if _grants_reference(e)}
        )
        results = []
        for index, event in enumerate(events):
            if event.id in known:
                # the digest is made only here, when an id comes again (stored, or in the batch)
                seen = known[event.id]
                if (seen if type(seen) is bytes else seen.digest) == event.digest:
                    results.append({"id": event.id, "status": "duplicate", "effects": []})
                    continue
                if refuse_conflicts:
                    raise EventConflict(index, event.id)
                reason = conflict_reason(event.id)
                results.append(
                    {"id": event.id, "status": "conflict", "reason": reason, "effects": []}
                )
                continue
            known[event.id] = event
            if event.type == "call" and self.call_path is not None:
                rated = self.call_path.rate(
                    event,
                    self.catalog,
                    states.get(event.account),
                    pending.get(event.account, ()),
                    batch.owned,
                )
                if rated is not None:
                    results.append(rated.result)
                    batch.event_rows.append((event, rated.result, rated.stored_result))
                    batch.rated_shapes.update(rated.shapes)
                    states[event.account] = batch.changed[event.account] = rated.account
                    if rated.entry is not None:
                        batch.ledger_rows.append((event, rated.entry, rated.stored_detail))
                    continue
            snapshot = batch.numbers.snapshot()
            credit_snapshot = batch.credit_numbers.snapshot()
            owner = _other_owner(event, mandate_owners)
            if owner is not None:
                result, booking = self._reference_taken(event, owner), None
            else:
                result, booking = self._apply(
                    event,
                    states.get(event.account),
                    pending.get(event.account, []),
                    invoices.get(event.account, []),
                    batch.numbers,
                    publications,
                    batch.credit_numbers,
                )
            if booking is None:
                batch.numbers.restore(snapshot)
                batch.credit_numbers.restore(credit_snapshot)
            results.append(result)
            batch.event_rows.append((event, result, None))
            if booking is None:
                continue
            reference = event.data["reference"] if _grants_reference(event) else None
            if reference is not None and reference not in mandate_owners:
                mandate_owners[reference] = event.account
                batch.mandate_references.append(
                    {"reference": reference, "account": event.account, "event_id": event.id}
                )
            if booking.account is not None:
                states[event.account] = booking.account
                batch.changed[event.account] = booking.account
            settled = {id(d) for d, _ in booking.settled}
            pending[event.account] = [
                d for d in booking.pending + booking.new_deadlines if id(d) not in settled
            ]
            batch.new_deadlines.extend(booking.new_deadlines)
            for invoice in booking.new_invoices:
                batch.new_invoices[invoice.number] = invoice
            for number, invoice in booking.changed_invoices.items():
                if number in batch.new_invoices:
                    batch.new_invoices[number] = invoice
                else:
                    batch.changed_invoices[number] = invoice
            invoices[event.account] = booking.all_invoices()
            batch.new_credit_notes.extend(booking.new_credit_notes)
            for deadline, status in booking.settled:
                batch.settled[id(deadline)] = (deadline, status, event.id)
            batch.ledger_rows.extend((event, entry, None) for entry in booking.entries)
            if event.type == "direct_debit.returned":
                batch.debit_returns.extend(sepa.return_rows(booking))
        return results

    def _accounts_of(self, unit: Unit, names: set[str]) -> tuple[dict, dict, dict, dict]:
        """The accounts ``names`` as the batch starts from them: their stored versions, and
        state, pending deadlines and invoices, from the AccountCache where it is current, else
        from the database."""
        versions = unit.account_versions(names)
        kept = self.accounts.take(versions)
        missing = names - kept.keys()
        states = unit.load_accounts(missing)
        pending = unit.load_pending(missing)
        invoices = unit.load_invoices(missing)
        for name, entry in kept.items():
            states[name] = entry.state
            pending[name] = entry.pending
            invoices[name] = entry.invoices
        return versions, states, pending, invoices

    def _reference_taken(self, event: Event, owner: str) -> dict[str, Any]:
        """A mandate reference is unique per creditor (SEPA rulebook; AGB 4.2.1): refused."""
        try:
            version = self.catalog.at(event.at).version
        except NotInForce:
            version = None
        reason = (
            f"/reference: mandate reference {event.data['reference']!r} belongs to another "
            f"account ({owner}); a reference is unique per creditor: give this mandate its own"
        )
        return _rejected(event, reason, "AGB 4.2.1", version)

    def _apply(
        self,
        event: Event,
        state: AccountState | None,
        pending: list[Deadline],
        invoices: list[Invoice],
        numbers: InvoiceNumbers,
        publications: Mapping[int, Any] | None = None,
        credit_numbers: InvoiceNumbers | None = None,
    ) -> tuple[dict[str, Any], Booking | None]:
        terms: Terms | None = None
        try:
            terms = self.catalog.at(event.at)
            if state is not None and state.contract.term_notices:
                # a change not yet received, or whose notice period runs, waits (AGB 8; TKG § 57)
                terms = held_back_terms(terms, state, self.catalog.local_date(event.at))
            booking = Booking(
                event=event,
                terms=terms,
                ruleset=self.ruleset(terms),
                decider=self.decider,
                account=state.copy() if state else None,
                pending=list(pending),
                catalog=self.catalog,
                invoices=list(invoices),
                numbers=numbers,
                credit_numbers=credit_numbers,
            )
            if event.type not in ("clock", "account.opened"):
                # A plan change due by the event's day is in force for it (Platform: plan-changes).
                apply_due_change(booking)
            if event.type == "clock":
                run_clock(booking, self.catalog)
            elif event.type in NOTICE_TYPES:
                # Only a real publication may grant the special termination right (AGB 8).
                number = event.data["publication"]
                found = publications or {"rows": {}, "notified": set()}
                verify_notice(
                    booking,
                    found["rows"].get(number),
                    (number, event.account) in found["notified"],
                )
                HANDLERS[event.type](booking)
            else:
                HANDLERS[event.type](booking)
            after_booking(booking)
        except Rejected as rejection:
            version = terms.version if terms else None
            return _rejected(event, rejection.reason, rejection.clause, version), None
        except NotInForce as missing:
            version = terms.version if terms else None
            return _rejected(event, str(missing), missing.citation or "AGB 3.4", version), None
        return {"id": event.id, "status": "applied", "effects": booking.effects}, booking


def _new_batch(unit: Unit) -> _Batch:
    """An empty batch, numbering invoices and credit notes on from the stored counters."""
    return _Batch(
        numbers=InvoiceNumbers(unit.lock_invoice_counter), credit_numbers=credit_note_numbers(unit)
    )


def _notified_publications(unit: Unit, events: list[Event]) -> dict:
    """The publications the batch's ``terms.notified`` events name and who was already notified
    of them, read once for the batch (empty without such events)."""
    notices = [e for e in events if e.type in NOTICE_TYPES]
    if not notices:
        return {}
    numbers = [e.data["publication"] for e in notices]
    return {
        "rows": publications_by_id(unit.connection, numbers),
        "notified": notified_accounts(unit.connection, numbers, [e.account for e in notices]),
    }


def _grants_reference(event: Event) -> bool:
    return event.type == "mandate.granted" and "reference" in event.data


def _other_owner(event: Event, owners: Mapping[str, str]) -> str | None:
    """The other account a granted mandate's reference already belongs to, if any."""
    if not _grants_reference(event):
        return None
    owner = owners.get(event.data["reference"])
    return owner if owner is not None and owner != event.account else None


def _rejected(event: Event, reason: str, clause: str, terms_version: str | None) -> dict:
    return {
        "id": event.id,
        "status": "rejected",
        "reason": reason,
        "clause": clause,
        "effects": [
            {"kind": "rejected", "clause": clause, "terms_version": terms_version, "reason": reason}
        ],
    }


def _event_row(
    event: Event, result: dict, stored: str | None, shapes: Shapes, used: set[int]
) -> tuple:
    """The row of ``events`` (store.EVENT_COLUMNS); the result compact (ledger/compact.py),
    ``stored`` where the call path made it."""
    return (
        event.id,
        event_key(event.id),
        event.account,
        event.type,
        stored_at(event.raw["at"], event.at),  # often only the offset: "60"
        epoch_microseconds(event.at),
        stored_payload(event),  # the columns' fields left out (ledger/event_payload.py)
        b"",  # the digest is rebuilt from the row when the id comes again (Unit.existing_...)
        result["status"],
        # the payload's own fields left out
        stored if stored is not None else shapes.result_text(result, used, event.data),
    )


def _ledger_row(
    event: Event, entry: LedgerEntry, stored: str | None, shapes: Shapes, used: set[int]
) -> tuple:
    """The row of ``ledger_entries`` (store.LEDGER_COLUMNS); a call's detail compact
    (``stored`` where the call path made it)."""
    if stored is not None:
        detail = stored
    elif entry.kind == "call":
        detail = shapes.detail_text(entry.detail, used, event.data)
    else:
        detail = orjson.dumps(entry.detail, option=orjson.OPT_SORT_KEYS).decode()
    return (
        event.account,
        event.id,
        entry.kind,
        entry.amount_cents,
        entry.clause,
        entry.terms_version,
        event.raw["at"],
        detail,
    )
