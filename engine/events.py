"""Account events: validated against ``schemas/event.schema.json`` into plain data."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from engine.core.money import parse_amount
from engine.core.schemas import PROJECT_ROOT, escape_pointer_token, schema_validator
from engine.core.vat_ids import vat_id_problem
from engine.event_checks import Fault, acceptance_check, faults_in_words, pointer_of, sentence

EVENT_SCHEMA = "event.schema.json"

# Event types only the platform itself emits; the HTTP API refuses them (403) from any token.
# ``terms.notified`` grants consumers the special termination right of AGB 8.2 / 8.6, so it may
# only come from a real publication (the admin UI's publishing path,
# engine/drafting/publishing.py); the engine also checks each one against its publication.
# ``clock`` stays open to billing services (POST /api/v1/clock does the same): it only fires
# deadlines the terms already set.
PLATFORM_ONLY_TYPES: dict[str, str] = {
    "terms.notified": "only the platform sends it, when legal publishes a change of the terms "
    "in the admin UI (AGB 8.1, 8.4, 8.5; the special termination right of AGB 8.2 and 8.6)",
    "notice.delivered": "only the platform sends it, when its delivery step sends a notice "
    "of a change of the terms (billing outbox send); the windows of AGB 8 and TKG § 57 run "
    "from its receipt",
}

# Instants and dates are accepted from 2000 to 2099 (the schema's patterns say so): the catalog
# begins in 2002, and every deadline computed from such a day stays far inside Python's dates.
FIRST_YEAR, LAST_YEAR = 2000, 2099


class EventInvalid(ValueError):
    """An event that does not fit the schema; ``field`` is the JSON pointer of the (first)
    fault, ``faults`` every fault found, each a field and a sentence (this one first)."""

    def __init__(self, field: str, message: str, faults: Sequence[Fault] = ()):
        super().__init__(f"{field or '/'}: {message}")
        self.field = field
        self.message = message
        self.faults: tuple[Fault, ...] = tuple(faults) or (Fault(field, message),)


class DuplicateKey(EventInvalid):
    """A JSON object names the same key twice; ``field`` points at the repeated key."""


@dataclass(frozen=True)
class Event:
    """One account event; ``data`` holds the fields of its type, ``raw`` the JSON as received."""

    id: str
    type: str
    account: str
    at: datetime
    data: Mapping[str, Any]
    raw: Mapping[str, Any]
    canonical: bytes = field(default=b"", repr=False, compare=False)
    stored_digest: bytes = field(default=b"", repr=False, compare=False)

    def canonical_json(self) -> str:
        """The event as stored: keys sorted, no spaces, UTF-8."""
        return (self.canonical or canonical_bytes(self.raw)).decode()

    @property
    def digest(self) -> bytes:
        """16 bytes that identify the event's content: one id has one content."""
        return self.stored_digest or content_digest(self.canonical or canonical_bytes(self.raw))


def canonical_bytes(raw: Mapping[str, Any]) -> bytes:
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def content_digest(canonical: bytes) -> bytes:
    """BLAKE2b-128 of the canonical JSON (keys sorted, no spaces, UTF-8)."""
    return hashlib.blake2b(canonical, digest_size=16).digest()


class _Repeated(Exception):
    pass


def _refuse_repeats(pairs: list) -> None:
    # Only counts: the document itself comes from orjson, so nothing is built here.
    if len(dict(pairs)) != len(pairs):
        raise _Repeated


_CHECK_REPEATS = json.JSONDecoder(object_pairs_hook=_refuse_repeats)
_KEEP_PAIRS = json.JSONDecoder(object_pairs_hook=lambda pairs: _Pairs(pairs))


class _Pairs(list):
    """An object as decoded with its repeated keys kept, to find where a key repeats."""


