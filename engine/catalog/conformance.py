"""Statute conformance: where a clause differs from the statute it must satisfy.

The comparisons are data, declared by legal in ``rules/conformance.yaml`` (format in
docs/catalog.md): each names a clause's parameter (or what the clause leaves unstated), a
statute's parameter or its minimum and maximum, and optionally which difference is to the
customer's advantage. :func:`check` compares them under one terms version and returns a
:class:`ConformanceWarning` for every difference: a warning, never an error. The contract as
published stays what the engine applies, except where a comparison is ``mandatory`` (the
statute cannot be varied to the customer's detriment, e.g. TKG § 71 (1)): then the engine applies
whichever of clause and statute is more favourable to the customer, citing both
(:func:`applied_deadline`, :func:`applied_set`), and the warning says ``applied``.

Pure: no clock, no database. Loading the declarations reads one file.
"""

from __future__ import annotations

import calendar as month_calendar
import dataclasses
import weakref
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from engine.catalog import Catalog, CatalogInvalid, NotInForce, Terms
from engine.catalog.loader import PROJECT_ROOT, read_checked
from engine.catalog.model import ParameterSpec, TermsFile
from engine.catalog.values import ValueTypeError, parse_value
from engine.catalog.yaml_source import read_yaml
from engine.core.deadlines import Period

COMPARISONS_FILE = "rules/conformance.yaml"
STATUTES = ("bgb", "tkg", "ustg")
ORDERED = ("money", "rate", "percent", "integer", "period")
OPPOSITE = {
    "increase": "decrease",
    "decrease": "increase",
    "addition": "removal",
    "removal": "addition",
}
VERDICTS = {
    "customer": "In the customer's favour, which the statute allows.",
    "provider": "Against the customer: the statute prevails over the clause.",
    "neither": "The difference favours neither side: lawful, but clause and statute differ.",
}


@dataclass(frozen=True)
class Comparison:
    """One declared comparison of a clause with a statute (an entry of rules/conformance.yaml)."""

    clause: str
    statute: str
    explanation: str
    parameter: str | None = None
    unstated: Any = None
    provision: str | None = None
    statute_parameter: str | None = None
    statute_minimum: str | None = None
    statute_maximum: str | None = None
    better_for_customer: str | None = None
    mandatory: bool = False
    statute_wording: str | None = None
    statute_source: str | None = None

    @property
    def statute_citation(self) -> str:
        """The statute as cited, with its paragraph: ``BGB § 288 (2)``."""
        return f"{self.statute} {self.provision}" if self.provision else self.statute

    @property
    def statute_parameters(self) -> tuple[str, ...]:
        if self.statute_parameter:
            return (self.statute_parameter,)
        return tuple(p for p in (self.statute_minimum, self.statute_maximum) if p)


@dataclass(frozen=True)
class ConformanceWarning:
    """A clause that differs from its statute, with both values and who gains by it."""

    clause: str
    parameter: str | None
    statute: str
    statute_parameter: str
    clause_value: str
    statute_value: str
    since: str  # the first day from which the statute has said statute_value
    favours: str  # customer, provider or neither
    conforms: bool  # the clause is lawful as it stands (the statute does not override it)
    message: str
    explanation: str
    terms_version: str
    mandatory: bool = False
    applied: bool = False  # the engine applies the statute's value instead of the clause's
    applied_value: str = ""  # the value the engine applies, as legal reads it
    statute_wording: str | None = None
    statute_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        subject = f"{self.clause} {self.parameter}" if self.parameter else self.clause
        return (
            f"{subject} vs {self.statute}: {self.clause_value} vs {self.statute_value} "
            f"(statute since {self.since}); favours {self.favours}"
            + (f"; applied: {self.applied_value}" if self.applied else "")
        )


# -- loading the declarations ------------------------------------------------------------------


def comparisons_path(root: Path | None) -> Path:
    return (root or PROJECT_ROOT) / COMPARISONS_FILE


