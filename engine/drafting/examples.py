"""Clause examples: executable, readable by legal (docs/catalog.md, "Examples").

A catalog file may carry ``examples:``: each names a situation in a sentence, sets up an
account, sends a few dated events and lists the effects expected (``expect``) or ruled out
(``expect_not``). :func:`run_examples` applies them to a fresh in-memory SQLite engine per
example, under a given :class:`Catalog`; there is no wall clock: every instant comes from the
events. A version may carry examples of its own (a draft's new version does): they join the
file's, and one named like an earlier example replaces it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from engine.catalog import Catalog, TermsFile
from engine.catalog.example_checks import (
    DEFAULT_ACCOUNT,
    DEFAULT_TIME_ZONE,
    example_events,
    instant,
)
from engine.contract.publications import affected_accounts, publication_versions
from engine.delivery.notifications import deliver_publication
from engine.drafting.publishing import publish, refusals, validate_draft
from engine.engine import Engine
from engine.events import EventInvalid
from engine.rules import Decider

UNITS = (" EUR/min", " EUR", " %")
KIND_WORDS = {"rejected": "refusal"}


@dataclass(frozen=True)
class Example:
    """One example of one file: where it is written (``origin``) and what it says (``spec``)."""

    citation: str
    path: str
    name: str
    spec: Mapping[str, Any]
    origin: str  # "file" or "version YYYY-MM-DD"
    pointer: str  # JSON pointer of the example in its file
    retired_by: str | None = None  # the version whose own examples took over

    @property
    def title(self) -> str:
        return f"{self.citation}: {self.name}"


@dataclass(frozen=True)
class Outcome:
    """Whether an example held, and if not why, in words."""

    example: Example
    passed: bool
    reason: str = ""
    effects: tuple[dict, ...] = field(default=(), repr=False)


def examples_of(terms_file: TermsFile, *, retired: bool = False) -> list[Example]:
    """The file's examples, then each version's.

    A version that carries examples takes over from its effective date: an earlier example
    with an event on or after that day (or of the same name) is retired, because it was
    written for terms that no longer apply then. Examples dated before still hold. With
    ``retired`` the retired ones are returned too (``retired_by`` says by which version).
    """
    found: dict[str, Example] = {}
    gone: list[Example] = []
    for index, spec in enumerate(terms_file.examples):
        found[spec["name"]] = Example(
            terms_file.citation, terms_file.path, spec["name"], spec, "file", f"/examples/{index}"
        )
    for position, version in enumerate(terms_file.versions):
        if not version.examples:
            continue
        origin = f"version {version.effective_from.isoformat()}"
        names = {spec["name"] for spec in version.examples}
        for name, example in list(found.items()):
            if name in names or _last_day(example.spec) >= version.effective_from:
                gone.append(dataclasses.replace(example, retired_by=origin))
                del found[name]
        for index, spec in enumerate(version.examples):
            found[spec["name"]] = Example(
                terms_file.citation,
                terms_file.path,
                spec["name"],
                spec,
                origin,
                f"/versions/{position}/examples/{index}",
            )
    return list(found.values()) + (gone if retired else [])


def catalog_examples(catalog: Catalog, citation: str | None = None) -> list[Example]:
    """Every example of the catalog, in catalog order, or those of one file."""
    files = catalog.files if citation is None else (catalog.file(citation),)
    return [example for terms_file in files for example in examples_of(terms_file)]


def _time_zone(catalog: Catalog | None, day: date | None = None) -> str:
    if catalog is None:
        return DEFAULT_TIME_ZONE
    try:
        return catalog.file("Platform: calendar").value_at("time_zone", day or date.max)
    except LookupError:
        return DEFAULT_TIME_ZONE


# -- running -----------------------------------------------------------------------------------


@cache
def shared_decider():
    """One durable-rules host for the examples of this process."""
    return Decider()


def run_example(catalog: Catalog, example: Example, decider=None) -> Outcome:
    """Apply one example to a fresh in-memory engine under ``catalog``; compare the effects.

    An example's ``publication`` is published after the account is set up, before the
    example's own events; the engine then reads the catalog's files with that publication.
    """
    time_zone = _time_zone(catalog)
    try:
        events = example_events(example.spec, time_zone)
    except ValueError as exc:
        return Outcome(example, False, f"not a valid date or time: {exc}")
    engine = Engine("sqlite://", catalog=catalog, decider=decider or shared_decider())
    produced: list[dict] = []
    publication = example.spec.get("publication")
    try:
        for event in events:
            setup = event.pop("setup", False)
            batch = [event]
            if publication and not setup:
                notices, refused = _publish(engine, publication, time_zone)
                if refused:
                    return Outcome(example, False, f"the publication is refused: {refused}")
                batch, publication = [*notices, event], None
            for each in batch:
                failure = _apply(engine, catalog, each, setup, produced)
                if failure is not None:
                    return Outcome(example, False, failure)
    finally:
        engine.close()
    return _compare(example, produced)


def _apply(engine, catalog: Catalog, event: dict, setup: bool, produced: list[dict]) -> str | None:
    """Apply one event and collect its effects; a reason when the event itself is invalid."""
    try:
        result = engine.handle(event)
    except (EventInvalid, LookupError) as exc:
        return f"the event of {event['at']} fails: {exc}"
    day = catalog.local_date(datetime.fromisoformat(event["at"])).isoformat()
    effects = list(result.get("effects", ()))
    if result.get("status") == "rejected" and not any(e.get("kind") == "rejected" for e in effects):
        effects.append(
            {"kind": "rejected", "clause": result.get("clause"), "reason": result["reason"]}
        )
    if not (setup and result.get("status") != "rejected"):
        produced.extend({**e, "day": day, "event": event["type"]} for e in effects)
    return None


def _publish(engine, publication: Mapping[str, Any], time_zone: str) -> tuple[list[dict], str]:
    """Publish the example's version as the admin UI does (AGB 8): checked, refused where the
    notice rules say so, stored; the ``terms.notified`` events it sends, or why it is refused."""
    catalog = engine.catalog
    text = "".join(f"{key}: {_flow(value)}\n" for key, value in publication["version"].items())
    notified_at = instant(publication["at"], time_zone)
    reason, ground = publication.get("reason", ""), publication.get("ground")
    terms_file = next((f for f in catalog.files if f.path == publication["file"]), None)
    if terms_file is None:
        return [], f"the catalog has no file {publication['file']}"
    with engine.store.db.begin() as connection:
        check = validate_draft(
            catalog.root, publication_versions(connection), terms_file.path, text
        )
        if check.errors:
            return [], "; ".join(e["message"] for e in check.errors)
        affected = affected_accounts(connection, catalog, terms_file)
        problems = refusals(
            catalog,
            check.assessment,
            notified_on=catalog.local_date(notified_at),
            reason=reason,
            ground=ground,
            consumers_affected=any(a.customer_type == "consumer" for a in affected),
        )
        if problems:
            return [], " ".join(problems)
        number, notices = publish(
            connection,
            catalog,
            check.assessment,
            terms_file,
            text,
            notified_at=notified_at,
            actor="example",
            reason=reason,
            ground=ground,
        )
        # the notices are e-mailed (notice.delivered) at once unless the example says otherwise
        delivered = publication.get("delivered", publication["at"])
        if delivered is not False:
            sent_at = instant(delivered, time_zone)
            notices += deliver_publication(connection, number, sent_at)
    return notices, ""


def _flow(value: Any) -> str:
    """A value as YAML flow text (JSON is YAML); dates as ISO strings."""
    return json.dumps(value, default=str, ensure_ascii=False)


def _compare(example: Example, produced: list[dict]) -> Outcome:
    problems = [
        f"expected {describe(pattern)}; got: {_got(pattern, produced)}"
        for pattern in example.spec.get("expect", ())
        if not any(matches(pattern, effect) for effect in produced)
    ]
    for pattern in example.spec.get("expect_not", ()):
        hits = [effect for effect in produced if matches(pattern, effect)]
        if hits:
            problems.append(
                f"expected no {describe(pattern, article=False)}; got: "
                + "; ".join(describe_effect(e) for e in hits[:3])
            )
    return Outcome(example, not problems, "; ".join(problems), tuple(produced))


def run_examples(
    catalog: Catalog,
    citation: str | None = None,
    *,
    decider=None,
    examples: Iterable[Example] | None = None,
) -> list[Outcome]:
    """Run the examples of the catalog (or of one clause) and return one outcome each."""
    chosen = catalog_examples(catalog, citation) if examples is None else examples
    return [run_example(catalog, example, decider) for example in chosen]


def draft_examples(catalog: Catalog, terms_file: TermsFile) -> list[Example]:
    """The examples a new last version of ``terms_file`` could change: its own, and every
    example of the catalog with an event on or after its effective date (earlier ones run
    entirely under terms the draft does not touch)."""
    start = terms_file.versions[-1].effective_from
    own = f"version {start.isoformat()}"
    return [
        example
        for example in catalog_examples(catalog)
        if (example.path == terms_file.path and example.origin == own) or last_day(example) >= start
    ]


def last_day(example: Example) -> date:
    """The day of the example's last event: a new version from a later day cannot change it."""
    return _last_day(example.spec)


