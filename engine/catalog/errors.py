"""Errors of the terms catalog: each one names file, line, column and JSON pointer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class CatalogError:
    """One fault in one catalog file, located as ``path:line:column`` and by JSON pointer."""

    path: str
    line: int
    column: int
    message: str
    pointer: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message} (at {self.pointer or '/'})"


class CatalogInvalid(Exception):
    """The catalog has errors; all of them are in :attr:`errors`, sorted by file and line."""

    def __init__(self, errors: list[CatalogError]):
        self.errors = sorted(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class NotInForce(LookupError):
    """No version of a clause or parameter is in force at the date asked for.

    A missing value is an error, never a silent zero. ``citation`` names what is missing.
    """

    def __init__(self, message: str, citation: str | None = None):
        super().__init__(message)
        self.citation = citation