def load_comparisons(catalog: Catalog, root: Path | None = None) -> tuple[Comparison, ...]:
    """The comparisons declared below ``root`` (the catalog's root by default), checked.

    No file means no comparisons. Faults (schema, unknown clauses or parameters, types that
    cannot be compared) raise :class:`CatalogInvalid`, each located at its line.
    """
    root = (root or catalog.root or PROJECT_ROOT).resolve()
    path = comparisons_path(root)
    if not path.exists():
        return ()
    data = read_checked(path, root, "conformance.schema.json")
    document = read_yaml(path.read_text(encoding="utf-8"), COMPARISONS_FILE)
    comparisons = tuple(Comparison(**entry) for entry in data)
    errors = [
        document.error(f"/{index}{pointer}", message)
        for index, comparison in enumerate(comparisons)
        for pointer, message in _problems(catalog, comparison)
    ]
    if errors:
        raise CatalogInvalid(errors)
    return comparisons


def _problems(catalog: Catalog, comparison: Comparison):
    """(pointer within the entry, message) for every fault of one declaration."""
    if comparison.mandatory and not (comparison.statute_wording and comparison.statute_source):
        yield (
            "/mandatory",
            "a mandatory comparison quotes the statute: give statute_wording and statute_source",
        )
    if (comparison.parameter is None) == (comparison.unstated is None):
        yield "", "name the clause's parameter, or what its silence amounts to in unstated"
    ranged = comparison.statute_minimum or comparison.statute_maximum
    if bool(comparison.statute_parameter) == bool(ranged) or (
        ranged and not (comparison.statute_minimum and comparison.statute_maximum)
    ):
        yield "", "give statute_parameter, or statute_minimum and statute_maximum"
        return
    clause = _file(catalog, comparison.clause)
    statute = _file(catalog, comparison.statute)
    if clause is None:
        yield "/clause", f"{comparison.clause} is not in the catalog"
    if statute is None:
        yield "/statute", f"{comparison.statute} is not in the catalog"
    elif statute.document not in STATUTES:
        yield "/statute", f"{comparison.statute} is not a statute (rules/law/)"
    if clause is None or statute is None:
        return
    specs = []
    for key in ("statute_parameter", "statute_minimum", "statute_maximum"):
        name = getattr(comparison, key)
        if name is None:
            continue
        if name not in statute.parameters:
            yield f"/{key}", f"{comparison.statute} declares no parameter {name!r}"
            return
        specs.append(statute.parameters[name])
    first = specs[0]
    for other in specs[1:]:
        if (other.type, other.unit) != (first.type, first.unit):
            yield "/statute_maximum", "the statute's minimum and maximum differ in type or unit"
            return
    if comparison.parameter is not None:
        if comparison.parameter not in clause.parameters:
            yield (
                "/parameter",
                f"{comparison.clause} declares no parameter {comparison.parameter!r}",
            )
            return
        own = clause.parameters[comparison.parameter]
        if (own.type, own.unit, own.elements) != (first.type, first.unit, first.elements):
            yield (
                "/parameter",
                f"{comparison.clause} {own.name} is {_kind(own)}, "
                f"{comparison.statute} {first.name} is {_kind(first)}: they cannot be compared",
            )
            return
    else:
        try:
            parse_value(first.type, comparison.unstated)
        except ValueTypeError as exc:
            yield "/unstated", f"unstated ({first.type}, as {first.name}): {exc}"
            return
    if ranged and first.type not in ORDERED:
        yield "/statute_minimum", f"a minimum and maximum need numbers or periods, not {first.type}"
    better = comparison.better_for_customer
    allowed = ("increase", "decrease") if first.type in ORDERED else ("addition", "removal")
    if better not in (None, "neither", *allowed):
        yield "/better_for_customer", f"a {first.type} changes by {' or '.join(allowed)}"


def _kind(spec: ParameterSpec) -> str:
    extra = spec.unit or spec.elements
    return f"a {spec.type}" + (f" ({extra})" if extra else "")


def _file(catalog: Catalog, citation: str) -> TermsFile | None:
    try:
        return catalog.file(citation)
    except NotInForce:
        return None


