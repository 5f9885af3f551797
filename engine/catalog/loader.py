"""Loading the terms catalog: find the files, read them, check schema and meaning, build it.

Every fault of a run is collected (never only the first), each located by file, line, column
and JSON pointer. A file that fails its schema is not checked further, so that one fault does
not cascade into many.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType

from jsonschema import Draft202012Validator, SchemaError, ValidationError

from engine.catalog.catalog import Catalog
from engine.catalog.conditions import ConditionError, parse_rule
from engine.catalog.cross_checks import check_across_files
from engine.catalog.errors import CatalogError, CatalogInvalid
from engine.catalog.example_checks import example_errors
from engine.catalog.model import (
    CITATION_FORMATS,
    ParameterSpec,
    ParameterValue,
    TermsFile,
    Version,
    citation_of,
)
from engine.catalog.values import ValueTypeError, parse_value
from engine.catalog.yaml_source import (
    MAX_ERRORS_PER_FILE,
    YamlDocument,
    read_yaml,
    read_yaml_file,
)
from engine.core.schemas import PROJECT_ROOT, escape_pointer_token, schema_validator

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


def schema_validators(schema_dir: Path) -> dict[str, Draft202012Validator]:
    """One validator per kind of catalog file."""
    return {kind: schema_validator(schema_dir, name) for _, kind, name in FILE_KINDS}


def read_checked(path: Path, root: Path, schema_name: str, schema_dir: Path | None = None):
    """Read a YAML file outside the catalog proper and check it against ``schema_name``."""
    document = read_yaml_file(path, path.relative_to(root).as_posix())
    errors = list(document.errors)
    if document.data is not None:
        validators, schema_faults = _validators(
            (schema_dir or root / "schemas").resolve(), root, (schema_name,)
        )
        errors.extend(schema_faults)
        if validators:
            errors.extend(_schema_errors(document, validators[schema_name]))
    if errors:
        raise CatalogInvalid(limit_errors(errors, {document.path: document.omitted}))
    return document.data


@dataclass(frozen=True)
class Appended:
    """YAML text added at the end of a catalog file's ``versions``, and where it comes from.

    ``origin`` names it for every reader (``publication 3 by legal@example.com``, ``draft``).
    With ``skip_if_present`` a version the file already holds with identical content (an
    exported publication) is not counted twice; different content on the same date is a fault.
    """

    text: str
    origin: str
    skip_if_present: bool = False


@dataclass(frozen=True)
class Segment:
    """Lines ``first`` to ``last`` of a file as loaded came from ``origin``."""

    origin: str
    first: int
    last: int


@dataclass
class LoadResult:
    """What a load produced: the files that passed every check, and all faults found."""

    files: list[TermsFile] = field(default_factory=list)
    errors: list[CatalogError] = field(default_factory=list)
    file_count: int = 0
    segments: dict[str, list[Segment]] = field(default_factory=dict)


def load_files(
    root: Path,
    schema_dir: Path | None = None,
    appended: Mapping[str, str | Sequence[Appended]] | None = None,
) -> LoadResult:
    """Read and check every catalog file below ``root``; collect all errors.

    ``appended`` maps a file's relative path to YAML text added at its end: the versions legal
    published in the admin UI, or a draft being checked. They are validated like the file.
    Never raises for a fault of the files: a missing folder or schema is an error like any.
    """
    result = LoadResult()
    root = root.resolve()
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        result.errors.append(CatalogError(str(root), 1, 1, f"the catalog folder {what}", ""))
        return result
    schema_root = (schema_dir or root / "schemas").resolve()
    validators, schema_faults = _validators(
        schema_root, root, tuple(name for _, _, name in FILE_KINDS)
    )
    if schema_faults:
        result.errors.extend(schema_faults)
        return result
    by_kind = {kind: validators[name] for _, kind, name in FILE_KINDS}
    pending = {path: _as_appended(items) for path, items in (appended or {}).items()}
    omitted: dict[str, int] = {}
    documents: list[tuple[YamlDocument, str, list[Segment]]] = []
    claimed: set[str] = set()
    for path, kind in _discover(root, result):
        relative = path.relative_to(root).as_posix()
        result.file_count += 1
        items = pending.pop(relative, [])
        if items:
            document, segments, origins = _read_with_appended(path, relative, items, result.errors)
        else:
            document, segments, origins = read_yaml_file(path, relative), [], {}
        result.segments[relative] = segments
        result.errors.extend(document.errors)
        omitted[relative] = document.omitted
        claimed.update(_claimed_citation(document.data, kind, relative))
        if document.data is None:
            continue
        schema_faults = list(_schema_errors(document, by_kind[kind]))
        result.errors.extend(schema_faults)
        if not schema_faults and not document.errors:
            documents.append((document, kind, _origin_of(segments, origins)))
        else:
            _check_what_is_sound(document, kind, schema_faults, result.errors)
    for relative, items in pending.items():
        result.errors.append(
            CatalogError(
                relative,
                1,
                1,
                f"{items[0].origin} adds a version to {relative}, which is not in the catalog",
                "",
            )
        )
    if result.file_count == 0:
        result.errors.append(
            CatalogError(
                str(root),
                1,
                1,
                "no catalog files here: clauses go in rules/<folder>/*.yaml, plans in "
                "tariffs/plans/, rate tables in tariffs/rates/, zones in tariffs/zones.yaml",
                "",
            )
        )
    built = [
        (doc, _build_file(doc, kind, result.errors, origin_of))
        for doc, kind, origin_of in documents
    ]
    check_across_files(built, claimed, result.errors)
    _check_examples(built, result.errors)
    result.files = [terms_file for _, terms_file in built]
    result.errors = limit_errors(result.errors, omitted)
    return result


def load_catalog(
    root: Path | None = None,
    schema_dir: Path | None = None,
    appended: Mapping[str, str | Sequence[Appended]] | None = None,
) -> Catalog:
    """Load the catalog below ``root`` (the project by default); raise CatalogInvalid on faults."""
    root = root or PROJECT_ROOT
    result = load_files(root, schema_dir, appended)
    if result.errors:
        raise CatalogInvalid(result.errors)
    return Catalog(result.files, root)


def new_versions(
    root: Path, appended: Mapping[str, str | Sequence[Appended]]
) -> dict[str, list[Appended]]:
    """Of ``appended``, what the files below ``root`` do not hold yet (for an export)."""
    kept: dict[str, list[Appended]] = {}
    for relative, items in appended.items():
        path = root / relative
        if not path.is_file():
            continue
        file_document = read_yaml_file(path, relative)
        fresh = [
            item
            for item in _as_appended(items)
            if not (item.skip_if_present and _present_in(file_document, item, []))
        ]
        if fresh:
            kept[relative] = fresh
    return kept


def limit_errors(
    errors: list[CatalogError], omitted: Mapping[str, int] | None = None
) -> list[CatalogError]:
    """At most MAX_ERRORS_PER_FILE errors per file, sorted, then "… and N more" for the rest."""
    by_path: dict[str, list[CatalogError]] = {}
    for error in sorted(errors):
        by_path.setdefault(error.path, []).append(error)
    for path in (omitted or {}).keys() - by_path.keys():
        if omitted and omitted[path]:
            by_path[path] = []
    limited: list[CatalogError] = []
    for path, found in by_path.items():
        extra = len(found) - MAX_ERRORS_PER_FILE + ((omitted or {}).get(path) or 0)
        shown = found[:MAX_ERRORS_PER_FILE]
        limited.extend(shown)
        if extra > 0:
            line, column = (shown[-1].line, shown[-1].column) if shown else (1, 1)
            limited.append(
                CatalogError(
                    path,
                    line,
                    column,
                    f"\u2026 and {extra} more errors in this file (showing the first "
                    f"{MAX_ERRORS_PER_FILE})",
                    "",
                )
            )
    return sorted(limited)


def _validators(
    schema_dir: Path, root: Path, names: tuple[str, ...]
) -> tuple[dict[str, Draft202012Validator], list[CatalogError]]:
    """The validators of ``names``, or located errors if the schema folder cannot give them."""
    try:
        where = schema_dir.relative_to(root).as_posix()
    except ValueError:
        where = str(schema_dir)
    if not schema_dir.is_dir():
        return {}, [
            CatalogError(
                where,
                1,
                1,
                "no schemas folder: a catalog folder holds schemas/ (the JSON Schemas of its "
                "files) next to rules/ and tariffs/",
                "",
            )
        ]
    missing = [name for name in names if not (schema_dir / name).is_file()]
    if missing:
        return {}, [
            CatalogError(f"{where}/{name}", 1, 1, "the schema is missing", "") for name in missing
        ]
    try:
        return {name: schema_validator(schema_dir, name) for name in names}, []
    except (OSError, ValueError, SchemaError, KeyError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        return {}, [CatalogError(where, 1, 1, f"the schemas cannot be used: {message}", "")]


def _as_appended(items: str | Sequence[Appended]) -> list[Appended]:
    return [Appended(items, "appended")] if isinstance(items, str) else list(items)


def _read_with_appended(
    path: Path, relative: str, items: list[Appended], errors: list[CatalogError]
) -> tuple[YamlDocument, list[Segment], dict[int, str]]:
    """The file with ``items`` added, which lines came from where, and exported versions.

    An item whose version the file already holds with identical content is skipped (it was
    exported into the file); the file's version then names the item's origin as well.
    """
    file_document = read_yaml_file(path, relative)
    if file_document.refused or file_document.data is None:
        return file_document, [], {}
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    segments = [Segment("file", 1, text.count("\n"))]
    exported: dict[int, str] = {}
    for item in items:
        if item.skip_if_present and _present_in(file_document, item, errors, exported):
            continue
        addition = item.text if item.text.endswith("\n") else item.text + "\n"
        first = text.count("\n") + 1
        text += addition
        segments.append(Segment(item.origin, first, text.count("\n")))
    document = read_yaml(text, relative)
    origins = {
        file_document.position(f"/versions/{index}")[0]: f"{origin}, exported to the file"
        for index, origin in exported.items()
    }
    return document, segments, origins


def _present_in(
    file_document: YamlDocument,
    item: Appended,
    errors: list[CatalogError],
    exported: dict[int, str] | None = None,
) -> bool:
    """Whether every version of ``item`` is in the file already (identical); faults if not."""
    data = file_document.data
    versions = data.get("versions") if isinstance(data, dict) else None
    if not isinstance(versions, list):
        return False
    parsed = read_yaml("versions:\n" + item.text, file_document.path).data
    added = parsed.get("versions") if isinstance(parsed, dict) else None
    if not isinstance(added, list) or not added:
        return False
    by_date = {
        str(v.get("effective_from")): (index, v)
        for index, v in enumerate(versions)
        if isinstance(v, dict)
    }
    present = True
    for version in added:
        day = str(version.get("effective_from")) if isinstance(version, dict) else None
        if day not in by_date:
            present = False
            continue
        index, existing = by_date[day]
        if existing != version:
            errors.append(
                file_document.error(
                    f"/versions/{index}/effective_from",
                    f"{item.origin} published a different version of {day}; the file's version "
                    "of that date must be identical to it (a published version never changes)",
                )
            )
        elif exported is not None:
            exported[index] = item.origin
    return present


def _origin_of(segments: list[Segment], exported: dict[int, str]):
    """Where the version starting at a line of the loaded text comes from."""

    def origin_of(line: int) -> str:
        if line in exported:
            return exported[line]
        for segment in reversed(segments):
            if segment.first <= line <= segment.last:
                return segment.origin
        return "file"

    return origin_of


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
    claimed: set[Path] = {
        root / "rules" / "conformance.yaml"
    }  # engine/catalog/conformance.py reads it
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
    """Schema faults, one per location (a value failing pattern and format is reported once).

    The verdict on a file's content is kept: checking a draft loads the whole catalog again,
    with every other file unchanged (the draft page runs each clause example on such a load)."""
    content = repr(document.data)  # repr tells 1, 1.0, "1" and True apart
    kept = _schema_verdicts.get((id(validator), content))
    if kept is None or kept[0] is not validator:
        kept = (validator, tuple(_schema_faults(document.data, validator)))
        _schema_verdicts_size[0] += len(content)
        if _schema_verdicts_size[0] > SCHEMA_VERDICTS_KEPT:  # drafts come and go: start afresh
            _schema_verdicts.clear()
            _schema_verdicts_size[0] = len(content)
        _schema_verdicts[(id(validator), content)] = kept
    for pointer, message, at_key in kept[1]:
        yield document.error(pointer, message, at_key=at_key)


# Schema verdicts kept per process, by validator and content, up to this many characters of
# content (the shipped catalog takes some 230,000); each holds its validator, so that another
# validator never takes its id while the verdict is kept.
SCHEMA_VERDICTS_KEPT = 8_000_000
_schema_verdicts: dict[tuple[int, str], tuple[Draft202012Validator, tuple]] = {}
_schema_verdicts_size = [0]


def _schema_faults(data, validator: Draft202012Validator) -> Iterator[tuple[str, str, bool]]:
    """(pointer, message, at the key) of each fault of ``data``."""
    reported: set[str] = set()
    for error in sorted(validator.iter_errors(data), key=lambda e: e.path):
        pointer = _pointer(error.absolute_path)
        if error.validator not in ("additionalProperties", "required"):
            if pointer in reported:
                continue
            reported.add(pointer)
        yield from _describe(error, pointer)


def _describe(error: ValidationError, pointer: str) -> Iterator[tuple[str, str, bool]]:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - known):
            yield f"{pointer}/{escape_pointer_token(key)}", f"unknown key {key!r}", True
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
    yield pointer, message, False


def _descendants(error: ValidationError):
    for child in error.context or ():
        yield child
        yield from _descendants(child)


def _build_file(
    document: YamlDocument,
    kind: str,
    errors: list[CatalogError],
    origin_of: Callable[[int], str] | None = None,
) -> TermsFile:
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
    versions = tuple(_build_versions(document, parameters, errors, origin_of))
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


@dataclass(frozen=True)
class _Faults:
    """The JSON pointers of a file's faults, and which parts they leave to check."""

    pointers: list[str]

    def sound(self, pointer: str) -> bool:
        """No fault at ``pointer`` or above it (its own parts may have faults)."""
        return not any(pointer == f or pointer.startswith(f + "/") for f in self.pointers)

    def intact(self, pointer: str) -> bool:
        """No fault at, above or below ``pointer``."""
        return self.sound(pointer) and not any(f.startswith(pointer + "/") for f in self.pointers)


