"""How the itemised bill shows a destination number (AGB 5.5, CLINQ SD 2.5)."""

from __future__ import annotations

from engine.catalog import Terms


def evn_option(evn: dict, terms: Terms) -> str:
    """The customer's choice: full (the default), shortened, or deactivated (AGB 5.5)."""
    clause = terms.clause("AGB 5.5")
    if evn.get("enabled") is False:
        return "deactivated"
    if evn.get("shorten"):
        return "shortened"
    return clause["default_option"]


def displayed_number(number: str, option: str, terms: Terms) -> str | None:
    """The number as the itemised bill lists it; None when the bill is deactivated."""
    clause = terms.clause("AGB 5.5")
    if option not in clause["options"]:
        raise ValueError(
            f"{option!r} is not an itemised bill option ({', '.join(clause['options'])})"
        )
    if option == "deactivated":
        return None
    if option == "shortened":
        digits = clause["shortened_digits"]
        return number[:-digits] + "x" * digits
    return number