def loads_json(data: bytes | str) -> Any:
    """Decode JSON strictly: orjson's rules, and no object may name a key twice.

    ``{"amount": "1.00", "amount": "900.00"}`` would otherwise mean its last value; the repeat
    raises :class:`DuplicateKey` with the JSON pointer of the second key. Not JSON at all raises
    ``orjson.JSONDecodeError``.
    """
    document = orjson.loads(data)
    if type(document) is dict and type(data) is str:
        # the common case of _flat_without_repeats, written out: a line of text
        if data.count('":') == len(document) and not _QUOTE_THEN_SPACE_TEXT.search(data):
            return document
        refuse_repeated_keys(data)
    elif isinstance(document, (dict, list)) and not _flat_without_repeats(document, data):
        refuse_repeated_keys(data)
    return document


_QUOTE_THEN_SPACE_TEXT = re.compile(r'"[ \t\n\r]')
_QUOTE_THEN_SPACE_BYTES = re.compile(rb'"[ \t\n\r]')


def _flat_without_repeats(document: Any, data: bytes | str) -> bool:
    """True when ``document`` is an object whose text has no space after a quote and no more
    quote-colons than the object has keys: then no object in it names a key twice.

    Without a space after a quote, every key at any depth ends in a quote-colon, and a string
    value can only add to their count. As many as the outer object's (distinct) keys leaves none
    for a repeat and none for a nested object's keys; anything else takes the full check."""
    if type(document) is not dict:
        return False
    if isinstance(data, str):
        return data.count('":') == len(document) and not _QUOTE_THEN_SPACE_TEXT.search(data)
    data = bytes(data)
    return data.count(b'":') == len(document) and not _QUOTE_THEN_SPACE_BYTES.search(data)


def refuse_repeated_keys(data: bytes | str) -> None:
    """Raise :class:`DuplicateKey` if an object of the JSON ``data`` names a key twice.

    ``data`` must already be known to be JSON (orjson decoded it); the check is the standard
    library's C decoder with a hook, about 2 µs for an event.
    """
    text = bytes(data).decode() if not isinstance(data, str) else data
    try:
        _CHECK_REPEATS.decode(text)
    except _Repeated:
        repeat = _first_repeat(_KEEP_PAIRS.decode(text))
        raise repeat or DuplicateKey("", "a key appears more than once in one object") from None
    except RecursionError:
        raise EventInvalid("", "the JSON is nested too deeply") from None


def _first_repeat(node: Any, pointer: str = "") -> DuplicateKey | None:
    if isinstance(node, _Pairs):
        seen = set()
        for key, _ in node:
            if key in seen:
                return DuplicateKey(
                    f"{pointer}/{escape_pointer_token(key)}",
                    f"the key {key!r} appears more than once in one object; send each field once",
                )
            seen.add(key)
        children = ((escape_pointer_token(k), v) for k, v in node)
    elif isinstance(node, list):
        children = ((str(i), v) for i, v in enumerate(node))
    else:
        return None
    for token, child in children:
        found = _first_repeat(child, f"{pointer}/{token}")
        if found is not None:
            return found
    return None


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
    type_description = schema["properties"]["type"]["description"]
    for branch in schema["allOf"]:
        type_name = branch["if"]["properties"]["type"]["const"]
        fields = _inline(defs[branch["then"]["$ref"].rsplit("/", 1)[-1]], defs)
        flat = {
            "type": "object",
            "properties": {
                **_inline(schema["properties"], defs),
                "type": {"const": type_name, "description": type_description},
                **fields.get("properties", {}),
            },
            "required": schema["required"] + fields.get("required", []),
            "additionalProperties": False,
        }
        if "description" in branch:  # what the type means, where its fields do not say
            flat["description"] = branch["description"]
        for keyword, value in fields.items():
            if keyword not in ("properties", "required"):
                flat[keyword] = value
        flats[type_name] = flat
    return flats


def _inline(node: Any, defs: dict) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            # a description beside the $ref says what this use of the definition means; the
            # definition's own says what form it takes
            target = _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
            beside = {k: _inline(v, defs) for k, v in node.items() if k != "$ref"}
            if "description" in beside and "description" in target:
                beside["description"] += " " + target["description"]
            return {**target, **beside}
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _fast_verdict(raw: dict) -> fastjsonschema.JsonSchemaException | bool | None:
    """None if the compiled validator accepts, else its exception (False: no such type)."""
    validate = fast_validators().get(raw.get("type")) if isinstance(raw.get("type"), str) else None
    if validate is None:
        return False
    try:
        validate(raw)
    except fastjsonschema.JsonSchemaException as exc:
        return exc
    return None


