"""The month's bookings for the accountant: a DATEV "Buchungsstapel".

DATEV format (EXTF) version 700, data category 21 "Buchungsstapel", format version 13, as the
DATEV developer portal's "Formatbeschreibung Buchungsstapel" describes it: line 1 the header
(31 fields), line 2 the 125 column headings, then one line per booking; Windows-1252, ';'
between fields, text in '"', CRLF, amounts with a decimal comma and always positive (the side
is the S/H flag), the document date as DDMM (the year is the header's).

Which booking a document makes is the platform's decision (Platform: datev): every document
type maps to bookings through :func:`document_postings`; money that moves without a document
of its own (payments, top-ups, returned direct debits, refunds) through :func:`entry_postings`.
Charges (calls, fees, interest) reach the books through the invoice that lists them. Credit
notes plug in at :data:`DOCUMENT_POSTINGS` (kind ``credit_note``, :func:`credit_note_postings`).

No wall clock: the header's creation time is the caller's, by default the first instant after
the month, so the same month always gives the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from engine.catalog import Catalog, Terms
from engine.core.deadlines import last_day_of_month
from engine.core.money import from_cents, to_cents
from engine.core.state import CreditNote, Invoice
from engine.documents import german
from engine.ledger.credit_note_store import credit_notes_issued_between
from engine.ledger.store import Store, invoice_from_row
from engine.ledger.tables import events, invoices, ledger_entries

ENCODING = "cp1252"
SEPARATOR = ";"
LINE_END = "\r\n"

# Header (line 1), in the documented order: 31 fields.
HEADER_FIELDS = (
    "Kennzeichen",
    "Versionsnummer",
    "Formatkategorie",
    "Formatname",
    "Formatversion",
    "Erzeugt am",
    "Importiert",
    "Herkunft",
    "Exportiert von",
    "Importiert von",
    "Beraternummer",
    "Mandantennummer",
    "WJ-Beginn",
    "Sachkontenlänge",
    "Datum vom",
    "Datum bis",
    "Bezeichnung",
    "Diktatkürzel",
    "Buchungstyp",
    "Rechnungslegungszweck",
    "Festschreibung",
    "WKZ",
    "reserviert 23",
    "Derivatskennzeichen",
    "reserviert 25",
    "reserviert 26",
    "Sachkontenrahmen",
    "ID der Branchenlösung",
    "reserviert 29",
    "reserviert 30",
    "Anwendungsinformation",
)
# Header fields written as quoted text (1-based positions).
HEADER_TEXT = frozenset({1, 4, 8, 9, 10, 17, 18, 22, 24, 27, 31})

# Column headings (line 2) of format version 13: 125 columns, in DATEV's order.
COLUMNS = (
    "Umsatz (ohne Soll/Haben-Kz)",
    "Soll/Haben-Kennzeichen",
    "WKZ Umsatz",
    "Kurs",
    "Basis-Umsatz",
    "WKZ Basis-Umsatz",
    "Konto",
    "Gegenkonto (ohne BU-Schlüssel)",
    "BU-Schlüssel",
    "Belegdatum",
    "Belegfeld 1",
    "Belegfeld 2",
    "Skonto",
    "Buchungstext",
    "Postensperre",
    "Diverse Adressnummer",
    "Geschäftspartnerbank",
    "Sachverhalt",
    "Zinssperre",
    "Beleglink",
    *(f"Beleginfo - {part} {n}" for n in range(1, 9) for part in ("Art", "Inhalt")),
    "KOST1 - Kostenstelle",
    "KOST2 - Kostenstelle",
    "Kost-Menge",
    "EU-Land u. UStID (Bestimmung)",
    "EU-Steuersatz (Bestimmung)",
    "Abw. Versteuerungsart",
    "Sachverhalt L+L",
    "Funktionsergänzung L+L",
    "BU 49 Hauptfunktionstyp",
    "BU 49 Hauptfunktionsnummer",
    "BU 49 Funktionsergänzung",
    *(
        f"Zusatzinformation - Art {n}" if part == "Art" else f"Zusatzinformation- Inhalt {n}"
        for n in range(1, 21)
        for part in ("Art", "Inhalt")
    ),
    "Stück",
    "Gewicht",
    "Zahlweise",
    "Forderungsart",
    "Veranlagungsjahr",
    "Zugeordnete Fälligkeit",
    "Skontotyp",
    "Auftragsnummer",
    "Buchungstyp",
    "USt-Schlüssel (Anzahlungen)",
    "EU-Land (Anzahlungen)",
    "Sachverhalt L+L (Anzahlungen)",
    "EU-Steuersatz (Anzahlungen)",
    "Erlöskonto (Anzahlungen)",
    "Herkunft-Kz",
    "Buchungs GUID",
    "KOST-Datum",
    "SEPA-Mandatsreferenz",
    "Skontosperre",
    "Gesellschaftername",
    "Beteiligtennummer",
    "Identifikationsnummer",
    "Zeichnernummer",
    "Postensperre bis",
    "Bezeichnung SoBil-Sachverhalt",
    "Kennzeichen SoBil-Buchung",
    "Festschreibung",
    "Leistungsdatum",
    "Datum Zuord. Steuerperiode",
    "Fälligkeit",
    "Generalumkehr (GU)",
    "Steuersatz",
    "Land",
    "Abrechnungsreferenz",
    "BVV-Position",
    "EU-Land u. UStID (Ursprung)",
    "EU-Steuersatz (Ursprung)",
    "Abw. Skontokonto",
)
assert len(COLUMNS) == 125

# The columns a booking fills (0-based), and which of them are text.
UMSATZ, SOLL_HABEN, WKZ, KONTO, GEGENKONTO, BU, BELEGDATUM, BELEGFELD1, BUCHUNGSTEXT = (
    0,
    1,
    2,
    6,
    7,
    8,
    9,
    10,
    13,
)
EU_LAND = COLUMNS.index("EU-Land u. UStID (Bestimmung)")
EU_STEUERSATZ = COLUMNS.index("EU-Steuersatz (Bestimmung)")
TEXT_COLUMNS = frozenset({SOLL_HABEN, WKZ, BU, BELEGFELD1, BUCHUNGSTEXT})

# Ledger entries that move money without a document of their own: side on the debtor, text.
MONEY_MOVEMENTS = {
    "payment": ("H", "Zahlung"),
    "top_up": ("H", "Aufladung Guthaben"),
    "returned_debit": ("S", "Rücklastschrift"),
    "refund": ("S", "Erstattung Guthaben AGB 1.4.1"),
    "withdrawal_refund": ("S", "Erstattung Widerruf AGB 9.3"),
}

_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
_BELEGFELD = re.compile(r"[^A-Za-z0-9$&%*+\-/]")


class DatevRefused(ValueError):
    """The file cannot be written: ``field`` names the input or parameter at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Posting:
    """One booking line: ``amount_cents`` > 0 on ``account`` (side S or H), against ``contra``."""

    amount_cents: int
    side: str
    account: str
    contra: str
    day: date
    document: str
    text: str
    tax_key: str = ""
    eu_country: str = ""  # OSS (§ 18j UStG): the member state of consumption and its rate
    eu_rate: str = ""


