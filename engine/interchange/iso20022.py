"""Bank files in ISO 20022 XML, read as if a hostile sender wrote them.

One reader for every file the bank sends (camt.053 statements, camt.054 notifications, pain.002
status reports): at most 64 MB, no DOCTYPE (checked on the bytes in each encoding XML allows, so
an entity bomb never reaches the parser, and again on the parsed tree), lxml without entity
expansion, DTDs or network access, and a root ``Document`` in the namespace the caller expects.
Namespaces are stripped afterwards, so the readers find elements by their ISO names.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_BYTES = 64 * 1024 * 1024
ISO = "urn:iso:std:iso:20022:tech:xsd:"
_DOCTYPE_MARKS = tuple("<!DOCTYPE".encode(c) for c in ("utf-8", "utf-16-le", "utf-16-be"))
_DOCTYPE = "has a DOCTYPE; bank files have none, and entity declarations are refused"


class BankFileInvalid(ValueError):
    """The file is not a readable bank file: ``field`` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def read_document(
    data: bytes, namespace: re.Pattern, expected: str, invalid: type[BankFileInvalid]
) -> tuple[Any, re.Match]:
    """The root ``Document`` of ``data`` (namespaces stripped) and the match of its namespace.

    ``expected`` says in words what the root should be; every fault is raised as ``invalid``.
    """
    from lxml import etree

    if len(data) > MAX_BYTES:
        raise invalid("file", f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    if any(mark in data for mark in _DOCTYPE_MARKS):
        raise invalid("file", _DOCTYPE)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        tree = etree.fromstring(data, parser).getroottree()
    except etree.XMLSyntaxError as error:
        raise invalid("file", f"not well-formed XML ({error})") from None
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise invalid("file", _DOCTYPE)
    root = tree.getroot()
    name = etree.QName(root)
    match = namespace.match(name.namespace or "")
    if name.localname != "Document" or match is None:
        raise invalid("Document", f"the root is {root.tag!r}: expected {expected}")
    for element in root.iter(etree.Element):
        element.tag = etree.QName(element).localname
    return root, match


def amount(element) -> tuple[Decimal | None, str | None]:
    """An ``Amt`` element's amount and currency (None where unreadable)."""
    if element is None or element.text is None:
        return None, None
    try:
        return Decimal(element.text.strip()), element.get("Ccy")
    except InvalidOperation:
        return None, element.get("Ccy")


def day(text: str | None) -> date | None:
    """An ISO date (or the date of a date-time), or None."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def first(element, *paths: str) -> Any:
    """The first of ``paths`` found under ``element``, or None."""
    for path in paths:
        found = element.find(path)
        if found is not None:
            return found
    return None
