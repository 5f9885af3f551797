"""Money in from the bank: camt.053 statements and camt.054 credit notifications (issue 28).

Each booked credit entry (``Ntry`` with ``CdtDbtInd`` CRDT, status BOOK, not a reversal) is a
transfer the customer sent (AGB 4.2.1). Where its remittance information (``RmtInf/Ustrd``,
``RmtInf/Strd/CdtrRefInf/Ref``) or end-to-end id names an invoice number, it becomes a
``payment.received`` with that invoice as reference (the engine allocates it to the invoice,
AGB 4.2.4); where it names a customer number (the account id, printed as "Kundennummer" on
every invoice) and no invoice, a ``payment.received`` without reference (the money stays
credit on the account, AGB 4.2.4). Everything else waits in the queue (table ``bank_credits``,
status ``queued``) until finance assigns it to an account in the admin UI (:func:`assign`).

Idempotent by the bank's entry reference (``AcctSvcrRef`` of the transaction, else of the
entry): the event id is derived from it (:func:`event_id`) and ``bank_credits`` holds each
reference once, so a statement imported twice books and queues nothing the second time.

A file is refused exactly as ``billing sepa import`` refuses one (both read through
:mod:`engine.interchange.iso20022`: the same size limit, no DOCTYPE, the same lxml parser
without entities, DTDs or network), as is any root other than the ``Document`` of a camt.053
or camt.054 message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from engine.catalog import NotInForce
from engine.core.money import format_amount, from_cents, to_cents
from engine.interchange import iso20022
from engine.interchange.iso20022 import ISO, BankFileInvalid, read_document
from engine.ledger import audit
from engine.ledger.tables import accounts, bank_credits, invoices

if TYPE_CHECKING:
    from engine.engine import Engine

_MESSAGES = {"camt.053": ("BkToCstmrStmt", "Stmt"), "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:((camt\.053|camt\.054)\.001\.\d{2})$")
_INVOICE_NUMBER = re.compile(r"(?<![0-9])(20[0-9]{2}-[0-9]{6,12})(?![0-9])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class StatementInvalid(BankFileInvalid):
    """The file is not a readable camt.053 or camt.054: ``field`` names what is wrong."""


@dataclass(frozen=True)
class Credit:
    """One credit as the bank booked it."""

    entry_reference: str
    amount: Decimal | None
    currency: str | None
    day: date | None
    debtor: str | None
    remittance: str
    end_to_end_id: str | None


@dataclass(frozen=True)
class Statement:
    message: str  # e.g. "camt.053.001.08"
    message_id: str
    credits: list[Credit]
    other: int  # entries that are no booked credit (debits, pending, reversals)


def read_statement(data: bytes) -> Statement:
    """Parse a camt.053 or camt.054 file (any ``.001.NN`` version); StatementInvalid if not."""
    root, match = read_document(
        data,
        _NAMESPACE,
        "the Document of an ISO 20022 camt.053 (bank statement) or camt.054 (credit "
        f"notification), namespace {ISO}camt.053.001.NN or {ISO}camt.054.001.NN",
        StatementInvalid,
    )
    message, family = match.group(1), match.group(2)
    body_name, report_name = _MESSAGES[family]
    body = root.find(body_name)
    if body is None:
        raise StatementInvalid(
            "Document", f"a {message} file needs the message element {body_name}"
        )
    message_id = (body.findtext("GrpHdr/MsgId") or "").strip()
    if not message_id:
        raise StatementInvalid(f"{body_name}/GrpHdr/MsgId", "is missing")
    found, other, position = [], 0, 0
    for report in body.findall(report_name):
        for entry in report.findall("Ntry"):
            position += 1
            if not _booked_credit(entry):
                other += 1
                continue
            found.extend(_credits_of(entry, message_id, position))
    return Statement(message, message_id, found, other)


def _booked_credit(entry) -> bool:
    status = (entry.findtext("Sts/Cd") or entry.findtext("Sts") or "").strip()
    reversal = (entry.findtext("RvslInd") or "").strip().lower() == "true"
    return entry.findtext("CdtDbtInd") == "CRDT" and status == "BOOK" and not reversal


def _credits_of(entry, message_id: str, position: int) -> list[Credit]:
    """The entry's transactions (one per TxDtls; the entry itself when it has none)."""
    day = iso20022.day(
        entry.findtext("BookgDt/Dt") or entry.findtext("BookgDt/DtTm") or entry.findtext("ValDt/Dt")
    )
    entry_reference = (entry.findtext("AcctSvcrRef") or "").strip()
    details = entry.findall("NtryDtls/TxDtls") or [None]
    found = []
    for index, tx in enumerate(details, start=1):
        amount_element = None
        if tx is not None:
            amount_element = iso20022.first(tx, "Amt", "AmtDtls/TxAmt/Amt")
        if amount_element is None and len(details) == 1:
            amount_element = entry.find("Amt")
        amount, currency = iso20022.amount(amount_element)
        reference = (tx.findtext("Refs/AcctSvcrRef") or "").strip() if tx is not None else ""
        if not reference:
            own = entry_reference or f"{message_id}/{position}"
            reference = own if len(details) == 1 else f"{own}/{index}"
        texts = []
        if tx is not None:
            texts = [t.strip() for t in tx.xpath("RmtInf/Ustrd/text()") if t.strip()]
            texts += [t.strip() for t in tx.xpath("RmtInf/Strd/CdtrRefInf/Ref/text()") if t.strip()]
        end_to_end = (tx.findtext("Refs/EndToEndId") or "").strip() if tx is not None else ""
        debtor = (
            tx.findtext("RltdPties/Dbtr/Nm") or tx.findtext("RltdPties/Dbtr/Pty/Nm")
            if tx is not None
            else None
        )
        found.append(
            Credit(
                entry_reference=reference[:200],
                amount=amount,
                currency=currency,
                day=day,
                debtor=(debtor or "").strip()[:200] or None,
                remittance=" ".join(texts)[:1000],
                end_to_end_id=None if end_to_end in ("", "NOTPROVIDED") else end_to_end[:64],
            )
        )
    return found


