"""The checks of the terms catalog that need more than one file (:mod:`engine.catalog.loader`).

Run once every file has been read and built: a citation is encoded by one file only; every
clause, zone, rate table and plan a file refers to exists; every zone has a rate and every
prefix belongs to one zone; the provider's bank details are valid; the catalog has the files
every computation needs (:data:`REQUIRED_CITATIONS`). Each fault is located in the file that
makes it, like the loader's own.
"""

from __future__ import annotations

import re

from engine.catalog.errors import CatalogError
from engine.catalog.model import TermsFile
from engine.catalog.yaml_source import YamlDocument
from engine.core.calendar import WEEKDAYS
from engine.core.schemas import escape_pointer_token

REQUIRED_CITATIONS = ("Platform: calendar", "Platform: money", "Price list: zones")
CHANNELS = {"email", "letter", "fax", "phone", "web"}
INCREMENT_PARAMETERS = {"first_increment", "next_increment"}
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")
_ISO_REASON_CODE = re.compile(r"^[A-Z0-9]{4}$")


def check_across_files(
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
        if terms_file.citation == "Platform: provider":
            _check_bank_details(document, terms_file, errors)
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
    elif kind == "iso_reason_code" and not _ISO_REASON_CODE.match(element):
        return f"{element!r} is not an ISO 20022 reason code (four capitals or digits, e.g. AM04)"
    return None


def _bank_detail_problem(name: str, value: object) -> str | None:
    """Why the provider's ``iban``, ``bic`` or SEPA ``creditor_id`` is not a valid one, or None.

    The creditor identifier carries ISO 7064 MOD 97-10 check digits like an IBAN (EPC262-08,
    AT-02; python-stdnum's ``stdnum.eu.at_02``); IBAN and BIC are checked with schwifty.
    """
    from schwifty import BIC, IBAN
    from schwifty.exceptions import SchwiftyException
    from stdnum.eu import at_02
    from stdnum.exceptions import ValidationError as StdnumError

    text = str(value)
    try:
        if name == "creditor_id":
            if at_02.compact(text) != text:
                return f"{text!r}: write the creditor identifier without spaces"
            at_02.validate(text)
        elif name == "iban":
            IBAN(text)
        elif name == "bic":
            BIC(text)
    except StdnumError as error:
        return f"{text!r} is not a valid SEPA creditor identifier ({error})"
    except SchwiftyException as error:
        return f"{text!r} is not a valid {name.upper()} ({error})"
    return None


def _check_bank_details(document, provider: TermsFile, errors) -> None:
    for index, version in enumerate(provider.versions):
        for name in ("iban", "bic", "creditor_id"):
            if name in version.values:
                problem = _bank_detail_problem(name, version.values[name].value)
                if problem:
                    pointer = f"/versions/{index}/values/{name}"
                    errors.append(document.error(pointer, f"{name}: {problem}"))


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
