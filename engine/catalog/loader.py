"""Loading the terms catalog: find the files, read them, check schema and meaning, build it.

Every fault of a run is collected (never only the first), each located by file, line, column
and JSON pointer. A file that fails its schema is not checked further, so that one fault does
not cascade into many.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from engine.calendar import WEEKDAYS
from engine.catalog.conditions import ConditionError, parse_rule
from engine.catalog.errors import CatalogError, CatalogInvalid
from engine.catalog.model import (
    CITATION_FORMATS,
    ParameterSpec,
    ParameterValue,
    TermsFile,
    Version,
    citation_of,
)
from engine.catalog.values import ValueTypeError, parse_value
from engine.catalog.yaml_source import YamlDocument, escape_pointer_token, read_yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Where each kind of file lives, relative to the catalog root, and the schema it follows.
FILE_KINDS = (
    ("rules/*/*.yaml", "clause", "clause.schema.json"),
    ("tariffs/plans/*.yaml", "plan", "plan.schema.json"),
    ("tariffs/rates/*.yaml", "rates", "rates.schema.json"),
    ("tariffs/zones.yaml", "zones", "zones.schema.json"),
)
# The documents each folder below rules/ may encode.
RULES_FOLDERS = {
    "agb": {"agb"},
    "clinq-sd": {"clinq-sd"},
    "law": {"bgb", "tkg", "ustg"},
    "platform": {"platform"},
}
REQUIRED_CITATIONS = ("Platform: calendar", "Platform: money", "Price list: zones")
CHANNELS = {"email", "letter", "fax", "phone", "web"}
INCREMENT_PARAMETERS = {"first_increment", "next_increment"}
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")


@cache
def schema_validator(schema_dir: Path, name: str) -> Draft202012Validator:
    """The validator of schema ``name``, resolving ``$ref`` between the files in ``schema_dir``."""
    schemas = {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(schema_dir.glob("*.schema.json"))
    }
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return Draft202012Validator(
        schemas[name], registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def schema_validators(schema_dir: Path) -> dict[str, Draft202012Validator]:
    """One validator per kind of catalog file."""
    return {kind: schema_validator(schema_dir, name) for _, kind, name in FILE_KINDS}


def read_checked(path: Path, root: Path, schema_name: str, schema_dir: Path | None = None):
    """Read a YAML file outside the catalog proper and check it against ``schema_name``."""
    document = read_yaml(path.read_text(encoding="utf-8"), path.relative_to(root).as_posix())
    errors = list(document.errors)
    if document.data is not None:
        validator = schema_validator((schema_dir or root / "schemas").resolve(), schema_name)
        errors.extend(_schema_errors(document, validator))
    if errors:
        raise CatalogInvalid(errors)
    return document.data


@dataclass
class LoadResult:
    """What a load produced: the files that passed every check, and all faults found."""

    files: list[TermsFile] = field(default_factory=list)
    errors: list[CatalogError] = field(default_factory=list)
    file_count: int = 0


def load_files(
    root: Path, schema_dir: Path | None = None, appended: Mapping[str, str] | None = None
) -> LoadResult:
    """Read and check every catalog file below ``root``; collect all errors.

    ``appended`` maps a file's relative path to YAML text added at its end: the versions legal
    published in the admin UI, or a draft being checked. They are validated like the file.
    """
    root = root.resolve()
    validators = schema_validators((schema_dir or root / "schemas").resolve())
    result = LoadResult()
    documents: list[tuple[YamlDocument, str]] = []
    claimed: set[str] = set()
    for path, kind in _discover(root, result):
        relative = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if appended and relative in appended:
            text = text.rstrip("\n") + "\n" + appended[relative]
        document = read_yaml(text, relative)
        result.file_count += 1
        result.errors.extend(document.errors)
        claimed.update(_claimed_citation(document.data, kind, relative))
        if document.data is None:
            continue
        schema_faults = list(_schema_errors(document, validators[kind]))
        result.errors.extend(schema_faults)
        if not schema_faults and not document.errors:
            documents.append((document, kind))
    built = [(doc, _build_file(doc, kind, result.errors)) for doc, kind in documents]
    _check_across_files(built, claimed, result.errors)
    _check_examples(built, result.errors)
    result.files = [terms_file for _, terms_file in built]
    result.errors.sort()
    return result


def load_catalog(
    root: Path | None = None,
    schema_dir: Path | None = None,
    appended: Mapping[str, str] | None = None,
):
    """Load the catalog below ``root`` (the project by default); raise CatalogInvalid on faults."""
    from engine.catalog.catalog import Catalog

    root = root or PROJECT_ROOT
    result = load_files(root, schema_dir, appended)
    if result.errors:
        raise CatalogInvalid(result.errors)
    return Catalog(result.files, root)


def _claimed_citation(data, kind: str, relative: str) -> Iterator[str]:
    """The citation (and plan or rate table name) a file claims, even if it is invalid.

    References to a file that failed its own checks are not reported again: its faults are.
    A clause file claims what its ``source`` says and what its path says.
    """
    source = data.get("source") if isinstance(data, dict) else None
    if isinstance(source, dict) and source.get("document") in CITATION_FORMATS:
        yield citation_of(source["document"], str(source.get("section")))
    if kind == "clause":
        yield from _citation_from_path(relative)
    if kind in ("plan", "rates", "zones"):
        yield f"{kind}:" + relative.rsplit("/", 1)[-1].removesuffix(".yaml")


def _citation_from_path(relative: str) -> Iterator[str]:
    _rules, folder, name = relative.split("/")
    stem = name.removesuffix(".yaml")
    if folder in ("agb", "clinq-sd"):
        yield citation_of(folder, stem.split("-", 1)[0])
    elif folder == "platform":
        yield citation_of("platform", stem)
    elif folder == "law" and stem.count("-") >= 2:
        document, section, _ = stem.split("-", 2)
        if document in CITATION_FORMATS:
            yield citation_of(document, section)


def _discover(root: Path, result: LoadResult) -> Iterator[tuple[Path, str]]:
    claimed: set[Path] = set()
    for pattern, kind, _schema in FILE_KINDS:
        for path in sorted(root.glob(pattern)):
            claimed.add(path)
            yield path, kind
    for folder in ("rules", "tariffs"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path not in claimed and path.suffix in (".yaml", ".yml"):
                result.errors.append(
                    CatalogError(
                        path.relative_to(root).as_posix(),
                        1,
                        1,
                        "not a place for a catalog file: clauses go in rules/<folder>/*.yaml, "
                        "plans in tariffs/plans/, rate tables in tariffs/rates/, zones in "
                        "tariffs/zones.yaml (and use the .yaml extension)",
                    )
                )


def _pointer(parts) -> str:
    return "".join("/" + escape_pointer_token(str(part)) for part in parts)


def _schema_errors(document: YamlDocument, validator: Draft202012Validator):
    """Schema faults, one per location (a value failing pattern and format is reported once)."""
    reported: set[str] = set()
    for error in sorted(validator.iter_errors(document.data), key=lambda e: e.path):
        pointer = _pointer(error.absolute_path)
        if error.validator not in ("additionalProperties", "required"):
            if pointer in reported:
                continue
            reported.add(pointer)
        yield from _describe(document, error, pointer)


def _describe(document: YamlDocument, error: ValidationError, pointer: str):
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - known):
            child = f"{pointer}/{escape_pointer_token(key)}"
            yield document.error(child, f"unknown key {key!r}", at_key=True)
        return
    if error.validator in ("anyOf", "oneOf"):
        floats = [e for e in _descendants(error) if isinstance(e.instance, float)]
        if floats:
            error = floats[0]
            pointer = _pointer(error.absolute_path)
    if isinstance(error.instance, float):
        message = (
            f"{error.instance!r} is a YAML number; write decimals as quoted strings with "
            'their unit, like "9.80 EUR", "0.0179 EUR/min" or "5.00 %"'
        )
    elif error.validator in ("anyOf", "oneOf") and "description" in error.schema:
        message = f"{error.instance!r} is not valid here: {error.schema['description']}"
    else:
        message = error.message
    yield document.error(pointer, message)


def _descendants(error: ValidationError):
    for child in error.context or ():
        yield child
        yield from _descendants(child)


def _build_file(document: YamlDocument, kind: str, errors: list[CatalogError]) -> TermsFile:
    data = document.data
    relative = document.path
    document_name, section = data["source"]["document"], data["source"]["section"]
    citation = citation_of(document_name, section)
    located = _check_location(document, kind, document_name, section, errors)
    parameters = MappingProxyType(
        {
            name: ParameterSpec(name=name, **declaration)
            for name, declaration in data["parameters"].items()
        }
    )
    versions = tuple(_build_versions(document, parameters, errors))
    return TermsFile(
        identity=relative.removesuffix(".yaml"),
        kind=kind,
        path=relative,
        citation=citation,
        title=data["title"],
        document=document_name,
        section=section,
        summary=data.get("summary"),
        overrides=tuple(data.get("overrides", ())),
        see_also=tuple(data.get("see_also", ())),
        parameters=parameters,
        versions=versions,
        located=located,
        examples=tuple(data.get("examples", ())),
    )


def _check_location(document, kind, document_name, section, errors) -> bool:
    """The file path is the clause's identity: it must agree with ``source``."""
    count = len(errors)
    parts = document.path.split("/")
    stem = parts[-1].removesuffix(".yaml")
    if kind == "clause":
        folder = parts[1]
        allowed = RULES_FOLDERS.get(folder)
        if allowed is None:
            errors.append(
                document.error(
                    "/source/document",
                    f"rules/{folder}/ is not a clause folder; use one of "
                    + ", ".join(f"rules/{name}/" for name in RULES_FOLDERS),
                )
            )
            return False
        if document_name not in allowed:
            errors.append(
                document.error(
                    "/source/document",
                    f"a file in rules/{folder}/ encodes {' or '.join(sorted(allowed))}, "
                    f"not {document_name}",
                )
            )
            return False
        expected = {
            "agb": f"{section}-",
            "clinq-sd": f"{section}-",
            "platform": section,
        }.get(folder, f"{document_name}-{section}-")
        matches = stem == expected if folder == "platform" else stem.startswith(expected)
        if not matches:
            errors.append(
                document.error(
                    "/source/section",
                    f"the file name must start with {expected!r} to encode "
                    f"{citation_of(document_name, section)} (the path is the clause's identity)",
                )
            )
    elif kind == "rates" and section != stem:
        errors.append(
            document.error("/source/section", f"a rate table's section must be its name {stem!r}")
        )
    elif kind == "zones" and section != "zones":
        errors.append(document.error("/source/section", "the zone table's section is 'zones'"))
    return len(errors) == count