# -- matching and booking ----------------------------------------------------------------------


def event_id(entry_reference: str) -> str:
    """Deterministic: the same entry of the bank always has the same event id."""
    digest = hashlib.sha256(f"bank-credit|{entry_reference}".encode()).hexdigest()[:16]
    if _SAFE_ID.match(entry_reference):
        return f"bank-credit:{entry_reference}:{digest}"
    return f"bank-credit:{digest}"


@dataclass
class Outcome:
    """What became of one credit: booked, queued or already_imported."""

    credit: Credit
    status: str
    reason: str | None = None
    account: str | None = None
    invoice: str | None = None
    event: dict | None = None
    effects: list[dict] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        credit = self.credit
        found: dict[str, Any] = {
            "status": self.status,
            "entry_reference": credit.entry_reference,
            "amount": None if credit.amount is None else format_amount(credit.amount),
            "booked_on": None if credit.day is None else credit.day.isoformat(),
            "debtor": credit.debtor,
            "remittance": credit.remittance,
        }
        for name in ("account", "invoice", "reason"):
            if getattr(self, name):
                found[name] = getattr(self, name)
        if self.event is not None:
            found["event"] = self.event["id"]
        return found


@dataclass
class ImportReport:
    message: str
    message_id: str
    outcomes: list[Outcome]
    other: int

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "message_id": self.message_id,
            "booked": self.count("booked"),
            "queued": self.count("queued"),
            "already_imported": self.count("already_imported"),
            "not_credits": self.other,
            "credits": [o.to_json() for o in self.outcomes],
        }


def payment_event(engine: Engine, credit: Credit, account: str, invoice: str | None) -> dict:
    """The ``payment.received`` of a credit: a transfer (AGB 4.2.1), at the start of its
    booking day in the platform's zone; the invoice as reference where one is named."""
    assert credit.day is not None and credit.amount is not None
    zone = engine.catalog.at(credit.day).calendar.zone
    event = {
        "id": event_id(credit.entry_reference),
        "type": "payment.received",
        "account": account,
        "at": datetime.combine(credit.day, time.min, zone).isoformat(),
        "amount": format_amount(credit.amount),
        "method": "bank_transfer",
    }
    if invoice is not None:
        event["reference"] = invoice
    return event


