"""The SEPA collection file: one pain.008.001.08 per collection date and scheme.

The engine decides each collection when the ``direct_debit`` deadline of AGB 4.2.2 fires
(:func:`engine.payments.sepa_mandates.collect` writes ``detail["direct_debit"]`` on the
invoice). This module gathers the collections of one date into a file built with ``sepaxml``
and checked against the XSD it ships, and records it: the file in ``sepa_batches``, each
invoice in ``sepa_collections`` (its primary key). Exactly once: exporting the same date again
returns the file as recorded, byte for byte; an invoice already in a file is never put in
another.

No wall clock: the message id is derived from the date, the scheme and the collections; the
creation time is the caller's ``created_at`` (default: the start of the last submission day).
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from engine.catalog import Catalog
from engine.core.money import parse_amount, to_cents
from engine.core.text import printable, printable_data
from engine.ledger.store import Store, account_from_row, invoice_from_row
from engine.ledger.tables import accounts, deadlines, invoices, sepa_batches, sepa_collections
from engine.payments.sepa_mandates import latest_submission

SCHEMES = ("CORE", "B2B")
# A debit's collection date lies a few days after its AGB 4.2.2 day (a weekend, Good Friday and
# Easter Monday, the lead time), or later when the clock fired the deadline late: the deadlines
# of this many days before the collection date are looked at.
_WINDOW = timedelta(days=62)


class ExportRefused(ValueError):
    """The file cannot be written: ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Export:
    xml: bytes
    message_id: str
    collection_date: date
    scheme: str
    count: int
    total_cents: int
    created: bool  # False: the file was recorded by an earlier export of this date


def _namespace(schema: str) -> str:
    return f"urn:iso:std:iso:20022:tech:xsd:{schema}"


def due_collections(connection: Connection, day: date, scheme: str) -> list[dict]:
    """The collections the engine requested for ``day`` under ``scheme`` not in a file yet,
    whose invoice is still open and whose mandate is still the one on the account."""
    rows = connection.execute(
        select(deadlines.c.payload).where(
            deadlines.c.kind == "direct_debit",
            deadlines.c.status == "done",
            deadlines.c.due >= (day - _WINDOW).isoformat(),
            deadlines.c.due <= day.isoformat(),
        )
    )
    numbers = sorted({json.loads(row.payload)["invoice"] for row in rows})
    if not numbers:
        return []
    done = {
        row.invoice
        for row in connection.execute(
            select(sepa_collections.c.invoice).where(sepa_collections.c.invoice.in_(numbers))
        )
    }
    found = [
        invoice_from_row(row)
        for row in connection.execute(select(invoices).where(invoices.c.number.in_(numbers)))
    ]
    account_ids = sorted({i.account for i in found})
    states = {
        row.id: account_from_row(row)
        for row in connection.execute(select(accounts).where(accounts.c.id.in_(account_ids)))
    }
    due = []
    for invoice in sorted(found, key=lambda i: i.number):
        debit = invoice.detail.get("direct_debit")
        if not debit or debit["collection_date"] != day.isoformat() or invoice.number in done:
            continue
        if debit["mandate"]["scheme"] != scheme:
            continue
        mandate = states[invoice.account].contract.sepa_mandate
        if mandate is None or mandate["reference"] != debit["mandate"]["reference"]:
            continue  # revoked or replaced since: never collect on a mandate that ended
        amount = min(to_cents(parse_amount(debit["amount"])), invoice.open_cents)
        if amount <= 0:
            continue  # paid otherwise since the debit was requested
        due.append(
            {**debit, "invoice": invoice.number, "account": invoice.account, "amount_cents": amount}
        )
    return due


def message_id(day: date, scheme: str, collections: list[dict]) -> str:
    """Deterministic: the date, the scheme and a digest of what the file collects."""
    content = json.dumps(
        [[c["invoice"], c["amount_cents"], c["sequence_type"]] for c in collections]
    )
    digest = hashlib.sha256(f"{day}|{scheme}|{content}".encode()).hexdigest()[:12].upper()
    return f"CLINQ-{day:%Y%m%d}-{scheme}-{digest}"