@dataclass(frozen=True)
class Chart:
    """The accounts of the provider's chart (Platform: provider, Platform: datev)."""

    name: str  # SKR03 or SKR04
    accounts: dict[str, str]
    automatic_items: frozenset[str]
    automatic_key: str

    def revenue(self, item_kind: str) -> str:
        return self._account(item_kind)

    def vat(self, rate: Decimal) -> str:
        return self._account(f"vat_{rate:.2f}".replace(".", "_"))

    @property
    def clearing(self) -> str:
        return self._account("clearing")

    @property
    def vat_oss(self) -> str:
        """VAT owed in another member state, declared through the One-Stop-Shop."""
        return self._account("vat_oss")

    def key_for(self, item_kind: str) -> str:
        return self.automatic_key if item_kind in self.automatic_items else ""

    def _account(self, name: str) -> str:
        try:
            return self.accounts[name]
        except KeyError:
            raise DatevRefused(
                "Platform: datev", f"no {self.name} account for {name!r} in Platform: datev"
            ) from None


def chart_of(terms: Terms) -> Chart:
    """The chart in force: the provider's choice, the accounts of Platform: datev."""
    name = terms.clause("Platform: provider")["chart_of_accounts"]
    if name not in ("SKR03", "SKR04"):
        raise DatevRefused("chart_of_accounts", f"{name!r} is neither SKR03 nor SKR04")
    datev = terms.clause("Platform: datev")
    prefix = f"{name.lower()}_"
    found = {
        parameter.removeprefix(prefix): datev[parameter]
        for parameter in datev.file.parameters
        if parameter.startswith(prefix)
    }
    for account, number in found.items():
        if not re.fullmatch(r"[1-9][0-9]{0,8}", number):
            raise DatevRefused(f"{prefix}{account}", f"{number!r} is not an account number")
    return Chart(
        name,
        found,
        frozenset(datev["automatic_account_items"]),
        datev["automatic_revenue_key"],
    )


# -- documents ------------------------------------------------------------------------------


