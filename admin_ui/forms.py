"""The typed form of a draft: one field per declared parameter, plus the effective date.

A draft is YAML text (one version of a catalog file). :func:`form_fields` turns it and the
file's parameter declarations into typed field descriptors (money with its unit, percentages,
periods with their deadline rule, dates, booleans, sets and references with what exists);
:func:`apply_form` writes submitted values back into the same text, changing only the values
that changed (admin_ui/yaml_edit.py), so the YAML view and the form edit one draft. Nothing is
validated here: what the form writes goes through the catalog's own checks (engine/catalog),
which report the same errors for both views; :func:`place_errors` puts each at its field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import admin_ui.yaml_edit as yaml_edit
from engine.catalog import TermsFile
from engine.catalog.cross_checks import CHANNELS
from engine.catalog.yaml_source import read_yaml
from engine.core.calendar import WEEKDAYS
from engine.core.deadlines import PERIOD_UNITS
from engine.core.schemas import escape_pointer_token

AMOUNT_UNITS = {"money": "EUR", "rate": "EUR/min", "percent": "%"}
UNIT_NAMES = {
    "minutes": "minutes",
    "seconds": "seconds",
    "users": "users",
    "numbers": "numbers",
    "day_of_month": "day of the month",
    "percentage_points": "percentage points",
    "percent_per_year": "% a year",
}
DEADLINE_RULES = {
    "bgb-188": "the day of the notice or event is not counted; the period ends with the end of "
    "its last day (BGB §§ 187 (1), 188)",
    "full-days-before-month-end": "at least this many full days lie between the event day and "
    "the last day of a month (CLINQ SD 1.4)",
    "days-before-month-end": "the period ends on or before the last day of a month (AGB 1.2.1)",
}
SHIFTS = {
    "bgb-193": "a last day on a Saturday, Sunday or public holiday moves to the next working day "
    "(BGB § 193)",
    "none": "a last day on a weekend or holiday is not moved",
}
HINTS = {
    "money": "an amount in EUR with a point and two decimals, e.g. 9.80",
    "rate": "EUR per minute with two to four decimals, e.g. 0.0179",
    "percent": "a percentage with two decimals, e.g. 5.00",
    "integer": "a whole number",
    "period": "a whole number of the unit chosen",
    "date": "a calendar date",
    "text": "a text, not empty",
}
SELECTABLE = ("zone", "rates", "plan", "clause", "channel", "weekday")
EFFECTIVE_FROM = "effective_from"
_VERSION = re.compile(r"^/versions/[0-9]+")


@dataclass(frozen=True)
class FormField:
    """One input of a draft's form, as the template renders it.

    ``kind`` is the parameter type (money, rate, percent, integer, period, boolean, text, set,
    reference) or ``date`` for the effective date; ``value`` is what the input shows (an
    amount without its unit, which ``unit`` names); ``options`` what a select offers.
    """

    name: str
    kind: str
    label: str
    pointer: str  # where the value stands in the draft, e.g. /values/flat_fee
    value: str = ""
    label_de: str = ""
    unit: str | None = None
    clause: str | None = None
    options: tuple[str, ...] = ()
    selected: tuple[str, ...] = ()
    period_unit: str | None = None
    deadline: str | None = None
    missing: bool = False
    errors: tuple[dict, ...] = field(default=())

    @property
    def input_name(self) -> str:
        return EFFECTIVE_FROM if self.kind == "date" else f"value:{self.name}"

    @property
    def element_id(self) -> str:
        return f"field-{self.name}"

    @property
    def multiple(self) -> bool:
        """A set chosen from what exists (zones, clauses, ...) rather than typed as a list."""
        return self.kind == "set" and bool(self.options)

    @property
    def hint(self) -> str | None:
        return HINTS.get(self.kind)


def read_draft(text: str) -> dict | None:
    """The draft's data if the form can edit it: readable YAML with a ``values`` mapping."""
    document = read_yaml(text, "draft")
    data = document.data
    if document.errors or not isinstance(data, dict) or not isinstance(data.get("values"), dict):
        return None
    return data


def form_fields(terms_file: TermsFile, known: Mapping[str, Sequence[str]], data: dict) -> list:
    """The fields of a draft of ``terms_file``: the effective date, then each parameter.

    ``known`` names what exists per kind of element (:func:`known_elements`), the options of
    sets and references.
    """
    fields = [
        FormField(
            name=EFFECTIVE_FROM,
            kind="date",
            label="Effective from",
            pointer=f"/{EFFECTIVE_FROM}",
            value=_shown(data.get(EFFECTIVE_FROM)),
            missing=EFFECTIVE_FROM not in data,
        )
    ]
    values = data["values"]
    for name, spec in terms_file.parameters.items():
        raw = values.get(name)
        annotated = isinstance(raw, dict) and "value" in raw
        plain = raw["value"] if annotated else raw
        pointer = f"/values/{escape_pointer_token(name)}" + ("/value" if annotated else "")
        fields.append(_field(spec, plain, pointer, known, missing=name not in values))
    return fields


