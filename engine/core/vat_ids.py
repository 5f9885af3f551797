"""VAT identification numbers (USt-IdNr., § 27a UStG) checked in form with python-stdnum.

Form only: the country prefix, the length and the check digits of each member state's scheme
(``stdnum.eu.vat``). Whether the number is registered (the BZSt's confirmation service, VIES)
is not checked.
"""

from __future__ import annotations

from stdnum.eu import vat

# VAT id prefixes that differ from the ISO 3166 country code (Greece: EL).
PREFIX_COUNTRIES = {"EL": "GR"}


def vat_id_problem(value: str) -> str | None:
    """Why ``value`` is not a well-formed EU VAT id, or None when it is."""
    try:
        compact = vat.validate(value)
    except Exception as error:  # stdnum raises ValidationError subclasses; report any
        return (
            f"{value!r} is not a valid VAT identification number "
            f"({getattr(error, 'message', None) or error})"
        )
    if compact != value:  # stored as given: invoices and the EU sales list print it
        return f"{value!r}: write the VAT identification number as {compact!r}"
    return None


def vat_id_country(value: str) -> str:
    """The ISO 3166 country of a VAT id's member state (``EL...`` is Greece, GR)."""
    prefix = value[:2].upper()
    return PREFIX_COUNTRIES.get(prefix, prefix)