def _build_versions(document: YamlDocument, parameters: dict[str, ParameterSpec], errors):
    previous: date | None = None
    for index, raw in enumerate(document.data["versions"]):
        pointer = f"/versions/{index}"
        try:
            effective_from = date.fromisoformat(raw["effective_from"])
        except ValueError:
            errors.append(
                document.error(
                    f"{pointer}/effective_from",
                    f"{raw['effective_from']!r} is not a calendar date (YYYY-MM-DD)",
                )
            )
            continue
        if previous is not None and effective_from <= previous:
            problem = "repeats" if effective_from == previous else "comes before"
            errors.append(
                document.error(
                    f"{pointer}/effective_from",
                    f"effective_from {effective_from} {problem} the previous version's "
                    f"{previous}; versions must be in ascending order without overlap",
                )
            )
        previous = effective_from
        values = MappingProxyType(dict(_build_values(document, pointer, raw, parameters, errors)))
        rules = tuple(_build_rules(document, pointer, raw, parameters, values, errors))
        yield Version(
            effective_from=effective_from,
            values=values,
            note=raw.get("note"),
            rules=rules,
            examples=tuple(raw.get("examples", ())),
        )


def _build_rules(document, pointer, raw_version, parameters, values, errors):
    def resolve(name: str):
        return parameters[name].type, values[name].value

    names: set[str] = set()
    for index, raw in enumerate(raw_version.get("rules", ())):
        rule_pointer = f"{pointer}/rules/{index}"
        if raw["name"] in names:
            errors.append(
                document.error(f"{rule_pointer}/name", f"a rule named {raw['name']!r} exists")
            )
            continue
        names.add(raw["name"])
        try:
            yield parse_rule(raw, resolve)
        except ConditionError as exc:
            errors.append(document.error(rule_pointer + exc.pointer, f"rule {raw['name']}: {exc}"))