def build_xml(
    collections: list[dict],
    day: date,
    scheme: str,
    msg_id: str,
    created_at: datetime,
    provider,
    schema: str,
) -> bytes:
    """The pain.008 file: sepaxml builds it, the ids and amendments are set, the XSD checks."""
    from sepaxml import SepaDD
    from sepaxml.validation import try_valid_xml

    # A name stored with a control character must not stop the day's file (XML 1.0).
    collections = printable_data(collections)
    config = {
        "name": printable(provider["name"]),
        "IBAN": provider["iban"],
        "BIC": provider["bic"],
        "batch": True,
        "creditor_id": provider["creditor_id"],
        "currency": "EUR",
        "instrument": scheme,
    }
    sdd = SepaDD(config, schema=schema, clean=True)
    for item in collections:
        payment = {
            "name": item["mandate"]["debtor_name"],
            "IBAN": item["mandate"]["iban"],
            "amount": item["amount_cents"],
            "type": item["sequence_type"],
            "collection_date": day,
            "mandate_id": item["mandate"]["reference"],
            "mandate_date": date.fromisoformat(item["mandate"]["signed_on"]),
            "description": item["remittance"],
            "endtoend_id": item["end_to_end_id"],
        }
        if item["mandate"].get("bic"):
            payment["BIC"] = item["mandate"]["bic"]
        sdd.add_payment(payment)
    raw = sdd.export(validate=False)
    ns = _namespace(schema)
    ET.register_namespace("", ns)
    root = ET.fromstring(raw)
    q = lambda tag: f"{{{ns}}}{tag}"  # noqa: E731
    header = root.find(f"{q('CstmrDrctDbtInitn')}/{q('GrpHdr')}")
    header.find(q("MsgId")).text = msg_id
    header.find(q("CreDtTm")).text = created_at.isoformat(timespec="seconds")
    amendments = {c["end_to_end_id"]: c["amendment"] for c in collections if c["amendment"]}
    for info in root.iter(q("PmtInf")):
        sequence = info.find(f"{q('PmtTpInf')}/{q('SeqTp')}").text
        info.find(q("PmtInfId")).text = f"{msg_id[:26]}-{sequence}"
        for tx in info.iter(q("DrctDbtTxInf")):
            e2e = tx.find(f"{q('PmtId')}/{q('EndToEndId')}").text
            if e2e in amendments:
                _add_amendment(tx, amendments[e2e], q)
            postal = tx.find(f"{q('Dbtr')}/{q('PstlAdr')}")
            if postal is not None and len(postal) == 0:
                tx.find(q("Dbtr")).remove(postal)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    try_valid_xml(xml, schema)
    return xml


def _add_amendment(tx, amendment: dict, q) -> None:
    """AmdmntInd and the original debtor account, or "SMNDA" for a change of bank (EPC)."""
    related = tx.find(f"{q('DrctDbtTx')}/{q('MndtRltdInf')}")
    signed = related.find(q("DtOfSgntr"))
    index = list(related).index(signed) + 1
    indicator = ET.Element(q("AmdmntInd"))
    indicator.text = "true"
    details = ET.Element(q("AmdmntInfDtls"))
    if amendment.get("other_bank"):
        agent = ET.SubElement(details, q("OrgnlDbtrAgt"))
        other = ET.SubElement(ET.SubElement(agent, q("FinInstnId")), q("Othr"))
        ET.SubElement(other, q("Id")).text = "SMNDA"
    elif amendment.get("original_iban"):
        account = ET.SubElement(details, q("OrgnlDbtrAcct"))
        ET.SubElement(ET.SubElement(account, q("Id")), q("IBAN")).text = amendment["original_iban"]
    related.insert(index, indicator)
    if len(details):
        related.insert(index + 1, details)


def default_created_at(day: date, catalog: Catalog) -> datetime:
    """The start of the last day the file reaches the bank in time (Europe/Berlin)."""
    terms = catalog.at(day)
    return datetime.combine(latest_submission(day, terms), time.min, terms.calendar.zone)


