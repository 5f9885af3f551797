"""The list of every account's invoices as finance reads it: filtered, sorted, paged, totalled.

The command line (``billing invoices list``), the API (``GET /api/v1/invoices``) and the admin
UI (``/admin/invoices``, with its CSV export) all call :func:`list_invoices`. What an invoice's
status means is read from its stored state (:class:`engine.core.state.Invoice`) and the day
asked about (``today``: the doors pass the platform's local date; the engine reads no clock):

- ``open``: something is still owed (``open_cents`` > 0), overdue and in default included;
- ``overdue``: open, its due date (``due_on``, AGB 4.2.1) has passed, not yet in default;
- ``in_default``: open, and the engine recorded the start of default (``default_on``: 30 days
  after due date and receipt, or the day after a reminder; BGB § 286, AGB 4.4.2);
- ``paid``: nothing is owed any more (paid, or settled by a credit note);
- ``credited``: a credit note corrects it (Platform: credit-notes), whatever is still open.

A disputed invoice (``objection`` pending, AGB 4.3.5) keeps its status and shows the objection.
Paging is by cursor: ``after`` is the number of the last invoice of the previous page, valid
with any sort (the next page continues after that invoice's place in the order).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, and_, exists, func, or_, select

from engine.core.deadlines import last_day_of_month
from engine.core.money import format_amount, from_cents
from engine.ledger.store import Store
from engine.ledger.tables import accounts, credit_notes, invoices

STATUSES = ("open", "paid", "overdue", "in_default", "credited")
SORTS = ("number", "issued_on", "due_on", "amount", "open", "account")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_MONTH = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NUMBER = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")
_SORT_COLUMNS = {
    "number": invoices.c.number,
    "issued_on": invoices.c.issued_on,
    "due_on": invoices.c.due_on,
    "amount": invoices.c.amount_cents,
    "open": invoices.c.open_cents,
    "account": invoices.c.account,
}
# The stored state is ``json.dumps(..., sort_keys=True)`` (engine/ledger/store.py): a start of
# default is a date string there, its absence null.
_IN_DEFAULT = invoices.c.state.like('%"default!_on": "%', escape="!")


class InvoiceQueryInvalid(ValueError):
    """A filter, sort or cursor is refused: ``field`` names the parameter."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class InvoiceQuery:
    """What is asked for. ``accounts`` restricts to these accounts (a token bound to them)."""

    status: str | None = None
    month: str | None = None
    account: str | None = None
    after: str | None = None
    limit: int = DEFAULT_LIMIT
    sort: str = "number"
    accounts: frozenset[str] | None = None


