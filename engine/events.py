"""Account events: validated against ``schemas/event.schema.json`` into plain data."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from engine.catalog.loader import PROJECT_ROOT, schema_validator
from engine.catalog.yaml_source import escape_pointer_token
from engine.money import parse_amount

EVENT_SCHEMA = "event.schema.json"


class EventInvalid(ValueError):
    """An event that does not fit the schema; ``field`` is the JSON pointer of the fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field or '/'}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Event:
    """One account event; ``data`` holds the fields of its type, ``raw`` the JSON as received."""

    id: str
    type: str
    account: str
    at: datetime
    data: Mapping[str, Any]
    raw: Mapping[str, Any]

    def canonical_json(self) -> str:
        """The event as stored: keys sorted, no spaces, UTF-8."""
        return orjson.dumps(self.raw, option=orjson.OPT_SORT_KEYS).decode()


@cache
def event_validator(schema_dir: Path = PROJECT_ROOT / "schemas") -> Draft202012Validator:
    """The reference validator: the event schema as written, with precise error locations."""
    return schema_validator(schema_dir, EVENT_SCHEMA)


@cache
def fast_validators(schema_dir: Path = PROJECT_ROOT / "schemas") -> dict[str, Callable]:
    """One compiled validator per event type (fastjsonschema) of :func:`flat_event_schemas`.

    The schema's ``allOf``/``if``/``unevaluatedProperties`` form is precise but slow to
    interpret (about 1.6 ms an event). The compiled validators decide acceptance only; a
    refusal is explained by :func:`event_validator`. A test holds both to the same decisions.
    """
    return {
        type_name: fastjsonschema.compile(
            {"$schema": "http://json-schema.org/draft-07/schema#", **flat}
        )
        for type_name, flat in flat_event_schemas(schema_dir).items()
    }


@cache
def flat_event_schemas(schema_dir: Path = PROJECT_ROOT / "schemas") -> dict[str, dict]:
    """Each event type as one closed object schema (envelope and fields, ``$ref`` inlined),
    derived from ``schemas/event.schema.json``; the OpenAPI document uses these too."""
    schema = json.loads((schema_dir / EVENT_SCHEMA).read_text(encoding="utf-8"))
    defs = schema["$defs"]
    flats = {}
    for branch in schema["allOf"]:
        type_name = branch["if"]["properties"]["type"]["const"]
        fields = _inline(defs[branch["then"]["$ref"].rsplit("/", 1)[-1]], defs)
        flat = {
            "type": "object",
            "properties": {
                **_inline(schema["properties"], defs),
                "type": {"const": type_name},
                **fields.get("properties", {}),
            },
            "required": schema["required"] + fields.get("required", []),
            "additionalProperties": False,
        }
        for keyword, value in fields.items():
            if keyword not in ("properties", "required"):
                flat[keyword] = value
        flats[type_name] = flat
    return flats


def _inline(node: Any, defs: dict) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _accepted_fast(raw: dict) -> bool:
    validate = fast_validators().get(raw.get("type")) if isinstance(raw.get("type"), str) else None
    if validate is None:
        return False
    try:
        validate(raw)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def schema_errors(raw: Any) -> EventInvalid | None:
    """The reference validator's verdict: the first fault, located, or None."""
    errors = list(event_validator().iter_errors(raw))
    # A field that fails its type's schema also counts as "unevaluated": report the real fault.
    real = [e for e in errors if e.validator != "unevaluatedProperties"] or errors
    return _describe(best_match(real)) if real else None


def parse_event(raw: Any) -> Event:
    """Validate decoded JSON and return the :class:`Event`; EventInvalid names the field."""
    if not isinstance(raw, dict):
        raise EventInvalid("", f"an event is a JSON object, not {type(raw).__name__}")
    if not _accepted_fast(raw):
        error = schema_errors(raw) or EventInvalid("", "does not match the event schema")
        raise error
    at = _instant(raw, "at")
    for field in ("start", "end"):
        if field in raw:
            _instant(raw, field)
    if "sent_on" in raw:
        try:
            date.fromisoformat(raw["sent_on"])
        except ValueError:
            raise EventInvalid("/sent_on", f"{raw['sent_on']!r} is not a calendar date") from None
    for field in ("amount",):
        if field in raw and parse_amount(raw[field]) <= 0:
            raise EventInvalid(f"/{field}", "must be more than 0.00")
    data = {k: v for k, v in raw.items() if k not in ("id", "type", "account", "at")}
    return Event(raw["id"], raw["type"], raw["account"], at, data, raw)


def _instant(raw: dict, field: str) -> datetime:
    try:
        instant = datetime.fromisoformat(raw[field])
        instant.astimezone(UTC)
    except ValueError:
        raise EventInvalid(f"/{field}", f"{raw[field]!r} is not a valid instant") from None
    except OverflowError:
        raise EventInvalid(f"/{field}", f"{raw[field]!r} is out of range") from None
    return instant


def _describe(error) -> EventInvalid:
    pointer = "".join("/" + escape_pointer_token(str(p)) for p in error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return EventInvalid(f"{pointer}/{missing[0]}", "is required")
    if error.validator in ("unevaluatedProperties", "additionalProperties"):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known) or sorted(error.instance)
        return EventInvalid(
            f"{pointer}/{extra[0]}", f"is not a field of this event ({error.message})"
        )
    description = error.schema.get("description")
    message = error.message + (f" ({description})" if description else "")
    return EventInvalid(pointer, message)
