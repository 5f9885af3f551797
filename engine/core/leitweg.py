"""The Leitweg-ID: the routing id of a public-sector buyer, sent as buyer reference (BT-10).

Format of KoSIT's "Formatspezifikation Leitweg-ID" 2.0.2: Grobadressierung (2 to 12 digits,
starting with the code of a German state, 01 to 16, or 99 for the federal level), an optional
Feinadressierung (up to 30 upper-case letters and digits) and two check digits (ISO 7064
MOD 97-10 over the id without hyphens, letters counted as 10 to 35), joined by hyphens:
``04011000-1234512345-06``. Checked with python-stdnum's ``stdnum.de.leitweg``.
"""

from __future__ import annotations

from stdnum.de import leitweg
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError


def leitweg_id_error(value: object) -> str | None:
    """Why ``value`` is not a Leitweg-ID, in words; None when it is one."""
    if not isinstance(value, str) or value != value.strip().upper():
        return f"{value!r} is not a Leitweg-ID: upper-case letters, digits and hyphens only"
    try:
        leitweg.validate(value)
    except InvalidChecksum:
        return f"{value!r} is not a Leitweg-ID: the check digits (MOD 97-10) do not match"
    except InvalidComponent:
        return (
            f"{value!r} is not a Leitweg-ID: it must start with the code of a German state "
            "(01 to 16) or 99 for the federal level"
        )
    except ValidationError:
        return (
            f"{value!r} is not a Leitweg-ID: Grobadressierung (2 to 12 digits), optional "
            "Feinadressierung (up to 30 letters or digits) and two check digits, joined by "
            "hyphens"
        )
    return None