def _last_day(spec: Mapping[str, Any]) -> date:
    try:
        return max(instant(e["at"]).date() for e in spec["events"])
    except ValueError:
        return date.max


# -- matching and words ------------------------------------------------------------------------


def _normal(value: Any) -> str:
    text = str(value).strip()
    for unit in UNITS:
        text = text.removesuffix(unit)
    return text


def matches(pattern: Mapping[str, Any], effect: Mapping[str, Any]) -> bool:
    """Whether ``effect`` has every field of ``pattern`` (amounts with or without " EUR")."""
    return all(
        name in effect and _normal(effect[name]) == _normal(wanted)
        for name, wanted in pattern.items()
    )


def _words(fields: Mapping[str, Any]) -> str:
    parts = []
    if "amount" in fields:
        parts.append(f"of {_normal(fields['amount'])} EUR")
    detail = [
        f"{name} {_normal(value)}"
        for name, value in fields.items()
        if name not in ("kind", "amount", "clause", "day", "event", "terms_version")
    ]
    if detail:
        parts.append("(" + ", ".join(detail) + ")")
    if fields.get("clause"):
        parts.append(f"citing {fields['clause']}")
    if "day" in fields:
        parts.append(f"on {fields['day']}")
    return " ".join(parts)


def describe(pattern: Mapping[str, Any], *, article: bool = True) -> str:
    """``a charge of 9.80 EUR (item returned_debit_fee) citing AGB 4.2.3 on 2026-03-10``."""
    kind = KIND_WORDS.get(str(pattern["kind"]), str(pattern["kind"]).replace("_", " "))
    prefix = ("an " if kind[0] in "aeiou" else "a ") if article else ""
    rest = _words(pattern)
    return f"{prefix}{kind}" + (f" {rest}" if rest else "")


