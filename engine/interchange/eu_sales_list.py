"""The EU sales list (Zusammenfassende Meldung, § 18a UStG) of a quarter, as CSV.

Services whose place of supply is in another member state and whose recipient owes the VAT
there (reverse charge, UStG § 13b, engine/billing/vat_treatment.py) are reported per recipient
VAT id: quarterly (§ 18a (1) sentence 2 UStG), in the period in which the service was carried out
(§ 18a (8) UStG). A monthly invoice's service is its period (``detail["period"]``): the
invoice for December, issued on 1 January, belongs to the fourth quarter.

The CSV follows the import format of the ZM form in Mein ELSTER (BZSt): a version line
``#v3.0``, a line of field names, then one line per VAT id with the VAT id including its
country prefix (one column since CSV version 2.0), the amount in whole euros (negative allowed)
and the kind of supply, ``S`` for other services (sonstige Leistungen; ``L`` would be
intra-Community supplies of goods, ``D`` triangular trade). UTF-8, comma-separated. The
amount is the exact sum of the quarter's net amounts in cents, rounded once to whole euros
with the platform's rounding mode (Platform: money).

Credit notes (type 381, another module) reduce the amounts of the quarter in which they are
issued (§ 18a (10) UStG corrects the original period only for errors): :func:`corrections`
is the plug-in point; today it finds none.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from engine.billing.vat_treatment import REVERSE_CHARGE
from engine.core.money import ROUNDING_MODES, from_cents, to_cents
from engine.core.state import CreditNote, Invoice

CSV_VERSION = "#v3.0"
FIELDS = ("USt-IdNr.", "Betrag (EUR)", "Art der Leistung")
OTHER_SERVICES = "S"  # sonstige Leistung (§ 18a (1) sentence 2 UStG, in force since 2010)
_QUARTER = re.compile(r"^(20[0-9]{2})-Q([1-4])$")


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """``2026-Q4``; anything else raises ValueError naming the expected form."""
        match = _QUARTER.match(text or "")
        if not match:
            raise ValueError(f"{text!r} is not a quarter (YYYY-Qn, e.g. 2026-Q4)")
        return cls(int(match[1]), int(match[2]))

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        following = date(self.year + self.number // 4, 3 * self.number % 12 + 1, 1)
        return following - timedelta(days=1)

    def months(self) -> set[str]:
        return {f"{self.year}-{3 * self.number - 2 + i:02d}" for i in range(3)}

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"


@dataclass(frozen=True)
class SalesListLine:
    """One line of the EU sales list: the recipient's VAT id and the quarter's net sum."""

    vat_id: str
    net_cents: int
    invoices: tuple[str, ...]
    kind: str = OTHER_SERVICES


def reverse_charge_cents(invoice: Invoice) -> int:
    """The net amount of an invoice's reverse-charge services (its taxable lines)."""
    items = invoice.detail.get("items", [])
    return sum(to_cents(Decimal(item["net"])) for item in items if item["vat"])


def in_quarter(invoice: Invoice, quarter: Quarter) -> bool:
    """A reverse-charge invoice whose service period lies in the quarter (§ 18a (8) UStG)."""
    detail = invoice.detail or {}
    treatment = detail.get("vat_treatment") or {}
    return treatment.get("treatment") == REVERSE_CHARGE and detail.get("period") in (
        quarter.months()
    )


def corrections(quarter: Quarter, notes: Iterable[CreditNote]) -> list[tuple[str, int, str]]:
    """Reductions by credit notes (type 381): (VAT id, negative net cents, credit note number).

    A credit note correcting a reverse-charge invoice lowers the sum of the quarter it is
    issued in (§ 18a (7) sentence 1 no. 2 UStG: a change of the taxable amount is reported for
    the period in which it occurs, § 17 UStG), not the quarter of the corrected invoice.
    """
    found = []
    for note in notes:
        detail = note.detail or {}
        treatment = detail.get("vat_treatment") or {}
        issued = date.fromisoformat(note.issued_on)
        if treatment.get("treatment") != REVERSE_CHARGE:
            continue
        if not quarter.first_day <= issued <= quarter.last_day:
            continue
        net = sum(to_cents(Decimal(i["net"])) for i in detail.get("items", []) if i["vat"])
        if net:
            found.append((detail["customer"]["vat_id"], -net, note.number))
    return found


def sales_list(
    documents: Iterable[Invoice], quarter: Quarter, notes: Iterable[CreditNote] = ()
) -> list[SalesListLine]:
    """The quarter's lines, one per recipient VAT id, sorted by VAT id; ``notes`` are the
    credit notes, which reduce the quarter they are issued in."""
    documents = list(documents)
    sums: dict[str, int] = {}
    numbers: dict[str, list[str]] = {}
    for invoice in documents:
        if not in_quarter(invoice, quarter):
            continue
        vat_id = invoice.detail["customer"]["vat_id"]
        sums[vat_id] = sums.get(vat_id, 0) + reverse_charge_cents(invoice)
        numbers.setdefault(vat_id, []).append(invoice.number)
    for vat_id, cents, number in corrections(quarter, notes):
        sums[vat_id] = sums.get(vat_id, 0) + cents
        numbers.setdefault(vat_id, []).append(number)
    return [SalesListLine(v, sums[v], tuple(numbers[v])) for v in sorted(sums)]


def whole_euros(cents: int, rounding: str) -> int:
    """Cents as whole euros, rounded once with the platform's mode (Platform: money)."""
    return int(from_cents(cents).quantize(Decimal(1), rounding=ROUNDING_MODES[rounding]))


def to_csv(lines: Iterable[SalesListLine], rounding: str) -> str:
    """The lines in the ELSTER import format of the ZM form (see the module's docstring)."""
    out = io.StringIO()
    out.write(CSV_VERSION + "\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for line in lines:
        writer.writerow((line.vat_id, whole_euros(line.net_cents, rounding), line.kind))
    return out.getvalue()


def issued_window(quarter: Quarter) -> tuple[date, date]:
    """The issue dates that can hold the quarter's services: from its first day until the end
    of the month after it (a month's invoice comes at the start of the next month)."""
    after = quarter.last_day + timedelta(days=1)
    following_end = date(after.year + after.month // 12, after.month % 12 + 1, 1)
    return quarter.first_day, following_end - timedelta(days=1)