def document_postings(document: Invoice, debtor: str, chart: Chart) -> list[Posting]:
    """The bookings of one document, by its kind; an unknown kind is an error, never skipped."""
    try:
        postings_of = DOCUMENT_POSTINGS[document.kind]
    except KeyError:
        raise DatevRefused(
            "kind",
            f"document {document.number} is of kind {document.kind!r}, which has no bookings",
        ) from None
    return postings_of(document, debtor, chart)


def invoice_postings(invoice: Invoice, debtor: str, chart: Chart) -> list[Posting]:
    """A monthly invoice (AGB 4.3.1): debtor to revenue per item kind (net), debtor to VAT."""
    return _items_postings(invoice, debtor, chart, side="S", label="Rechnung")


def credit_note_postings(note: Invoice, debtor: str, chart: Chart) -> list[Posting]:
    """A credit note (Platform: credit-notes): after a justified objection (AGB 4.5.4) the
    revenue is reduced (Erlösschmälerung, net) with its VAT, against the debtor (side H).

    A credit note documenting a refund of credit (AGB 1.4.1, 9.3) books nothing itself: the
    money leaves through the ledger's refund entry (:data:`MONEY_MOVEMENTS`), booked once.
    """
    if note.detail.get("reason", "objection") != "objection":
        return []
    return _items_postings(note, debtor, chart, side="H", label="Gutschrift")


def no_postings(document: Invoice, debtor: str, chart: Chart) -> list[Posting]:
    """The invoice for a negative credit (CLINQ SD 1.3) asks for money the monthly invoice's
    charges already account for: it is a payment request, not a revenue document."""
    return []


DOCUMENT_POSTINGS: dict[str, Callable[[Invoice, str, Chart], list[Posting]]] = {
    "monthly": invoice_postings,
    "negative_credit": no_postings,
    "credit_note": credit_note_postings,
}


def _items_postings(
    document: Invoice, debtor: str, chart: Chart, *, side: str, label: str
) -> list[Posting]:
    detail = document.detail
    day = date.fromisoformat(document.issued_on)
    number = belegfeld(document.number)
    net_by_kind: dict[str, int] = {}
    for item in detail.get("items", []):
        net_by_kind[item["kind"]] = net_by_kind.get(item["kind"], 0) + to_cents(
            Decimal(item["net"])
        )
    postings = []
    # UStG § 13b: taxable items of a reverse-charge document go to the § 13b revenue account
    # (no German VAT, reported in the VAT return and the EU sales list), without a tax key.
    treatment = detail.get("vat_treatment") or {}
    reverse_charge = treatment.get("treatment") == "reverse_charge"
    # § 3a (5), § 18j UStG: a consumer's destination VAT goes to the OSS accounts, with the
    # member state and rate in DATEV's EU columns (its OSS evaluation reads them).
    oss = treatment.get("treatment") == "oss"
    eu = (
        (treatment["country"], f"{Decimal(detail['vat_rate']):.2f}".replace(".", ","))
        if oss
        else ("", "")
    )
    taxable = {item["kind"] for item in detail.get("items", []) if item.get("vat")}
    for kind, cents in sorted(net_by_kind.items()):
        if cents:
            text = f"{label} {document.number} {german.BOOKING_TEXTS.get(kind, kind)}"
            if (reverse_charge or oss) and kind in taxable:
                account = chart.revenue("oss" if oss else "reverse_charge")
                postings.append(_posting(cents, side, debtor, account, day, number, text, "", *eu))
                continue
            account, key = chart.revenue(kind), chart.key_for(kind)
            postings.append(_posting(cents, side, debtor, account, day, number, text, key))
    vat = to_cents(Decimal(detail.get("vat", "0")))
    if vat:
        rate = Decimal(detail["vat_rate"])
        text = f"{label} {document.number} Umsatzsteuer {rate:.2f} %".replace(".", ",")
        if oss:
            text += f" {treatment['country']} (OSS)"
        account = chart.vat_oss if oss else chart.vat(rate)
        postings.append(_posting(vat, side, debtor, account, day, number, text, "", *eu))
    return postings


def _posting(
    cents: int,
    side: str,
    account: str,
    contra: str,
    day: date,
    document: str,
    text: str,
    key: str = "",
    eu_country: str = "",
    eu_rate: str = "",
) -> Posting:
    """A posting with a positive amount: a negative one swaps the side."""
    if cents < 0:
        cents, side = -cents, {"S": "H", "H": "S"}[side]
    return Posting(cents, side, account, contra, day, document, text, key, eu_country, eu_rate)


# -- money without a document of its own ------------------------------------------------------