def _build_values(document, pointer, raw_version, parameters, errors):
    default_source = raw_version.get("source", "contract")
    raw_values = raw_version["values"]
    for name in parameters:
        if name not in raw_values:
            errors.append(
                document.error(
                    f"{pointer}/values",
                    f"no value for parameter {name!r} in the version of "
                    f"{raw_version['effective_from']} (a missing value is an error, never zero)",
                    at_key=True,
                )
            )
    for name, raw in raw_values.items():
        value_pointer = f"{pointer}/values/{escape_pointer_token(name)}"
        spec = parameters.get(name)
        if spec is None:
            errors.append(
                document.error(
                    value_pointer, f"parameter {name!r} is not declared in /parameters", at_key=True
                )
            )
            continue
        annotated = isinstance(raw, dict) and "value" in raw
        plain = raw["value"] if annotated else raw
        try:
            value = parse_value(spec.type, plain)
        except ValueTypeError as exc:
            where = f"{value_pointer}/value" if annotated else value_pointer
            errors.append(document.error(where, f"{name} ({spec.type}): {exc}"))
            continue
        source = raw.get("source", default_source) if annotated else default_source
        note = raw.get("note") if annotated else None
        yield name, ParameterValue(value=value, source=source, note=note)


def _check_examples(built: list[tuple[YamlDocument, TermsFile]], errors) -> None:
    """The events of each file's examples must be valid events (engine/examples.py)."""
    from engine.examples import example_errors

    for document, terms_file in built:
        errors.extend(example_errors(document, terms_file))


