"""Returned direct debits from the bank: camt.054 and pain.002 files in (AGB 4.2.3).

The bank reports a collection that came back in a camt.054 debit notification (the
R-transaction's ``TxDtls`` with ``RtrInf/Rsn/Cd``; German banks deliver camt.054.001.02 under
the DFÜ agreement, newer ones camt.054.001.08) or, rejected before settlement, in a pain.002
status report (``TxInfAndSts`` with ``TxSts`` RJCT and ``StsRsnInf/Rsn/Cd``). Each becomes a
``direct_debit.returned`` event for the collection recorded by the export
(:mod:`engine.interchange.sepa_export`, table ``sepa_collections``): the end-to-end id is the
invoice number. Whether the fee of AGB 4.2.3 applies is the platform decision
``rules/platform/sepa-returns.yaml``
(:func:`engine.payments.return_reasons.customer_responsible`).

Idempotent: the event id is derived from the end-to-end id and the bank's reference of the
return, so a file imported twice changes nothing (the engine stores an id once: the second
import is ``already_imported``, a duplicate of the first). One collection is returned once: a
return of a collection already returned under another bank reference (or by a billing service's
``direct_debit.returned``) is ``rejected`` naming the first return; the engine decides this
inside the transaction that applies the event, so concurrent imports book one return. What
cannot be matched (unknown end-to-end id, another amount, no payment to reverse, no ISO reason
code) is reported and nothing is applied for it.

The XML is parsed with lxml, without entity expansion, DTDs or network access; a file with a
DOCTYPE is refused (bank files have none), as is any root other than a camt.054 or pain.002
``Document``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from engine.catalog import NotInForce, Terms
from engine.core.money import format_amount, from_cents, to_cents
from engine.interchange import iso20022
from engine.interchange.iso20022 import ISO, BankFileInvalid, read_document
from engine.ledger.tables import direct_debit_returns, invoices, sepa_collections
from engine.payments.sepa_mandates import already_returned

if TYPE_CHECKING:
    from engine.engine import Engine

_MESSAGES = {
    "camt.054": "BkToCstmrDbtCdtNtfctn",
    "pain.002": "CstmrPmtStsRpt",
}
_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:((camt\.054|pain\.002)\.001\.\d{2})$")
_REASON_CODE = re.compile(r"^[A-Z0-9]{4}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,35}$")


# -- reading the file --------------------------------------------------------------------------


class ReturnFileInvalid(BankFileInvalid):
    """The file is not a readable camt.054 or pain.002: ``field`` names what is wrong."""


@dataclass(frozen=True)
class ReturnedTransaction:
    """One returned or rejected collection as the bank reports it."""

    end_to_end_id: str | None
    amount: Decimal | None
    currency: str | None
    reason_code: str | None
    bank_reference: str  # the bank's id of the return, or the message id and position
    day: date | None  # the bank's booking day (camt.054) or the report's day (pain.002)


@dataclass(frozen=True)
class ReturnFile:
    message: str  # e.g. "camt.054.001.02"
    message_id: str
    transactions: list[ReturnedTransaction]
    other: int  # transactions that are no return (credits, accepted statuses)
    rejected_batches: list[str] = field(default_factory=list)  # whole batches rejected


def read_return_file(data: bytes) -> ReturnFile:
    """Parse a camt.054 or pain.002 file (any ``.001.NN`` version); ReturnFileInvalid if not."""
    root, match = read_document(
        data,
        _NAMESPACE,
        "the Document of an ISO 20022 camt.054 (debit notification) or pain.002 (payment "
        f"status report), namespace {ISO}camt.054.001.NN or {ISO}pain.002.001.NN",
        ReturnFileInvalid,
    )
    message, family = match.group(1), match.group(2)
    body = root.find(_MESSAGES[family])
    if body is None:
        raise ReturnFileInvalid(
            "Document", f"a {message} file needs the message element {_MESSAGES[family]}"
        )
    message_id = (body.findtext("GrpHdr/MsgId") or "").strip()
    if not message_id:
        raise ReturnFileInvalid(f"{_MESSAGES[family]}/GrpHdr/MsgId", "is missing")
    if family == "camt.054":
        return _read_camt054(body, message, message_id)
    return _read_pain002(body, message, message_id)


def _read_camt054(body, message: str, message_id: str) -> ReturnFile:
    """Entries (Ntry) with transaction details (NtryDtls/TxDtls); a return has RtrInf."""
    found, other, position = [], 0, 0
    for notification in body.findall("Ntfctn"):
        for entry in notification.findall("Ntry"):
            booked = iso20022.day(
                entry.findtext("BookgDt/Dt")
                or entry.findtext("BookgDt/DtTm")
                or entry.findtext("ValDt/Dt")
            )
            details = entry.findall("NtryDtls/TxDtls")
            for tx in details:
                position += 1
                info = tx.find("RtrInf")
                if info is None:
                    other += 1
                    continue
                amount_element = iso20022.first(
                    tx, "AmtDtls/InstdAmt/Amt", "Amt", "AmtDtls/TxAmt/Amt"
                )
                if amount_element is None and len(details) == 1:
                    amount_element = entry.find("Amt")
                amount, currency = iso20022.amount(amount_element)
                reference = (
                    tx.findtext("Refs/AcctSvcrRef")
                    or tx.findtext("Refs/TxId")
                    or entry.findtext("AcctSvcrRef")
                    or f"{message_id}/{position}"
                )
                found.append(
                    ReturnedTransaction(
                        end_to_end_id=(tx.findtext("Refs/EndToEndId") or "").strip() or None,
                        amount=amount,
                        currency=currency,
                        reason_code=(info.findtext("Rsn/Cd") or "").strip() or None,
                        bank_reference=reference.strip(),
                        day=booked,
                    )
                )
    return ReturnFile(message, message_id, found, other)


def _read_pain002(body, message: str, message_id: str) -> ReturnFile:
    """Transactions (OrgnlPmtInfAndSts/TxInfAndSts) with TxSts RJCT; a whole batch rejected
    without transaction details is reported (nothing was collected, nothing to reverse)."""
    created = iso20022.day(body.findtext("GrpHdr/CreDtTm"))
    found, other, position, groups = [], 0, 0, []
    group = body.find("OrgnlGrpInfAndSts")
    payments = body.findall("OrgnlPmtInfAndSts")
    if group is not None and group.findtext("GrpSts") == "RJCT" and not payments:
        groups.append(
            f"message {group.findtext('OrgnlMsgId')} ({group.findtext('StsRsnInf/Rsn/Cd')})"
        )
    for payment in payments:
        transactions = payment.findall("TxInfAndSts")
        if not transactions and payment.findtext("PmtInfSts") == "RJCT":
            groups.append(
                f"payment information {payment.findtext('OrgnlPmtInfId')} "
                f"({payment.findtext('StsRsnInf/Rsn/Cd')})"
            )
        for tx in transactions:
            position += 1
            if (tx.findtext("TxSts") or "").strip() != "RJCT":
                other += 1
                continue
            amount, currency = iso20022.amount(
                iso20022.first(tx, "OrgnlTxRef/Amt/InstdAmt", "OrgnlTxRef/IntrBkSttlmAmt")
            )
            reference = tx.findtext("StsId") or tx.findtext("AcctSvcrRef")
            found.append(
                ReturnedTransaction(
                    end_to_end_id=(tx.findtext("OrgnlEndToEndId") or "").strip() or None,
                    amount=amount,
                    currency=currency,
                    reason_code=(tx.findtext("StsRsnInf/Rsn/Cd") or "").strip() or None,
                    bank_reference=(reference or f"{message_id}/{position}").strip(),
                    day=iso20022.day(tx.findtext("AccptncDtTm")) or created,
                )
            )
    return ReturnFile(message, message_id, found, other, groups)


# -- matching and applying ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What became of one transaction: applied, already_imported, unmatched or rejected."""

    transaction: ReturnedTransaction
    status: str
    reason: str | None = None
    event: dict | None = None
    effects: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        tx = self.transaction
        found: dict[str, Any] = {
            "status": self.status,
            "end_to_end_id": tx.end_to_end_id,
            "amount": None if tx.amount is None else format_amount(tx.amount),
            "reason_code": tx.reason_code,
            "bank_reference": tx.bank_reference,
        }
        if self.event is not None:
            found["event"] = self.event["id"]
            found["account"] = self.event["account"]
        if self.reason:
            found["reason"] = self.reason
        if self.effects:
            found["effects"] = self.effects
        return found