def entry_postings(entry, debtor: str, chart: Chart, day: date) -> list[Posting]:
    """A ledger entry's bookings: payments, top-ups, returned debits, refunds and the refund
    fee; charges are booked through their invoice, VAT with it."""
    detail = json.loads(entry.detail)
    document = belegfeld(detail.get("invoice") or detail.get("reference") or "") or f"L{entry.id}"
    amount = abs(int(entry.amount_cents))
    if entry.kind in MONEY_MOVEMENTS:
        side, text = MONEY_MOVEMENTS[entry.kind]
        if "invoice" in detail or "reference" in detail:
            text = f"{text} {detail.get('invoice') or detail['reference']}"
        return [Posting(amount, side, debtor, chart.clearing, day, document, text)]
    if entry.kind == "refund_fee":
        # Includes VAT (AGB 1.4.1): booked gross on the automatic account, DATEV extracts it.
        return [
            Posting(
                amount,
                "S",
                debtor,
                chart.revenue("refund_fee"),
                day,
                document,
                german.BOOKING_TEXTS["refund_fee"],
            )
        ]
    return []


# -- reading the month from the store ---------------------------------------------------------


def parse_month(text: str) -> tuple[date, date]:
    """The first and last day of a month given as YYYY-MM."""
    match = _MONTH.match(text or "")
    if not match:
        raise DatevRefused("month", f"{text!r} is not a month (YYYY-MM, e.g. 2026-11)")
    year, month = int(match[1]), int(match[2])
    return date(year, month, 1), last_day_of_month(year, month)


def debtor_numbers(connection: Connection, first: int, last: int) -> dict[str, int]:
    """Each account's debtor: ``first`` plus the order of its first applied event.

    New accounts come later in the event log, so an account's number never changes."""
    query = (
        select(events.c.account, func.min(events.c.seq).label("first_seq"))
        .where(events.c.status == "applied")
        .group_by(events.c.account)
        .order_by("first_seq")
    )
    numbers = {row.account: first + n for n, row in enumerate(connection.execute(query))}
    too_many = [a for a, n in numbers.items() if n > last]
    if too_many:
        raise DatevRefused(
            "last_debtor", f"{len(too_many)} accounts need debtor numbers beyond {last}"
        )
    return numbers


@dataclass(frozen=True)
class Batch:
    first: date
    last: date
    postings: list[Posting]


def month_postings(connection: Connection, catalog: Catalog, month: str) -> Batch:
    """Every booking of ``month``: its documents by issue date, its money by booking date."""
    first, last = parse_month(month)
    terms = catalog.at(last)
    chart = chart_of(terms)
    datev = terms.clause("Platform: datev")
    debtors = debtor_numbers(connection, datev["first_debtor"], datev["last_debtor"])
    zone = ZoneInfo(terms.calendar.time_zone)
    postings: list[Posting] = []
    query = (
        select(invoices)
        .where(invoices.c.issued_on >= first.isoformat(), invoices.c.issued_on <= last.isoformat())
        .order_by(invoices.c.issued_on, invoices.c.number)
    )
    for row in connection.execute(query):
        invoice = invoice_from_row(row)
        postings += document_postings(invoice, str(debtors[invoice.account]), chart)
    for note in credit_notes_issued_between(connection, first.isoformat(), last.isoformat()):
        document = _credit_note_document(note)
        postings += document_postings(document, str(debtors[note.account]), chart)
    # Instants carry their own offset: a day either side, then the local date decides.
    query = (
        select(ledger_entries)
        .where(
            ledger_entries.c.kind.in_([*MONEY_MOVEMENTS, "refund_fee"]),
            ledger_entries.c.booked_at >= (first - timedelta(days=1)).isoformat(),
            ledger_entries.c.booked_at < (last + timedelta(days=2)).isoformat(),
        )
        .order_by(ledger_entries.c.id)
    )
    for entry in connection.execute(query):
        day = datetime.fromisoformat(entry.booked_at).astimezone(zone).date()
        if first <= day <= last:
            postings += entry_postings(entry, str(debtors[entry.account]), chart, day)
    postings.sort(key=lambda p: (p.day, p.document))
    return Batch(first, last, postings)


def _credit_note_document(note: CreditNote) -> Invoice:
    """A credit note as the document :data:`DOCUMENT_POSTINGS` books (kind ``credit_note``)."""
    return Invoice(
        number=note.number,
        account=note.account,
        kind="credit_note",
        issued_on=note.issued_on,
        due_on=note.issued_on,
        amount_cents=-note.amount_cents,
        open_cents=0,
        clause=note.clause,
        terms_version=note.terms_version,
        detail=note.detail,
    )


