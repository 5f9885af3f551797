"""Paging of the admin UI's lists: ``?page=N&size=M`` read, checked, turned into LIMIT/OFFSET.

Every list (outbox, accounts, audit log, drafts, webhook deliveries) counts its rows, then
fetches one page of them with SQL ``LIMIT``/``OFFSET``; nothing loads all rows. A page that is
not a whole number from 1, or a size outside 1..MAX_SIZE, is refused with 400 naming the field;
a page beyond the last shows the last page (so a bookmark of a shrunk list still shows rows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Select, func, select
from werkzeug.exceptions import BadRequest

DEFAULT_SIZE = 50
MAX_SIZE = 200
MAX_PAGE = 10**9
_WHOLE = re.compile(r"[0-9]{1,10}")


class BadListQuery(BadRequest):
    """A list's query string is refused; the description names the field and what it takes."""


@dataclass(frozen=True)
class Asked:
    """The page and page size a request asked for, checked but not yet bounded by the rows."""

    page: int
    size: int


@dataclass(frozen=True)
class Page:
    """One page of a list: its number (from 1), the size, the rows it holds and the total."""

    number: int
    size: int
    total: int
    rows: tuple

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_row(self) -> int:
        """The position (from 1) of the page's first row in the list; 0 when the list is empty."""
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last_row(self) -> int:
        return (self.number - 1) * self.size + len(self.rows)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    def numbers(self, around: int = 2) -> list[int | None]:
        """Page numbers to link: the first, the last and ``around`` either side of this one;
        ``None`` stands for a gap (shown as an ellipsis)."""
        wanted = {1, self.pages, *range(self.number - around, self.number + around + 1)}
        shown: list[int | None] = []
        for number in sorted(n for n in wanted if 1 <= n <= self.pages):
            if shown and shown[-1] is not None and number > shown[-1] + 1:
                shown.append(None)
            shown.append(number)
        return shown


def _whole_number(args: Mapping[str, str], field: str, default: int, highest: int) -> int:
    raw = args.get(field)
    if raw is None or raw == "":
        return default
    if not _WHOLE.fullmatch(raw) or not 1 <= int(raw) <= highest:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise BadListQuery(f"{field} must be a whole number from 1 to {highest}, not {shown!r}.")
    return int(raw)


def asked(args: Mapping[str, str], default_size: int = DEFAULT_SIZE) -> Asked:
    """The page and size of ``?page=&size=``; :class:`BadListQuery` (400) if either is bad."""
    return Asked(
        page=_whole_number(args, "page", 1, MAX_PAGE),
        size=_whole_number(args, "size", default_size, MAX_SIZE),
    )


def bounded(number: int, size: int, total: int) -> int:
    """The page to show: the one asked for, or the last one when it lies beyond the end."""
    return min(number, max(1, -(-total // size)))


def offset(number: int, size: int) -> int:
    return (number - 1) * size


def fetch(connection: Connection, query: Select, wanted: Asked) -> Page:
    """One page of ``query`` (ordered by the caller): its rows counted, then one LIMIT/OFFSET."""
    total = connection.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    number = bounded(wanted.page, wanted.size, total)
    rows = connection.execute(query.limit(wanted.size).offset(offset(number, wanted.size))).all()
    return Page(number=number, size=wanted.size, total=total, rows=tuple(rows))