# -- comparing ---------------------------------------------------------------------------------


def check(terms: Terms, comparisons: tuple[Comparison, ...]) -> list[ConformanceWarning]:
    """Every difference between a clause and its statute under ``terms``, in declared order.

    A comparison whose clause or statute has no version in force under ``terms`` is skipped:
    a statute that did not exist yet demands nothing.
    """
    warnings = []
    for comparison in comparisons:
        try:
            clause = terms.clause(comparison.clause)
            statute = terms.clause(comparison.statute)
        except NotInForce:
            continue
        warning = _compare(terms, comparison, clause, statute)
        if warning is not None:
            warnings.append(warning)
    return warnings


def conformance_warnings(catalog: Catalog, day: date) -> list[ConformanceWarning]:
    """Load the declarations of ``catalog`` and check the terms in force on ``day``."""
    return check(catalog.at(day), load_comparisons(catalog))


def _compare(terms, comparison: Comparison, clause, statute) -> ConformanceWarning | None:
    spec = statute.file.parameters[comparison.statute_parameters[0]]
    if comparison.parameter is not None:
        own_spec = clause.file.parameters[comparison.parameter]
        value = clause[comparison.parameter]
        shown = _format(own_spec, value)
    else:
        own_spec = spec
        value = parse_value(spec.type, comparison.unstated)
        shown = f"{_format(spec, value)} (not stated)"
    better = comparison.better_for_customer or _default_better(own_spec.disadvantage)
    if comparison.statute_parameter:
        required = statute[comparison.statute_parameter]
        statute_shown = _format(spec, required)
        direction = _direction(spec.type, value, required)
        if direction is None:
            return None
        favours = _favours(direction, better)
        conforms = favours != "provider"
        verdict = VERDICTS[favours]
    else:
        minimum = statute[comparison.statute_minimum]
        maximum = statute[comparison.statute_maximum]
        statute_shown = f"at least {_format(spec, minimum)}, at most {_format(spec, maximum)}"
        low = _direction(spec.type, value, minimum)
        high = _direction(spec.type, value, maximum)
        if low is None:  # exactly the statutory minimum
            return None
        direction = "undetermined" if "undetermined" in (low, high) else low
        if low == "decrease":
            favours, conforms = _favours(low, better), False
            verdict = "The statutory minimum is not met: the statute prevails over the clause."
        elif high == "increase":
            favours, conforms = _favours(high, better), False
            verdict = "The statutory maximum is exceeded: the statute prevails over the clause."
        else:
            favours, conforms = _favours(low, better), True
            verdict = "The minimum is met and the maximum is not exceeded: lawful" + (
                ", and in the customer's favour." if favours == "customer" else "."
            )
    if direction == "undetermined":
        favours, conforms = "neither", False
        verdict = "Which is longer depends on the dates (a month has 28 to 31 days): check by hand."
    subject = comparison.clause
    if comparison.parameter:
        subject += f" ({comparison.parameter}) says"
    else:
        subject += " is silent:"
    since = _since(statute.file, comparison.statute_parameters, terms.effective_from)
    message = (
        f"{subject} {shown}; {comparison.statute_citation} says {statute_shown} "
        f"(since {since.isoformat()}). {verdict}"
    )
    # A mandatory statute wins where the clause is worse for the customer (TKG § 71 (1)).
    applied = comparison.mandatory and favours == "provider"
    applied_value = statute_shown if applied else shown
    if applied and not comparison.statute_parameter:
        applied_value = _format(spec, minimum if low == "decrease" else maximum)
    message += _mandatory_note(comparison, applied, applied_value)
    return ConformanceWarning(
        clause=comparison.clause,
        parameter=comparison.parameter,
        statute=comparison.statute_citation,
        statute_parameter=", ".join(comparison.statute_parameters),
        clause_value=shown,
        statute_value=statute_shown,
        since=since.isoformat(),
        favours=favours,
        conforms=conforms,
        message=message,
        explanation=comparison.explanation,
        terms_version=terms.version,
        mandatory=comparison.mandatory,
        applied=applied,
        applied_value=applied_value,
        statute_wording=comparison.statute_wording,
        statute_source=comparison.statute_source,
    )


