"""Text every document can carry: what XML 1.0 cannot hold and a font cannot draw, as spaces.

The event schema refuses control characters in its text fields, but data stored before it did
(a customer's name, a mandate's debtor name with a vertical tab) is still on file, and one such
character made lxml refuse an e-invoice and the day's whole pain.008 file. So every writer of
XML (the SEPA export, the CII and UBL e-invoices) and of PDF (invoices, credit notes, itemised
bills) passes what it writes through :func:`printable_data` first: each character XML 1.0
cannot carry (the C0 controls, surrogates, U+FFFE, U+FFFF) and every other control character
(tab and line breaks too, DEL, the C1 controls U+0080-U+009F) becomes a space, and a PDF adds
the characters its embedded fonts have no glyph for (:func:`unprintable_except`). Text without
such characters, which is all the platform writes today, is returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# C0 controls, DEL, C1 controls, the surrogates, and the noncharacters XML 1.0 excludes.
_CONTROLS_AND_NON_XML = "\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
UNPRINTABLE = re.compile(f"[{_CONTROLS_AND_NON_XML}]")


def printable(text: str, unprintable: re.Pattern[str] = UNPRINTABLE) -> str:
    """``text`` on one line as XML 1.0 carries it: each character ``unprintable`` matches (by
    default every control character and what XML 1.0 excludes) becomes a space."""
    return unprintable.sub(" ", text)


def printable_data(value: Any, unprintable: re.Pattern[str] = UNPRINTABLE) -> Any:
    """A copy of ``value`` (JSON-like: dicts, lists, tuples) with every string, keys aside,
    made :func:`printable`; everything else as it is."""
    if isinstance(value, str):
        return unprintable.sub(" ", value)
    if isinstance(value, dict):
        return {key: printable_data(item, unprintable) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(printable_data(item, unprintable) for item in value)
    return value


def unprintable_except(code_points: Iterable[int]) -> re.Pattern[str]:
    """What :data:`UNPRINTABLE` matches, and every character not among ``code_points`` (the
    characters a font has glyphs for): the pattern for text a PDF prints in that font."""
    drawable = sorted(
        c for c in set(code_points) if c <= 0x10FFFF and not UNPRINTABLE.match(chr(c))
    )
    ranges: list[tuple[int, int]] = []
    for point in drawable:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    kept = "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )
    return re.compile(f"[^{kept}]" if kept else "[\\s\\S]")