def describe_effect(effect: Mapping[str, Any]) -> str:
    """An effect in the same words, limited to the fields a reader needs."""
    shown = {
        k: v
        for k, v in effect.items()
        if k in ("kind", "amount", "clause", "day", "item", "date", "template", "deadline")
        or k in ("reason", "invoice", "minutes", "days", "margin")
    }
    return describe(shown, article=False)


def _got(pattern: Mapping[str, Any], produced: list[dict]) -> str:
    same_kind = [e for e in produced if e.get("kind") == pattern.get("kind")]
    if not produced:
        return "no effects"
    if not same_kind:
        kinds = sorted({str(e.get("kind")) for e in produced})
        missing = describe({"kind": pattern["kind"]}, article=False)
        return f"no {missing}; effects: {', '.join(kinds)}"
    return "; ".join(describe_effect(e) for e in same_kind[:4]) + (
        f"; and {len(same_kind) - 4} more" if len(same_kind) > 4 else ""
    )


# -- for people --------------------------------------------------------------------------------


def present(example: Example) -> dict:
    """An example as the admin UI shows it: the account, a row per event, the expectations."""
    spec = example.spec
    events = spec["events"]
    if events and events[0].get("type") == "account.opened":
        account = "opened by the first event"
    else:
        fields = {**DEFAULT_ACCOUNT, **(spec.get("account") or {})}
        users = fields.pop("users", ["anna"])
        opened = fields.pop("opened", None)
        account = ", ".join(
            [str(fields.pop(k)) for k in ("plan", "customer_type", "billing_method")]
            + [f"{k} {_shown(v)}" for k, v in fields.items() if DEFAULT_ACCOUNT.get(k) != v]
            + [f"users {', '.join(users)}"]
            + ([f"opened {opened}"] if opened else [])
        )
    return {
        "name": example.name,
        "origin": example.origin,
        "retired_by": example.retired_by,
        "account": account,
        "events": [
            {
                "at": str(event["at"]),
                "type": event["type"],
                "fields": ", ".join(
                    f"{k} {_shown(v)}" for k, v in event.items() if k not in ("at", "type")
                ),
            }
            for event in events
        ],
        "expect": [describe(pattern) for pattern in spec.get("expect", ())],
        "expect_not": [describe(pattern, article=False) for pattern in spec.get("expect_not", ())],
    }


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)
