"""The catalog, and the terms in force at an instant.

``catalog.at(instant)`` answers "which terms applied then?". The answer, :class:`Terms`, is one
*terms version*: the catalog as it stood from the latest ``effective_from`` on or before that
day until the next. Its ``version`` (that date, ISO) is what every effect cites.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from engine.catalog.errors import NotInForce
from engine.catalog.model import ParameterSpec, TermsFile, Version
from engine.core.calendar import Calendar, to_local_date
from engine.core.deadlines import Period, deadline
from engine.core.money import MoneyRule


@dataclass(frozen=True)
class InForce:
    """One file's version in force within a terms version."""

    file: TermsFile
    version: Version
    terms_version: str

    @property
    def citation(self) -> str:
        return self.file.citation

    @property
    def effective_from(self) -> date:
        return self.version.effective_from

    def __getitem__(self, name: str) -> Any:
        try:
            return self.version.values[name].value
        except KeyError:
            raise NotInForce(
                f"{self.citation} has no parameter {name!r} "
                f"(declared: {', '.join(self.file.parameters)})"
            ) from None

    def spec(self, name: str) -> ParameterSpec:
        self[name]
        return self.file.parameters[name]

    def source(self, name: str) -> str:
        """Where the value comes from: contract, statute, sample or decision."""
        self[name]
        return self.version.values[name].source

    def clause_of(self, name: str) -> str:
        """The clause a parameter's effects cite: its own ``clause`` or the file's citation."""
        return self.spec(name).clause or self.citation

    def deadline(self, name: str, event_day: date, calendar: Calendar) -> date:
        """The last day of the period parameter ``name`` for an event on ``event_day``."""
        spec = self.spec(name)
        period = self[name]
        if not isinstance(period, Period):
            raise TypeError(f"{self.citation} {name} is a {spec.type}, not a period")
        return deadline(event_day, period, spec.deadline_rule, spec.shift, calendar)


@dataclass(frozen=True)
class ZoneTable:
    """Destination zones: longest E.164 prefix wins, short numbers match exactly."""

    prefixes: Mapping[str, str]
    short_numbers: Mapping[str, str]
    longest: int

    @classmethod
    def from_in_force(cls, zones: InForce) -> ZoneTable:
        prefixes: dict[str, str] = {}
        short_numbers: dict[str, str] = {}
        for zone, parameter_value in zones.version.values.items():
            for prefix in parameter_value.value:
                (prefixes if prefix.startswith("+") else short_numbers)[prefix] = zone
        return cls(prefixes, short_numbers, max(map(len, prefixes), default=0))

    def zone_of(self, number: str) -> str | None:
        """The zone of a called number (``+4921112345678`` or ``112``), or None if unknown."""
        if not number.startswith("+"):
            return self.short_numbers.get(number)
        for length in range(min(self.longest, len(number)), 1, -1):
            zone = self.prefixes.get(number[:length])
            if zone is not None:
                return zone
        return None


@dataclass(frozen=True)
class Terms:
    """The catalog as it stood from ``effective_from`` until the next terms version."""

    catalog: Catalog
    effective_from: date
    _cache: dict[str, InForce] = field(default_factory=dict, compare=False, repr=False)

    @property
    def version(self) -> str:
        """The terms version every effect cites, e.g. ``"2026-01-01"``."""
        return self.effective_from.isoformat()

    def clause(self, citation: str) -> InForce:
        """The version of ``citation`` (``"AGB 4.2.3"``) in force; NotInForce if there is none."""
        cached = self._cache.get(citation)
        if cached is None:
            terms_file = self.catalog.file(citation)
            try:
                version = terms_file.version_at(self.effective_from)
            except NotInForce:
                first = terms_file.versions[0].effective_from.isoformat()
                raise NotInForce(
                    f"{citation} ({terms_file.path}) is not part of terms version "
                    f"{self.version}: its first version starts {first}",
                    citation,
                ) from None
            cached = InForce(terms_file, version, self.version)
            self._cache[citation] = cached
        return cached

    def plan(self, plan_id: str) -> InForce:
        return self.clause(self.catalog.plan_citation(plan_id))

    def rates(self, name: str) -> InForce:
        return self.clause(f"Price list: {name}")

    def in_force(self) -> list[InForce]:
        """Every file that has a version in force, in catalog order."""
        result = []
        for terms_file in self.catalog.files:
            try:
                result.append(self.clause(terms_file.citation))
            except NotInForce:
                continue
        return result

    @cached_property
    def zones(self) -> ZoneTable:
        return ZoneTable.from_in_force(self.clause("Price list: zones"))

    @cached_property
    def calendar(self) -> Calendar:
        values = self.clause("Platform: calendar")
        return Calendar.from_names(
            time_zone=values["time_zone"],
            holiday_country=values["holiday_country"],
            holiday_subdivision=values["holiday_subdivision"],
            business_days=values["business_days"],
            working_days=values["working_days"],
        )

    @cached_property
    def money(self) -> MoneyRule:
        values = self.clause("Platform: money")
        return MoneyRule(values["currency"], values["minor_unit"], values["rounding"])


