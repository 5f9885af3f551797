"""What finance reads in the back office (issue 28): customers found by what people know of
them, a customer's whole money picture, the SEPA files and returns, and the dashboard.

Read only: every number comes from the stored state (accounts, invoices, credit notes, ledger
entries, deadlines, SEPA tables, events); ``today`` is the day asked about, passed by the door
(the engine reads no clock). The admin UI renders these; amounts are integer cents here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, func, or_, select

from engine.catalog import Catalog, NotInForce
from engine.core.deadlines import last_day_of_month
from engine.ledger import credit_note_store
from engine.ledger.compact import Shapes
from engine.ledger.event_payload import payload_fields, stored_document
from engine.ledger.store import account_from_row, invoice_from_row
from engine.ledger.tables import (
    accounts,
    bank_credits,
    deadlines,
    events,
    invoices,
    ledger_entries,
    sepa_batches,
    sepa_collections,
)
from engine.payments.return_reasons import customer_responsible

# Ledger kinds that are money in or its reversal (payments and returns on the customer page).
PAYMENT_KINDS = ("payment", "returned_debit", "returned_debit_fee", "refund")
AGE_BUCKETS = (
    ("not due", None, 0),
    ("1–30 days", 1, 30),
    ("31–60 days", 31, 60),
    ("61–90 days", 61, 90),
    ("over 90 days", 91, None),
)


def search_condition(text: str):
    """Accounts whose id, customer name, e-mail or VAT id contains ``text`` (any case), or
    that an invoice of this number belongs to (the customer data is JSON text: searched as
    text, so the match is on what is stored)."""
    lowered = text.lower()
    return or_(
        func.lower(accounts.c.id).contains(lowered, autoescape=True),
        func.lower(accounts.c.customer).contains(lowered, autoescape=True),
        accounts.c.id.in_(select(invoices.c.account).where(invoices.c.number == text)),
    )


def customer_names(connection: Connection, ids: Iterable[str]) -> dict[str, str]:
    """The customer name on file for each of these accounts that has one."""
    wanted = sorted({i for i in ids if i})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        query = select(accounts.c.id, accounts.c.customer).where(
            accounts.c.id.in_(wanted[start : start + 500])
        )
        for row in connection.execute(query):
            name = orjson.loads(row.customer or "{}").get("name")
            if name:
                found[row.id] = name
    return found


def customer_overview(connection: Connection, account: str, today: date) -> dict | None:
    """Everything about the money of one account, or None when there is no such account."""
    row = connection.execute(select(accounts).where(accounts.c.id == account)).one_or_none()
    if row is None:
        return None
    state = account_from_row(row)
    found = [
        invoice_from_row(r)
        for r in connection.execute(
            select(invoices).where(invoices.c.account == account).order_by(invoices.c.number)
        )
    ]
    pending = [
        dict(r._mapping)
        for r in connection.execute(
            select(deadlines)
            .where(deadlines.c.account == account, deadlines.c.status == "pending")
            .order_by(deadlines.c.due, deadlines.c.id)
        )
    ]
    money = connection.execute(
        select(ledger_entries)
        .where(ledger_entries.c.account == account, ledger_entries.c.kind.in_(PAYMENT_KINDS))
        .order_by(ledger_entries.c.id.desc())
        .limit(100)
    ).all()
    collections = connection.execute(
        select(sepa_collections)
        .where(sepa_collections.c.account == account)
        .order_by(sepa_collections.c.collection_date.desc())
    ).all()
    bank = connection.execute(
        select(bank_credits)
        .where(bank_credits.c.account == account)
        .order_by(bank_credits.c.id.desc())
        .limit(50)
    ).all()
    open_items = [i for i in found if i.open_cents > 0]
    return {
        "state": state,
        "customer": state.customer,
        "invoices": found,
        "open_items": open_items,
        "open_cents": sum(i.open_cents for i in open_items),
        "in_default": [i for i in open_items if i.default_on],
        "overdue": [i for i in open_items if not i.default_on and i.due_on < today.isoformat()],
        "credit_notes": credit_note_store.credit_notes_of(connection, account),
        "payments": [_entry(r, connection) for r in money],
        "collections": collections,
        "bank_credits": bank,
        "deadlines": pending,
        "events": latest_events(connection, account),
    }


def _entry(row, connection: Connection) -> dict:
    entry = dict(row._mapping)
    try:
        entry["detail"] = Shapes().render_detail(row.detail, connection)
    except Exception:  # a detail that needs its event's fields: the entry still shows
        entry["detail"] = {}
    return entry


def latest_events(connection: Connection, account: str, limit: int = 25) -> list[dict]:
    """The account's latest events, newest first, with what each did and the clauses cited
    (the ledger entries it booked; rejected ones with their reason)."""
    rows = connection.execute(
        select(*_EVENT_COLUMNS)
        .where(events.c.account == account)
        .order_by(events.c.seq.desc())
        .limit(limit)
    ).all()
    booked: dict[str, list] = defaultdict(list)
    ids = [row.id for row in rows]
    if ids:
        for entry in connection.execute(
            select(ledger_entries).where(
                ledger_entries.c.account == account, ledger_entries.c.event_id.in_(ids)
            )
        ):
            booked[entry.event_id].append(entry)
    found = []
    shapes = Shapes()
    for row in rows:
        document = _document(row)
        result = _result(shapes, connection, row)
        found.append(
            {
                "id": row.id,
                "type": row.type,
                "at": document.get("at", ""),
                "status": row.status,
                "reason": result.get("reason"),
                "effects": [e for e in result.get("effects", []) if isinstance(e, dict)],
                "entries": booked.get(row.id, []),
            }
        )
    return found


_EVENT_COLUMNS = (
    events.c.id,
    events.c.type,
    events.c.account,
    events.c.at,
    events.c.at_utc,
    events.c.payload,
    events.c.status,
    events.c.result,
)


def _document(row) -> dict:
    try:
        return stored_document(row)
    except Exception:  # an older or unusual row: its id, type and status still show
        return {}


def _result(shapes: Shapes, connection: Connection, row) -> dict:
    """The stored result as the engine returned it (effects with clause and terms version)."""
    try:
        fields = payload_fields(row.type, row.payload)
        result = shapes.render_result(row.id, row.status, row.result, connection, fields)
    except Exception:  # an older or unusual row: the event still shows, without effects
        return {}
    return result if isinstance(result, dict) else {}


# -- SEPA files and returns --------------------------------------------------------------------


def sepa_files(connection: Connection, limit: int = 200) -> list:
    """The pain.008 files recorded, newest collection date first (without their XML)."""
    columns = [c for c in sepa_batches.c if c.name != "xml"]
    return connection.execute(
        select(*columns).order_by(sepa_batches.c.collection_date.desc()).limit(limit)
    ).all()


def sepa_file(connection: Connection, message_id: str) -> tuple[Any, list[dict]] | None:
    """One file and its debits, each with its invoice's state today (open, paid, returned)."""
    batch = connection.execute(
        select(sepa_batches).where(sepa_batches.c.message_id == message_id)
    ).one_or_none()
    if batch is None:
        return None
    rows = connection.execute(
        select(sepa_collections, invoices.c.open_cents, invoices.c.status)
        .select_from(
            sepa_collections.outerjoin(invoices, invoices.c.number == sepa_collections.c.invoice)
        )
        .where(sepa_collections.c.message_id == message_id)
        .order_by(sepa_collections.c.invoice)
    ).all()
    returned = _returned_invoices(connection, [r.invoice for r in rows])
    debits = []
    for row in rows:
        debit = dict(row._mapping)
        debit["returned"] = returned.get(row.invoice)
        debit["state"] = (
            "returned" if debit["returned"] else ("paid" if row.open_cents == 0 else "open")
        )
        debits.append(debit)
    return batch, debits