def _field(spec, plain: Any, pointer: str, known, *, missing: bool) -> FormField:
    base = FormField(
        name=spec.name,
        kind=spec.type,
        label=spec.description,
        label_de=spec.label_de,
        pointer=pointer,
        clause=spec.clause,
        unit=_unit(spec),
        missing=missing,
    )
    if missing:
        plain = None
    if spec.type in AMOUNT_UNITS:
        shown = _shown(plain)
        suffix = " " + AMOUNT_UNITS[spec.type]
        return replace(base, value=shown.removesuffix(suffix) if isinstance(plain, str) else shown)
    if spec.type == "period":
        unit, count = next(iter(plain.items())) if isinstance(plain, dict) and plain else (None, "")
        deadline = "; ".join(
            text
            for text in (DEADLINE_RULES.get(spec.deadline_rule or ""), SHIFTS.get(spec.shift or ""))
            if text
        )
        return replace(
            base,
            value=_shown(count),
            period_unit=unit,
            options=PERIOD_UNITS,
            deadline=deadline or None,
        )
    if spec.type == "boolean":
        return replace(base, value="" if plain is None else _shown(plain))
    if spec.type in ("set", "reference"):
        options = tuple(known.get(spec.elements or "", ()))
        items = plain if isinstance(plain, list) else ([] if plain is None else [plain])
        chosen = tuple(_shown(item) for item in items)
        unknown = tuple(c for c in chosen if c not in options) if options else ()
        return replace(
            base,
            options=options + unknown,
            selected=chosen,
            value=", ".join(chosen) if spec.type == "set" else _shown(plain),
        )
    return replace(base, value=_shown(plain))


def _unit(spec) -> str | None:
    """The unit shown beside the input: ``EUR``, ``EUR/min``, ``% (percentage points)``, ..."""
    named = UNIT_NAMES.get(spec.unit or "", spec.unit)
    amount = AMOUNT_UNITS.get(spec.type)
    if amount and named:
        return f"{amount} ({named})"
    return amount or named


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def known_elements(files: Iterable[TermsFile]) -> dict[str, list[str]]:
    """What sets and references may name, per ``elements``: zones, rate tables, plans, clauses."""
    files = list(files)
    zones = next((f for f in files if f.kind == "zones"), None)
    return {
        "zone": sorted(zones.parameters) if zones else [],
        "rates": sorted(f.name for f in files if f.kind == "rates"),
        "plan": sorted(f.name for f in files if f.kind == "plan"),
        "clause": sorted(f.citation for f in files if f.kind == "clause"),
        "channel": sorted(CHANNELS),
        "weekday": list(WEEKDAYS),
    }


# -- from the submitted form back to the draft ---------------------------------------------


def submitted_unchanged(fields: Iterable[FormField]) -> dict[str, list[str]]:
    """What a browser submits for the form as shown, nothing changed (as ``apply_form`` reads)."""
    form: dict[str, list[str]] = {}
    for f in fields:
        if f.kind == "date":
            form[EFFECTIVE_FROM] = [f.value]
            continue
        form[f"present:{f.name}"] = ["1"]
        if f.kind == "boolean":
            if f.missing or f.value == "true":
                form[f.input_name] = [f.value]
        elif f.kind == "set":
            form[f.input_name] = list(f.selected) if f.multiple else [f.value]
            if not f.multiple:
                form[f"list:{f.name}"] = ["1"]
        else:
            form[f.input_name] = [f.value]
            if f.kind == "period":
                form[f"unit:{f.name}"] = [f.period_unit or ""]
    return form


