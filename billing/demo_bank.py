"""A simulated bank for the demo (issue 29): what a bank answers to the platform's pain.008.

The walkthrough of the monthly collection needs the bank's side: the credit of the collection
on its day, a return two TARGET2 days later (camt.054.001.02, as German banks deliver it under
the DFÜ agreement) and a reject before settlement (pain.002.001.03). This module writes them
from a real pain.008 file of the platform, as the demo's customers' banks would answer:

    .venv/bin/python -m billing.demo_bank pain.008-2026-12-09.xml

writes ``collected-2026-12-09.jsonl`` (the credited collections as ``payment.received``
events, method ``direct_debit``, for ``billing replay``), ``pain.002-2026-12-08.xml`` and
``camt.054-2026-12-11.xml`` next to the file (``--out DIR`` elsewhere). Which debit comes back
is the simulated banks' knowledge of their accounts (:data:`DECEMBER`): Anna Schmidt's account
lacks the funds again (AM04, returned), Lukas Becker closed his (AC04, rejected before
settlement). Not a bank: the files carry the fields the platform reads, and the ones a German
bank's files have around them, nothing more. Deterministic: the same input gives the same
files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree

BERLIN = ZoneInfo("Europe/Berlin")
CREDITOR_IBAN = "DE89370400440532013000"  # rules/platform/provider.yaml (sample)
_PAIN008 = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"}
_CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
_PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"

# The debtors' accounts the December collection fails on: IBAN -> (return | reject, ISO code).
DECEMBER = {
    "DE83370400440532013011": ("return", "AM04"),  # Anna Schmidt: insufficient funds
    "DE71370400440532013033": ("reject", "AC04"),  # Lukas Becker: account closed
}


@dataclass(frozen=True)
class Debit:
    message_id: str
    payment_id: str
    collection_date: date
    end_to_end_id: str
    amount: str
    mandate: str
    debtor: str
    iban: str


def debits_of(pain008: bytes) -> list[Debit]:
    """The transactions of a pain.008.001.08 file."""
    root = ET.fromstring(pain008)
    message = root.findtext(".//p:GrpHdr/p:MsgId", namespaces=_PAIN008) or ""
    found = []
    for info in root.iterfind(".//p:PmtInf", _PAIN008):
        day = date.fromisoformat(info.findtext("p:ReqdColltnDt", namespaces=_PAIN008) or "")
        for tx in info.iterfind("p:DrctDbtTxInf", _PAIN008):
            text = lambda path, tx=tx: tx.findtext(path, namespaces=_PAIN008) or ""  # noqa: E731
            found.append(
                Debit(
                    message_id=message,
                    payment_id=info.findtext("p:PmtInfId", namespaces=_PAIN008) or "",
                    collection_date=day,
                    end_to_end_id=text("p:PmtId/p:EndToEndId"),
                    amount=text("p:InstdAmt"),
                    mandate=text(".//p:MndtRltdInf/p:MndtId"),
                    debtor=text("p:Dbtr/p:Nm"),
                    iban=text("p:DbtrAcct/p:Id/p:IBAN"),
                )
            )
    return found


def target_day(day: date, offset: int) -> date:
    """``offset`` TARGET2 days from ``day`` (weekends skipped; the demo's dates have no
    holiday)."""
    step = 1 if offset > 0 else -1
    while offset:
        day += timedelta(step)
        if day.weekday() < 5:
            offset -= step
    return day


class DemoBank:
    """The debtors' banks: ``behaviour`` maps an IBAN to a reason code (returned) or to
    ``(kind, code)`` with kind ``return`` or ``reject``; every other debit is collected."""

    def __init__(self, behaviour: dict[str, str | tuple[str, str]]):
        self.behaviour = {
            iban: rule if isinstance(rule, tuple) else ("return", rule)
            for iban, rule in behaviour.items()
        }

    def _kind(self, debit: Debit) -> tuple[str, str] | None:
        return self.behaviour.get(debit.iban)

    def collected(self, pain008: bytes) -> list[dict]:
        """The collections the bank credited on their day (all but the rejected ones), as the
        ``payment.received`` events finance books (method direct_debit, the invoice)."""
        events = []
        for debit in debits_of(pain008):
            rule = self._kind(debit)
            if rule and rule[0] == "reject":
                continue
            day = debit.collection_date
            events.append(
                {
                    "id": f"bank-credit:{debit.end_to_end_id}:{day.isoformat()}",
                    "type": "payment.received",
                    "account": _account_of(debit),
                    "at": datetime(day.year, day.month, day.day, tzinfo=BERLIN).isoformat(),
                    "amount": debit.amount,
                    "method": "direct_debit",
                    "reference": debit.end_to_end_id,
                }
            )
        return events

    def returns(self, files: list[bytes], day: date) -> bytes:
        """The camt.054 debit notification of the returns, booked two TARGET2 days after the
        collection ``day``."""
        debits = [
            d for xml in files for d in debits_of(xml) if (self._kind(d) or ("",))[0] == "return"
        ]
        return camt054(debits, {d.iban: self.behaviour[d.iban][1] for d in debits},
                       target_day(day, 2))  # fmt: skip

    def rejects(self, files: list[bytes], day: date) -> bytes:
        """The pain.002 status report of the rejects, the day before the collection ``day``."""
        debits = [
            d for xml in files for d in debits_of(xml) if (self._kind(d) or ("",))[0] == "reject"
        ]
        return pain002(debits, {d.iban: self.behaviour[d.iban][1] for d in debits},
                       target_day(day, -1))  # fmt: skip


def _account_of(debit: Debit) -> str:
    """The account of a debit: the platform's mandate references are ``CLINQ-<ACCOUNT>-<n>``."""
    return debit.mandate.removeprefix("CLINQ-").rsplit("-", 1)[0].lower()


