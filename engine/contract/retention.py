"""How long the books and vouchers are kept (GoBD; Platform: retention, UStG § 14b).

Invoices, credit notes, ledger entries and events are never changed or deleted by the platform
(docs/retention.md). This module answers the statutory question: until which day must a
record be kept? Each period begins at the end of the calendar year in which the record arose
(§ 257 (5) HGB, § 147 (4) AO, § 14b (1) UStG), and a shorter period enacted later applies to
every record whose period had not run out when it took effect (BEG IV, 1 January 2025).
"""

from __future__ import annotations

from datetime import date

from engine.catalog import Catalog
from engine.catalog.model import TermsFile

# What a record is, and the parameter of Platform: retention that keeps it.
RECORD_KINDS = {
    "invoice": "vouchers_years",  # also UStG § 14b
    "credit_note": "vouchers_years",
    "bank_file": "vouchers_years",
    "ledger_entry": "books_years",
    "event": "books_years",
    "letter": "letters_years",
}


def kept_until(kind: str, arose_on: date, catalog: Catalog) -> date:
    """The last day a record of ``kind`` that arose on ``arose_on`` must be kept."""
    try:
        parameter = RECORD_KINDS[kind]
    except KeyError:
        raise ValueError(f"no retention period for records of kind {kind!r}") from None
    last_day = period_end(catalog.file("Platform: retention"), parameter, arose_on.year)
    if kind == "invoice":
        ustg = period_end(catalog.file("UStG § 14b"), "invoice_retention_years", arose_on.year)
        last_day = max(last_day, ustg)
    return last_day


def period_end(rule: TermsFile, parameter: str, year: int) -> date:
    """The end of a period of ``parameter`` years that begins after 31 December of ``year``."""
    year_end = date(year, 12, 31)
    last_day = date(year + rule.value_at(parameter, year_end), 12, 31)
    for version in rule.versions:
        # A later period applies if the running one had not run out when it took effect.
        if year_end < version.effective_from <= last_day:
            last_day = date(year + rule.value_at(parameter, version.effective_from), 12, 31)
    return last_day