# -- the file ---------------------------------------------------------------------------------


def belegfeld(text: str) -> str:
    """Belegfeld 1 holds at most 36 of the characters A-Z a-z 0-9 $ & % * + - /."""
    return _BELEGFELD.sub("", text)[-36:]


def amount(cents: int) -> str:
    """1234,56: a decimal comma, no thousands separator, never negative."""
    assert cents > 0, cents
    return f"{from_cents(cents)}".replace(".", ",")


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _cp1252(text: str) -> str:
    """Text as Windows-1252 can hold it: characters it lacks become '?'."""
    return text.encode(ENCODING, errors="replace").decode(ENCODING)


def header_line(terms: Terms, batch: Batch, created: datetime, label: str) -> list[str]:
    provider = terms.clause("Platform: provider")
    datev = terms.clause("Platform: datev")
    try:
        month, day = (int(part) for part in provider["fiscal_year_start"].split("-"))
        year_start = date(batch.first.year, month, day)
    except ValueError:
        raise DatevRefused(
            "fiscal_year_start",
            f"{provider['fiscal_year_start']!r} is not a day of the year (MM-DD)",
        ) from None
    if year_start > batch.first:
        year_start = year_start.replace(year=year_start.year - 1)
    values = [
        "EXTF",
        "700",
        "21",
        "Buchungsstapel",
        "13",
        created.strftime("%Y%m%d%H%M%S") + f"{created.microsecond // 1000:03d}",
        "",
        "RE",
        provider["name"],
        "",
        provider["datev_consultant_number"],
        provider["datev_client_number"],
        year_start.strftime("%Y%m%d"),
        str(datev["account_length"]),
        batch.first.strftime("%Y%m%d"),
        batch.last.strftime("%Y%m%d"),
        label[:30],
        "",
        "1",  # Finanzbuchführung
        "0",  # unabhängig vom Rechnungslegungszweck
        "1" if datev["lock_batch"] else "0",
        "EUR",
        "",
        "",
        "",
        "",
        chart_of(terms).name.removeprefix("SKR"),
        "",
        "",
        "",
        "",
    ]
    assert len(values) == len(HEADER_FIELDS)
    return [quoted(_cp1252(v)) if i + 1 in HEADER_TEXT else v for i, v in enumerate(values)]


def booking_line(posting: Posting) -> list[str]:
    fields = [""] * len(COLUMNS)
    fields[UMSATZ] = amount(posting.amount_cents)
    fields[SOLL_HABEN] = posting.side
    fields[WKZ] = "EUR"
    fields[KONTO] = posting.account
    fields[GEGENKONTO] = posting.contra
    fields[BU] = posting.tax_key
    fields[BELEGDATUM] = posting.day.strftime("%d%m")
    fields[BELEGFELD1] = posting.document
    fields[BUCHUNGSTEXT] = _cp1252(posting.text)[:60]
    # Text, but left empty (not "") where unused, so other lines stay as they were.
    fields[EU_LAND] = quoted(posting.eu_country) if posting.eu_country else ""
    fields[EU_STEUERSATZ] = posting.eu_rate
    return [quoted(v) if i in TEXT_COLUMNS else v for i, v in enumerate(fields)]


def render(terms: Terms, batch: Batch, created: datetime, label: str) -> bytes:
    """The Buchungsstapel as bytes: Windows-1252, ';', CRLF."""
    lines: Iterable[list[str]] = [
        header_line(terms, batch, created, label),
        list(COLUMNS),
        *(booking_line(p) for p in batch.postings),
    ]
    text = "".join(SEPARATOR.join(line) + LINE_END for line in lines)
    return text.encode(ENCODING)


def default_created(terms: Terms, batch: Batch) -> datetime:
    """The first instant after the month, in the platform's time zone."""
    zone = ZoneInfo(terms.calendar.time_zone)
    return datetime.combine(batch.last + timedelta(days=1), time(0, 0), tzinfo=zone)


def export(
    store: Store, catalog: Catalog, month: str, created: datetime | None = None
) -> tuple[bytes, Batch]:
    """The month's Buchungsstapel (read only: nothing in the store changes)."""
    _, last = parse_month(month)
    with store.unit(commit=False) as unit:
        batch = month_postings(unit.connection, catalog, month)
    terms = catalog.at(last)
    if created is None:
        created = default_created(terms, batch)
    elif created.tzinfo is None:
        raise DatevRefused("created_at", "the creation instant needs its UTC offset")
    created = created.astimezone(ZoneInfo(terms.calendar.time_zone))
    return render(terms, batch, created, f"CLINQ {month}"), batch
