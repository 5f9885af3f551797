"""Finding a catalog file by clause number, title or parameter (the catalog page's search).

A query matches a file when every one of its words occurs (case-insensitively) in the file's
citation, section number, title, path or summary, or in one parameter's name, German label or
description; the parameters that matched are listed with the value in force on the day asked.
Plain substring matching: no pattern language, so no input can be slow or an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from admin_ui.display import with_unit
from engine.catalog.errors import NotInForce
from engine.catalog.model import TermsFile

MAX_QUERY = 200

# The catalog page's groups: (title, kinds, documents); None: any document.
GROUPS: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    ("Plans and tariffs", ("plan", "rates", "zones"), None),
    ("AGB", ("clause",), ("agb",)),
    ("CLINQ service description", ("clause",), ("clinq-sd",)),
    ("Statutes", ("clause",), ("bgb", "tkg", "ustg")),
    ("Platform decisions", ("clause",), ("platform",)),
)


@dataclass(frozen=True)
class FoundParameter:
    name: str
    label_de: str
    description: str
    value: str  # in force on the day asked, with its unit; "" before the first version


@dataclass(frozen=True)
class Found:
    file: TermsFile
    parameters: tuple[FoundParameter, ...]  # those the query matched (none: the file matched)


def words(query: str) -> list[str]:
    """The query's words, case-folded; quotes and control characters are not special."""
    return [word.casefold() for word in query[:MAX_QUERY].split() if word.isprintable()]


def _file_text(file: TermsFile) -> str:
    return " ".join(
        (file.citation, file.section, file.title, file.path, file.summary or "")
    ).casefold()


def _value(file: TermsFile, name: str, day: date) -> str:
    try:
        version = file.version_at(day)
    except NotInForce:
        return ""
    shown = version.values.get(name)
    return with_unit(file.parameters.get(name), shown.value) if shown else ""


def _parameter_matches(wanted: list[str], own: str, text: str) -> bool:
    """Every word is in the parameter or its file, and at least one in the parameter."""
    return (
        bool(wanted)
        and all(word in own or word in text for word in wanted)
        and any(word in own for word in wanted)
    )


def search(files: Iterable[TermsFile], query: str, day: date) -> list[Found]:
    """The files the query finds, in catalog order; all files (no parameters) for no query."""
    wanted = words(query)
    found = []
    for file in files:
        text = _file_text(file)
        matched = []
        for name, spec in file.parameters.items():
            own = f"{name} {spec.label_de} {spec.description}".casefold()
            if _parameter_matches(wanted, own, text):
                value = _value(file, name, day)
                matched.append(FoundParameter(name, spec.label_de, spec.description, value))
        if not wanted or all(word in text for word in wanted) or matched:
            found.append(Found(file, tuple(matched)))
    return found


def grouped(found: Sequence[Found], group: str = "") -> list[tuple[str, list[Found]]]:
    """The found files under the catalog's group titles; only ``group`` if one is named."""
    result = []
    for title, kinds, documents in GROUPS:
        if group and group != title:
            continue
        members = [
            f
            for f in found
            if f.file.kind in kinds and (documents is None or f.file.document in documents)
        ]
        result.append((title, members))
    return result