def _mandatory_note(comparison: Comparison, applied: bool, value: str) -> str:
    if not comparison.mandatory:
        return ""
    if applied:
        return f" Mandatory: the engine applies {value} ({comparison.statute_citation})."
    return (
        " Mandatory, but the clause is not worse for the customer: the engine applies "
        f"{value} ({comparison.clause})."
    )


def _default_better(disadvantage: str) -> str:
    """The change to the customer's advantage: the opposite of the declared disadvantage."""
    return OPPOSITE.get(disadvantage, "neither")


def _favours(direction: str, better: str) -> str:
    if better == "neither" or direction in ("change", "undetermined"):
        return "neither"
    return "customer" if direction == better else "provider"


def _direction(type_: str, value: Any, required: Any) -> str | None:
    """How the clause's value differs from the statute's: None when it does not.

    increase/decrease for numbers and periods, addition/removal for sets and booleans (true
    counts as present), change otherwise; undetermined for periods whose order depends on the
    date (one month against 30 days).
    """
    if type_ == "period":
        order = _period_order(value, required)
        return {0: None, 1: "increase", -1: "decrease", None: "undetermined"}[order]
    if type_ in ORDERED:
        value, required = Decimal(value), Decimal(required)
        if value == required:
            return None
        return "increase" if value > required else "decrease"
    if type_ == "boolean":
        if value == required:
            return None
        return "addition" if value else "removal"
    if type_ == "set":
        mine, theirs = set(value), set(required)
        if mine == theirs:
            return None
        if mine > theirs:
            return "addition"
        return "removal" if mine < theirs else "change"
    return None if value == required else "change"


def _period_order(first: Period, second: Period) -> int | None:
    """-1, 0 or 1 if ``first`` is shorter, as long or longer for every start date, else None."""
    first, second = _in_months(first), _in_months(second)
    if first == second:
        return 0
    low, high = _day_bounds(first)
    other_low, other_high = _day_bounds(second)
    if high < other_low:
        return -1
    if low > other_high:
        return 1
    if low == high == other_low == other_high:
        return 0
    return None


def _in_months(period: Period) -> Period:
    return Period(period.count * 12, "months") if period.unit == "years" else period


@cache
def _day_bounds(period: Period) -> tuple[int, int]:
    """The fewest and most calendar days ``period`` can span (months by BGB § 188 (2), (3))."""
    count = period.count
    if period.unit == "days":
        return count, count
    if period.unit == "weeks":
        return 7 * count, 7 * count
    if period.unit in ("months", "years"):
        months = count * (12 if period.unit == "years" else 1)
        spans = []
        for offset in range(4 * 366):  # every start date of a leap cycle
            start = date(2024, 1, 1) + timedelta(days=offset)
            spans.append((_add_months(start, months) - start).days)
        return min(spans), max(spans)
    # working and business days: at least one calendar day each; weekends and holidays add some
    return count, count * 7 // 5 + 14


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))


def _since(statute: TermsFile, names: tuple[str, ...], day: date) -> date:
    """The first day of the unbroken run of versions up to ``day`` with the same values."""
    versions = [v for v in statute.versions if v.effective_from <= day]
    current = versions[-1]
    since = current.effective_from
    for version in reversed(versions[:-1]):
        if any(version.values[n].value != current.values[n].value for n in names):
            break
        since = version.effective_from
    return since


# -- applying mandatory statutes (TKG § 71 (1)) ----------------------------------------------


@dataclass(frozen=True)
class Applied:
    """The value the engine applies for a clause's parameter, and why, citing both sides."""

    clause: str  # "AGB 8.2"
    parameter: str
    value: Any  # a date (deadlines) or a tuple (sets)
    source: str  # "clause" or "statute"
    statute: str | None = None  # "TKG § 57 (1)" where a mandatory statute was compared
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        shown = self.value.isoformat() if isinstance(self.value, date) else self.value
        return {**asdict(self), "value": shown}


