"""Publishing a reviewed version of the terms: the one service the admin UI's *Publish* and
``billing terms publish`` both call (AGB 8.1-8.6).

:func:`publish_version` checks the version exactly as *Check* does (the loader, the clause
examples, the notice rules of AGB 8 and the mandatory statutes, the reason and ground of a
price increase), and unless ``dry_run`` stores the publication, fills the outbox with the
letters, writes the audit entry and applies the ``terms.notified`` events
(:func:`engine.drafting.publishing.publish`). A refused version changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.catalog import TermsFile
from engine.contract.publications import affected_accounts, publication_versions
from engine.drafting.draft_checks import check_draft
from engine.drafting.publication_preview import Preview, preview
from engine.drafting.publishing import DraftCheck, publish, refusals

BATCH = 1000


@dataclass
class Publishing:
    """The outcome of publishing (or checking, with ``dry_run``) one version."""

    check: DraftCheck
    preview: Preview | None = None
    problems: list[str] = field(default_factory=list)  # why it is refused; empty when it is not
    publication: int | None = None
    events: list[dict] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.problems)


def publish_version(
    engine: Any,
    terms_file: TermsFile,
    text: str,
    *,
    actor: str,
    notified_at: datetime,
    reason: str = "",
    ground: str | None = None,
    dry_run: bool = False,
    also: Callable[[Connection, int], None] | None = None,
) -> Publishing:
    """Check ``text`` (one version of ``terms_file``) and publish it unless refused or
    ``dry_run``; ``also`` runs in the publication's transaction (the admin UI marks its draft
    published)."""
    catalog = engine.catalog
    notified_on = catalog.local_date(notified_at)
    with engine.store.db.connect() as connection:
        check = check_draft(
            catalog.root,
            publication_versions(connection),
            terms_file.path,
            text,
            decider=engine.decider,
        )
        outcome = Publishing(check)
        if check.errors:
            outcome.problems = ["Fix the errors shown in the draft before publishing."]
            return outcome
        outcome.preview = preview(
            connection,
            catalog,
            terms_file,
            check.assessment,
            notified_on=notified_on,
            reason=reason,
            ground=ground,
        )
        affected = affected_accounts(connection, catalog, terms_file)
    outcome.problems = [
        f"The example \u201c{o.example.name}\u201d ({o.example.citation}) no longer holds: "
        f"{o.reason}. Change the draft, or give it examples of its own (examples: in the draft)."
        for o in check.broken_examples
    ]
    if outcome.problems:
        return outcome
    outcome.problems = refusals(
        catalog,
        check.assessment,
        notified_on=notified_on,
        reason=reason,
        ground=ground,
        consumers_affected=any(a.customer_type == "consumer" for a in affected),
    )
    if outcome.problems or dry_run:
        return outcome
    with engine.store.db.begin() as connection:
        outcome.publication, outcome.events = publish(
            connection,
            catalog,
            check.assessment,
            terms_file,
            text,
            notified_at=notified_at,
            actor=actor,
            reason=reason,
            ground=ground,
        )
        if also is not None:
            also(connection, outcome.publication)
    for start in range(0, len(outcome.events), BATCH):
        engine.handle_many(outcome.events[start : start + BATCH])
    return outcome