def _reference(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16].upper()


def _sub(parent, tag: str, text: str | None = None, **attributes):
    element = etree.SubElement(parent, tag, **attributes)
    if text is not None:
        element.text = text
    return element


def _path(parent, path: str, text: str | None = None, **attributes):
    *outer, last = path.split("/")
    for tag in outer:
        parent = _sub(parent, tag)
    return _sub(parent, last, text, **attributes)


def camt054(debits: list[Debit], reasons: dict[str, str], booked: date) -> bytes:
    """A camt.054.001.02 debit notification: one booked entry of the returned direct debits
    (BkTxCd PMNT/RDDT/UPDD, GVC 109), a TxDtls per return with its Refs and RtrInf/Rsn/Cd."""
    root = etree.Element("Document", nsmap={None: _CAMT})
    body = _sub(root, "BkToCstmrDbtCdtNtfctn")
    message = f"DEMOBANK-CAMT054-{booked.isoformat()}"
    header = _sub(body, "GrpHdr")
    _sub(header, "MsgId", message)
    _sub(header, "CreDtTm", f"{booked.isoformat()}T06:12:00+01:00")
    notification = _sub(body, "Ntfctn")
    _sub(notification, "Id", f"{message}-1")
    _sub(notification, "CreDtTm", f"{booked.isoformat()}T06:12:00+01:00")
    account = _sub(notification, "Acct")
    _path(account, "Id/IBAN", CREDITOR_IBAN)
    entry = _sub(notification, "Ntry")
    total = sum(int(d.amount.replace(".", "")) for d in debits)
    _sub(entry, "Amt", f"{total // 100}.{total % 100:02d}", Ccy="EUR")
    _sub(entry, "CdtDbtInd", "DBIT")
    _sub(entry, "Sts", "BOOK")
    _path(entry, "BookgDt/Dt", booked.isoformat())
    _path(entry, "ValDt/Dt", booked.isoformat())
    _sub(entry, "AcctSvcrRef", _reference(message))
    code = _sub(entry, "BkTxCd")
    domain = _sub(code, "Domn")
    _sub(domain, "Cd", "PMNT")
    family = _sub(domain, "Fmly")
    _sub(family, "Cd", "RDDT")
    _sub(family, "SubFmlyCd", "UPDD")
    proprietary = _sub(code, "Prtry")
    _sub(proprietary, "Cd", "NRTI+109+9933+997")
    _sub(proprietary, "Issr", "DK")
    details = _sub(entry, "NtryDtls")
    _path(details, "Btch/NbOfTxs", str(len(debits)))
    for debit in debits:
        tx = _sub(details, "TxDtls")
        refs = _sub(tx, "Refs")
        _sub(refs, "AcctSvcrRef", _reference(message, debit.end_to_end_id))
        _sub(refs, "MsgId", debit.message_id)
        _sub(refs, "PmtInfId", debit.payment_id)
        _sub(refs, "EndToEndId", debit.end_to_end_id)
        _sub(refs, "MndtId", debit.mandate)
        _path(tx, "AmtDtls/InstdAmt/Amt", debit.amount, Ccy="EUR")
        parties = _sub(tx, "RltdPties")
        _path(parties, "Dbtr/Nm", debit.debtor)
        _path(parties, "DbtrAcct/Id/IBAN", debit.iban)
        _path(tx, "RmtInf/Ustrd", f"Rechnung {debit.end_to_end_id}")
        info = _sub(tx, "RtrInf")
        _path(info, "Rsn/Cd", reasons[debit.iban])
        _sub(info, "AddtlInf", "RUECKLASTSCHRIFT")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def pain002(debits: list[Debit], reasons: dict[str, str], created: date) -> bytes:
    """A pain.002.001.03 status report: one TxInfAndSts with TxSts RJCT per rejected debit."""
    root = etree.Element("Document", nsmap={None: _PAIN002})
    body = _sub(root, "CstmrPmtStsRpt")
    header = _sub(body, "GrpHdr")
    message = f"DEMOBANK-PAIN002-{created.isoformat()}"
    _sub(header, "MsgId", message)
    _sub(header, "CreDtTm", f"{created.isoformat()}T07:30:00")
    group = _sub(body, "OrgnlGrpInfAndSts")
    _sub(group, "OrgnlMsgId", debits[0].message_id if debits else "")
    _sub(group, "OrgnlMsgNmId", "pain.008.001.08")
    _sub(group, "GrpSts", "PART")
    for debit in debits:
        payment = _sub(body, "OrgnlPmtInfAndSts")
        _sub(payment, "OrgnlPmtInfId", debit.payment_id)
        _sub(payment, "PmtInfSts", "PART")
        tx = _sub(payment, "TxInfAndSts")
        _sub(tx, "StsId", _reference(message, debit.end_to_end_id))
        _sub(tx, "OrgnlEndToEndId", debit.end_to_end_id)
        _sub(tx, "TxSts", "RJCT")
        _path(_sub(tx, "StsRsnInf"), "Rsn/Cd", reasons[debit.iban])
        original = _sub(tx, "OrgnlTxRef")
        _path(original, "Amt/InstdAmt", debit.amount, Ccy="EUR")
        _sub(original, "ReqdColltnDt", debit.collection_date.isoformat())
        _path(original, "MndtRltdInf/MndtId", debit.mandate)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def main(argv: list[str] | None = None) -> int:
    """Write the bank's answers to a pain.008 file; exit 2 for a file that is not one."""
    parser = argparse.ArgumentParser(
        prog="python -m billing.demo_bank",
        description="the demo's simulated bank: credits, returns and rejects of a pain.008",
    )
    parser.add_argument("pain008", type=Path, help="a pain.008 file of billing sepa export")
    parser.add_argument("--out", type=Path, help="folder (default: the file's)")
    args = parser.parse_args(argv)
    try:
        data = args.pain008.read_bytes()
        debits = debits_of(data)
    except (OSError, ET.ParseError, ValueError) as error:
        print(f"error: {args.pain008}: not a readable pain.008 file ({error})", file=sys.stderr)
        return 2
    if not debits:
        print(f"error: {args.pain008}: no direct debits in it", file=sys.stderr)
        return 2
    folder = args.out or args.pain008.parent
    folder.mkdir(parents=True, exist_ok=True)
    bank = DemoBank(DECEMBER)
    day = debits[0].collection_date
    collected = bank.collected(data)
    written = {
        f"collected-{day.isoformat()}.jsonl": "".join(
            json.dumps(event, ensure_ascii=False) + "\n" for event in collected
        ).encode(),
        f"pain.002-{target_day(day, -1).isoformat()}.xml": bank.rejects([data], day),
        f"camt.054-{target_day(day, 2).isoformat()}.xml": bank.returns([data], day),
    }
    for name, content in written.items():
        (folder / name).write_bytes(content)
        print(f"wrote {folder / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
