"""The customer's notice of a change of the terms, in German (AGB 8.1, 8.2, 8.4-8.6).

What AGB 8 requires the notice to say, and where this module says it:

- the change, each parameter by its German label (``label_de``) with its old and new value in
  German format (AGB 8.1, 8.6: "die Änderung ... mitteilt"): :func:`change_lines`;
- the date the change takes effect;
- the reason of a price increase (AGB 8.1: "den Grund der Erhöhung erläutert");
- the special termination right of the customers entitled to it (AGB 8.2: consumers, price
  increases; AGB 8.6: every customer, disadvantageous changes; who is entitled is the
  clause's ``entitled_customers``), with its deadline: the end of ``termination_window`` after
  receipt of the notice, effective on the day the change takes effect;
- the consequence of silence, which the clause requires the notice to point out expressly: the
  change counts as approved (8.2) or becomes part of the contract (8.6).

Publishing (engine/drafting/publishing.py) sends exactly :func:`letters_for`'s letter per customer
type, and the admin UI shows the same letters on a draft before it is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from engine.catalog import Catalog
from engine.core.deadlines import Period
from engine.documents import german

CUSTOMER_TYPES = ("consumer", "business")
CUSTOMER_TYPE_NAMES = {"consumer": "Verbraucher", "business": "Unternehmer"}


@dataclass(frozen=True)
class TerminationRight:
    """A special termination right as the notice states it (AGB 8.2 or 8.6)."""

    clause: str  # "AGB 8.2" or "AGB 8.6"
    until: date  # last day to terminate (BGB §§ 187, 188, 193)
    window: Period  # termination_window, e.g. 4 weeks


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str


def termination_right(catalog: Catalog, clause: str | None, notified_on: date) -> tuple:
    """The termination right of ``clause`` for a notice of ``notified_on``, and who has it."""
    if clause is None:
        return None, ()
    terms = catalog.at(notified_on)
    termination = terms.clause(clause)
    until = termination.deadline("termination_window", notified_on, terms.calendar)
    right = TerminationRight(clause, until, termination["termination_window"])
    return right, tuple(termination["entitled_customers"])


def letters_for(catalog: Catalog, assessment, reason: str, notified_on: date) -> dict[str, Letter]:
    """The letter each customer type receives for a publication notified on ``notified_on``."""
    right, entitled = termination_right(catalog, assessment.termination_clause, notified_on)
    provider = catalog.at(notified_on).clause("Platform: provider")["name"]
    return {
        customer_type: terms_change_letter(
            assessment,
            reason=reason,
            termination=right if customer_type in entitled else None,
            provider=provider,
        )
        for customer_type in CUSTOMER_TYPES
    }


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


def change_lines(assessment) -> list[str]:
    """One line per changed parameter: ``- label: bisher old, künftig new``."""
    lines = [
        f"- {change.label_de}: bisher {change.before_de}, künftig {change.after_de}"
        for change in assessment.changes
        if change.effect != "unchanged"
    ]
    if assessment.rules_changed:
        lines.append("- die Bedingungen, unter denen diese Regelung gilt")
    return lines


def terms_change_letter(
    assessment, *, reason: str, termination: TerminationRight | None, provider: str
) -> Letter:
    """The notice of one change, for a customer with or without the termination right."""
    effective = german.long_date(assessment.effective_from)
    subject = f"Änderung Ihrer Vertragsbedingungen zum {effective}"
    lines = [
        "Sehr geehrte Kundin, sehr geehrter Kunde,",
        "",
        f"mit Wirkung zum {effective} ändern wir {cited_as(assessment.citation)}:",
        "",
        *change_lines(assessment),
    ]
    if reason.strip():
        lines += ["", f"Grund der Änderung: {reason.strip()}"]
    lines += ["", *_consequences(assessment, termination, effective)]
    lines += ["", "Mit freundlichen Grüßen", provider]
    return Letter(subject, "\n".join(lines))


def _consequences(assessment, termination: TerminationRight | None, effective: str) -> list[str]:
    clause = assessment.termination_clause
    if termination is not None:
        number = termination.clause.removeprefix("AGB ")
        until = german.long_date(termination.until)
        silence = (
            "gilt die Änderung als genehmigt"
            if termination.clause == "AGB 8.2"
            else f"wird die Änderung zum {effective} Vertragsbestandteil"
        )
        return [
            "Ihr Sonderkündigungsrecht: Sie können den Vertrag wegen dieser Änderung "
            f"außerordentlich mit Wirkung zum {effective} kündigen, schriftlich oder per E-Mail, "
            f"bis zum {until} ({german.period(termination.window)} nach Zugang dieser "
            f"Mitteilung; Ziffer {number} unserer Allgemeinen Geschäftsbedingungen).",
            "",
            f"Wichtiger Hinweis: Kündigen Sie nicht bis zum {until}, {silence}.",
        ]
    if assessment.vat_change:
        return [
            "Die Anpassung an den geänderten Umsatzsteuersatz begründet kein "
            "Kündigungsrecht (Ziffer 8.2 unserer Allgemeinen Geschäftsbedingungen)."
        ]
    if not assessment.disadvantage:
        return ["Die Änderung ist ausschließlich zu Ihrem Vorteil; Sie müssen nichts unternehmen."]
    if clause is None:  # a statute changed (the law changes by itself)
        return [
            "Die Änderung ist gesetzlich vorgeschrieben und begründet kein "
            "Sonderkündigungsrecht (§ 57 Abs. 1 TKG)."
        ]
    return [
        "Ein außerordentliches Kündigungsrecht steht Ihnen wegen dieser Änderung nicht zu; "
        "Ihr Recht zur ordentlichen Kündigung bleibt unberührt."
    ]