def _match(engine: Engine, connection: Connection, credit: Credit) -> Outcome:
    """The account (and invoice) a credit names, or why it waits in the queue."""
    if credit.amount is None or credit.currency not in (None, "EUR") or credit.amount <= 0:
        return Outcome(credit, "queued", "no positive amount in EUR (Ntry/Amt, TxDtls/Amt)")
    try:
        to_cents(credit.amount)
    except ValueError:
        return Outcome(credit, "queued", f"the amount {credit.amount} is no whole number of cents")
    if credit.day is None:
        return Outcome(credit, "queued", "no booking day (Ntry/BookgDt)")
    try:
        engine.catalog.at(credit.day)
    except NotInForce:
        return Outcome(credit, "queued", f"no terms are in force on the booking day {credit.day}")
    text = " ".join(filter(None, [credit.remittance, credit.end_to_end_id]))
    numbers = sorted(set(_INVOICE_NUMBER.findall(text)))
    if numbers:
        rows = connection.execute(
            select(invoices.c.number, invoices.c.account).where(invoices.c.number.in_(numbers))
        ).all()
        owners = {row.account for row in rows}
        if len(owners) == 1:
            account = owners.pop()
            invoice = min(row.number for row in rows)
            return Outcome(credit, "pending", account=account, invoice=invoice)
        if len(owners) > 1:
            return Outcome(credit, "queued", "names invoices of more than one account")
    words = sorted(set(_WORD.findall(text)))[:200]
    found = (
        sorted(connection.execute(select(accounts.c.id).where(accounts.c.id.in_(words))).scalars())
        if words
        else []
    )
    if len(found) == 1:
        return Outcome(credit, "pending", account=found[0])
    if len(found) > 1:
        return Outcome(
            credit, "queued", f"names more than one customer number ({', '.join(found)})"
        )
    return Outcome(credit, "queued", "names no invoice number and no customer number")


def import_statement(engine: Engine, data: bytes, *, actor: str, at: datetime) -> ImportReport:
    """Read the file, book what names an invoice or customer, queue the rest; once per entry.

    StatementInvalid (nothing changed) for a file that is neither camt.053 nor camt.054.
    ``actor`` and ``at`` (when it was imported, read by the caller) go to the queue and audit.
    """
    statement = read_statement(data)
    outcomes: list[Outcome] = []
    with engine.store.unit(commit=False) as unit:
        known = _known_references(unit.connection, [c.entry_reference for c in statement.credits])
        seen: set[str] = set()
        for credit in statement.credits:
            if credit.entry_reference in known or credit.entry_reference in seen:
                outcomes.append(Outcome(credit, "already_imported"))
                continue
            seen.add(credit.entry_reference)
            outcome = _match(engine, unit.connection, credit)
            if outcome.status == "pending":
                outcome.event = payment_event(engine, credit, outcome.account, outcome.invoice)
            outcomes.append(outcome)
    pending = [o for o in outcomes if o.status == "pending"]
    if pending:
        results = engine.handle_many([o.event for o in pending])
        for outcome, result in zip(pending, results, strict=True):
            outcome.effects = result.get("effects", [])
            if result["status"] in ("applied", "duplicate"):
                outcome.status = "booked"
            else:
                outcome.status = "queued"
                outcome.reason = f"the payment was rejected: {result.get('reason')}"
                outcome.event = None
    fresh = [o for o in outcomes if o.status in ("booked", "queued")]
    with engine.store.db.begin() as connection:
        _record(connection, statement, fresh, actor, at)
        audit.record(
            connection,
            actor,
            "bank_statement_imported",
            at=at,
            message=statement.message,
            message_id=statement.message_id,
            booked=sum(1 for o in fresh if o.status == "booked"),
            queued=sum(1 for o in fresh if o.status == "queued"),
        )
    return ImportReport(statement.message, statement.message_id, outcomes, statement.other)


def _known_references(connection: Connection, references: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(references), 500):
        chunk = references[start : start + 500]
        found |= set(
            connection.execute(
                select(bank_credits.c.entry_reference).where(
                    bank_credits.c.entry_reference.in_(chunk)
                )
            ).scalars()
        )
    return found


