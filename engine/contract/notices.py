"""The customer's notice of a change of the terms, in German (AGB 8; TKG § 57; PAngV § 3).

What the notice says, and where this module says it:

- the customer's name, address and customer number, and the date (:func:`_heading`);
- the change, each parameter by its German label (``label_de``) with its old and new value in
  German format (AGB 8.1, 8.6; TKG § 57 (2) no. 1): :func:`change_lines`. Prices that invoices
  tax (plans and rate tables, Platform: invoicing) are quoted to consumers with VAT (PAngV § 3)
  and to businesses net with "zzgl. USt";
- the date the change takes effect, and the reason of a price increase (AGB 8.1);
- the termination right (TKG § 57 (2) no. 2): who holds it and for how long is the engine's
  decision (engine/contract/term_changes.py: AGB 8.2 / 8.6 widened by TKG § 57 (1), which is
  mandatory). Its last day depends on receipt, which the letter cannot know when it is
  written: it states the period "ab Zugang" and the last day for receipt on the day an e-mail
  sent on publishing counts as received (Platform: receipt); the form (AGB 1.2.2);
- what happens if the customer does nothing, in words the statute supports: the contract goes
  on with the change. "Gilt als genehmigt" (AGB 8.2) and "wird Vertragsbestandteil" (AGB 8.6)
  are written only where the statute does not apply (a business whose waiver legal confirmed,
  rules/law/tkg-71-scope.yaml).

Publishing (engine/drafting/publishing.py) stores exactly :func:`letter_for`'s letter per
customer in the outbox, the e-mail sends that text, and the admin UI shows the same letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from engine.catalog import Catalog, Terms
from engine.catalog.values import parse_value
from engine.contract.term_changes import entitled, received_on, termination_until
from engine.core.deadlines import Period
from engine.core.money import ROUNDING_MODES
from engine.documents import german

CUSTOMER_TYPES = ("consumer", "business")
CUSTOMER_TYPE_NAMES = {"consumer": "Verbraucher", "business": "Unternehmer"}
PRICE_FILES = ("plan", "rates")  # prices the invoices tax (Platform: invoicing taxable_items)
RATE_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True)
class Recipient:
    """Whom a letter is addressed to: the account (customer number) and its master data."""

    account: str
    customer_type: str
    customer: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def sample(cls, customer_type: str) -> Recipient:
        """A placeholder for the preview of a customer type nobody affected has."""
        return cls("(Kundennummer)", customer_type, {"name": "(Name des Kunden)"})


@dataclass(frozen=True)
class TerminationRight:
    """The termination right as the notice states it (AGB 8.2 or 8.6, TKG § 57 (1))."""

    clause: str  # "AGB 8.2" or "AGB 8.6"
    until: date  # last day to terminate for receipt on ``received`` (BGB §§ 187, 188, 193)
    window: Period  # the period applied, e.g. 3 months
    received: date  # the receipt the last day assumes
    statute: str | None  # "TKG § 57 (1)" where the statute's right applies


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str


def termination_right(
    terms: Terms, clause: str | None, recipient: Recipient, received: date
) -> TerminationRight | None:
    """The termination right of ``recipient`` for a notice received on ``received``."""
    if entitled(terms, recipient, clause) is None:
        return None
    until = termination_until(terms, clause, received)
    statute = until.statute if until.source == "statute" else None
    window = terms.clause(clause)["termination_window"]
    if statute:
        window = terms.clause(statute.split(" (")[0])["termination_window"]
    return TerminationRight(clause, until.value, window, received, statute)


def expected_receipt(terms: Terms, notified: date | datetime) -> date:
    """When an e-mail sent on publishing counts as received (Platform: receipt)."""
    if isinstance(notified, datetime):
        return received_on(terms, "email", notified)
    return notified


def letters_for(
    catalog: Catalog,
    assessment,
    reason: str,
    notified: date | datetime,
    recipients: dict[str, Recipient] | None = None,
) -> dict[str, Letter]:
    """The letter each customer type receives, addressed to ``recipients`` (per type) or to a
    placeholder, for a publication notified at ``notified``."""
    recipients = recipients or {}
    return {
        kind: letter_for(
            catalog, assessment, reason, notified, recipients.get(kind) or Recipient.sample(kind)
        )
        for kind in CUSTOMER_TYPES
    }


def letter_for(
    catalog: Catalog, assessment, reason: str, notified: date | datetime, recipient: Recipient
) -> Letter:
    """The notice of one change to one customer, as the outbox stores and the e-mail sends it."""
    # the letter's date is the day in Berlin (the catalog's calendar), as the notice periods
    # count it, never the instant's UTC date (publishing at 00:30 in Berlin is the next day)
    day = catalog.local_date(notified) if isinstance(notified, datetime) else notified
    terms = catalog.at(notified)
    received = expected_receipt(terms, notified)
    right = termination_right(terms, assessment.termination_clause, recipient, received)
    effective = german.long_date(assessment.effective_from)
    subject = f"Änderung Ihrer Vertragsbedingungen zum {effective}"
    lines = [
        *_heading(recipient, day),
        f"Betreff: {subject}",
        "",
        "Sehr geehrte Kundin, sehr geehrter Kunde,",
        "",
        f"mit Wirkung zum {effective} ändern wir {cited_as(assessment.citation)}:",
        "",
        *change_lines(assessment, _prices(catalog, terms, assessment, recipient)),
    ]
    if reason.strip():
        lines += ["", f"Grund der Änderung: {reason.strip()}"]
    lines += ["", *_consequences(terms, assessment, right, effective)]
    provider = terms.clause("Platform: provider")["name"]
    lines += ["", "Mit freundlichen Grüßen", provider]
    return Letter(subject, "\n".join(lines))


def _heading(recipient: Recipient, day: date) -> list[str]:
    customer = recipient.customer
    lines = [customer.get("name") or "(Name des Kunden)"]
    address = customer.get("address")
    if address:
        lines += [address["street"], f"{address['postal_code']} {address['city']}"]
        if address.get("country", "DE") != "DE":
            lines.append(address["country"])
    return [*lines, "", f"Kundennummer: {recipient.account}", f"Datum: {german.long_date(day)}", ""]


def cited_as(citation: str) -> str:
    """How a letter names the changed provision: ``AGB 4.2.3`` -> ``Ziffer 4.2.3 unserer AGB``."""
    if citation.startswith("AGB "):
        return f"Ziffer {citation.removeprefix('AGB ')} unserer Allgemeinen Geschäftsbedingungen"
    if citation.startswith("CLINQ SD "):
        return f"Ziffer {citation.removeprefix('CLINQ SD ')} der Leistungsbeschreibung CLINQ"
    if citation.startswith("Price list: "):
        return "unsere Preisliste"
    if citation.startswith("Platform: "):
        return "unsere Vertragsbedingungen"
    law, _, section = citation.partition(" § ")
    return f"die Regelung nach § {section} {law}" if section else citation


def _prices(catalog: Catalog, terms: Terms, assessment, recipient: Recipient):
    """How the letter quotes a taxed price: gross for consumers (PAngV § 3), net + "zzgl. USt"
    for businesses; None for files whose amounts invoices do not tax (e.g. AGB 4.2.3's damages)."""
    if catalog.file(assessment.citation).kind not in PRICE_FILES:
        return None
    rate = terms.clause("UStG § 12")["standard_rate"]
    mode = ROUNDING_MODES[terms.money.rounding]

    def quoted(type_: str, shown: str) -> str:
        net = parse_value(type_, shown)
        if recipient.customer_type != "consumer":
            return f"{german.value(type_, net)} zzgl. USt"
        gross = net * (100 + rate) / 100
        gross = terms.money.round(gross) if type_ == "money" else gross.quantize(RATE_QUANTUM, mode)
        return f"{german.value(type_, gross)} inkl. {german.number(rate)} % USt"

    return quoted


def change_lines(assessment, prices=None) -> list[str]:
    """One line per changed parameter: ``- label: bisher old, künftig new``."""
    lines = []
    for change in assessment.changes:
        if change.effect == "unchanged":
            continue
        before, after = change.before_de, change.after_de
        if prices is not None and change.kind in ("money", "rate"):
            before, after = prices(change.kind, change.before), prices(change.kind, change.after)
        lines.append(f"- {change.label_de}: bisher {before}, künftig {after}")
    if assessment.rules_changed:
        lines.append("- die Bedingungen, unter denen diese Regelung gilt")
    return lines


def _consequences(
    terms: Terms, assessment, right: TerminationRight | None, effective: str
) -> list[str]:
    if right is not None:
        return _termination_text(terms, right, effective)
    if assessment.vat_change:
        return [
            "Die Anpassung an den geänderten Umsatzsteuersatz ist unmittelbar gesetzlich "
            "vorgeschrieben und begründet kein Kündigungsrecht (§ 57 Abs. 1 Satz 1 Nr. 3 TKG; "
            "Ziffer 8.2 unserer Allgemeinen Geschäftsbedingungen)."
        ]
    if not assessment.disadvantage:
        return [
            "Die Änderung ist ausschließlich zu Ihrem Vorteil (§ 57 Abs. 1 Satz 1 Nr. 1 TKG); "
            "Sie müssen nichts unternehmen."
        ]
    if assessment.termination_clause is None:  # a statute changed (the law changes by itself)
        return [
            "Die Änderung ist gesetzlich vorgeschrieben und begründet kein "
            "Sonderkündigungsrecht (§ 57 Abs. 1 Satz 1 Nr. 3 TKG)."
        ]
    return [
        "Ein außerordentliches Kündigungsrecht steht Ihnen wegen dieser Änderung nicht zu; "
        "Ihr Recht zur ordentlichen Kündigung bleibt unberührt.",
        "",
        f"Wenn Sie nichts unternehmen, gilt ab dem {effective} die geänderte Regelung.",
    ]


def _termination_text(terms: Terms, right: TerminationRight, effective: str) -> list[str]:
    number = right.clause.removeprefix("AGB ")
    until, received = german.long_date(right.until), german.long_date(right.received)
    basis = f"Ziffer {number} unserer Allgemeinen Geschäftsbedingungen"
    if right.statute:
        basis = f"§ 57 Abs. 1 TKG; {basis}"
    channels = german.value("set", terms.clause("AGB 1.2.2")["valid_channels"])
    lines = [
        "Ihr Kündigungsrecht: Wegen dieser Änderung können Sie den Vertrag ohne Einhaltung "
        f"einer Kündigungsfrist und ohne Kosten kündigen ({basis}). Die Frist dafür beträgt "
        f"{german.period(right.window)} ab Zugang dieser Mitteilung; geht sie Ihnen am "
        f"{received} zu, können Sie bis einschließlich {until} kündigen. Der Vertrag endet "
        f"dann mit dem Wirksamwerden der Änderung am {effective}; kündigen Sie später, mit dem "
        "Zugang Ihrer Kündigung.",
        "",
        f"Form der Kündigung: {channels} (Ziffer 1.2.2 unserer Allgemeinen Geschäftsbedingungen).",
        "",
    ]
    if right.statute:
        lines.append(
            f"Wenn Sie nicht kündigen, wird Ihr Vertrag ab dem {effective} mit der Änderung "
            "fortgesetzt; Ihr Recht zur ordentlichen Kündigung bleibt unberührt."
        )
    elif right.clause == "AGB 8.2":
        lines.append(
            f"Wichtiger Hinweis: Kündigen Sie nicht bis zum {until}, gilt die Änderung als "
            "genehmigt (Ziffer 8.2 unserer Allgemeinen Geschäftsbedingungen)."
        )
    else:
        lines.append(
            f"Wichtiger Hinweis: Kündigen Sie nicht bis zum {until}, wird die Änderung zum "
            f"{effective} Vertragsbestandteil (Ziffer 8.6 unserer Allgemeinen "
            "Geschäftsbedingungen)."
        )
    return lines