def _check_what_is_sound(
    document: YamlDocument,
    kind: str,
    schema_faults: list[CatalogError],
    errors: list[CatalogError],
) -> None:
    """Check what a file's faults leave intact, so that every fault of a file shows at once.

    A part is checked only if no fault lies at or above it (a missing key does not count
    against its siblings); nothing is built from a faulty file.
    """
    faults = _Faults(
        [
            fault.pointer
            for fault in (*schema_faults, *document.errors)
            if not fault.message.endswith("is a required property")
        ]
    )
    sound, intact = faults.sound, faults.intact
    data = document.data
    if not isinstance(data, dict) or not sound(""):
        return
    source = data.get("source")
    if (
        isinstance(source, dict)
        and intact("/source")
        and isinstance(source.get("document"), str)
        and isinstance(source.get("section"), str)
        and source["document"] in CITATION_FORMATS
    ):
        _check_location(document, kind, source["document"], source["section"], errors)
    declarations = data.get("parameters")
    complete = isinstance(declarations, dict) and sound("/parameters")
    parameters: dict[str, ParameterSpec] = {}
    for name, declaration in (declarations if isinstance(declarations, dict) else {}).items():
        if not intact(f"/parameters/{escape_pointer_token(name)}"):
            complete = False
            continue
        try:
            parameters[name] = ParameterSpec(name=name, **declaration)
        except TypeError:
            complete = False
    if isinstance(data.get("versions"), list) and sound("/versions"):
        checks = _build_versions(document, parameters, errors, faults=faults, complete=complete)
        for _version in checks:
            pass


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