def export(
    store: Store,
    catalog: Catalog,
    day: date,
    scheme: str = "CORE",
    created_at: datetime | None = None,
) -> Export:
    """The file of ``day``: as recorded, or built from the due collections and recorded now.

    Refused (ExportRefused) for an unknown scheme, a creation time after the last submission
    day (the scheme's lead time, Platform: sepa), collections of a recorded date that are not
    in its file, and two debtors with the same mandate reference in one file.
    """
    if scheme not in SCHEMES:
        raise ExportRefused("scheme", f"{scheme!r} is not a SEPA scheme ({', '.join(SCHEMES)})")
    terms = catalog.at(day)
    for attempt in range(2):
        try:
            with store.unit() as unit:
                connection = unit.connection
                recorded = _recorded_file(connection, day, scheme)
                due = due_collections(connection, day, scheme)
                if recorded is not None:
                    return _as_recorded(recorded, due, day, scheme)
                created = created_at or default_created_at(day, catalog)
                _refuse_late(created, day, scheme, terms)
                if not due:
                    raise ExportRefused(
                        "collection_date",
                        f"no {scheme} direct debits are due for collection on {day}",
                    )
                _refuse_shared_references(due)
                msg_id = message_id(day, scheme, due)
                xml = build_xml(
                    due,
                    day,
                    scheme,
                    msg_id,
                    created,
                    terms.clause("Platform: provider"),
                    terms.clause("Platform: sepa")["schema"],
                )
                total = sum(c["amount_cents"] for c in due)
                _record(connection, xml, msg_id, day, scheme, created, due, total)
                return Export(xml, msg_id, day, scheme, len(due), total, created=True)
        except IntegrityError:
            if attempt:
                raise
            # A concurrent export recorded this date or one of its invoices first: read again.
    raise AssertionError("unreachable")


def _recorded_file(connection: Connection, day: date, scheme: str):
    """The row of the file recorded for ``day`` and ``scheme``, or None."""
    return connection.execute(
        select(sepa_batches).where(
            sepa_batches.c.collection_date == day.isoformat(),
            sepa_batches.c.scheme == scheme,
        )
    ).one_or_none()


def _as_recorded(recorded, due: list[dict], day: date, scheme: str) -> Export:
    """The recorded file, byte for byte; refused if collections came due after it was written
    (they would be in no file)."""
    if due:
        raise ExportRefused(
            "collection_date",
            f"the {scheme} file for {day} was written already (message "
            f"{recorded.message_id}); these collections came later and are not in "
            f"it: {', '.join(c['invoice'] for c in due)}",
        )
    return Export(
        recorded.xml.encode(),
        recorded.message_id,
        day,
        scheme,
        recorded.count,
        recorded.total_cents,
        created=False,
    )


def _refuse_late(created: datetime, day: date, scheme: str, terms) -> None:
    """A file created after the last submission day for ``day`` reaches the bank too late."""
    last = latest_submission(day, terms)
    if created.astimezone(terms.calendar.zone).date() > last:
        raise ExportRefused(
            "created_at",
            f"a {scheme} file for {day} must reach the bank by {last} (one TARGET2 "
            f"business day before, Platform: sepa); created {created.isoformat()} is "
            "too late: collect on a later date",
        )


def _record(
    connection: Connection,
    xml: bytes,
    msg_id: str,
    day: date,
    scheme: str,
    created: datetime,
    due: list[dict],
    total: int,
) -> None:
    """Record the file in ``sepa_batches`` and each of its collections in ``sepa_collections``
    (an invoice is its primary key: it is never in two files)."""
    connection.execute(
        insert(sepa_batches),
        [
            {
                "message_id": msg_id,
                "collection_date": day.isoformat(),
                "scheme": scheme,
                "created_at": created.isoformat(),
                "count": len(due),
                "total_cents": total,
                "xml": xml.decode(),
            }
        ],
    )
    if due:
        connection.execute(
            insert(sepa_collections),
            [
                {
                    "invoice": c["invoice"],
                    "account": c["account"],
                    "amount_cents": c["amount_cents"],
                    "message_id": msg_id,
                    "collection_date": day.isoformat(),
                    "end_to_end_id": c["end_to_end_id"],
                    "mandate_reference": c["mandate"]["reference"],
                    "sequence_type": c["sequence_type"],
                }
                for c in due
            ],
        )


def _refuse_shared_references(due: list[dict]) -> None:
    """A mandate reference is unique per creditor: two accounts using one is a data fault."""
    owners: dict[str, str] = {}
    for item in due:
        reference = item["mandate"]["reference"]
        if owners.setdefault(reference, item["account"]) != item["account"]:
            raise ExportRefused(
                "mandate.reference",
                f"mandate reference {reference} is used by accounts {owners[reference]} and "
                f"{item['account']}; a reference is unique per creditor (AGB 4.2.1)",
            )
