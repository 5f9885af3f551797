"""What publishing a draft today would say, said before publishing (AGB 8).

The draft page's *Check* shows it: the earliest permitted effective date under the notice rule
that applies to this change (AGB 8.1, 8.3, 8.4 or 8.5), who is notified, whether the change is
to the customers' advantage, what stops the draft itself (unchanged; too early) and what
publishing still needs (the reason and ground of a price increase). It uses the very functions
publishing uses (engine/drafting/publishing.py), so the preview and the publication cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection

from engine.catalog import Catalog, TermsFile
from engine.contract.notices import (
    CUSTOMER_TYPE_NAMES,
    CUSTOMER_TYPES,
    Letter,
    Recipient,
    letter_for,
)
from engine.contract.publications import affected_accounts
from engine.drafting.publishing import (
    Assessment,
    draft_refusals,
    earliest_effective,
    publication_notice,
    recipient_of,
    refusals,
)


@dataclass(frozen=True)
class Preview:
    """The outcome of publishing a checked draft on ``notified_on``."""

    notified_on: date
    notice_clause: str | None  # None: to the customers' advantage only, or the law's own change
    earliest: date
    consumers: int
    businesses: int
    disadvantage: bool
    changed: bool
    problems: tuple[str, ...]  # the draft may not be published as it stands
    needs: tuple[str, ...]  # what the publish form must still give (reason, ground)

    @property
    def notified(self) -> int:
        return self.consumers + self.businesses

    @property
    def publishable(self) -> bool:
        return not self.problems


def preview(
    connection: Connection,
    catalog: Catalog,
    terms_file: TermsFile,
    assessment: Assessment,
    *,
    notified_on: date,
    reason: str = "",
    ground: str | None = None,
) -> Preview:
    """What publishing ``assessment`` on ``notified_on`` would do and what would stop it."""
    affected = affected_accounts(connection, catalog, terms_file)
    consumers = sum(1 for account in affected if account.customer_type == "consumer")
    clause = publication_notice(assessment, consumers_affected=consumers > 0)
    problems = draft_refusals(
        catalog, assessment, notified_on=notified_on, consumers_affected=consumers > 0
    )
    every = refusals(
        catalog,
        assessment,
        notified_on=notified_on,
        reason=reason,
        ground=ground,
        consumers_affected=consumers > 0,
    )
    return Preview(
        notified_on=notified_on,
        notice_clause=clause,
        earliest=earliest_effective(catalog, clause, notified_on),
        consumers=consumers,
        businesses=len(affected) - consumers,
        disadvantage=assessment.disadvantage,
        changed=assessment.changed,
        problems=tuple(problems),
        needs=tuple(problem for problem in every if problem not in problems),
    )


def sample_letters(
    connection: Connection,
    catalog: Catalog,
    terms_file: TermsFile,
    assessment: Assessment,
    *,
    reason: str,
    notified_at: datetime,
) -> list[tuple[str, Letter]]:
    """The letter publishing at ``notified_at`` would send, per customer type, word for word as
    the outbox will hold it for the first customer of that type the change concerns (a
    placeholder customer where there is none); labelled for legal."""
    affected = affected_accounts(connection, catalog, terms_file)
    samples = []
    for kind in CUSTOMER_TYPES:
        of_kind = [account for account in affected if account.customer_type == kind]
        recipient = recipient_of(of_kind[0]) if of_kind else Recipient.sample(kind)
        label = CUSTOMER_TYPE_NAMES[kind]
        if of_kind:
            label += f" ({len(of_kind)}; shown: customer {recipient.account})"
        letter = letter_for(catalog, assessment, reason, notified_at, recipient)
        samples.append((label, letter))
    return samples
