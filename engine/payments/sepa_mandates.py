"""SEPA direct debit mandates in the engine: grant, amend, revoke, expire, sequence types.

AGB 4.1.4, 4.2.1, 4.2.2 and ``rules/platform/sepa.yaml`` (the SEPA rulebooks). The mandate lives
on the contract (``Contract.sepa_mandate``, a plain dict written as JSON with the account);
``Contract.mandate`` stays the AGB's "a mandate is on file" (a card mandate counts too).

The collection date of a debit: AGB 4.2.2 lets it come six working days after receipt of the
invoice (the ``direct_debit`` deadline); the file is submitted on the first TARGET2 day on or
after that day and collected ``submission_lead_days`` TARGET2 days later (CORE and B2B: D-1).

Returns (AGB 4.2.3): one collection is returned once. Which collection of an invoice a
``direct_debit.returned`` reverses, and the refusal of a second return of it naming the first,
is :func:`returned_collection`; the row it leaves in ``direct_debit_returns`` (unique per
invoice and collection) :func:`return_rows` (docs/sepa.md).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays

from engine.catalog import Terms
from engine.core.deadlines import add_months
from engine.core.state import Deadline, Invoice
from engine.effects import Booking, Rejected

MANDATE_EXPIRY = "sepa_mandate_expiry"
ENDED = ("ended", "withdrawn", "deleted", "lapsed")


@cache
def _target_closing_days(year: int) -> frozenset[date]:
    """TARGET2 closing days besides weekends: 1 Jan, Good Friday, Easter Monday, 1 May,
    25 and 26 Dec (the ECB's calendar, the ``holidays`` package's ``XECB``)."""
    return frozenset(holidays.financial_holidays("XECB", years=year))


def is_target_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _target_closing_days(day.year)


def next_target_day(day: date) -> date:
    """The first TARGET2 day on or after ``day``."""
    while not is_target_day(day):
        day += timedelta(days=1)
    return day


def submission_day(earliest: date) -> date:
    """The day the file for a debit that may come on ``earliest`` (AGB 4.2.2) is submitted."""
    return next_target_day(earliest)


def collection_date(earliest: date, terms: Terms) -> date:
    """The collection date of a debit that may come on ``earliest``: the submission day plus
    the scheme's lead time in TARGET2 days (Platform: sepa)."""
    day = submission_day(earliest)
    for _ in range(terms.clause("Platform: sepa")["submission_lead_days"]):
        day = next_target_day(day + timedelta(days=1))
    return day


def latest_submission(collection: date, terms: Terms) -> date:
    """The last TARGET2 day on which the file for ``collection`` reaches the bank in time."""
    day = collection
    for _ in range(terms.clause("Platform: sepa")["submission_lead_days"]):
        day -= timedelta(days=1)
        while not is_target_day(day):
            day -= timedelta(days=1)
    return day


def _same_bank(iban_a: str, iban_b: str) -> bool:
    from schwifty import IBAN

    return IBAN(iban_a).bank_code == IBAN(iban_b).bank_code and iban_a[:2] == iban_b[:2]


def check_bank_details(data: dict, day: date) -> None:
    """What the event schema cannot say: the IBAN's check digits and national format, a BIC of
    a real country, a signature not after the event (AGB 4.2.1: a mandate must be valid).

    Refused as a rejected event naming the field (``/iban: ...``): the request itself is
    well-formed, the mandate is not usable.
    """
    from schwifty import BIC, IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        IBAN(data["iban"])
    except SchwiftyException as error:
        raise Rejected(
            f"/iban: {data['iban']!r} is not a valid IBAN ({error})", "AGB 4.2.1"
        ) from None
    if "bic" in data:
        try:
            BIC(data["bic"])
        except SchwiftyException as error:
            raise Rejected(
                f"/bic: {data['bic']!r} is not a valid BIC ({error})", "AGB 4.2.1"
            ) from None
    if data["signed_on"] > day.isoformat():
        raise Rejected(
            f"/signed_on: the mandate is signed on {data['signed_on']}, after the event ({day})",
            "AGB 4.2.1",
        )


