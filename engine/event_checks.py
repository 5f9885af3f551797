"""Acceptance checks for the event types of plain fields, generated from the event schema.

``engine.events.flat_event_schemas`` turns ``schemas/event.schema.json`` into one closed object
schema per event type. For a type whose fields are all plain values (strings with a pattern, a
format, a length, a ``const`` or a string ``enum``; integers with bounds; booleans) this module
writes one small Python function from that flat schema: the keys against the required and
allowed sets, then each field's type and keywords, with the very regular expressions the
compiled validator (fastjsonschema) uses. A top-up, a payment or a clock is decided in about
half of the compiled validator's time, a call (six expressions to match) in about 85 %.

The check decides acceptance only, and only one way is trusted: ``True`` means the compiled
validator accepts too; ``False`` sends the event to the compiled validator and the reference
validator, which decide and explain the fault. A schema keyword this module does not know
(nested objects, ``oneOf``, ``if``, ``default``, number bounds on strings ...) means no check
for that type, never a weaker one. ``tests/test_event_checks.py`` runs both over generated
valid and invalid events.
"""

from __future__ import annotations

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

Check = Callable[[Mapping[str, Any]], bool]


class Unsupported(Exception):
    """The flat schema uses a keyword this module does not translate."""


def acceptance_check(flat: Mapping[str, Any], regexes: Mapping[str, Any]) -> Check | None:
    """The check for one event type's flat schema, or None if it is not all plain fields.

    ``regexes`` are the compiled validator's own: ``pattern`` text to a compiled expression
    (used with ``search``) and ``"<format>_re_pattern"`` (used with ``match``)."""
    try:
        source, names = _source(flat, regexes)
    except Unsupported:
        return None
    namespace: dict[str, Any] = dict(names)
    exec(compile(source, "<event check>", "exec"), namespace)  # our own text, from the schema
    check = namespace["accepts"]
    check.source = source  # for the curious and for the tests
    return check


def _source(flat: Mapping[str, Any], regexes: Mapping[str, Any]) -> tuple[str, dict]:
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
    }
    lines = [
        "def accepts(event):",
        "    keys = event.keys()",
        "    if not (keys <= ALLOWED and keys >= REQUIRED):",
        "        return False",
    ]
    for number, (key, schema) in enumerate(properties.items()):
        conditions = _conditions(schema, regexes, names, number)
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
    return "\n".join(lines) + "\n", names


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
