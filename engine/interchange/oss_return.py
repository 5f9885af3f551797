"""The One-Stop-Shop return (§ 18j UStG) of a quarter: destination VAT per member state and rate.

Telecommunications services to consumers in other member states are taxed where the consumer
lives (§ 3a (5) UStG, UStG § 3a in rules/law/; engine/billing/vat_treatment.py, treatment
``oss``). The provider declares them quarterly to the Bundeszentralamt für Steuern (§ 18j (3)
UStG: by the end of the month after the quarter), one line per member state of consumption and
rate, with the taxable amount and the VAT. A monthly invoice's service is its period
(``detail["period"]``), like the EU sales list (engine/interchange/eu_sales_list.py): the
invoice for March, issued on 1 April, belongs to the first quarter.

Credit notes (a justified objection, AGB 4.5.4) change the taxable amount when they are issued
(§ 17 UStG). In the One-Stop-Shop a change for an earlier quarter is not netted into the current
one: it is declared as a correction of the original quarter, per member state, in the return of
the quarter in which it occurs (Art. 61 Implementing Regulation (EU) 282/2011 as amended,
§ 18j (9) UStG). A credit note for a service of the same quarter lowers that quarter's line.

The CSV (:func:`to_csv`) holds what the return needs, one record per line, UTF-8, comma-separated,
amounts in euros with a decimal point: ``1`` (record type: services from Germany), the member
state of consumption (ISO code, Greece ``EL`` as in the BZSt's lists), the rate type
(``STANDARD``), the rate, the taxable amount and the VAT; corrections as record type ``4`` with
the year and quarter corrected and the VAT. This follows the fields of the BZSt portal's form
and import help ("Import von Umsätzen in die Steuererklärung für die OSS EU-Regelung"), but the
exact column layout and version line of the BZSt import were not verified against its
specification: compare with the current import help before the first upload (docs/vat.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from engine.billing.vat_treatment import OSS
from engine.core.money import from_cents, to_cents
from engine.core.state import CreditNote, Invoice
from engine.interchange.eu_sales_list import Quarter, issued_window
from engine.ledger.credit_note_store import credit_notes_issued_between
from engine.ledger.store import Store

SALES = "1"  # services supplied from Germany (no fixed establishment abroad)
CORRECTION = "4"
STANDARD = "STANDARD"  # telecommunications are at the standard rate everywhere (UStG § 3a)
FIELDS = (
    "Satzart",
    "Land des Verbrauchs",
    "Umsatzsteuertyp",
    "Umsatzsteuersatz",
    "Steuerbemessungsgrundlage",
    "Umsatzsteuerbetrag",
    "Korrektur Jahr",
    "Korrektur Quartal",
)
VAT_ID_PREFIX = {"GR": "EL"}  # the EU's code for Greece in VAT lists


@dataclass(frozen=True)
class ReturnLine:
    """The quarter's supplies to one member state at one rate."""

    country: str
    rate: Decimal
    net_cents: int
    vat_cents: int
    documents: tuple[str, ...]


@dataclass(frozen=True)
class Correction:
    """A change of an earlier quarter's VAT to one member state (negative: a reduction)."""

    country: str
    quarter: Quarter
    vat_cents: int
    documents: tuple[str, ...]


@dataclass(frozen=True)
class OssReturn:
    quarter: Quarter
    lines: list[ReturnLine]
    corrections: list[Correction]

    @property
    def vat_cents(self) -> int:
        return sum(line.vat_cents for line in self.lines) + sum(
            c.vat_cents for c in self.corrections
        )


def _amounts(detail: dict) -> tuple[int, int]:
    """Taxable net (the lines bearing VAT) and VAT of a document, in cents."""
    net = sum(to_cents(Decimal(i["net"])) for i in detail.get("items", []) if i["vat"])
    return net, to_cents(Decimal(detail.get("vat", "0")))


def _quarter_of(month: str) -> Quarter:
    year, number = month.split("-")
    return Quarter(int(year), (int(number) - 1) // 3 + 1)


def oss_return(
    documents: Iterable[Invoice], quarter: Quarter, notes: Iterable[CreditNote] = ()
) -> OssReturn:
    """The quarter's lines (member state, rate) from invoices whose service period lies in it,
    and its corrections from the credit notes issued in it."""
    sums: dict[tuple[str, Decimal], list] = {}

    def add(key: tuple[str, Decimal], net: int, vat: int, number: str) -> None:
        entry = sums.setdefault(key, [0, 0, []])
        entry[0] += net
        entry[1] += vat
        entry[2].append(number)

    for invoice in documents:
        detail = invoice.detail or {}
        treatment = detail.get("vat_treatment") or {}
        if treatment.get("treatment") != OSS or detail.get("period") not in quarter.months():
            continue
        net, vat = _amounts(detail)
        add((treatment["country"], Decimal(detail["vat_rate"])), net, vat, invoice.number)
    corrections: dict[tuple[str, Quarter], list] = {}
    for note in notes:
        detail = note.detail or {}
        treatment = detail.get("vat_treatment") or {}
        issued = date.fromisoformat(note.issued_on)
        if treatment.get("treatment") != OSS:
            continue
        if not quarter.first_day <= issued <= quarter.last_day:
            continue
        net, vat = _amounts(detail)
        if not net and not vat:  # a refund of credit: no supply is corrected
            continue
        original = _quarter_of((detail.get("period_start") or note.issued_on)[:7])
        if original == quarter:
            add((treatment["country"], Decimal(detail["vat_rate"])), -net, -vat, note.number)
        else:
            entry = corrections.setdefault((treatment["country"], original), [0, []])
            entry[0] -= vat
            entry[1].append(note.number)
    lines = [
        ReturnLine(country, rate, net, vat, tuple(numbers))
        for (country, rate), (net, vat, numbers) in sorted(sums.items())
    ]
    fixes = [
        Correction(country, original, vat, tuple(numbers))
        for (country, original), (vat, numbers) in sorted(
            corrections.items(), key=lambda kv: (kv[0][0], kv[0][1].year, kv[0][1].number)
        )
    ]
    return OssReturn(quarter, lines, fixes)


def _euros(cents: int) -> str:
    return f"{from_cents(cents)}"


def to_csv(result: OssReturn) -> str:
    """The return as CSV (see the module's docstring for the fields and what is unverified)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for line in result.lines:
        writer.writerow(
            (
                SALES,
                VAT_ID_PREFIX.get(line.country, line.country),
                STANDARD,
                f"{line.rate:.2f}",
                _euros(line.net_cents),
                _euros(line.vat_cents),
                "",
                "",
            )
        )
    for fix in result.corrections:
        writer.writerow(
            (
                CORRECTION,
                VAT_ID_PREFIX.get(fix.country, fix.country),
                "",
                "",
                "",
                _euros(fix.vat_cents),
                fix.quarter.year,
                fix.quarter.number,
            )
        )
    return out.getvalue()


def export(store: Store, quarter: Quarter) -> tuple[str, OssReturn]:
    """The quarter's OSS return as CSV, from the issued invoices and credit notes as they state
    their amounts (read only: nothing in the store changes)."""
    with store.unit(commit=False) as unit:
        documents = unit.invoices_issued_between(*issued_window(quarter))
        notes = credit_notes_issued_between(
            unit.connection, quarter.first_day.isoformat(), quarter.last_day.isoformat()
        )
    result = oss_return(documents, quarter, notes)
    return to_csv(result), result
