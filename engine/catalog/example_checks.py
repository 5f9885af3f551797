"""The examples' events, checked when the catalog is loaded (docs/catalog.md, "Examples").

An example sends events to a fresh account: :func:`example_events` writes them out (the
account's opening and users first, unless the example opens the account itself), and
:func:`example_errors` is the loader's check that each is a valid event of its type at an
instant that exists. Running the examples against the engine is the drafting stage's work
(:mod:`engine.drafting.examples`); this module only reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from engine.catalog.errors import CatalogError
from engine.catalog.model import TermsFile
from engine.events import EventInvalid, flat_event_schemas, parse_event

DEFAULT_TIME_ZONE = "Europe/Berlin"
ACCOUNT = "example"
DEFAULT_ACCOUNT = {
    "plan": "clinq",
    "customer_type": "consumer",
    "billing_method": "prepay",
    "country": "DE",
    "area_code": "0211",
}
DEFAULT_AUTOPREPAY = {"threshold": "5.00", "amount": "20.00"}


# -- instants ----------------------------------------------------------------------------------


def instant(text: str, time_zone: str = DEFAULT_TIME_ZONE) -> datetime:
    """``2026-03-10`` (12:00), ``2026-03-10 08:00`` (local) or an RFC 3339 instant."""
    text = str(text)
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(12), ZoneInfo(time_zone))
    parsed = datetime.fromisoformat(text.replace(" ", "T"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(time_zone))
    return parsed


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def example_events(spec: Mapping[str, Any], time_zone: str = DEFAULT_TIME_ZONE) -> list[dict]:
    """The events an example sends: the account's opening (unless the example opens it
    itself), its users, then the example's own events; ids ``example-1``, ``example-2``..."""
    events: list[dict] = []
    own = list(spec["events"])

    def add(raw: Mapping[str, Any]) -> None:
        event = {
            "id": f"{ACCOUNT}-{len(events) + 1}",
            "account": ACCOUNT,
            **raw,
            "at": rfc3339(instant(raw["at"], time_zone)),
        }
        events.append(event)

    if own and own[0].get("type") != "account.opened":
        account = dict(spec.get("account") or {})
        first = instant(own[0]["at"], time_zone)
        opened = account.pop("opened", None)
        at = instant(opened, time_zone) if opened else first.replace(hour=0, minute=0, second=0)
        users = account.pop("users", ["anna"])
        fields = {**DEFAULT_ACCOUNT, **account}
        if fields["billing_method"] == "autoprepay":
            fields.setdefault("autoprepay", DEFAULT_AUTOPREPAY)
        add({"type": "account.opened", "at": rfc3339(at), **fields})
        for user in users:
            add({"type": "user.added", "at": rfc3339(at), "user": user})
    setup = len(events)
    for raw in own:
        add(raw)
    for event in events[:setup]:
        event["setup"] = True
    return events


# -- the loader's check ----------------------------------------------------------------------


def example_errors(document, terms_file: TermsFile) -> Iterator[CatalogError]:
    """Faults of a file's examples the schema cannot see: events that are not valid events,
    instants that do not exist, two examples of one name in one list."""
    fields_of = {name: set(flat["properties"]) for name, flat in flat_event_schemas().items()}
    lists = [("", terms_file.examples)] + [
        (f"/versions/{i}", v.examples) for i, v in enumerate(terms_file.versions)
    ]
    for prefix, specs in lists:
        names: set[str] = set()
        for index, spec in enumerate(specs):
            pointer = f"{prefix}/examples/{index}"
            if spec["name"] in names:
                yield document.error(f"{pointer}/name", f"an example named {spec['name']!r} exists")
            names.add(spec["name"])
            faults = list(_event_faults(document, pointer, spec, fields_of))
            yield from faults
            if faults:
                continue
            events = example_events(spec)
            setup = sum(1 for e in events if e.get("setup"))
            for position, event in enumerate(events):
                event.pop("setup", None)
                try:
                    parse_event(event)
                except EventInvalid as exc:
                    if position < setup:
                        where = f"{pointer}/account"
                        message = f"the account's opening event: {exc.field} {exc.message}"
                    else:
                        where = f"{pointer}/events/{position - setup}{exc.field}"
                        message = exc.message
                    yield document.error(where, message)


def _event_faults(document, pointer: str, spec, fields_of) -> Iterator[CatalogError]:
    """Instants that do not exist, fields an event of its type does not have."""
    for position, event in enumerate(spec["events"]):
        where = f"{pointer}/events/{position}"
        try:
            instant(event["at"])
        except ValueError as exc:
            yield document.error(f"{where}/at", f"{event['at']!r} is not a date or time: {exc}")
        known = fields_of.get(event["type"], set()) - {"id", "account"}
        for key in sorted(set(event) - known):
            fields = ", ".join(sorted(known - {"type", "at"})) or "none"
            yield document.error(
                f"{where}/{key}",
                f"{key!r} is not a field of a {event['type']} event (its fields: {fields})",
                at_key=True,
            )
    publication = spec.get("publication")
    if publication:
        yield from _publication_faults(document, pointer, spec, publication)
    opened = (spec.get("account") or {}).get("opened")
    if opened:
        try:
            instant(opened)
        except ValueError as exc:
            yield document.error(
                f"{pointer}/account/opened", f"{opened!r} is not a date or time: {exc}"
            )


def _publication_faults(document, pointer: str, spec, publication) -> Iterator[CatalogError]:
    """The publication comes after the account's opening and before the example's events."""
    where = f"{pointer}/publication/at"
    try:
        published = instant(publication["at"])
        first = instant(spec["events"][0]["at"])
        opened = (spec.get("account") or {}).get("opened")
        opened_at = instant(opened) if opened else first.replace(hour=0, minute=0, second=0)
    except ValueError as exc:
        yield document.error(where, f"{publication['at']!r} is not a date or time: {exc}")
        return
    if published > first:
        yield document.error(where, "the publication must come before the example's first event")
    if published < opened_at:
        yield document.error(
            where,
            "the account is opened after the publication: give account.opened an earlier time",
        )