def grant(booking: Booking) -> dict | None:
    """``mandate.granted`` with SEPA fields: a new mandate or an amendment (same reference).

    Returns the mandate stored on the contract, or None for a mandate without SEPA fields.
    """
    data = booking.event.data
    if "iban" not in data:
        return None
    account = booking.require_account()
    contract = account.contract
    check_bank_details(data, booking.local_date)
    scheme = data.get("scheme", "CORE")
    if scheme == "B2B" and account.customer_type != "business":
        raise Rejected(
            f"a SEPA B2B mandate is only for business customers; account {account.id} is a "
            f"{account.customer_type} (use the CORE scheme)",
            "AGB 4.2.1",
        )
    old = contract.sepa_mandate
    mandate = {
        "reference": data["reference"],
        "signed_on": data["signed_on"],
        "debtor_name": data["debtor_name"],
        "iban": data["iban"],
        "bic": data.get("bic"),
        "scheme": scheme,
        "one_off": bool(data.get("one_off", False)),
        "granted_on": booking.local_date.isoformat(),
        "collections": 0,
        "last_collection": None,
        "amendment": None,
    }
    if old is not None and old["reference"] == mandate["reference"]:
        # An amendment of the same mandate: the sequence goes on; the next collection says what
        # changed (AmdmntInd, the original debtor account; "SMNDA" for another bank).
        mandate["collections"] = old["collections"]
        mandate["last_collection"] = old["last_collection"]
        amendment = dict(old["amendment"] or {})
        if old["iban"] != mandate["iban"]:
            amendment.setdefault("original_iban", old["iban"])
            if not _same_bank(old["iban"], mandate["iban"]):
                amendment["other_bank"] = True
        if old["scheme"] != mandate["scheme"]:
            raise Rejected(
                f"mandate {mandate['reference']} is a {old['scheme']} mandate: another scheme "
                "needs a new mandate with its own reference",
                "AGB 4.2.1",
            )
        mandate["amendment"] = amendment or None
    contract.sepa_mandate = mandate
    _schedule_expiry(booking, mandate)
    return mandate


def revoke(booking: Booking) -> None:
    """``mandate.revoked``: the SEPA mandate ends too; its expiry is no longer needed."""
    contract = booking.require_account().contract
    contract.sepa_mandate = None
    for deadline in booking.due_deadlines(date.max):
        if deadline.kind == MANDATE_EXPIRY:
            booking.settle(deadline, "lapsed")


def _schedule_expiry(booking: Booking, mandate: dict) -> None:
    for deadline in booking.due_deadlines(date.max):
        if deadline.kind == MANDATE_EXPIRY:
            booking.settle(deadline, "lapsed")
    since = mandate["last_collection"] or mandate["signed_on"]
    months = booking.terms.clause("Platform: sepa")["mandate_expiry_months"]
    due = add_months(date.fromisoformat(since), months) + timedelta(days=1)
    booking.schedule(MANDATE_EXPIRY, due, "AGB 4.1.4", reference=mandate["reference"], since=since)


def fire_expiry(booking: Booking, deadline: Deadline, terms: Terms) -> str:
    """A mandate unused for 36 months expires (SEPA rulebooks); AGB 4.1.4 applies then."""
    contract = booking.require_account().contract
    mandate = contract.sepa_mandate
    since = (mandate or {}).get("last_collection") or (mandate or {}).get("signed_on")
    if mandate is None or mandate["reference"] != deadline.payload["reference"]:
        return "lapsed"
    if since != deadline.payload["since"]:
        return "lapsed"
    contract.sepa_mandate = None
    contract.mandate = False
    booking.effect(
        "mandate_expired",
        "AGB 4.1.4",
        terms.version,
        reference=mandate["reference"],
        since=since,
        date=deadline.due,
        rule="SEPA rulebook: no collection for "
        f"{terms.clause('Platform: sepa')['mandate_expiry_months']} months",
    )
    booking.balance_changed = True
    return "done"


def sequence_type(mandate: dict, contract_status: str) -> str:
    """FRST for a mandate's first collection, RCUR after, FNAL for the last one (the contract
    has ended: its final invoice), OOFF for a mandate for one collection."""
    if mandate["one_off"]:
        return "OOFF"
    if contract_status in ENDED and mandate["collections"] > 0:
        return "FNAL"
    return "FRST" if mandate["collections"] == 0 else "RCUR"


def prenotification(booking: Booking, earliest: date, terms: Terms) -> dict | None:
    """What an invoice collected by direct debit says of it (the pre-notification): the
    mandate reference, the creditor id and the collection date; None without a SEPA mandate."""
    mandate = booking.require_account().contract.sepa_mandate
    if mandate is None:
        return None
    return {
        "reference": mandate["reference"],
        "creditor_id": terms.clause("Platform: provider")["creditor_id"],
        "collection_date": collection_date(earliest, terms).isoformat(),
        "iban": mandate["iban"],  # the account debited (EN 16931 BT-91)
    }


