"""What billing services send (``events:write``): an event or a batch of them, a quote (the
result an event would have, ``status: quoted``, nothing stored), and the clock that fires due
deadlines.

A refused body is answered with every fault found at once (``errors``), each a field and a
sentence; in a batch every invalid event's, with its index (at most ``MAX_FAULTS``).

No instant from the future: an event's ``at`` and the clock's ``until`` may lie at most the
tolerance of ``Platform: clock`` (rules/platform/clock.yaml) ahead of the platform's clock,
read at this edge (:func:`api.common.platform_now`); a later one would fire months of
deadlines at once. It is refused (400, nothing stored); a jump beyond the tolerance is an
operator's command, ``billing clock advance``. The tolerance is read from the terms this
process holds (a publication reaches it with its next transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.common import (
    MAX_BATCH,
    MAX_FAULTS,
    ApiError,
    authorise,
    conflict,
    instant_arg,
    invalid_event,
    json_body,
    platform_now,
    refuse_platform_only,
)
from engine.clock import Horizon, horizon_at
from engine.engine import BatchInvalid, Engine, EventConflict
from engine.events import EventInvalid, parse_event
from web.http import get_engine, json_response


def horizon() -> Horizon:
    """The platform's clock, read now, and the tolerance of the terms in force then."""
    return horizon_at(get_engine().catalog, platform_now())


def refuse_future(event: Any, limit: Horizon, index: int | None = None) -> None:
    """400 for an event whose ``at`` lies beyond ``limit``; in a batch, naming its index."""
    refusal = limit.refusal(event.get("at") if isinstance(event, dict) else None, "at")
    if refusal is None:
        return
    if index is None:
        raise ApiError(400, f"{refusal}.", "/at")
    raise ApiError(
        400, f"Event {index}: {refusal}; nothing was applied.", f"/events/{index}/at", index
    )


def post_events():
    authorise("events:write")
    document = json_body()
    engine = get_engine()
    if isinstance(document, dict) and "events" in document and "type" not in document:
        return _post_batch(engine, document)
    refuse_platform_only(document)
    refuse_future(document, horizon())
    try:
        return json_response(engine.handle(document, refuse_conflicts=True))
    except EventInvalid as exc:
        raise invalid_event(exc) from None
    except EventConflict as exc:
        raise conflict(exc, batch=False) from None


def _post_batch(engine: Engine, document: dict[str, Any]):
    """``{"events": [...]}``: every event applied in order, or none if one is refused."""
    events = document["events"]
    if set(document) != {"events"}:
        raise ApiError(400, 'A batch is {"events": [...]} and nothing else.', "")
    if not isinstance(events, list) or not events:
        raise ApiError(400, "events must be a non-empty list of events.", "/events")
    if len(events) > MAX_BATCH:
        raise ApiError(400, f"At most {MAX_BATCH} events per batch, not {len(events)}.", "/events")
    for index, event in enumerate(events):
        refuse_platform_only(event, index)
    limit = horizon()
    for index, event in enumerate(events):
        refuse_future(event, limit, index)  # all or nothing: before any event is applied
    try:
        return json_response({"results": engine.handle_many(events, refuse_conflicts=True)})
    except BatchInvalid as exc:
        raise ApiError(
            400,
            f"Event {exc.index}: {exc.message}; nothing was applied.",
            f"/events/{exc.index}{exc.field}",
            exc.index,
            batch_faults(events, exc.index),
        ) from None
    except EventConflict as exc:
        raise conflict(exc, batch=True) from None


def batch_faults(events: list[Any], first: int) -> list[dict[str, Any]]:
    """Every fault of the batch's events from ``first`` (the first invalid one) on, each with
    its index and its field within the batch, at most MAX_FAULTS. Only a refused batch is
    read again so: the events before ``first`` were valid."""
    faults: list[dict[str, Any]] = []
    for index in range(first, len(events)):
        try:
            parse_event(events[index])
        except EventInvalid as exc:
            faults.extend(
                {"field": f"/events/{index}{f.field}", "message": f.message, "index": index}
                for f in exc.faults
            )
        if len(faults) >= MAX_FAULTS:
            break
    return faults[:MAX_FAULTS]


def quote():
    """The result the event would have now; ``status`` is ``quoted`` where it would be
    applied (nothing is stored), else ``rejected`` or ``duplicate`` as for a POST."""
    authorise("events:write")
    document = json_body()
    refuse_platform_only(document)
    refuse_future(document, horizon())
    try:
        result = get_engine().quote(document, refuse_conflicts=True)
    except EventInvalid as exc:
        raise invalid_event(exc) from None
    except EventConflict as exc:
        raise conflict(exc, batch=False) from None
    if result["status"] == "applied":
        result = {**result, "status": "quoted"}
    return json_response(result)


def clock():
    authorise("events:write")
    document = json_body()
    if not isinstance(document, dict):
        raise ApiError(400, 'Send {"until": "<instant>"} and optionally "account".', "")
    faults = clock_faults(document)
    if faults:
        first = faults[0]
        raise ApiError(400, first["message"], first["field"], errors=faults[:MAX_FAULTS])
    instant = datetime.fromisoformat(document["until"])
    account = document.get("account")
    return json_response({"results": get_engine().advance(instant, account)})


def clock_faults(document: dict[str, Any]) -> list[dict[str, str]]:
    """Every fault of a clock request, each ``{"field", "message"}``: unknown fields, and
    ``until`` and ``account`` checked as a clock event's ``at`` and ``account`` are."""
    faults = [
        {"field": f"/{name}", "message": f"Unknown field {name!r}: send until and account."}
        for name in sorted(set(document) - {"until", "account"})
    ]
    until, account = document.get("until"), document.get("account")
    if "account" in document and not isinstance(account, str):
        faults.append({"field": "/account", "message": "account must be a string."})
        account = None
    if not isinstance(until, str):
        faults.append({"field": "/until", "message": "until is required: an instant with offset."})
        until = None
    else:
        try:
            instant = instant_arg(until, "/until")
        except ApiError as error:
            faults.append({"field": "/until", "message": error.message})
            until = None
        else:
            if not isinstance(instant, datetime):
                message = "until must be an instant with offset, not a date."
                faults.append({"field": "/until", "message": message})
                until = None
    try:
        # The same checks as the clock event's: instants in the covered years, a valid account.
        parse_event(
            {
                "id": "x",
                "type": "clock",
                "account": "x" if account is None else account,
                "at": "2026-01-01T00:00:00+00:00" if until is None else until,
            }
        )
    except EventInvalid as exc:
        faults.extend(
            {"field": "/until" if f.field == "/at" else f.field, "message": f.message}
            for f in exc.faults
        )
    if until is not None and not any(f["field"] == "/until" for f in faults):
        refusal = horizon().refusal(until, "until")  # no instant from the future
        if refusal is not None:
            faults.append({"field": "/until", "message": f"{refusal}."})
    return faults