def apply_form(text: str, terms_file: TermsFile, form: Mapping[str, list[str]]) -> str:
    """The draft ``text`` with the form's values written in; everything else as it was.

    ``form`` maps input names to their submitted values (Flask's ``request.form.to_dict(flat=
    False)``). A value equal to the draft's is not rewritten, so an unchanged form gives the
    text back unchanged; a value the form leaves empty for a parameter the draft lacks is not
    added. What is written is not checked here: the catalog's checks report it like YAML.
    """
    data = read_draft(text)
    if data is None:
        raise yaml_edit.EditError("the form needs a draft whose YAML can be read")
    if EFFECTIVE_FROM in form:
        day = _last(form, EFFECTIVE_FROM).strip()
        if day != _shown(data.get(EFFECTIVE_FROM)):
            written = (
                day if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day) else yaml_edit.quoted(day)
            )
            text = _put(text, data, "", EFFECTIVE_FROM, written)
    for name, spec in terms_file.parameters.items():
        key = f"value:{name}"
        if f"present:{name}" not in form:  # not a field of the form submitted
            continue
        raw = data["values"].get(name)
        annotated = isinstance(raw, dict) and "value" in raw
        current = raw["value"] if annotated else raw
        submitted = _submitted(spec, form, key)
        if name not in data["values"] and submitted in ("", []):
            continue
        if _same(spec.type, current, submitted) and name in data["values"]:
            continue
        written = _written(spec.type, submitted)
        token = escape_pointer_token(name)
        if annotated:
            text = yaml_edit.replace_value(text, f"/values/{token}/value", written)
        else:
            text = _put(text, data, "/values", name, written)
        data = read_draft(text) or data
    if read_yaml(text, "draft").refused or read_yaml(text, "draft").data is None:
        raise yaml_edit.EditError("the values typed do not make a readable draft")
    return text


def _put(text: str, data: dict, parent: str, key: str, written: str) -> str:
    pointer = f"{parent}/{escape_pointer_token(key)}"
    container = data if parent == "" else data["values"]
    if key in container:
        return yaml_edit.replace_value(text, pointer, written)
    return yaml_edit.insert_key(text, parent, key, written)


def _last(form: Mapping[str, list[str]], key: str) -> str:
    values = form.get(key) or [""]
    return values[-1]


def _submitted(spec, form: Mapping[str, list[str]], key: str) -> Any:
    """What the form says for one parameter, still as typed (a string, list, dict or bool)."""
    if spec.type == "boolean":
        chosen = _last(form, key) if key in form else "false"
        return {"true": True, "false": False}.get(chosen, chosen)
    if spec.type == "set":
        chosen = form.get(key, [])
        if f"list:{spec.name}" in form:  # typed as "a, b, c"
            return [item.strip() for item in ",".join(chosen).split(",") if item.strip()]
        return [item for item in chosen if item]
    if spec.type == "period":
        count = _last(form, key).strip()
        if not count:
            return ""
        unit = _last(form, f"unit:{spec.name}").strip() or "days"
        return {unit: int(count) if re.fullmatch(r"[0-9]{1,9}", count) else count}
    value = _last(form, key).strip()
    suffix = " " + AMOUNT_UNITS.get(spec.type, "")
    return decimal_point(value.removesuffix(suffix).strip()) if spec.type in AMOUNT_UNITS else value


_DECIMAL_COMMA = re.compile(r"-?[0-9]+,[0-9]+")


def decimal_point(typed: str) -> str:
    """An amount typed with a German decimal comma as the catalog writes it: ``12,50`` becomes
    ``12.50``. Only a lone comma between digits is read so; a value with a point and a comma
    (``1.234,50``, ``1,234.50``) is ambiguous and left as typed, for the catalog's check to
    refuse it in words (:func:`plain_words`); there is no thousands separator in the catalog."""
    return typed.replace(",", ".") if _DECIMAL_COMMA.fullmatch(typed) else typed


def _same(type_: str, current: Any, submitted: Any) -> bool:
    if type_ in AMOUNT_UNITS:
        return current == f"{submitted} {AMOUNT_UNITS[type_]}"
    if type_ == "integer":
        return _shown(current) == submitted and isinstance(current, int)
    if type_ == "set":
        return isinstance(current, list) and sorted(map(str, current)) == sorted(submitted)
    return current == submitted


def _written(type_: str, submitted: Any) -> str:
    """The submitted value as YAML in the catalog's style."""
    if type_ in AMOUNT_UNITS:
        return yaml_edit.quoted(f"{submitted} {AMOUNT_UNITS[type_]}")
    if type_ == "integer":
        return (
            submitted if re.fullmatch(r"-?[0-9]{1,18}", submitted) else yaml_edit.quoted(submitted)
        )
    if type_ == "boolean" and isinstance(submitted, str):
        return yaml_edit.quoted(submitted)
    if type_ in ("text", "reference"):
        return yaml_edit.quoted(submitted) if not submitted else yaml_edit.scalar(submitted)
    if type_ == "set":
        return "[" + ", ".join(yaml_edit.scalar(item) for item in submitted) + "]"
    return yaml_edit.flow(submitted)