# -- checks that need more than one file -------------------------------------------------------


def _check_across_files(
    built: list[tuple[YamlDocument, TermsFile]], claimed: set[str], errors
) -> None:
    by_citation: dict[str, TermsFile] = {}
    for document, terms_file in built:
        if not terms_file.located:
            continue
        first = by_citation.get(terms_file.citation)
        if first is not None:
            errors.append(
                document.error(
                    "/source", f"{terms_file.citation} is already encoded by {first.path}"
                )
            )
        else:
            by_citation[terms_file.citation] = terms_file
    zones = by_citation.get("Price list: zones")
    names: dict[str, set[str] | None] = {
        "clause": claimed,
        # Zone names are unknown while the zone table itself is invalid: skip those checks.
        "zone": set(zones.parameters) if zones else None,
        "rates": {c.removeprefix("rates:") for c in claimed if c.startswith("rates:")},
        "plan": {c.removeprefix("plan:") for c in claimed if c.startswith("plan:")},
    }
    for document, terms_file in built:
        _check_references(document, terms_file, names, errors)
        if terms_file.kind == "zones":
            _check_zone_overlap(document, terms_file, errors)
        if terms_file.kind == "rates" and names["zone"] is not None:
            _check_rate_coverage(document, terms_file, names["zone"], errors)
    if built:
        first = built[0][0]
        for citation in REQUIRED_CITATIONS:
            if citation not in claimed:
                errors.append(
                    CatalogError(first.path, 1, 1, f"the catalog has no file for {citation}", "")
                )


def _check_references(document, terms_file: TermsFile, names, errors) -> None:
    for key in ("overrides", "see_also"):
        for index, citation in enumerate(getattr(terms_file, key)):
            if citation not in names["clause"]:
                errors.append(
                    document.error(f"/{key}/{index}", f"{citation} is not in the catalog")
                )
    for spec in terms_file.parameters.values():
        if spec.clause and spec.clause not in names["clause"]:
            errors.append(
                document.error(
                    f"/parameters/{spec.name}/clause", f"{spec.clause} is not in the catalog"
                )
            )
    for index, version in enumerate(terms_file.versions):
        for name, parameter_value in version.values.items():
            spec = terms_file.parameters[name]
            pointer = f"/versions/{index}/values/{escape_pointer_token(name)}"
            elements = parameter_value.value if spec.type == "set" else (parameter_value.value,)
            if spec.type not in ("set", "reference"):
                continue
            for position, element in enumerate(elements):
                problem = _element_problem(spec.elements, element, names)
                if problem:
                    where = f"{pointer}/{position}" if spec.type == "set" else pointer
                    errors.append(document.error(where, f"{name}: {problem}"))


def _element_problem(kind: str | None, element: str, names) -> str | None:
    if kind in ("clause", "zone", "rates", "plan"):
        if names[kind] is not None and element not in names[kind]:
            known = ", ".join(sorted(names[kind])) if kind != "clause" else "see rules/"
            return f"{element!r} is not a known {kind} ({known})"
    elif kind == "country" and not _COUNTRY.match(element):
        return f"{element!r} is not an ISO 3166 alpha-2 country code"
    elif kind == "channel" and element not in CHANNELS:
        return f"{element!r} is not a channel ({', '.join(sorted(CHANNELS))})"
    elif kind == "weekday" and element not in WEEKDAYS:
        return f"{element!r} is not a weekday ({', '.join(WEEKDAYS)})"
    elif kind == "token" and not _TOKEN.match(element):
        return f"{element!r} is not a lower-case name"
    return None


def _check_zone_overlap(document, zones: TermsFile, errors) -> None:
    for index, version in enumerate(zones.versions):
        owner: dict[str, str] = {}
        for zone, parameter_value in version.values.items():
            for position, prefix in enumerate(parameter_value.value):
                if prefix in owner:
                    errors.append(
                        document.error(
                            f"/versions/{index}/values/{zone}/{position}",
                            f"prefix {prefix!r} is in zone {owner[prefix]!r} and {zone!r}; "
                            "a number must belong to exactly one zone",
                        )
                    )
                owner[prefix] = zone


def _check_rate_coverage(document, rates: TermsFile, zone_names: set[str], errors) -> None:
    for name in rates.parameters:
        if name not in INCREMENT_PARAMETERS and name not in zone_names:
            errors.append(
                document.error(
                    f"/parameters/{name}", f"{name!r} is not a zone in tariffs/zones.yaml"
                )
            )
    for zone in sorted(zone_names - set(rates.parameters)):
        errors.append(
            document.error(
                "/parameters",
                f"no rate for zone {zone!r}: every zone needs one (no silent zero)",
                at_key=True,
            )
        )
