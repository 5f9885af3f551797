"""Plain data types of the terms catalog: parameter declarations, dated versions, files."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from engine.catalog.conditions import RuleSpec
from engine.catalog.errors import NotInForce

CITATION_FORMATS = {
    "agb": "AGB {section}",
    "clinq-sd": "CLINQ SD {section}",
    "bgb": "BGB § {section}",
    "tkg": "TKG § {section}",
    "ustg": "UStG § {section}",
    "platform": "Platform: {section}",
    "price-list": "Price list: {section}",
}


def citation_of(document: str, section: str) -> str:
    """How effects cite a clause, e.g. ``citation_of("agb", "4.2.3") == "AGB 4.2.3"``."""
    return CITATION_FORMATS[document].format(section=section)


@dataclass(frozen=True)
class ParameterSpec:
    """The declaration of a parameter: type, unit, and the direction that hurts the customer."""

    name: str
    type: str
    description: str
    disadvantage: str
    label_de: str = ""  # German label for customers' notices (required by the schema)
    unit: str | None = None
    clause: str | None = None
    deadline_rule: str | None = None
    shift: str | None = None
    elements: str | None = None


@dataclass(frozen=True)
class ParameterValue:
    """A value in one version, with where it comes from (contract, statute, sample, decision)."""

    value: Any
    source: str
    note: str | None = None


@dataclass(frozen=True)
class Version:
    """The values of all of a file's parameters from ``effective_from`` until the next version."""

    effective_from: date
    values: Mapping[str, ParameterValue]
    note: str | None = None
    rules: tuple[RuleSpec, ...] = ()
    # Where the version comes from: "file", or "publication 3 by legal@example.com" (a version
    # published in the admin UI); not part of its content.
    origin: str = field(default="file", compare=False)
    examples: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class TermsFile:
    """One catalog file: a clause, statute, platform decision, plan, rate table or zone table.

    ``identity`` is the file path without ``.yaml`` (``rules/agb/4.2.3-returned-direct-debit``);
    ``citation`` is how effects cite it (``AGB 4.2.3``).
    """

    identity: str
    kind: str
    path: str
    citation: str
    title: str
    document: str
    section: str
    summary: str | None
    overrides: tuple[str, ...]
    see_also: tuple[str, ...]
    parameters: Mapping[str, ParameterSpec]
    versions: tuple[Version, ...]
    located: bool = field(default=True, compare=False, repr=False)
    examples: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def name(self) -> str:
        """The last path component: the plan id (``clinq``) or rate table name."""
        return self.identity.rsplit("/", 1)[-1]

    def version_at(self, day: date) -> Version:
        """The version in force on ``day``; :class:`NotInForce` before the first one."""
        starts = [v.effective_from for v in self.versions]
        index = bisect.bisect_right(starts, day) - 1
        if index < 0:
            raise NotInForce(
                f"{self.citation} ({self.path}) has no version in force on {day.isoformat()}: "
                f"its first version starts {starts[0].isoformat()}"
            )
        return self.versions[index]

    def value_at(self, name: str, day: date) -> Any:
        """The value of parameter ``name`` in force on ``day``."""
        return self.version_at(day).values[self._declared(name)].value

    def _declared(self, name: str) -> str:
        if name not in self.parameters:
            raise NotInForce(f"{self.citation} ({self.path}) declares no parameter {name!r}")
        return name