def _build_versions(
    document: YamlDocument,
    parameters: Mapping[str, ParameterSpec],
    errors: list[CatalogError],
    origin_of: Callable[[int], str] | None = None,
    *,
    faults: _Faults | None = None,
    complete: bool = True,
) -> Iterator[Version]:
    """The file's versions; with ``faults`` only check what they leave intact, yield nothing."""
    sound = faults.sound if faults else None
    previous: date | None = None
    for index, raw in enumerate(document.data["versions"]):
        pointer = f"/versions/{index}"
        if sound is not None and (not isinstance(raw, dict) or not sound(pointer)):
            continue
        effective_from = None
        written = raw.get("effective_from")
        if isinstance(written, str) and (sound is None or sound(f"{pointer}/effective_from")):
            try:
                effective_from = date.fromisoformat(written)
            except ValueError:
                errors.append(
                    document.error(
                        f"{pointer}/effective_from",
                        f"{written!r} is not a calendar date (YYYY-MM-DD)",
                    )
                )
        if effective_from is not None and previous is not None and effective_from <= previous:
            problem = "repeats" if effective_from == previous else "comes before"
            errors.append(
                document.error(
                    f"{pointer}/effective_from",
                    f"effective_from {effective_from} {problem} the previous version's "
                    f"{previous}; versions must be in ascending order without overlap",
                )
            )
        previous = effective_from or previous
        raw_values = raw.get("values")
        if not isinstance(raw_values, dict) or (sound and not sound(f"{pointer}/values")):
            continue
        values = MappingProxyType(
            dict(_build_values(document, pointer, raw, parameters, errors, faults, complete))
        )
        if sound is not None:
            continue  # a faulty file: its rules are not checked, nothing is built
        rules = tuple(_build_rules(document, pointer, raw, parameters, values, errors))
        if effective_from is None:
            continue
        line = document.position(pointer)[0]
        yield Version(
            effective_from=effective_from,
            values=values,
            note=raw.get("note"),
            rules=rules,
            origin=origin_of(line) if origin_of else "file",
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


def _build_values(
    document, pointer, raw_version, parameters, errors, faults=None, complete: bool = True
):
    default_source = raw_version.get("source", "contract")
    raw_values = raw_version["values"]
    for name in parameters if complete else ():
        if name not in raw_values:
            errors.append(
                document.error(
                    f"{pointer}/values",
                    f"no value for parameter {name!r} in the version of "
                    f"{raw_version.get('effective_from')} "
                    "(a missing value is an error, never zero)",
                    at_key=True,
                )
            )
    for name, raw in raw_values.items():
        value_pointer = f"{pointer}/values/{escape_pointer_token(name)}"
        if faults is not None and not faults.intact(value_pointer):
            continue
        spec = parameters.get(name)
        if spec is None:
            if not complete:
                continue
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
    """The events of each file's examples must be valid events (example_checks.py)."""
    for document, terms_file in built:
        errors.extend(example_errors(document, terms_file))