@dataclass
class InvoicePage:
    rows: list[dict[str, Any]]
    next_after: str | None
    count: int
    amount_cents: int
    open_cents: int
    by_status: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Amounts as strings (EUR, two decimals)."""
        return {
            "invoices": [_row_json(r) for r in self.rows],
            "next_after": self.next_after,
            "totals": {
                "count": self.count,
                "amount": format_amount(from_cents(self.amount_cents)),
                "open": format_amount(from_cents(self.open_cents)),
            },
        }


def parse_query(
    *,
    status: str | None = None,
    month: str | None = None,
    account: str | None = None,
    after: str | None = None,
    limit: str | int | None = None,
    sort: str | None = None,
    accounts_allowed: frozenset[str] | None = None,
) -> InvoiceQuery:
    """The query from text values (a query string, command options); InvoiceQueryInvalid
    naming the parameter when one is not what it may be."""
    if status and status not in STATUSES:
        raise InvoiceQueryInvalid(
            "status", f"must be one of {', '.join(STATUSES)}, not {status[:40]!r}"
        )
    if month and not _MONTH.fullmatch(month):
        raise InvoiceQueryInvalid("month", f"must be a month YYYY-MM, not {month[:40]!r}")
    if account and not _ACCOUNT.fullmatch(account):
        raise InvoiceQueryInvalid("account", f"{account[:70]!r} is not an account id")
    if after and not _NUMBER.fullmatch(after):
        raise InvoiceQueryInvalid("after", f"{after[:40]!r} is not an invoice number")
    if limit in (None, ""):
        count = DEFAULT_LIMIT
    elif isinstance(limit, int):
        count = limit
    elif re.fullmatch(r"[0-9]{1,7}", limit):
        count = int(limit)
    else:
        count = -1
    if not 1 <= count <= MAX_LIMIT:
        raise InvoiceQueryInvalid("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    order = sort or "number"
    if order.lstrip("-") not in SORTS:
        raise InvoiceQueryInvalid(
            "sort", f"must be one of {', '.join(SORTS)} (a leading - sorts descending)"
        )
    return InvoiceQuery(
        status=status or None,
        month=month or None,
        account=account or None,
        after=after or None,
        limit=count,
        sort=order,
        accounts=accounts_allowed,
    )


def _credited():
    return exists().where(credit_notes.c.invoice == invoices.c.number)


def _conditions(query: InvoiceQuery, today: date) -> list:
    """The SQL conditions of the filters (each status as the module docstring defines it)."""
    found: list = []
    if query.accounts is not None:
        found.append(invoices.c.account.in_(sorted(query.accounts)))
    if query.account:
        found.append(invoices.c.account == query.account)
    if query.month:
        year, month = map(int, query.month.split("-"))
        first = date(year, month, 1).isoformat()
        found.append(
            invoices.c.issued_on.between(first, last_day_of_month(year, month).isoformat())
        )
    status = query.status
    if status in ("open", "overdue", "in_default"):
        found.append(invoices.c.open_cents > 0)
    if status == "overdue":
        found += [invoices.c.due_on < today.isoformat(), ~_IN_DEFAULT]
    elif status == "in_default":
        found.append(_IN_DEFAULT)
    elif status == "paid":
        found.append(invoices.c.open_cents <= 0)
    elif status == "credited":
        found.append(_credited())
    return found


class InvoiceCursorUnknown(InvoiceQueryInvalid):
    """``after`` names no invoice the query may see (the API answers 404)."""


def _after(connection: Connection, query: InvoiceQuery):
    """The keyset condition that continues after the invoice ``query.after`` in the order.

    In number order the cursor is compared as it is; in another order its invoice's place is
    looked up, among the invoices the query may see only (a bound token learns nothing)."""
    column = _SORT_COLUMNS[query.sort.lstrip("-")]
    if query.sort.lstrip("-") == "number":
        value = query.after
    else:
        lookup = select(column).where(invoices.c.number == query.after)
        if query.accounts is not None:
            lookup = lookup.where(invoices.c.account.in_(sorted(query.accounts)))
        value = connection.execute(lookup).scalar_one_or_none()
    if value is None:
        raise InvoiceCursorUnknown("after", f"there is no invoice {query.after!r}")
    if query.sort.startswith("-"):
        return or_(column < value, and_(column == value, invoices.c.number < query.after))
    return or_(column > value, and_(column == value, invoices.c.number > query.after))


def _order(query: InvoiceQuery) -> list:
    column = _SORT_COLUMNS[query.sort.lstrip("-")]
    if query.sort.startswith("-"):
        return [column.desc(), invoices.c.number.desc()]
    return [column.asc(), invoices.c.number.asc()]


def list_invoices(store: Store, query: InvoiceQuery, today: date) -> InvoicePage:
    """One page of the invoices ``query`` asks for, with the totals of all of them."""
    with store.db.connect() as connection:
        conditions = _conditions(query, today)
        totals = connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(invoices.c.amount_cents), 0),
                func.coalesce(func.sum(invoices.c.open_cents), 0),
            ).where(*conditions)
        ).one()
        paged = list(conditions)
        if query.after:
            paged.append(_after(connection, query))
        rows = _rows(connection, paged, _order(query), query.limit + 1, today)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return InvoicePage(
        rows=rows,
        next_after=rows[-1]["number"] if more and rows else None,
        count=int(totals[0]),
        amount_cents=int(totals[1]),
        open_cents=int(totals[2]),
    )


def iterate_invoices(store: Store, query: InvoiceQuery, today: date) -> Iterator[dict[str, Any]]:
    """Every invoice ``query`` filters (its ``after`` and ``limit`` ignored), page by page."""
    step = InvoiceQuery(**{**vars(query), "after": None, "limit": MAX_LIMIT})
    while True:
        page = list_invoices(store, step, today)
        yield from page.rows
        if page.next_after is None:
            return
        step = InvoiceQuery(**{**vars(step), "after": page.next_after})


def _rows(connection: Connection, conditions: list, order: list, limit: int, today: date):
    query = (
        select(invoices, accounts.c.customer, _credited().label("credited"))
        .select_from(invoices.outerjoin(accounts, accounts.c.id == invoices.c.account))
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
    )
    return [_row(row, today) for row in connection.execute(query)]


def _row(row, today: date) -> dict[str, Any]:
    state = orjson.loads(row.state)
    customer = orjson.loads(row.customer) if row.customer else {}
    return {
        "number": row.number,
        "account": row.account,
        "customer": customer.get("name"),
        "kind": row.kind,
        "period": state.get("period"),
        "issued_on": row.issued_on,
        "due_on": row.due_on,
        "amount_cents": row.amount_cents,
        "open_cents": row.open_cents,
        "status": status_of(row.open_cents, row.due_on, state.get("default_on"), today),
        "default_on": state.get("default_on"),
        "objection": state.get("objection"),
        "credited_cents": state.get("credited_cents", 0),
        "credit_notes": state.get("credit_notes", []),
        "credited": bool(row.credited),
        "clause": row.clause,
    }


def status_of(open_cents: int, due_on: str, default_on: str | None, today: date) -> str:
    """One word for an invoice's place: in_default, overdue, open or paid."""
    if open_cents <= 0:
        return "paid"
    if default_on:
        return "in_default"
    if due_on < today.isoformat():
        return "overdue"
    return "open"


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in row.items() if not k.endswith("_cents")}
    shown["amount"] = format_amount(from_cents(row["amount_cents"]))
    shown["open"] = format_amount(from_cents(row["open_cents"]))
    shown["credited_amount"] = format_amount(from_cents(row["credited_cents"]))
    return shown


CSV_COLUMNS = (
    "number",
    "account",
    "customer",
    "kind",
    "period",
    "issued_on",
    "due_on",
    "amount",
    "open",
    "status",
    "default_on",
    "objection",
    "credit_notes",
)


def invoices_csv(rows: Iterator[dict[str, Any]]) -> str:
    """The rows as CSV (comma, UTF-8, amounts with a point as in the API): one header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        shown = _row_json(row)
        shown["credit_notes"] = " ".join(row["credit_notes"])
        writer.writerow([_cell(shown.get(column), column == "customer") for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any, free_text: bool) -> str:
    """A CSV cell; free text a spreadsheet would run as a formula gets an apostrophe first."""
    text = "" if value is None else str(value)
    if free_text and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