def _accepted_fast(raw: dict) -> bool:
    """Whether the fast path accepts ``raw`` (the tests compare with the reference)."""
    reader = _reader_of(raw)
    return (reader is not None and reader.accepts(raw)) or _fast_verdict(raw) is None


def schema_errors(raw: Any) -> EventInvalid | None:
    """The reference validator's verdict: every fault, located and in words (the most
    relevant first), or None."""
    faults = _schema_faults(raw)
    return EventInvalid(*faults[0], faults) if faults else None


def _schema_faults(raw: Any) -> list[Fault]:
    errors = list(event_validator().iter_errors(raw))
    if not errors:
        return []
    # A field that fails its type's schema also counts as "unevaluated": the real fault first
    # (faults_in_words leaves such a field out of the unevaluated ones).
    real = [e for e in errors if e.validator != "unevaluatedProperties"] or errors
    first = best_match(real)
    faults: list[Fault] = []
    for error in [first, *(e for e in errors if e is not first)]:
        for fault in _describe(error, raw):
            if fault not in faults:
                faults.append(fault)
    return faults


def refusal(raw: dict, verdict: Any = None, first: EventInvalid | None = None) -> EventInvalid:
    """Why ``raw`` is refused, with every fault: the schema's, then those of the values it
    cannot check (a date that does not exist, an amount of 0.00, a VAT id) in fields without
    a fault of their own. Only a refused event comes here: the reference validator's
    thoroughness costs about 1.6 ms an event. ``verdict`` is the compiled validator's, and
    ``first`` the value check's refusal that sent the event here, if any."""
    faults = _schema_faults(raw)
    kind = raw.get("type")
    flat = flat_event_schemas().get(kind) if isinstance(kind, str) else None
    fields = ALL_VALUE_FIELDS.of(flat["properties"]) if flat else ValueFields((), (), (), False)
    faulted = {fault.field for fault in faults}
    faults.extend(f for f in _value_faults(raw, fields) if not _within(f.field, faulted))
    if faults:
        return EventInvalid(*faults[0], faults)
    return first or _fast_error(verdict)


def _within(pointer: str, faulted: Collection[str]) -> bool:
    """Whether ``pointer`` or an object it lies in has a fault already."""
    parts = pointer.split("/")
    return any("/".join(parts[:n]) in faulted for n in range(1, len(parts) + 1))


def _value_faults(raw: dict, fields: ValueFields) -> list[Fault]:
    """The faults :func:`_check_values` would raise one at a time, all of them."""
    checks: list[Callable[[], Any]] = [lambda: _instant(raw, "at")] if "at" in raw else []
    checks += [lambda f=f: _instant(raw, f) for f in fields.instants if f in raw]
    checks += [lambda f=f: _date(raw, f) for f in fields.dates if f in raw]
    checks += [lambda f=f: _check_amount(raw, f) for f in fields.amounts if f in raw]
    if fields.customer:
        checks.append(lambda: _check_vat_id(raw))
    faults = []
    for check in checks:
        try:
            check()
        except EventInvalid as exc:
            faults.append(Fault(exc.field, exc.message))
        except (TypeError, ValueError, ArithmeticError):
            pass  # a value of the wrong kind: the schema's fault names it
    return faults


def parse_event(raw: Any) -> Event:
    """Validate decoded JSON and return the :class:`Event`; EventInvalid names the field."""
    if not isinstance(raw, dict):
        raise EventInvalid("", f"an event is a JSON object, not {type(raw).__name__}")
    reader, verdict = _reader_of(raw), None
    try:
        if reader is not None and reader.accepts(raw):
            # the type's own generated check (engine/event_checks.py) accepts: so would the
            # compiled validator, and only the type's own fields are there to check
            at = _check_values(raw, reader.values)
        else:
            verdict = _fast_verdict(raw)
            if verdict is None:
                at = _check_values(raw)
    except EventInvalid as exc:
        raise refusal(raw, first=exc) from None  # every fault, not only this one
    if verdict is not None:
        # The reference validator does not assert every format (25:00): the value checks
        # name the field; the compiled validator's own path is the last resort.
        raise refusal(raw, verdict)
    data = dict(raw)
    del data["id"], data["type"], data["account"], data["at"]
    # the digest (Event.digest) is made when it is asked for: when an id comes again
    return _new_event(raw["id"], raw["type"], raw["account"], at, data, raw, b"", b"")