def _returned_invoices(connection: Connection, numbers: list[str]) -> dict[str, str]:
    """Invoice -> reason code of an applied ``direct_debit.returned`` of it."""
    if not numbers:
        return {}
    wanted, found = set(numbers), {}
    query = select(*_EVENT_COLUMNS).where(
        events.c.type == "direct_debit.returned", events.c.status == "applied"
    )
    for row in connection.execute(query):
        document = _document(row)
        if document.get("invoice") in wanted:
            found[document["invoice"]] = document.get("reason_code") or "?"
    return found


def imported_returns(connection: Connection, catalog: Catalog, limit: int = 200) -> list[dict]:
    """Applied ``direct_debit.returned`` events, newest first: reason code, the fee charged or
    waived and why (rules/platform/sepa-returns.yaml, AGB 4.2.3)."""
    rows = connection.execute(
        select(*_EVENT_COLUMNS)
        .where(events.c.type == "direct_debit.returned", events.c.status == "applied")
        .order_by(events.c.seq.desc())
        .limit(limit)
    ).all()
    fees: dict[str, int] = {}
    ids = [row.id for row in rows]
    if ids:
        for entry in connection.execute(
            select(ledger_entries.c.event_id, ledger_entries.c.amount_cents).where(
                ledger_entries.c.event_id.in_(ids), ledger_entries.c.kind == "returned_debit_fee"
            )
        ):
            fees[entry.event_id] = -entry.amount_cents
    found = []
    for row in rows:
        document = _document(row)
        code = document.get("reason_code")
        responsible = None
        if code:
            try:
                day = date.fromisoformat(str(document.get("at", ""))[:10])
                responsible = customer_responsible(code, catalog.at(day))
            except (ValueError, NotInForce):
                responsible = None
        found.append(
            {
                "event": row.id,
                "account": row.account,
                "at": document.get("at"),
                "invoice": document.get("invoice"),
                "amount": document.get("amount"),
                "reason_code": code,
                "end_to_end_id": document.get("end_to_end_id"),
                "customer_responsible": responsible,
                "fee_cents": fees.get(row.id),
            }
        )
    return found


# -- the dashboard -----------------------------------------------------------------------------