@dataclass
class ImportReport:
    message: str
    message_id: str
    outcomes: list[Outcome]
    other: int
    rejected_batches: list[str]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def to_json(self) -> dict:
        return {
            "message": self.message,
            "message_id": self.message_id,
            "applied": self.count("applied"),
            "already_imported": self.count("already_imported"),
            "unmatched": self.count("unmatched"),
            "rejected": self.count("rejected"),
            "not_returns": self.other,
            "rejected_batches": self.rejected_batches,
            "transactions": [o.to_json() for o in self.outcomes],
        }


def event_id(end_to_end_id: str, bank_reference: str) -> str:
    """Deterministic: the same return of the same collection always has the same id."""
    digest = hashlib.sha256(f"{end_to_end_id}|{bank_reference}".encode()).hexdigest()[:16]
    if _SAFE_ID.match(end_to_end_id):
        return f"sepa-return:{end_to_end_id}:{digest}"
    return f"sepa-return:{digest}"


def _instant(day: date, terms: Terms) -> str:
    """The start of the bank's day in the platform's zone (the file says no time of day)."""
    return datetime.combine(day, time.min, terms.calendar.zone).isoformat()


def _returned_before(connection, invoice: str, collection_date: str) -> str | None:
    """The event that returned the platform's collection of this invoice, if any (the rows the
    engine writes with each return, table ``direct_debit_returns``)."""
    return connection.execute(
        select(direct_debit_returns.c.event_id).where(
            direct_debit_returns.c.invoice == invoice,
            direct_debit_returns.c.collection_date == collection_date,
        )
    ).scalar()


