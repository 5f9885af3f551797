"""Publishing a new version of the terms (AGB 8.1-8.6).

A draft is one new version of one catalog file, written as YAML the way the file writes a
version (``effective_from``, ``values``, optionally ``rules``). It is checked by the same loader
as the shipped files, compared parameter by parameter with the version before it (each
parameter declares which direction hurts the customer), and published only if the notice rules
allow its effective date. Publishing stores the version (immutable), writes one letter per
affected customer to the outbox (engine/contract/notices.py), records the audit entry, and
returns a ``terms.notified`` event per customer for the engine, which holds the change back for
that customer until the notice is delivered and received (engine/contract/term_changes.py).
The one service the admin UI and ``billing terms publish`` call is
engine/drafting/terms_publishing.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from engine.catalog import Catalog, CatalogError, TermsFile, Version, load_files
from engine.catalog.conformance import applied_deadline
from engine.catalog.loader import Appended, limit_errors
from engine.catalog.values import format_value
from engine.catalog.yaml_source import MAX_FILE_BYTES, read_yaml
from engine.contract.notices import Recipient, letter_for
from engine.contract.publications import affected_accounts
from engine.core.deadlines import Period
from engine.documents import german
from engine.ledger import audit
from engine.ledger.tables import outbox, publications

PRICE_TYPES = ("money", "rate")


@dataclass(frozen=True)
class ParameterChange:
    name: str
    description: str
    before: str
    after: str
    effect: str  # "disadvantage", "advantage" or "unchanged"
    # as customers read them (engine/contract/notices.py): the German label, values in German format
    label_de: str = ""
    before_de: str = ""
    after_de: str = ""
    kind: str = ""  # the parameter's type: letters quote taxed prices gross or net (PAngV § 3)


@dataclass(frozen=True)
class Assessment:
    """What a draft changes and which notice rules of AGB 8 it falls under."""

    file: str
    citation: str
    effective_from: date
    changes: tuple[ParameterChange, ...]
    rules_changed: bool
    notice_clause: str | None  # AGB 8.1 (prices), 8.4 (AGB), 8.5 (service description) or None
    termination_clause: str | None  # AGB 8.2 or 8.6: consumers' special termination right
    price_increase: bool
    vat_change: bool

    @property
    def disadvantage(self) -> bool:
        return self.rules_changed or any(c.effect == "disadvantage" for c in self.changes)

    @property
    def changed(self) -> bool:
        """Whether the version changes any value or rule of the one before it."""
        return self.rules_changed or any(c.effect != "unchanged" for c in self.changes)


@dataclass
class DraftCheck:
    """A draft's faults, located at the draft's own lines, and its assessment if it has none.

    ``examples`` are the outcomes of the clause examples the draft could change, run against
    the catalog as it would be with the draft (``files``; engine/drafting/draft_checks.py);
    ``retired`` the examples of the file its own examples take over from. A broken example
    stops the publication.
    """

    errors: list[dict] = field(default_factory=list)
    assessment: Assessment | None = None
    files: list = field(default_factory=list, repr=False)
    examples: list = field(default_factory=list)
    retired: list = field(default_factory=list)

    @property
    def broken_examples(self) -> list:
        return [outcome for outcome in self.examples if not outcome.passed]


def indent_version(text: str) -> str:
    """A version as the editor shows it, made into the next item of the file's ``versions``."""
    lines = text.strip("\n").splitlines()
    return "\n".join(("  - " if i == 0 else "    ") + line for i, line in enumerate(lines)) + "\n"


def validate_draft(
    root: Path, published: Mapping[str, str | Sequence[Appended]], file: str, text: str
) -> DraftCheck:
    """Validate a draft as if it were appended to its file, with everything already published,
    and assess it; :func:`engine.drafting.draft_checks.check_draft` also runs its examples.

    ``published`` is :func:`~engine.contract.publications.publication_versions` (or YAML text
    per file).
    """
    appended: dict[str, str | Sequence[Appended]] = dict(published)
    before = published.get(file, [])
    before = [Appended(before, "appended")] if isinstance(before, str) else list(before)
    appended[file] = [*before, Appended(indent_version(text), "draft")]
    result = load_files(root, appended=appended)
    draft = next((s for s in result.segments.get(file, []) if s.origin == "draft"), None)
    check = DraftCheck()
    for error in result.errors:
        if error.path != file:
            continue
        if draft is None or error.line < draft.first:
            check.errors.append(_located(error, None))
            continue
        # the draft comes last; a fault at the end of the text is shown at its last line
        check.errors.append(_located(error, min(error.line, draft.last) - draft.first + 1))
    if check.errors:
        return check
    terms_file = next(f for f in result.files if f.path == file)
    check.assessment = assess(terms_file, terms_file.versions[-2], terms_file.versions[-1])
    check.files = result.files
    return check