def _record(connection, statement: Statement, outcomes: list[Outcome], actor: str, at) -> None:
    rows = []
    for outcome in outcomes:
        credit = outcome.credit
        cents = 0
        if credit.amount is not None:
            try:
                cents = to_cents(credit.amount)
            except ValueError:
                cents = 0
        rows.append(
            {
                "entry_reference": credit.entry_reference,
                "message": statement.message,
                "message_id": statement.message_id[:64],
                "booked_on": credit.day.isoformat() if credit.day else "",
                "amount_cents": cents,
                "currency": (credit.currency or "EUR")[:3],
                "debtor": credit.debtor,
                "remittance": credit.remittance,
                "end_to_end_id": credit.end_to_end_id,
                "status": outcome.status,
                "reason": outcome.reason,
                "account": outcome.account if outcome.status == "booked" else None,
                "invoice": outcome.invoice if outcome.status == "booked" else None,
                "event_id": outcome.event["id"] if outcome.event else None,
                "imported_at": at.isoformat(timespec="seconds"),
                "imported_by": actor,
            }
        )
    if rows:
        connection.execute(insert(bank_credits), rows)


# -- the queue ---------------------------------------------------------------------------------


class AssignmentRefused(ValueError):
    """A queued credit cannot be assigned as asked: ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def assign(
    engine: Engine,
    credit_id: int,
    account: str,
    invoice: str | None,
    *,
    actor: str,
    at: datetime,
) -> dict:
    """Book a queued credit to ``account`` (and ``invoice``, which must be the account's) as
    its ``payment.received``; the assignment is audited. The engine's result is returned."""
    with engine.store.db.connect() as connection:
        row = connection.execute(
            select(bank_credits).where(bank_credits.c.id == credit_id)
        ).one_or_none()
        if row is None:
            raise AssignmentRefused("credit", f"there is no bank credit {credit_id}")
        if row.status != "queued":
            raise AssignmentRefused("credit", f"credit {credit_id} is {row.status} already")
        if row.currency != "EUR" or row.amount_cents <= 0 or not row.booked_on:
            raise AssignmentRefused("credit", "only a positive EUR credit with a day is booked")
        if (
            not _WORD.fullmatch(account or "")
            or connection.execute(
                select(accounts.c.id).where(accounts.c.id == account)
            ).one_or_none()
            is None
        ):
            raise AssignmentRefused("account", f"there is no account {account!r}")
        if invoice and not _WORD.fullmatch(invoice):
            raise AssignmentRefused("invoice", f"{invoice[:40]!r} is not an invoice number")
        if invoice:
            owner = connection.execute(
                select(invoices.c.account).where(invoices.c.number == invoice)
            ).scalar_one_or_none()
            if owner != account:
                raise AssignmentRefused("invoice", f"account {account} has no invoice {invoice!r}")
    credit = Credit(
        entry_reference=row.entry_reference,
        amount=from_cents(row.amount_cents),
        currency="EUR",
        day=date.fromisoformat(row.booked_on),
        debtor=row.debtor,
        remittance=row.remittance or "",
        end_to_end_id=row.end_to_end_id,
    )
    try:
        event = payment_event(engine, credit, account, invoice or None)
    except NotInForce as exc:
        raise AssignmentRefused("credit", str(exc)) from None
    result = engine.handle(event)
    if result["status"] not in ("applied", "duplicate"):
        raise AssignmentRefused("account", f"the payment was rejected: {result.get('reason')}")
    with engine.store.db.begin() as connection:
        connection.execute(
            update(bank_credits)
            .where(bank_credits.c.id == credit_id, bank_credits.c.status == "queued")
            .values(
                status="assigned",
                account=account,
                invoice=invoice or None,
                event_id=event["id"],
                assigned_by=actor,
                assigned_at=at.isoformat(timespec="seconds"),
            )
        )
        audit.record(
            connection,
            actor,
            "bank_credit_assigned",
            at=at,
            credit=credit_id,
            entry_reference=row.entry_reference,
            account=account,
            invoice=invoice or None,
            amount=format_amount(credit.amount),
            event=event["id"],
        )
    return result


def credits(
    connection: Connection, status: str | None = None, account: str | None = None, limit: int = 200
) -> list:
    """Bank credits, newest first: the queue (``queued``), or those of an account."""
    query = select(bank_credits).order_by(bank_credits.c.id.desc()).limit(limit)
    if status:
        query = query.where(bank_credits.c.status == status)
    if account:
        query = query.where(bank_credits.c.account == account)
    return list(connection.execute(query))
