"""German formats for everything customers read: amounts, rates, percentages, dates, periods.

Letters and notices (and PDFs) format values here, with Babel's German locale data (CLDR), so
that a customer reads ``9,80 €``, ``4. Januar 2027``, ``5 Prozentpunkte`` and ``4 Wochen``,
never ``9.80 EUR`` or ``2027-01-04``. Babel puts a no-break space between an amount and its
sign; plain-text e-mails get an ordinary space (:func:`plain`).

Identifiers in set and text values (channels, customer types, zones, payment methods,
weekdays, countries) are named in German where this module knows them; anything else is shown
as written.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from babel.units import format_unit

from engine.core.deadlines import Period

LOCALE = "de_DE"

TOKENS = {
    # channels (AGB 1.2.2, 4.5.1, 8.6, 9.1)
    "email": "E-Mail",
    "letter": "Brief",
    "fax": "Fax",
    # customer types (AGB 8.2, 8.6, 9.1)
    "consumer": "Verbraucher",
    "business": "Unternehmer",
    # billing and payment methods (AGB 4.1, 4.2.1)
    "prepay": "Prepay",
    "autoprepay": "Autoprepay",
    "postpay": "Postpay",
    "bank_transfer": "Überweisung",
    "direct_debit": "Lastschrift",
    "credit_card": "Kreditkarte",
    # grounds of a price increase (AGB 8.1)
    "vat_change": "Änderung des Umsatzsteuersatzes",
    "regulator_order": "Anordnung einer Regulierungsbehörde",
    "supplier_price_increase": "Preiserhöhung eines Vorleistungsanbieters",
    # itemised bill (AGB 5.5)
    "full": "vollständig",
    "shortened": "gekürzt",
    "deactivated": "abgeschaltet",
    # plans (CLINQ SD 2.1, 2.2)
    "clinq": "CLINQ",
    "clinq-premium": "CLINQ Premium",
    # destination zones (price list)
    "de_landline": "Festnetz Deutschland",
    "de_mobile": "Mobilfunk Deutschland",
    "de_freephone": "Servicerufnummern 0800",
    "de_premium_rate": "Servicerufnummern 0900",
    "de_directory": "Auskunftsdienste",
    "emergency": "Notrufe",
    "eu_landline": "Festnetz EU",
    "eu_mobile": "Mobilfunk EU",
    "world": "Ausland (außerhalb der EU)",
    # text values
    "connection_start": "Beginn der Verbindung",
    "invoice_receipt": "Zugang der Rechnung",
    "order_confirmation_received": "Zugang der Auftragsbestätigung",
    "half_up": "kaufmännisch (ab der Hälfte aufrunden)",
    "half_even": "zur nächsten geraden Zahl",
    "down": "abrunden",
    "daily": "tagesgenau",
    "none": "niemand",
    "all": "alle",
    "above_turnover_threshold": "Unternehmer oberhalb der Umsatzgrenze",
    # weekdays (Platform: calendar)
    "mon": "Montag",
    "tue": "Dienstag",
    "wed": "Mittwoch",
    "thu": "Donnerstag",
    "fri": "Freitag",
    "sat": "Samstag",
    "sun": "Sonntag",
}

# What an invoice line of each item kind is called (AGB 4.3.1; calls by zone, below).
ITEM_NAMES = {
    "outstanding": "Offener Betrag Ihres Guthabenkontos (CLINQ SD 1.3)",
    "base_fee": "Grundgebühr",
    "additional_user_fee": "Weitere Nutzer",
    "handling_fee": "Bearbeitungsgebühr (Zahlungsaufforderung)",
    "returned_debit_fee": "Rücklastschriftgebühr",
    "default_interest": "Verzugszinsen",
}
# What a credit note's line of each kind is called (UStG § 14 (4); Platform: credit-notes).
CREDIT_NOTE_LINES = {
    "objection_credit": "Gutschrift aus begründetem Einwand",
    "credit_refund": "Erstattung von Guthaben",
}
# DATEV's Buchungstext of each item kind, with its clause (the tax adviser reads it).
BOOKING_TEXTS = {
    "base_fee": "Grundgebühr",
    "additional_user_fee": "Zusätzliche Nutzer",
    "call": "Verbindungen",
    "handling_fee": "Bearbeitungsgebühr AGB 4.1.4",
    "returned_debit_fee": "Rücklastschriftgebühr AGB 4.2.3",
    "default_interest": "Verzugszinsen AGB 4.4.4",
    "refund_fee": "Erstattungsgebühr AGB 1.4.1",
    "objection_credit": "Gutschrift nach Einwendung AGB 4.5.4",
}

# CLDR has no unit for Werktage (Monday to Saturday) and Geschäftstage (Monday to Friday)
_DAY_KINDS = {
    "working_days": ("Werktag", "Werktage"),
    "business_days": ("Geschäftstag", "Geschäftstage"),
}
_CLDR_UNITS = {
    "days": "duration-day",
    "weeks": "duration-week",
    "months": "duration-month",
    "years": "duration-year",
}
_COUNTED = {
    "users": ("Nutzer", "Nutzer"),
    "numbers": ("Rufnummer", "Rufnummern"),
}


def plain(text: str) -> str:
    """Babel's no-break spaces as ordinary spaces, for plain-text e-mails."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


