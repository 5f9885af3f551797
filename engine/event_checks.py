"""Acceptance checks for the event types of plain fields, generated from the event schema;
and the words of a refusal: each fault of a refused event as a field and a sentence.

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

A refused event is explained by the reference validator; :func:`faults_in_words` turns each
of its errors into sentences chosen by the schema keyword, a pattern by its meaning
(``PATTERN_WORDS``), never the expression (``tests/test_api_errors_in_words.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from engine.core.schemas import escape_pointer_token as _token

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


# -- refusals in words ----------------------------------------------------------------------
# A refused event is explained by the reference validator (jsonschema); each of its errors
# becomes a fault: the JSON pointer of the field and a sentence a person can act on. The
# sentence is chosen by the error's keyword; a pattern by its meaning from PATTERN_WORDS, never
# the regular expression itself (a test holds every pattern of the event schema to an entry).

ENVELOPE = ("id", "type", "account", "at")
_ENVELOPE_WORDS = "id, type, account and at"
_CONTROLS = "no control characters"
_ALLOWED_TEXT = "^[^\\u0000-\\u001F\\u007F]*$"

PATTERN_WORDS: dict[str, str] = {
    "^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$": "must be 1 to 128 characters, letters, digits "
    "and . _ : @ / + - only, beginning with a letter or digit, e.g. call-2026-11-05-0001",
    "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$": "must be an account id of 1 to 64 characters, "
    "letters, digits and . _ - only, beginning with a letter or digit, e.g. acme",
    "^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?"
    "(Z|[+-][0-9]{2}:[0-9]{2})$": "must be an instant with its UTC offset, e.g. "
    "2026-11-05T10:00:00+01:00, in the years 2000 to 2099",
    "^(0\\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,9}(\\.[0-9]{1,2})?)$": "must be an amount in "
    "euros above 0.00 with a decimal point and at most two decimals, e.g. 12.50",
    "^[A-Z]{2}$": "must be a country code of two capital letters (ISO 3166-1), e.g. DE",
    "^0?[1-9][0-9]{1,5}$": "must be an area code of 2 to 6 digits, with or without its "
    "leading 0, e.g. 0211",
    "^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$": "must be a user id of 1 to 128 characters, "
    "letters, digits and . _ @ + - only, beginning with a letter or digit, e.g. anna",
    "^([+][1-9][0-9]{3,14}|[0-9]{3})$": "must be a number in international form with a "
    "leading +, e.g. +4921112345678, or a national short number of three digits, e.g. 110",
    _ALLOWED_TEXT: f"must be text with {_CONTROLS}",
    "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$": "must be a calendar date, YYYY-MM-DD, e.g. 2026-11-05, "
    "in the years 2000 to 2099",
    "^20[0-9]{2}-(0[1-9]|1[0-2])$": "must be a month, YYYY-MM, e.g. 2026-11",
    "^[A-Z0-9]{4}$": "must be a return reason code of four capital letters or digits, e.g. AM04",
    "^[A-Za-z0-9+?/:().,' -]{1,35}$": "must be 1 to 35 characters of the SEPA character set: "
    "letters without accents, digits, spaces and + ? / : ( ) . , ' -",
    "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$": "must be text with tabs and "
    f"line breaks at most, {_CONTROLS}",
    "^[^@\\s\\u0000-\\u001F\\u007F]+@[^@\\s\\u0000-\\u001F\\u007F]+\\.[^@\\s\\u0000-\\u001F"
    "\\u007F]+$": "must be an e-mail address without spaces, e.g. buchhaltung@example.de",
    "^[0-9]{2,12}(-[0-9A-Z]{1,30})?-[0-9]{2}$": "must be a Leitweg-ID: the coarse address, "
    "optionally the fine address, and two check digits, e.g. 04011000-1234512345-06",
    "^[A-Za-z0-9+?/:().,'-]{1,35}$": "must be a mandate reference of 1 to 35 characters "
    "without spaces: letters without accents, digits and + ? / : ( ) . , ' -",
    "^[^\\S\\u0000-\\u001F\\u007F]*[^\\s\\u0000-\\u001F\\u007F][^\\u0000-\\u001F\\u007F]*$": (
        f"must be a name that is not only spaces, with {_CONTROLS}"
    ),
    "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$": "must be an IBAN without spaces, in capital letters, "
    "e.g. DE89370400440532013000",
    "^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$": "must be a BIC of 8 or 11 capital letters and "
    "digits, e.g. COBADEFFXXX",
    "^[a-z0-9][a-z0-9-]{0,31}$": "must be a plan id of small letters, digits and hyphens, "
    "e.g. clinq-premium",
}
FORMAT_WORDS: dict[str, str] = {
    "date": "must be a calendar date that exists, YYYY-MM-DD, e.g. 2026-11-05",
    "date-time": "must be an instant that exists, with its UTC offset, e.g. "
    "2026-11-05T10:00:00+01:00",
    "eu-vat-id": "must be an EU VAT identification number with its country prefix, "
    "e.g. DE136695976",
}
TYPE_WORDS: dict[str, str] = {
    "string": "must be a JSON string (in double quotes)",
    "integer": "must be a whole number (a JSON number without decimals)",
    "number": "must be a JSON number",
    "boolean": "must be true or false",
    "object": "must be a JSON object",
    "array": "must be a JSON list",
    "null": "must be null",
}


class Fault(NamedTuple):
    """One fault of a refused body: the JSON pointer of its field and a sentence."""

    field: str
    message: str


def pointer_of(path: Any) -> str:
    """The JSON pointer (RFC 6901) of a jsonschema error's ``absolute_path``."""
    return "".join("/" + _token(str(p)) for p in path)