def match(engine: Engine, returns: ReturnFile) -> list[Outcome]:
    """Each transaction with its event, or why nothing is applied for it (read only)."""
    outcomes: list[Outcome] = []
    claimed: dict[str, str] = {}  # invoice -> event id, within this file
    with engine.store.unit(commit=False) as unit:
        connection = unit.connection
        for tx in returns.transactions:
            outcome = _match_one(engine, connection, unit, tx, claimed)
            if outcome.status == "pending":
                claimed[outcome.event["invoice"]] = outcome.event["id"]
            outcomes.append(outcome)
    return outcomes


def _match_one(engine, connection, unit, tx, claimed) -> Outcome:
    def unmatched(reason: str) -> Outcome:
        return Outcome(tx, "unmatched", reason)

    if tx.end_to_end_id is None:
        return unmatched("no end-to-end id (Refs/EndToEndId, OrgnlEndToEndId)")
    collection = connection.execute(
        select(sepa_collections).where(sepa_collections.c.end_to_end_id == tx.end_to_end_id)
    ).first()
    if collection is None:
        return unmatched(
            f"unknown end-to-end id {tx.end_to_end_id!r}: no collection of an exported file has it"
        )
    if tx.amount is None or tx.currency not in (None, "EUR"):
        return unmatched("no amount in EUR (AmtDtls/InstdAmt/Amt, OrgnlTxRef/Amt/InstdAmt)")
    try:
        cents = to_cents(tx.amount)
    except ValueError:
        return unmatched(f"the amount {tx.amount} is not a whole number of cents")
    collected = from_cents(collection.amount_cents)
    if cents != collection.amount_cents:
        return unmatched(
            f"the amount {format_amount(tx.amount)} EUR differs from the collection of invoice "
            f"{collection.invoice} ({format_amount(collected)} EUR, message "
            f"{collection.message_id})"
        )
    if tx.reason_code is None or not _REASON_CODE.match(tx.reason_code):
        return unmatched(
            f"no ISO reason code (RtrInf/Rsn/Cd, StsRsnInf/Rsn/Cd), found {tx.reason_code!r}: "
            "send the direct_debit.returned event by hand with the bank's reason"
        )
    if tx.day is None:
        return unmatched("no day in the file (Ntry/BookgDt, GrpHdr/CreDtTm)")
    try:
        terms = engine.catalog.at(tx.day)
    except NotInForce:
        return unmatched(f"no terms are in force on the file's day {tx.day}")
    event = {
        "id": event_id(tx.end_to_end_id, tx.bank_reference),
        "type": "direct_debit.returned",
        "account": collection.account,
        "at": _instant(tx.day, terms),
        "amount": format_amount(collected),
        "invoice": collection.invoice,
        "reason_code": tx.reason_code,
        "end_to_end_id": tx.end_to_end_id,
    }
    if unit.existing_event_ids([event["id"]]):
        return Outcome(tx, "already_imported", event=event)
    # One collection is returned once: another bank reference of it is refused naming the
    # first return (the engine refuses it too, inside its transaction, whatever the path).
    earlier = claimed.get(collection.invoice) or _returned_before(
        connection, collection.invoice, collection.collection_date
    )
    if earlier:
        return Outcome(tx, "rejected", already_returned(collection.invoice, earlier), event)
    invoice = connection.execute(
        select(invoices.c.amount_cents, invoices.c.open_cents, invoices.c.state).where(
            invoices.c.number == collection.invoice
        )
    ).one()
    if invoice.amount_cents - invoice.open_cents < cents or not _collected(invoice.state):
        return unmatched(
            f"invoice {collection.invoice} has no direct debit of {format_amount(collected)} EUR "
            "booked to reverse (a transfer, credit or credit note is no collection): book the "
            "collection's payment.received with method direct_debit (the bank statement) first"
        )
    return Outcome(tx, "pending", event=event)


def _collected(state: str | bytes | None) -> bool:
    """Whether the bank's credit of a direct debit is booked on the invoice since its last
    return (``Invoice.debits_collected``): a reject before settlement (pain.002) or a return of
    a collection never credited has nothing to reverse, whatever else paid the invoice."""
    facts = orjson.loads(state) if state else {}
    returns = facts.get("returns") or []
    since = returns[-1].get("debits", -1) if returns else 0
    return facts.get("debits_collected", 0) > since


def import_returns(engine: Engine, data: bytes) -> ImportReport:
    """Read the file, match its transactions and apply the matched ones in one transaction.

    ReturnFileInvalid for a file that is neither camt.054 nor pain.002.
    """
    returns = read_return_file(data)
    outcomes = match(engine, returns)
    pending = [o for o in outcomes if o.status == "pending"]
    if pending:
        results = engine.handle_many([o.event for o in pending])
        for outcome, result in zip(pending, results, strict=True):
            outcome.effects = result.get("effects", [])
            if result["status"] == "applied":
                outcome.status = "applied"
            elif result["status"] == "duplicate":
                outcome.status = "already_imported"
            else:
                outcome.status = "rejected"
                outcome.reason = result.get("reason")
    return ImportReport(
        returns.message, returns.message_id, outcomes, returns.other, returns.rejected_batches
    )
