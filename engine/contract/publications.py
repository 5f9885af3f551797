"""What has been published (AGB 8): the stored versions every reader of the terms sees, and
the check of a ``terms.notified`` event against the publication that sent it.

This is the read side of publishing; writing a publication is the drafting stage's
(:mod:`engine.drafting.publishing`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from engine.catalog import Catalog, TermsFile, load_catalog
from engine.catalog.loader import Appended
from engine.core.contract_states import CONTRACT_OVER
from engine.effects import Rejected
from engine.ledger.tables import accounts, outbox, publications


def affected_accounts(connection: Connection, catalog: Catalog, terms_file: TermsFile) -> list[Any]:
    """The customers a change concerns: a plan's accounts, a rate table's, or everyone."""
    rows = connection.execute(
        select(
            accounts.c.id,
            accounts.c.plan,
            accounts.c.customer_type,
            accounts.c.contract,
            accounts.c.customer,
        )
        .where(accounts.c.status == "open")
        .order_by(accounts.c.id)
    ).all()
    plans = concerned_plans(catalog, terms_file)
    return [
        r
        for r in rows
        if json.loads(r.contract).get("status") not in CONTRACT_OVER
        and (plans is None or r.plan in plans)
    ]


def concerned_plans(catalog: Catalog, terms_file: TermsFile) -> set[str] | None:
    """The plans whose customers a change of ``terms_file`` concerns; None: every plan."""
    if terms_file.kind == "plan":
        return {terms_file.name}
    if terms_file.kind == "rates":
        today = catalog.at(terms_file.versions[-1].effective_from)
        return {p for p in catalog.plans if today.plan(p)["rate_table"] == terms_file.name}
    return None


def verify_notice(booking: Any, publication: Any | None, notified: bool) -> None:
    """A ``terms.notified`` event is only what its publication said, to whom it said it; a
    ``notice.delivered`` event only delivers a notice the publication's outbox holds.

    The publication must exist, name the same notice clause, effective date and termination
    right, be notified on the event's day, and concern the account: its outbox holds the
    account's notification (``notified``) and the account's plan is one the change concerns (as
    :func:`affected_accounts` decides). Otherwise the event is refused citing the termination
    right it would grant (AGB 8.2 or 8.6), so a forged notice grants nothing.
    """
    data = booking.event.data
    number = data["publication"]
    if publication is None:
        raise Rejected(
            f"there is no publication {number}: a change of the terms is notified only by "
            "publishing it (admin UI), never by an event from outside",
            data.get("termination_clause") or "AGB 8.6",
        )
    summary = json.loads(publication.summary)
    notice = summary.get("notice_clause") or "AGB 8.1"
    termination = summary.get("termination_clause")
    cite = termination or notice
    if booking.event.type == "notice.delivered":
        if not notified:
            raise Rejected(
                f"publication {number} ({publication.citation}) has no notice for account "
                f"{booking.event.account} in the outbox",
                cite,
            )
        if booking.local_date.isoformat() < publication.notified_on:
            raise Rejected(
                f"publication {number} was published on {publication.notified_on}: "
                "its notice cannot be delivered before",
                cite,
            )
        return
    said = {
        "clause": notice,
        "effective_on": publication.effective_from,
        "termination_clause": termination,
    }
    if "citation" in data:  # events from before the citation was sent do not carry it
        said["citation"] = publication.citation
    for name, expected in said.items():
        if data.get(name) != expected:
            raise Rejected(
                f"publication {number} notified {name} {expected!r}, not {data.get(name)!r}",
                cite,
            )
    if booking.local_date.isoformat() != publication.notified_on:
        raise Rejected(
            f"publication {number} was notified on {publication.notified_on}, "
            f"not on {booking.local_date.isoformat()}",
            cite,
        )
    account = booking.require_account()
    terms_file = next((f for f in booking.catalog.files if f.path == publication.file), None)
    plans = concerned_plans(booking.catalog, terms_file) if terms_file is not None else set()
    gone = account.status != "open" or account.contract.status in CONTRACT_OVER
    if not notified or gone or (plans is not None and account.plan not in plans):
        raise Rejected(
            f"publication {number} ({publication.citation}) does not concern account {account.id}",
            cite,
        )


def publications_by_id(connection: Connection, numbers: Any) -> dict[int, Any]:
    """The publications of these numbers (for checking ``terms.notified`` events)."""
    wanted = sorted({n for n in numbers if isinstance(n, int) and 0 < n < 2**63})
    if not wanted:
        return {}
    rows = connection.execute(select(publications).where(publications.c.id.in_(wanted)))
    return {row.id: row for row in rows}


def notified_accounts(connection: Connection, numbers: Any, names: Any) -> set[tuple[int, str]]:
    """Which (publication, account) pairs the publications' outbox holds a notification for."""
    wanted = sorted({n for n in numbers if isinstance(n, int) and 0 < n < 2**63})
    if not wanted:
        return set()
    query = select(outbox.c.publication, outbox.c.account).where(
        outbox.c.publication.in_(wanted), outbox.c.account.in_(sorted(set(names)))
    )
    return {(row.publication, row.account) for row in connection.execute(query)}


def published_texts(connection: Connection) -> dict[str, str]:
    """The published versions per file, in publication order, as YAML to append."""
    texts: dict[str, str] = {}
    for row in connection.execute(
        select(publications.c.file, publications.c.text).order_by(publications.c.id)
    ):
        texts[row.file] = texts.get(row.file, "") + row.text
    return texts


def publication_versions(connection: Connection) -> dict[str, list[Appended]]:
    """Every published version per file, in publication order, each naming its publication.

    A version the file already holds with identical content (after ``billing terms export``)
    is not counted twice; see :class:`engine.catalog.loader.Appended`.
    """
    versions: dict[str, list[Appended]] = {}
    query = select(
        publications.c.id, publications.c.file, publications.c.text, publications.c.published_by
    ).order_by(publications.c.id)
    for row in connection.execute(query):
        origin = f"publication {row.id} by {row.published_by}"
        versions.setdefault(row.file, []).append(Appended(row.text, origin, skip_if_present=True))
    return versions


def terms_catalog(connection: Connection, root: Path | None = None) -> Catalog:
    """The catalog every reader uses: the files below ``root`` plus every stored publication.

    The engine, the API, the admin UI and the CLI (``terms show``, ``list``, ``history``,
    ``clauses``) all read the terms through this function, so they agree on one history.
    Raises :class:`~engine.catalog.CatalogInvalid` with every fault.
    """
    return load_catalog(root, appended=publication_versions(connection))


def publication_count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(publications)).scalar_one())