_new = object.__new__


def _new_event(
    event_id: str,
    kind: str,
    account: str,
    at: datetime,
    data: dict,
    raw: dict,
    canonical: bytes,
    digest: bytes,
) -> Event:
    """``Event(...)`` at a third of the cost: a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__``; this fills the new instance's dictionary at once."""
    event = _new(Event)
    event.__dict__.update(
        {
            "id": event_id,
            "type": kind,
            "account": account,
            "at": at,
            "data": data,
            "raw": raw,
            "canonical": canonical,
            "stored_digest": digest,
        }
    )
    return event


class ValueFields(NamedTuple):
    """The fields whose values the schema cannot check fully (a calendar date, an instant's
    offset, an amount above zero, a VAT id), as an event type may have them."""

    instants: tuple[str, ...] = ("start", "end")
    dates: tuple[str, ...] = ("sent_on", "effective_on", "signed_on", "effective")
    amounts: tuple[str, ...] = ("amount",)
    customer: bool = True

    def of(self, fields: Collection[str]) -> ValueFields:
        """Only those among ``fields`` (an event type's properties)."""
        return ValueFields(
            tuple(f for f in self.instants if f in fields),
            tuple(f for f in self.dates if f in fields),
            tuple(f for f in self.amounts if f in fields),
            self.customer and "customer" in fields,
        )


ALL_VALUE_FIELDS = ValueFields()


class TypeReader(NamedTuple):
    """An event type of plain fields: its generated acceptance check and its value fields."""

    accepts: Callable[[Mapping[str, Any]], bool]
    values: ValueFields


@cache
def type_readers(schema_dir: Path = PROJECT_ROOT / "schemas") -> dict[str, TypeReader]:
    """A :class:`TypeReader` for each event type that ``engine.event_checks`` can check (all
    but those with nested objects or conditions), from the same flat schemas and the compiled
    validators' own regular expressions."""
    validators = fast_validators(schema_dir)
    readers = {}
    for type_name, flat in flat_event_schemas(schema_dir).items():
        regexes = getattr(validators[type_name], "__globals__", {}).get("REGEX_PATTERNS", {})
        check = acceptance_check(flat, regexes)
        if check is not None:
            readers[type_name] = TypeReader(check, ALL_VALUE_FIELDS.of(flat["properties"]))
    return readers


def _reader_of(raw: dict) -> TypeReader | None:
    kind = raw.get("type")
    return type_readers().get(kind) if type(kind) is str else None


def _check_values(raw: dict, fields: ValueFields = ALL_VALUE_FIELDS) -> datetime:
    at = _instant(raw, "at") if fields is ALL_VALUE_FIELDS else _fitting_instant(raw, "at")
    for field_name in fields.instants:
        if field_name in raw:
            _instant(raw, field_name)  # (start and end, rare: the full check)
    for field_name in fields.dates:
        if field_name in raw:
            _date(raw, field_name)
    for field_name in fields.amounts:
        if field_name in raw:
            _check_amount(raw, field_name)
    if fields.customer:
        _check_vat_id(raw)
    return at


def _check_amount(raw: dict, field_name: str) -> None:
    if parse_amount(raw[field_name]) <= 0:
        raise EventInvalid(f"/{field_name}", "must be more than 0.00")