def euro(amount: Decimal | str) -> str:
    """An amount in euros: ``Decimal("1234.5")`` -> ``1.234,50 €``."""
    return plain(format_currency(Decimal(amount), "EUR", locale=LOCALE))


def rate(amount: Decimal | str) -> str:
    """A price per minute with two to four decimals: ``0,0179 € pro Minute``."""
    return plain(f"{format_decimal(Decimal(amount), '#,##0.00##', locale=LOCALE)} € pro Minute")


def number(value: Decimal | int | str) -> str:
    """A number as Germans write it, no needless zeros: ``5.00`` -> ``5``, ``1.27`` -> ``1,27``."""
    return plain(format_decimal(Decimal(value).normalize(), locale=LOCALE))


def percent(value: Decimal | str, unit: str | None = None) -> str:
    """``5 Prozentpunkte`` (margins over the base rate), ``1,27 % pro Jahr``, ``19 %``."""
    if unit == "percentage_points":
        return f"{number(value)} {'Prozentpunkt' if Decimal(value) == 1 else 'Prozentpunkte'}"
    shown = f"{number(value)} %"
    return f"{shown} pro Jahr" if unit == "percent_per_year" else shown


def long_date(day: date) -> str:
    """``4. Januar 2027``."""
    return format_date(day, format="long", locale=LOCALE)


def period(value: Period) -> str:
    """A period with its unit: ``4 Wochen``, ``30 Tage``, ``1 Monat``, ``6 Werktage``."""
    if value.unit in _DAY_KINDS:
        one, many = _DAY_KINDS[value.unit]
        return f"{value.count} {one if value.count == 1 else many}"
    return plain(format_unit(value.count, _CLDR_UNITS[value.unit], length="long", locale=LOCALE))


def token(name: str) -> str:
    """An identifier in German where known, a country by its German name, else as written."""
    if name in TOKENS:
        return TOKENS[name]
    if len(name) == 2 and name.isupper():
        from babel import Locale

        return Locale.parse(LOCALE).territories.get(name, name)
    return name


def integer(value: int, unit: str | None = None) -> str:
    """A count with its unit: ``60 Minuten``, ``60 Sekunden``, ``3 Rufnummern``, ``der 20.``."""
    if unit == "minutes":
        return plain(format_unit(value, "duration-minute", length="long", locale=LOCALE))
    if unit == "seconds":
        return plain(format_unit(value, "duration-second", length="long", locale=LOCALE))
    if unit == "day_of_month":
        return f"der {value}. des Monats"
    if unit in _COUNTED:
        one, many = _COUNTED[unit]
        return f"{value} {one if value == 1 else many}"
    return number(value)


def value(type_: str, raw: Any, unit: str | None = None) -> str:
    """A parameter's value as a German customer reads it, by its declared type and unit."""
    if type_ == "money":
        return euro(raw)
    if type_ == "rate":
        return rate(raw)
    if type_ == "percent":
        return percent(raw, unit)
    if type_ == "integer":
        return integer(raw, unit)
    if type_ == "period":
        return period(raw)
    if type_ == "boolean":
        return "ja" if raw else "nein"
    if type_ == "set":
        return ", ".join(token(item) for item in raw) if raw else "keine"
    if type_ == "text":
        return token(raw)
    return str(raw)


# -- invoices and bank documents --------------------------------------------------------------


def euro_amount(amount: str) -> str:
    """An amount with the currency code, as invoices and bank documents print it:
    ``1.234,56 EUR`` (letters use :func:`euro`)."""
    whole, _, cents = amount.partition(".")
    negative = whole.startswith("-")
    digits = whole.lstrip("-")
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return f"{'-' if negative else ''}{'.'.join(groups) or '0'},{cents or '00'} EUR"


def numeric_date(iso: str) -> str:
    """``2026-12-01`` -> ``01.12.2026``."""
    return date.fromisoformat(iso).strftime("%d.%m.%Y")


def item_name(item: dict) -> str:
    if item["kind"] == "call":
        return f"Verbindungen {token(item['zone'])}"
    name = ITEM_NAMES.get(item["kind"], item["kind"])
    if item.get("period_start"):  # a part month after a plan change (Platform: plan-changes)
        plan = token(item["plan"])
        return f"{plan} {name} {day_span(item['period_start'], item['period_end'])}"
    return name


def day_span(start: str, end: str) -> str:
    """11.–30.11.2026 within a month, else both dates in full."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day:02d}.–{numeric_date(end)}"
    return f"{numeric_date(start)}–{numeric_date(end)}"