# -- errors at their fields ----------------------------------------------------------------


def place_errors(fields: list[FormField], errors: Iterable[dict]) -> tuple[list, list[dict]]:
    """Each error of the draft's check at the field it concerns; those of no field apart.

    Errors are located in the file (``/versions/3/values/flat_fee``); the draft is the file's
    last version, so the pointer within the draft drops the ``/versions/N`` prefix.
    """
    by_name: dict[str, list[dict]] = {}
    others = []
    names = {f.name for f in fields}
    for error in errors:
        error = {**error, "plain": plain_words(error["message"])}
        name = field_of(error)
        if name in names:
            by_name.setdefault(name, []).append(error)
        else:
            others.append(error)
    placed = [replace(f, errors=tuple(by_name.get(f.name, ()))) for f in fields]
    return placed, others


_PLAIN_WORDS = (
    (re.compile(r"^'(.*)' is not a 'date'$"), "{0} is not a calendar date (YYYY-MM-DD)"),
    (
        re.compile(r"^'(.*)' does not match (?:'.*'|\".*\") \((.*)\)$", re.S),
        "{0} is not valid here: {1}",
    ),
    (
        re.compile(r"^'(.*)' does not match '.*'$", re.S),
        "{0} does not have the form this value needs",
    ),
    (
        re.compile(r"^'(.*)' does not match any of the regexes: .*$", re.S),
        "{0} is not a name allowed here",
    ),
    (re.compile(r"^(.*) is a required property$"), "{0} is missing"),
    (
        re.compile(
            r"^[a-z0-9_]+ \((?:money|rate|percent|integer|period|boolean|text|set)\): (.*)$"
        ),
        "{0}",
    ),
)
# an amount with both a point and a comma, as the catalog's check quotes it
_BOTH_SEPARATORS = re.compile(
    r"got '(-?[0-9]*(?:\.[0-9]*,|,[0-9]*\.)[0-9.,]*)(?: (?:EUR|EUR/min|%))?'"
)
_COMMA_AMOUNT = re.compile(r"^-?[0-9]+,[0-9]+$")
_REGEX = re.compile(r"'\^[^']*\$'" + r'|"\^[^"]*\$"')


def plain_words(message: str) -> str:
    """A schema's or parser's message in words, as people read it (no regular expression):
    ``'2027-02-30' is not a 'date'`` becomes ``2027-02-30 is not a calendar date (YYYY-MM-DD)``;
    at a field the parameter's name is left out (the field names it)."""
    ambiguous = _BOTH_SEPARATORS.search(message)
    if ambiguous:
        return (
            f"{ambiguous.group(1)} has both a point and a comma: write the amount without a "
            "thousands separator, with a point or a comma before the decimals, e.g. 1234.50"
        )
    for pattern, words in _PLAIN_WORDS:
        match = pattern.match(message)
        if match:
            plain = words.format(*match.groups())
            if _COMMA_AMOUNT.match(match.group(1)):
                plain += (
                    f" (write {match.group(1).replace(',', '.')}: the catalog has a decimal point)"
                )
            return _REGEX.sub("the form required", plain)
    return _REGEX.sub("the form required", message)


def draft_pointer(error: dict) -> str:
    """The error's pointer within the draft (``/values/flat_fee``)."""
    pointer = error.get("pointer") or ""
    return _VERSION.sub("", pointer) if error.get("line") is not None else pointer


def field_of(error: dict) -> str | None:
    """The name of the field an error concerns, or None (rules, examples, the YAML itself)."""
    parts = draft_pointer(error).split("/")
    if len(parts) >= 2 and parts[1] == EFFECTIVE_FROM and error.get("line") is not None:
        return EFFECTIVE_FROM
    if len(parts) >= 3 and parts[1] == "values" and error.get("line") is not None:
        return parts[2].replace("~1", "/").replace("~0", "~")
    return None


# -- a new draft ---------------------------------------------------------------------------


def without_notes(text: str) -> str:
    """A version's text without the notes of that version: its own and those of its values.

    A new draft starts from the newest version; its notes explain that version (why a price is
    a sample, what a date assumes) and do not belong to the next one.
    """
    data = read_draft(text)
    if data is None:
        return text
    pointers = [
        f"/values/{escape_pointer_token(name)}/note"
        for name, raw in data["values"].items()
        if isinstance(raw, dict) and "note" in raw
    ]
    if "note" in data:
        pointers.append("/note")
    for pointer in sorted(pointers, reverse=True):
        text = yaml_edit.delete_key(text, pointer)
    return text