def _check_vat_id(raw: dict) -> None:
    """The customer's VAT id must be well-formed (python-stdnum, § 27a UStG): it decides the
    reverse charge (UStG § 13b, engine/billing/vat_treatment.py)."""
    customer = raw.get("customer")
    if isinstance(customer, dict) and isinstance(customer.get("vat_id"), str):
        # its format, python-stdnum's, admits no control character: say so as for any text
        problem = control_character(customer["vat_id"]) or vat_id_problem(customer["vat_id"])
        if problem:
            raise EventInvalid("/customer/vat_id", problem)


def _fast_error(verdict: Any) -> EventInvalid:
    if isinstance(verdict, fastjsonschema.JsonSchemaException) and verdict.path:
        pointer = "".join(
            "/" + escape_pointer_token(str(p)) for p in verdict.path[1:] if p != "data"
        )
        if verdict.rule == "pattern" and isinstance(verdict.value, str):
            # "Anna\n": the reference validator's "$" matches before a final newline
            control = control_character(verdict.value, verdict.definition["pattern"])
            if control:
                return EventInvalid(pointer, control)
        definition = verdict.definition if isinstance(verdict.definition, dict) else {}
        return EventInvalid(
            pointer, sentence(verdict.rule or "", verdict.rule_definition, definition, pointer)
        )
    return EventInvalid("", "does not fit the event schema")


_CONTROL = re.compile("[\x00-\x1f\x7f]")
_DOLLAR = re.compile(r"(?<!\\)\$")


def control_character(text: str, pattern: str | None = None) -> str | None:
    """Why the schema's ``pattern`` (None: a field of one line) refuses ``text`` when a control
    character is the cause: ``must not contain control characters (U+000B at position 5)``,
    counted from 1; else None.

    Text fields of the event schema refuse C0 controls and DEL (U+0000-U+001F, U+007F);
    tab and line breaks only where a field is lines of text (whose pattern accepts them)."""
    if _CONTROL.search(text) is None:
        return None
    allowed = set()
    if pattern is not None:
        # "$" as the compiled validator reads it: the end, not also before a final newline
        whole = re.compile(_DOLLAR.sub(r"\\Z", pattern))
        allowed = {c for c in "\t\n\r" if whole.search(c)}
    for position, char in enumerate(text, start=1):
        if char not in allowed and _CONTROL.match(char):
            return f"must not contain control characters (U+{ord(char):04X} at position {position})"
    return None


def _date(raw: dict, field_name: str) -> date:
    value = raw[field_name]
    try:
        day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise EventInvalid(f"/{field_name}", f"{value!r} is not a calendar date (YYYY-MM-DD)")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise EventInvalid(
            f"/{field_name}", f"{value!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}"
        )
    return day


def _fitting_instant(raw: dict, field_name: str) -> datetime:
    """:func:`_instant` of a value that fits the schema's instant: in the years 2000 to 2099
    it cannot overflow on the way to UTC, so that conversion is left out; any doubt goes to
    :func:`_instant` for its error."""
    try:
        instant = datetime.fromisoformat(raw[field_name])
    except (ValueError, TypeError):
        return _instant(raw, field_name)
    if instant.tzinfo is None or not FIRST_YEAR <= instant.year <= LAST_YEAR:
        return _instant(raw, field_name)
    return instant


def _instant(raw: dict, field_name: str) -> datetime:
    value = raw[field_name]
    if not isinstance(value, str):
        raise EventInvalid(f"/{field_name}", f"{value!r} is not an instant (a string)")
    try:
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is None:
            raise ValueError(value)
        instant.astimezone(UTC)
    except ValueError:
        raise EventInvalid(f"/{field_name}", f"{value!r} is not a valid instant") from None
    except OverflowError:
        raise EventInvalid(f"/{field_name}", f"{value!r} is out of range") from None
    if not FIRST_YEAR <= instant.year <= LAST_YEAR:
        raise EventInvalid(
            f"/{field_name}", f"{value!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}"
        )
    return instant


def _describe(error, raw: Any = None) -> list[Fault]:
    """The faults one error of the reference validator stands for, in words."""
    if error.validator == "pattern" and isinstance(error.instance, str):
        control = control_character(error.instance, error.validator_value)
        if control:
            return [Fault(pointer_of(error.absolute_path), control)]
    return faults_in_words(error, raw, flat_event_schemas())