def collect(booking: Booking, invoice, amount: str, earliest: date, terms: Terms) -> dict | None:
    """Record the collection of ``invoice`` under the SEPA mandate; None without one.

    The invoice remembers what the export needs (``detail["direct_debit"]``, never what it
    printed: the pre-notification stays as issued); the mandate counts
    the collection, drops the amendment flag it has now reported, and its 36 months restart.
    """
    account = booking.require_account()
    contract = account.contract
    mandate = contract.sepa_mandate
    if mandate is None:
        return None
    # A clock that fires the deadline late moves the collection: the file for it must still
    # reach the bank in time (a later date than the pre-notification's; never an earlier one).
    day = collection_date(max(earliest, booking.local_date), terms)
    provider = terms.clause("Platform: provider")
    debit = {
        "collection_date": day.isoformat(),
        "submission_by": latest_submission(day, terms).isoformat(),
        "amount": amount,
        "sequence_type": sequence_type(mandate, contract.status),
        "end_to_end_id": invoice.number,
        "remittance": f"Rechnung {invoice.number} {provider['name']}",
        "mandate": {
            key: mandate[key]
            for key in ("reference", "signed_on", "debtor_name", "iban", "bic", "scheme")
        },
        "amendment": mandate["amendment"],
        "creditor_id": provider["creditor_id"],
    }
    # Only what the export reads is added: the pre-notification the invoice printed
    # (``detail["mandate"]``) stays as issued (GoBD, engine/documents/archive.py). A collection
    # moved by a late run is a later fact, kept here (for the bank's file and a letter).
    prenotified = invoice.detail.get("mandate") or {}
    if prenotified.get("collection_date") not in (None, debit["collection_date"]):
        debit["prenotified_collection_date"] = prenotified["collection_date"]
    invoice.detail = {**invoice.detail, "direct_debit": debit}
    used = {
        **mandate,
        "collections": mandate["collections"] + 1,
        "last_collection": day.isoformat(),
        "amendment": None,
    }
    if mandate["one_off"]:
        contract.sepa_mandate, contract.mandate = None, False
        for deadline in booking.due_deadlines(date.max):
            if deadline.kind == MANDATE_EXPIRY:
                booking.settle(deadline, "lapsed")
    else:
        contract.sepa_mandate = used
        _schedule_expiry(booking, used)
    return debit


# -- returns: one collection is returned once (AGB 4.2.3) --------------------------------------


def already_returned(invoice: str, first_event: str) -> str:
    """The refusal of a second return of one collection, naming the first return."""
    return (
        f"the collection of invoice {invoice} was already returned (event {first_event}): one "
        "collection is returned once, a second return of it books nothing"
    )


def returned_collection(
    invoice: Invoice, event_id: str, end_to_end_id: str | None, amount_cents: int
) -> dict:
    """Which collection of ``invoice`` a return reverses, as ``Invoice.returns`` records it;
    Rejected naming the first return if that collection was returned already.

    A collection is an invoice's direct debit: the platform's pain.008 collection
    (``detail["direct_debit"]``, one per invoice, its end-to-end id the invoice number), or one
    the billing service made. Its number is one more than the invoice's returns so far. The
    platform's collection returned once is refused again whenever its end-to-end id comes; any
    further return needs the invoice collected again since the last one (a payment by direct
    debit of the amount to reverse; a transfer is no collection), else it is the last
    collection's return again.
    """
    platform = invoice.detail.get("direct_debit")
    earlier = invoice.returns
    date_ = None
    if platform is not None:
        first = next(
            (r for r in earlier if r["collection_date"] == platform["collection_date"]), None
        )
        if end_to_end_id == platform["end_to_end_id"] and first is not None:
            raise Rejected(already_returned(invoice.number, first["event"]), "AGB 4.2.3")
        if end_to_end_id == platform["end_to_end_id"] or (end_to_end_id is None and not first):
            date_ = platform["collection_date"]
    if earlier:
        last = earlier[-1]
        # returns recorded before the count was kept ("debits" missing) rely on the amount alone
        collected_again = invoice.debits_collected > last.get("debits", -1)
        if not collected_again or invoice.amount_cents - invoice.open_cents < amount_cents:
            raise Rejected(already_returned(invoice.number, last["event"]), "AGB 4.2.3")
    return {
        "event": event_id,
        "collection": len(earlier) + 1,
        "end_to_end_id": end_to_end_id,
        "collection_date": date_,
        "debits": invoice.debits_collected,
    }


def return_rows(booking: Booking) -> list[dict]:
    """The ``direct_debit_returns`` row of an applied ``direct_debit.returned`` (none without
    an invoice): written in the event's transaction, its key (invoice, collection) unique."""
    number = booking.event.data.get("invoice")
    invoice = booking.changed_invoices.get(number) if number is not None else None
    if invoice is None or not invoice.returns:
        return []
    entry = invoice.returns[-1]
    if entry["event"] != booking.event.id:
        return []
    return [
        {
            "invoice": number,
            "collection": entry["collection"],
            "account": booking.event.account,
            "event_id": entry["event"],
            "end_to_end_id": entry["end_to_end_id"],
            "collection_date": entry["collection_date"],
        }
    ]