_MANDATORY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def mandatory_comparisons(catalog: Catalog) -> tuple[Comparison, ...]:
    """The ``mandatory`` comparisons of the catalog's rules/conformance.yaml, read once."""
    found = _MANDATORY.get(catalog)
    if found is None:
        found = tuple(c for c in load_comparisons(catalog) if c.mandatory)
        _MANDATORY[catalog] = found
    return found


def _mandatory_for(terms: Terms, citation: str, parameter: str):
    """(comparison, statute in force) for each mandatory statute ``citation`` is measured by."""
    for comparison in mandatory_comparisons(terms.catalog):
        if comparison.clause != citation or comparison.parameter != parameter:
            continue
        try:
            yield comparison, terms.clause(comparison.statute)
        except NotInForce:
            continue  # a statute not yet in force demands nothing


def applied_deadline(terms: Terms, citation: str, parameter: str, start: date) -> Applied:
    """The last day of ``citation`` ``parameter`` from ``start``, or of the mandatory statute's
    period where that is more favourable to the customer (BGB §§ 187, 188, 193 as each
    parameter declares; e.g. AGB 8.2's four weeks against TKG § 57 (1)'s three months)."""
    clause = terms.clause(citation)
    day = clause.deadline(parameter, start, terms.calendar)
    applied = Applied(citation, parameter, day, "clause", why=f"{citation} {clause[parameter]}")
    better = _default_better(clause.spec(parameter).disadvantage)
    for comparison, statute in _mandatory_for(terms, citation, parameter):
        name = comparison.statute_parameter or comparison.statute_minimum
        other = statute.deadline(name, start, terms.calendar)
        wins = other > applied.value if better == "increase" else other < applied.value
        if wins:
            applied = Applied(
                citation,
                parameter,
                other,
                "statute",
                comparison.statute_citation,
                f"{comparison.statute_citation} {statute[name]} instead of {citation} "
                f"{clause[parameter]}: more favourable to the customer, and the statute is "
                "mandatory",
            )
        else:
            applied = dataclasses.replace(applied, statute=comparison.statute_citation)
    return applied


def applied_set(terms: Terms, citation: str, parameter: str) -> Applied:
    """A set parameter of ``citation`` widened by a mandatory statute (e.g. whom AGB 8.2's
    termination right protects, widened to every end user by TKG § 57 (1))."""
    clause = terms.clause(citation)
    value = tuple(clause[parameter])
    applied = Applied(citation, parameter, value, "clause", why=f"{citation}: {', '.join(value)}")
    for comparison, statute in _mandatory_for(terms, citation, parameter):
        theirs = tuple(statute[comparison.statute_parameter])
        extra = tuple(item for item in theirs if item not in applied.value)
        if extra:
            applied = Applied(
                citation,
                parameter,
                applied.value + extra,
                "statute",
                comparison.statute_citation,
                f"{comparison.statute_citation} adds {', '.join(extra)} to {citation}: the "
                "statute is mandatory",
            )
        else:
            applied = dataclasses.replace(applied, statute=comparison.statute_citation)
    return applied


# -- formatting --------------------------------------------------------------------------------

UNITS = {
    "percentage_points": "percentage points",
    "percent_per_year": "% per year",
}


def _format(spec: ParameterSpec, value: Any) -> str:
    """A value as legal reads it: ``8.00 percentage points``, ``6 weeks``, ``yes``."""
    if spec.type == "percent":
        return f"{value} {UNITS.get(spec.unit or '', '%')}"
    if spec.type == "money":
        return f"{value} EUR"
    if spec.type == "rate":
        return f"{value} EUR/min"
    if spec.type == "boolean":
        return "yes" if value else "no"
    if spec.type == "set":
        return ", ".join(value) if value else "none"
    if spec.type == "integer" and spec.unit:
        return f"{value} {spec.unit.replace('_', ' ')}"
    return str(value)
