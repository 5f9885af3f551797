"""Acceptance checks for the event types of plain fields, generated from the event schema.

``engine.events.flat_event_schemas`` turns ``schemas/event.schema.json`` into one closed object
schema per event type. For a type whose fields are all plain values (strings with a pattern, a
format, a length, a ``const`` or a string ``enum``; integers with bounds; booleans) this module
writes one small Python function from that flat schema: the keys against the required and
allowed sets, then each field's type and keywords, with the very regular expressions the
compiled validator (fastjsonschema) uses. A call, a top-up, a payment or a clock is decided
in about a third of the compiled validator's time.

The check decides acceptance only, and only one way is trusted: ``True`` means the compiled
validator accepts too; ``False`` sends the event to the compiled validator and the reference
validator, which decide and explain as before. A schema keyword this module does not know
(nested objects, ``oneOf``, ``if``, ``default``, number bounds on strings ...) means no check
for that type, never a weaker one. ``tests/test_event_checks.py`` runs both over generated
valid and invalid events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

# Keywords that only annotate a schema; everything else must be understood below.
NOTES = frozenset({"description", "title", "$comment", "examples", "label_de"})
OBJECT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"}) | NOTES
LEAF_KEYWORDS = (
    frozenset(
        {"type", "pattern", "format", "minLength", "maxLength", "minimum", "maximum"}
        | {"enum", "const"}
    )
    | NOTES
)
# The cheap checks first: a pattern before the format's longer expression.
ORDER = ("const", "enum", "minLength", "maxLength", "minimum", "maximum", "pattern", "format")
STRING_KEYWORDS = frozenset({"pattern", "format", "minLength", "maxLength", "enum", "const"})
JSON_TYPES = {"string": "str", "integer": "int", "boolean": "bool"}

# Strings remembered per field as matching (then forgotten all at once): a set lookup instead
# of a regular expression for the values that repeat (accounts, users, numbers). About 1 MB
# per field at most; 50,000 cost 38 MB of peak memory in the 100k-call replay.
KEPT = 8192

Check = Callable[[Mapping[str, Any]], bool]


class Unsupported(Exception):
    """The flat schema uses a keyword this module does not translate."""


def acceptance_check(
    flat: Mapping[str, Any], regexes: Mapping[str, Any], kept: dict[str, set] | None = None
) -> Check | None:
    """The check for one event type's flat schema, or None if it is not all plain fields.

    ``regexes`` are the compiled validator's own: ``pattern`` text to a compiled expression
    (used with ``search``) and ``"<format>_re_pattern"`` (used with ``match``). ``kept`` holds
    the remembered strings by field schema, to share them between event types."""
    try:
        source, names = _source(flat, regexes, {} if kept is None else kept)
    except Unsupported:
        return None
    namespace: dict[str, Any] = dict(names)
    exec(compile(source, "<event check>", "exec"), namespace)  # our own text, from the schema
    check = namespace["accepts"]
    check.source = source  # for the curious and for the tests
    return check


def _source(flat: Mapping[str, Any], regexes: Mapping[str, Any], kept: dict) -> tuple[str, dict]:
    if set(flat) - OBJECT_KEYWORDS or flat.get("type") != "object":
        raise Unsupported("not a closed object")
    if flat.get("additionalProperties") is not False:
        raise Unsupported("open object")
    properties = flat.get("properties", {})
    required = list(flat.get("required", []))
    if not set(required) <= set(properties):
        raise Unsupported("a required key without a schema")
    names: dict[str, Any] = {
        "ALLOWED": frozenset(properties),
        "REQUIRED": frozenset(required),
        "KEPT": KEPT,
    }
    lines = [
        "def accepts(event):",
        "    keys = event.keys()",
        "    if not (keys <= ALLOWED and keys >= REQUIRED):",
        "        return False",
    ]
    helpers: list[str] = []
    for number, (key, schema) in enumerate(properties.items()):
        conditions = _conditions(schema, regexes, names, number)
        if any(c.startswith(("PATTERN_", "FORMAT_")) for c in conditions):
            # a string matched once is remembered: an account's or a user's name repeats
            same = json.dumps({k: v for k, v in schema.items() if k not in NOTES}, sort_keys=True)
            names[f"SEEN_{number}"] = kept.setdefault(same, set())
            helpers += [
                f"def fits_{number}(value):",
                f"    if {' and '.join(conditions[1:])}:",
                f"        if len(SEEN_{number}) >= KEPT:",
                f"            SEEN_{number}.clear()",
                f"        SEEN_{number}.add(value)",
                "        return True",
                "    return False",
            ]
            conditions = [conditions[0], f"(value in SEEN_{number} or fits_{number}(value))"]
        if key in required:
            lines.append(f"    value = event[{key!r}]")
            lines.append(f"    if not ({' and '.join(conditions)}):")
            lines.append("        return False")
        else:
            lines.append(f"    if {key!r} in event:")
            lines.append(f"        value = event[{key!r}]")
            lines.append(f"        if not ({' and '.join(conditions)}):")
            lines.append("            return False")
    lines.append("    return True")
    return "\n".join(helpers + lines) + "\n", names


def _conditions(schema: Any, regexes: Mapping[str, Any], names: dict, number: int) -> list[str]:
    """Python conditions on ``value`` that hold exactly when ``value`` fits ``schema``."""
    if not isinstance(schema, dict) or set(schema) - LEAF_KEYWORDS:
        raise Unsupported("not a plain field")
    json_type = schema.get("type")
    strings_only = _all_strings(schema.get("enum", [])) and _all_strings([schema.get("const", "")])
    if json_type is None:
        if ("enum" not in schema and "const" not in schema) or not strings_only:
            raise Unsupported("a field without a type")
        json_type = "string"  # a string const or enum admits strings only
    if json_type not in JSON_TYPES:
        raise Unsupported(f"type {json_type!r}")
    conditions = [f"type(value) is {JSON_TYPES[json_type]}"]
    for keyword in ORDER:
        if keyword not in schema:
            continue
        value = schema[keyword]
        name = f"{keyword.upper().replace('LENGTH', '_LENGTH')}_{number}"
        if keyword in STRING_KEYWORDS and (json_type != "string" or not strings_only):
            raise Unsupported(f"{keyword} on {json_type}")
        if keyword == "pattern":
            if value not in regexes:
                raise Unsupported("pattern not compiled")
            names[name] = regexes[value].search
            conditions.append(f"{name}(value)")
        elif keyword == "format":
            if f"{value}_re_pattern" not in regexes:
                raise Unsupported(f"format {value!r}")
            names[name] = regexes[f"{value}_re_pattern"].match
            conditions.append(f"{name}(value)")
        elif keyword in ("minLength", "maxLength"):
            _require_whole(value)
            conditions.append(f"len(value) {'>=' if keyword == 'minLength' else '<='} {value}")
        elif keyword in ("minimum", "maximum"):
            if json_type != "integer":
                raise Unsupported(f"{keyword} on {json_type}")
            _require_whole(value)
            conditions.append(f"value {'>=' if keyword == 'minimum' else '<='} {value}")
        elif keyword == "enum":
            names[name] = frozenset(value)
            conditions.append(f"value in {name}")
        elif keyword == "const":
            names[name] = value
            conditions.append(f"value == {name}")
    return conditions


def _all_strings(values: Any) -> bool:
    return isinstance(values, list) and all(type(v) is str for v in values)


def _require_whole(value: Any) -> None:
    if type(value) is not int:
        raise Unsupported(f"bound {value!r}")