def faults_in_words(error: Any, raw: Any, flats: Mapping[str, Mapping[str, Any]]) -> list[Fault]:
    """The faults one jsonschema error of an event stands for, each with its sentence.

    ``flats`` are the event types' flat schemas (``engine.events.flat_event_schemas``): they
    say which fields a type has. An error that only repeats another (a field of the type that
    counts as unevaluated because its own check failed) stands for none."""
    pointer = pointer_of(error.absolute_path)
    keyword, value, schema = error.validator, error.validator_value, error.schema
    kind = raw.get("type") if isinstance(raw, dict) else None
    flat = flats.get(kind) if isinstance(kind, str) else None
    if keyword == "required":
        when = _condition(error, flat) if pointer == "" else ""
        return [
            Fault(f"{pointer}/{_token(str(key))}", "is required" + when)
            for key in value
            if isinstance(error.instance, dict) and key not in error.instance
        ]
    if keyword == "unevaluatedProperties":
        if flat is None or not isinstance(error.instance, dict):
            return []  # an unknown type: the type's own fault says so
        own = [k for k in flat["properties"] if k not in ENVELOPE]
        fields = ", ".join(own) if own else "none"
        return [
            Fault(
                f"/{_token(str(key))}",
                f"is not a field of {_article(raw['type'])} {raw['type']} event "
                f"(its fields besides {_ENVELOPE_WORDS}: {fields})",
            )
            for key in sorted(error.instance)
            if key not in flat["properties"]
        ]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        owner = str(list(error.absolute_path)[-1]) if error.absolute_path else "the event"
        return [
            Fault(
                f"{pointer}/{_token(str(key))}",
                f"is not a field of the {owner} object (its fields: {', '.join(known) or 'none'})",
            )
            for key in error.instance
            if key not in known
        ]
    if keyword == "oneOf":
        return _one_of(pointer, error.instance, error.validator_value)
    if keyword == "minProperties" and pointer == "" and flat is not None:
        own = ", ".join(k for k in flat["properties"] if k not in ENVELOPE)
        kind = raw["type"]
        return [
            Fault(
                "",
                f"{_article(kind).capitalize()} {kind} event needs at least one of "
                f"its fields: {own}",
            )
        ]
    return [Fault(pointer, sentence(keyword, value, schema, pointer))]


def sentence(keyword: str, value: Any, schema: Mapping[str, Any], pointer: str = "") -> str:
    """The sentence for a value that fails ``keyword`` (with ``value``) of its ``schema``."""
    if keyword == "pattern":
        return PATTERN_WORDS.get(value, "does not have the form this field needs")
    if keyword == "format":
        return FORMAT_WORDS.get(value, f"must be a valid {value}")
    if keyword == "type":
        types = value if isinstance(value, list) else [value]
        words = " or ".join(TYPE_WORDS.get(t, t).removeprefix("must be ") for t in types)
        pattern = schema.get("pattern")
        if pattern in PATTERN_WORDS and pattern != _ALLOWED_TEXT:
            return f"must be {words}; it {PATTERN_WORDS[pattern]}"
        return f"must be {words}"
    if keyword == "enum":
        choices = ", ".join(_plain(v) for v in value)
        if pointer == "/type":
            return f"is not a type of event; the types are: {choices}"
        return f"must be one of: {choices}"
    if keyword == "const":
        return f"must be {_plain(value)}"
    if keyword in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"must be a whole number from {low} to {high}"
        return f"must be at least {low}" if keyword == "minimum" else f"must be at most {high}"
    if keyword in ("minLength", "maxLength"):
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if high is not None:
            return (
                f"must be {low} to {high} characters long"
                if low
                else (f"must be at most {high} characters long")
            )
        return "must not be empty" if low == 1 else f"must be at least {low} characters long"
    if keyword == "minItems":
        return f"must list at least {value}"
    if keyword == "maxItems":
        return f"must list at most {value}"
    if keyword == "uniqueItems":
        return "must not list the same value twice"
    return f"does not fit the event schema (its rule {keyword})"


def _condition(error: Any, flat: Mapping[str, Any] | None) -> str:
    """`` when billing_method is autoprepay``: the ``if`` of a type's conditional ``then``."""
    if flat is None or list(error.relative_schema_path).count("then") < 2:
        return ""
    condition = flat.get("if", {})
    for key, rule in condition.get("properties", {}).items():
        if "const" in rule:
            return f" when {key} is {_plain(rule['const'])}"
    keys = [k for option in condition.get("anyOf", []) for k in option.get("required", [])]
    return f" when any of {', '.join(keys)} is given" if keys else ""


def _one_of(pointer: str, instance: Any, options: list) -> list[Fault]:
    """``oneOf`` of alternatives that each require one field: exactly one of them."""
    keys = [o["required"][0] for o in options if list(o) == ["required"] and len(o["required"])]
    if len(keys) != len(options) or not isinstance(instance, dict):
        return [Fault(pointer, "does not fit any of the forms it may take")]
    either = " or ".join(keys)
    given = [k for k in keys if k in instance]
    if not given:
        return [Fault(f"{pointer}/{_token(keys[0])}", f"is required: give {either}, not both")]
    return [
        Fault(f"{pointer}/{_token(k)}", f"must not be given with {given[0]}: give {either}")
        for k in given[1:]
    ]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _plain(value: Any) -> str:
    if value is True or value is False or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)