_DOCUMENT_ORDER = ("agb", "clinq-sd", "price-list", "bgb", "tkg", "ustg", "platform")


def _reading_order(terms_file: TermsFile) -> tuple:
    """Documents in a fixed order, clauses by number (clause 2.11 before clause 12.4)."""
    section = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in terms_file.section.split(".")
    )
    return (_DOCUMENT_ORDER.index(terms_file.document), terms_file.kind, section, terms_file.path)


class Catalog:
    """All terms files, immutable once loaded; ask it for the terms in force at an instant."""

    def __init__(self, files: Iterable[TermsFile], root: Path | None = None):
        self.root = root
        self._files: tuple[TermsFile, ...] = tuple(sorted(files, key=_reading_order))
        self._by_citation = {f.citation: f for f in self._files}
        self._plans = {f.name: f.citation for f in self._files if f.kind == "plan"}
        self._editions: tuple[date, ...] = tuple(
            sorted({v.effective_from for f in self._files for v in f.versions})
        )
        self._terms: dict[date, Terms] = {}
        zones = {
            v.values["time_zone"].value
            for f in self._files
            if f.citation == "Platform: calendar"
            for v in f.versions
        }
        self._only_time_zone = zones.pop() if len(zones) == 1 else None

    @property
    def files(self) -> tuple[TermsFile, ...]:
        return self._files

    @property
    def editions(self) -> tuple[date, ...]:
        """The first day of each terms version, ascending."""
        return self._editions

    @property
    def plans(self) -> tuple[str, ...]:
        return tuple(self._plans)

    def file(self, citation: str) -> TermsFile:
        try:
            return self._by_citation[citation]
        except KeyError:
            raise NotInForce(f"{citation} is not in the catalog") from None

    def plan_citation(self, plan_id: str) -> str:
        try:
            return self._plans[plan_id]
        except KeyError:
            raise NotInForce(
                f"plan {plan_id!r} is not in the catalog (plans: {', '.join(self._plans)})"
            ) from None

    def local_date(self, instant: datetime | date) -> date:
        """The calendar date of an instant in the platform's time zone."""
        if isinstance(instant, datetime):
            time_zone = self._only_time_zone
            if time_zone is None:
                calendar_file = self.file("Platform: calendar")
                time_zone = calendar_file.value_at("time_zone", instant.astimezone(UTC).date())
            return to_local_date(instant, time_zone)
        return instant

    def at(self, instant: datetime | date) -> Terms:
        """The terms in force at ``instant`` (an aware datetime, or a date in Europe/Berlin)."""
        day = self.local_date(instant)
        index = bisect.bisect_right(self._editions, day) - 1
        if index < 0:
            raise NotInForce(
                f"no terms are in force on {day.isoformat()}; "
                f"the catalog starts {self._editions[0].isoformat()}"
            )
        edition = self._editions[index]
        terms = self._terms.get(edition)
        if terms is None:
            terms = self._terms.setdefault(edition, Terms(self, edition))
        return terms