def dashboard(connection: Connection, today: date) -> dict:
    """The month of ``today`` at a glance: what was charged by item and by plan, receivables by
    age, the returns rate, customers in default or blocked, and the collections ahead."""
    first = today.replace(day=1)
    last = last_day_of_month(today.year, today.month)
    return {
        "month": today.strftime("%Y-%m"),
        "today": today,
        "revenue_by_item": _revenue(connection, first, last, ledger_entries.c.kind),
        "revenue_by_plan": _revenue(connection, first, last, accounts.c.plan),
        "receivables": receivables_by_age(connection, today),
        "returns": _returns_rate(connection, first, last),
        "troubled": troubled_accounts(connection),
        "upcoming": upcoming_collections(connection, today),
    }


def _revenue(connection: Connection, first: date, last: date, key) -> list[tuple[str, int]]:
    """Charges booked in the month (gross, as the ledger books them), largest first."""
    query = (
        select(key.label("key"), func.sum(-ledger_entries.c.amount_cents).label("cents"))
        .select_from(ledger_entries.join(accounts, accounts.c.id == ledger_entries.c.account))
        .where(
            ledger_entries.c.amount_cents < 0,
            ledger_entries.c.kind.notin_(("returned_debit",)),
            ledger_entries.c.booked_at >= first.isoformat(),
            ledger_entries.c.booked_at < (last + timedelta(days=1)).isoformat(),
        )
        .group_by(key)
    )
    rows = [(str(row.key), int(row.cents or 0)) for row in connection.execute(query)]
    return sorted(rows, key=lambda pair: (-pair[1], pair[0]))


def receivables_by_age(connection: Connection, today: date) -> list[tuple[str, int, int]]:
    """Open invoices by days past their due date: (bucket, count, open cents)."""
    totals = {label: [0, 0] for label, _, _ in AGE_BUCKETS}
    query = select(invoices.c.due_on, invoices.c.open_cents).where(invoices.c.open_cents > 0)
    for row in connection.execute(query):
        late = (today - date.fromisoformat(row.due_on)).days
        for label, low, high in AGE_BUCKETS:
            if (low is None or late >= low) and (high is None or late <= high):
                totals[label][0] += 1
                totals[label][1] += row.open_cents
                break
    return [(label, count, cents) for label, (count, cents) in totals.items()]


def _returns_rate(connection: Connection, first: date, last: date) -> dict:
    """Collections of the month and how many came back (by the collection date)."""
    collected = (
        connection.execute(
            select(sepa_collections.c.invoice).where(
                sepa_collections.c.collection_date.between(first.isoformat(), last.isoformat())
            )
        )
        .scalars()
        .all()
    )
    returned = _returned_invoices(connection, list(collected))
    count = len(collected)
    return {
        "collections": count,
        "returned": len(returned),
        "rate": (len(returned) / count) if count else None,
    }


def troubled_accounts(connection: Connection) -> list[dict]:
    """Accounts blocked (AGB 4.4.3) or with an invoice in default (AGB 4.4.2)."""
    in_default: dict[str, int] = defaultdict(int)
    query = select(invoices.c.account, invoices.c.open_cents, invoices.c.state).where(
        invoices.c.open_cents > 0
    )
    for row in connection.execute(query):
        if orjson.loads(row.state).get("default_on"):
            in_default[row.account] += row.open_cents
    blocked = {}
    query = select(accounts.c.id, accounts.c.contract).where(
        accounts.c.contract.contains('"blocked":"', autoescape=True)
    )
    for row in connection.execute(query):
        contract = orjson.loads(row.contract)
        if contract.get("blocked"):
            blocked[row.id] = contract["blocked"]
    ids = sorted(set(in_default) | set(blocked))
    names = customer_names(connection, ids)
    return [
        {
            "account": account,
            "name": names.get(account),
            "default_cents": in_default.get(account, 0),
            "blocked": blocked.get(account),
        }
        for account in ids
    ]


def upcoming_collections(connection: Connection, today: date, days: int = 31) -> list[dict]:
    """Direct debits the engine will decide in the next ``days`` days (pending AGB 4.2.2
    deadlines), per day: count and the open amount of their invoices."""
    rows = connection.execute(
        select(deadlines.c.due, deadlines.c.payload).where(
            deadlines.c.kind == "direct_debit",
            deadlines.c.status == "pending",
            deadlines.c.due.between(today.isoformat(), (today + timedelta(days=days)).isoformat()),
        )
    ).all()
    numbers = sorted({orjson.loads(r.payload).get("invoice") for r in rows} - {None})
    open_of = (
        dict(
            connection.execute(
                select(invoices.c.number, invoices.c.open_cents).where(
                    invoices.c.number.in_(numbers)
                )
            ).all()
        )
        if numbers
        else {}
    )
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        number = orjson.loads(row.payload).get("invoice")
        per_day[row.due][0] += 1
        per_day[row.due][1] += open_of.get(number, 0)
    return [
        {"date": day, "count": c, "open_cents": cents}
        for day, (c, cents) in sorted(per_day.items())
    ]