def draft_refusal(text: str) -> list[dict]:
    """Why a draft may not even be stored: too large, or YAML the safe reader refuses.

    Such a draft is not saved (nothing changes); ordinary faults, like a price written as a
    number, are saved with the draft and shown at their lines until fixed.
    """
    size = len(text.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        message = (
            f"the draft has {size:,} bytes; a draft may have at most {MAX_FILE_BYTES:,} "
            f"({MAX_FILE_BYTES // 1024} KiB)"
        )
        return [{"line": None, "column": 1, "message": message, "pointer": ""}]
    document = read_yaml(text, "draft")
    if not document.refused:
        return []
    limited = limit_errors(document.errors, {document.path: document.omitted})
    return [_located(e, e.line, indented=False) for e in limited]


def _located(error: CatalogError, line: int | None, *, indented: bool = True) -> dict:
    column = max(error.column - 4, 1) if line and indented else error.column
    return {"line": line, "column": column, "message": error.message, "pointer": error.pointer}


def assess(terms_file: TermsFile, before: Version, after: Version) -> Assessment:
    changes = tuple(
        _compare(name, spec, before.values[name].value, after.values[name].value)
        for name, spec in terms_file.parameters.items()
    )
    rules_changed = before.rules != after.rules
    disadvantage = rules_changed or any(c.effect == "disadvantage" for c in changes)
    price_increase = any(
        c.effect == "disadvantage" and terms_file.parameters[c.name].type in PRICE_TYPES
        for c in changes
    )
    vat_change = terms_file.citation.startswith("UStG") and any(
        c.effect != "unchanged" for c in changes
    )
    if terms_file.document in ("bgb", "tkg"):
        notice, termination = None, None  # the law changes by itself
    elif vat_change:
        notice, termination = "AGB 8.1", None  # AGB 8.2: no termination right for VAT
    elif price_increase:
        notice, termination = "AGB 8.1", "AGB 8.2"
    elif disadvantage and terms_file.document in ("agb", "platform"):
        notice, termination = "AGB 8.4", "AGB 8.6"
    elif disadvantage:
        notice, termination = "AGB 8.5", "AGB 8.6"
    else:
        notice, termination = None, None
    return Assessment(
        file=terms_file.path,
        citation=terms_file.citation,
        effective_from=after.effective_from,
        changes=changes,
        rules_changed=rules_changed,
        notice_clause=notice,
        termination_clause=termination,
        price_increase=price_increase,
        vat_change=vat_change,
    )


def _compare(name: str, spec, before: Any, after: Any) -> ParameterChange:
    shown = (format_value(spec.type, before), format_value(spec.type, after))
    german_ = {
        "kind": spec.type,
        "label_de": spec.label_de,
        "before_de": german.value(spec.type, before, spec.unit),
        "after_de": german.value(spec.type, after, spec.unit),
    }
    if before == after:
        return ParameterChange(name, spec.description, *shown, "unchanged", **german_)
    worse = _is_worse(spec.type, spec.disadvantage, before, after)
    effect = "disadvantage" if worse else "advantage"
    return ParameterChange(name, spec.description, *shown, effect, **german_)


def _is_worse(type_: str, direction: str, before: Any, after: Any) -> bool:
    """Whether a change hurts the customer, by the parameter's declared direction."""
    if direction == "change":
        return True
    if type_ == "period":
        if before.unit != after.unit:
            return True  # not comparable: count it against the provider
        before, after = before.count, after.count
    if type_ in ("money", "rate", "percent", "integer", "period"):
        return after > before if direction == "increase" else after < before
    if type_ == "boolean":
        before, after = {True} if before else set(), {True} if after else set()
    added, removed = set(after) - set(before), set(before) - set(after)
    return bool(added) if direction == "addition" else bool(removed)


def earliest_effective(catalog: Catalog, notice_clause: str | None, notified_on: date) -> date:
    """The first day a change may take effect: the day after the notice period ends, the
    clause's or a mandatory statute's where that is longer (AGB 8.3's "jederzeit" against
    TKG § 57 (2)'s one month; rules/conformance.yaml)."""
    if notice_clause is None:
        return notified_on
    terms = catalog.at(notified_on)
    parameter = "minimum_notice" if notice_clause == "AGB 8.3" else "notice_period"
    applied = applied_deadline(terms, notice_clause, parameter, notified_on)
    period: Period = terms.clause(notice_clause)[parameter]
    if applied.source == "clause" and period.count == 0:
        return notified_on
    return applied.value + timedelta(days=1)


def notice_period_text(catalog: Catalog, notice_clause: str, notified_on: date) -> str:
    """The notice period that applies, as legal reads it: ``6 weeks (AGB 8.1)``."""
    terms = catalog.at(notified_on)
    parameter = "minimum_notice" if notice_clause == "AGB 8.3" else "notice_period"
    applied = applied_deadline(terms, notice_clause, parameter, notified_on)
    if applied.source == "statute":
        value = applied.why.split(" instead of ")[0].removeprefix(f"{applied.statute} ")
        return f"{value} ({applied.statute}, mandatory over {notice_clause})"
    return f"{terms.clause(notice_clause)[parameter]} ({notice_clause})"


GROUNDS_OF_8_1 = ("vat_change", "regulator_order", "supplier_price_increase")


def refusals(
    catalog: Catalog,
    assessment: Assessment,
    *,
    notified_on: date,
    reason: str,
    ground: str | None,
    consumers_affected: bool,
) -> list[str]:
    """Why the publication may not go ahead; empty when it may."""
    problems = draft_refusals(
        catalog, assessment, notified_on=notified_on, consumers_affected=consumers_affected
    )
    if assessment.price_increase and not reason.strip():
        problems.append("A price increase needs its reason (AGB 8.1): customers are told why.")
    if assessment.price_increase and consumers_affected and ground not in GROUNDS_OF_8_1:
        problems.append(
            "For consumer contracts prices may only rise for a change of VAT, an order of a "
            "regulator or a supplier's price increase (AGB 8.1): choose the ground."
        )
    return problems


def publication_notice(assessment: Assessment, *, consumers_affected: bool) -> str | None:
    """The clause whose notice period a publication keeps: AGB 8.3 for a price increase that
    concerns business customers only (their prices may be adjusted at any time)."""
    clause = assessment.notice_clause
    if assessment.price_increase and not consumers_affected and not assessment.vat_change:
        clause = "AGB 8.3"
    return clause


def draft_refusals(
    catalog: Catalog, assessment: Assessment, *, notified_on: date, consumers_affected: bool
) -> list[str]:
    """What stops the draft itself from being published today: it changes nothing, or takes
    effect before the notice period of AGB 8 has run (the reason and ground come on publishing).
    """
    problems = []
    if not assessment.changed:
        problems.append(
            "The draft changes no value and no rule of the version before it; an unchanged "
            "version is not published."
        )
    clause = publication_notice(assessment, consumers_affected=consumers_affected)
    earliest = earliest_effective(catalog, clause, notified_on)
    if assessment.effective_from < earliest:
        problems.append(
            f"{clause} needs the customers to be notified at least "
            f"{notice_period_text(catalog, clause, notified_on)} "
            f"before the change takes effect: notified on {notified_on}, the earliest effective "
            f"date is {earliest}, not {assessment.effective_from}."
        )
    return problems


def recipient_of(account: Any) -> Recipient:
    """An affected account (:func:`~engine.contract.publications.affected_accounts`'s row) as
    the letter addresses it."""
    return Recipient(account.id, account.customer_type, json.loads(account.customer or "{}"))


def publish(
    connection: Connection,
    catalog: Catalog,
    assessment: Assessment,
    terms_file: TermsFile,
    text: str,
    *,
    notified_at: datetime,
    actor: str,
    reason: str,
    ground: str | None,
) -> tuple[int, list[dict]]:
    """Store the version, fill the outbox, audit it; the ``terms.notified`` events to apply."""
    notified_on = catalog.local_date(notified_at)
    published_at = notified_at.astimezone(UTC).isoformat(timespec="seconds")
    summary = json.dumps(asdict(assessment), default=str, ensure_ascii=False)
    publication_id = connection.execute(
        insert(publications).returning(publications.c.id),
        [
            {
                "file": assessment.file,
                "citation": assessment.citation,
                "text": indent_version(text),
                "effective_from": assessment.effective_from.isoformat(),
                "notified_on": notified_on.isoformat(),
                "published_by": actor,
                "published_at": published_at,
                "reason": reason,
                "ground": ground,
                "summary": summary,
            }
        ],
    ).scalar_one()
    events, messages = [], []
    for account in affected_accounts(connection, catalog, terms_file):
        # the very letter the admin UI previews for this customer (engine/contract/notices.py)
        letter = letter_for(catalog, assessment, reason, notified_at, recipient_of(account))
        messages.append(
            {
                "publication": publication_id,
                "account": account.id,
                "channel": "email",
                "recipient": json.loads(account.customer).get("email"),
                "subject": letter.subject,
                "body": letter.body,
                "status": "queued",
                "created_at": published_at,
            }
        )
        event = {
            "id": f"terms-notice-{publication_id}-{account.id}",
            "type": "terms.notified",
            "account": account.id,
            "at": notified_at.isoformat(timespec="seconds"),
            "publication": publication_id,
            "clause": assessment.notice_clause or "AGB 8.1",
            "effective_on": assessment.effective_from.isoformat(),
            "citation": assessment.citation,
        }
        if assessment.termination_clause:
            event["termination_clause"] = assessment.termination_clause
        events.append(event)
    if messages:
        connection.execute(insert(outbox), messages)
    audit.record(
        connection,
        actor,
        "publish",
        at=notified_at,
        publication=publication_id,
        file=assessment.file,
        citation=assessment.citation,
        effective_from=assessment.effective_from,
        notified_on=notified_on,
        reason=reason,
        ground=ground,
        notice_clause=assessment.notice_clause,
        customers=len(messages),
    )
    return publication_id, events
