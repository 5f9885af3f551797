"""Editing a draft's YAML text in place: replace one value, add or remove one key.

The form of a draft (admin_ui/forms.py) changes only the values a person changed; every other
character of the text (comments, quoting, order, examples, rules) stays as written, so the YAML
view and the form edit the same draft. Positions come from PyYAML's parser (its pure-Python
reader, whose marks count characters of the text); values are written in the catalog's style
(money as ``"9.80 EUR"``, periods as ``{weeks: 6}``, sets as ``[a, b]``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.core.schemas import escape_pointer_token

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()


@dataclass
class Span:
    """Where a node stands in the text: ``start`` to ``end`` (character offsets).

    ``key_start`` is the offset of the key naming it (a mapping's entry), ``flow`` whether a
    collection is written in flow style (``{...}``, ``[...]``), ``children`` its entries' pointers.
    """

    start: int
    end: int
    key_start: int | None = None
    flow: bool = False
    mapping: bool = False
    children: list[str] = field(default_factory=list)


class EditError(ValueError):
    """The text cannot be edited as asked (it does not parse, or has no such place)."""


def spans(text: str) -> dict[str, Span]:
    """The span of every JSON pointer of the (single) YAML document in ``text``."""
    found: dict[str, Span] = {}
    stack: list[dict[str, Any]] = []
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise EditError(f"the YAML does not parse: {exc}") from None
    for event in events:
        if isinstance(event, yaml.CollectionEndEvent):
            frame = stack.pop()
            span = frame["span"]
            if span.flow:
                span.end = event.end_mark.index
            _finish(stack, found, frame["pointer"], span)
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        if isinstance(event, yaml.AliasEvent):
            raise EditError("the draft uses an alias; the form cannot edit it")
        pointer, key_start = _next_pointer(stack)
        if pointer is None:  # a mapping key
            frame = stack[-1]
            frame["key"] = event.value if isinstance(event, yaml.ScalarEvent) else None
            frame["key_start"] = event.start_mark.index
            continue
        if isinstance(event, yaml.ScalarEvent):
            span = Span(event.start_mark.index, event.end_mark.index, key_start)
            _finish(stack, found, pointer, span)
            continue
        mapping = isinstance(event, yaml.MappingStartEvent)
        span = Span(
            event.start_mark.index,
            event.start_mark.index,
            key_start,
            bool(event.flow_style),
            mapping,
        )
        stack.append({"pointer": pointer, "span": span, "key": _NO_KEY, "count": 0})
    return found


_NO_KEY = object()


def _next_pointer(stack: list[dict[str, Any]]) -> tuple[str | None, int | None]:
    """The pointer of the node about to start, or None when it is a mapping's key."""
    if not stack:
        return "", None
    frame = stack[-1]
    if not frame["span"].mapping:
        return f"{frame['pointer']}/{frame['count']}", None
    if frame["key"] is _NO_KEY:
        return None, None
    return f"{frame['pointer']}/{escape_pointer_token(str(frame['key']))}", frame["key_start"]


def _finish(stack, found: dict[str, Span], pointer: str, span: Span) -> None:
    found[pointer] = span
    if not stack:
        return
    parent = stack[-1]
    parent["span"].children.append(pointer)
    if not parent["span"].flow:
        parent["span"].end = max(parent["span"].end, span.end)
    parent["count"] += 1
    parent["key"] = _NO_KEY


def replace_value(text: str, pointer: str, written: str) -> str:
    """``text`` with the value at ``pointer`` replaced by the YAML ``written``."""
    span = spans(text).get(pointer)
    if span is None:
        raise EditError(f"the draft has no value at {pointer}")
    return _replace(text, span, written)


def _replace(text: str, span: Span, written: str) -> str:
    start, end = span.start, _content_end(text, span.end)
    if span.key_start is not None and not span.flow and (span.mapping or text[start] == "-"):
        # a block collection: written in flow style right after its key
        start, written = text.find(":", span.key_start) + 1, " " + written
    return text[:start] + written + text[end:]


def insert_key(text: str, mapping_pointer: str, key: str, written: str) -> str:
    """``text`` with ``key: written`` added as the last entry of the mapping at the pointer."""
    span = spans(text).get(mapping_pointer)
    if span is None or not span.mapping:
        raise EditError(f"the draft has no mapping at {mapping_pointer}")
    entry = f"{scalar(key)}: {written}"
    if span.flow or not span.children:
        inner = text[span.start + 1 : span.end - 1].strip() if span.flow else ""
        return _replace(text, span, "{" + (f"{inner}, {entry}" if inner else entry) + "}")
    first = spans(text)[span.children[0]]
    indent = first.key_start - text.rfind("\n", 0, first.key_start) - 1
    end = _line_end(text, _content_end(text, span.end))
    return text[:end] + "\n" + " " * indent + entry + text[end:]


def delete_key(text: str, pointer: str) -> str:
    """``text`` without the mapping entry at ``pointer`` (its key and value)."""
    found = spans(text)
    span = found.get(pointer)
    if span is None or span.key_start is None:
        return text
    parent = found[pointer.rsplit("/", 1)[0]]
    end = _content_end(text, span.end)
    if parent.flow:
        before = text[: span.key_start].rstrip()
        if before.endswith(","):
            return before[:-1] + text[end:]
        after = text[end:].lstrip()
        return text[: span.key_start] + (after[1:].lstrip() if after.startswith(",") else after)
    start = text.rfind("\n", 0, span.key_start) + 1
    stop = _line_end(text, end)
    return text[:start] + text[stop + 1 :]


def _content_end(text: str, end: int) -> int:
    """The end of a node without the line breaks and comments a block scalar swallows."""
    while end > 0 and text[end - 1] in " \n":
        end -= 1
    return end


def _line_end(text: str, index: int) -> int:
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline


# -- writing values in the catalog's style ----------------------------------------------------


def scalar(value: str) -> str:
    """A string as YAML: plain where YAML reads it back as the same string, else quoted."""
    if _PLAIN.match(value) and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return quoted(value)


def flow(value: Any) -> str:
    """A plain value (string, integer, boolean, list, mapping) as one line of YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {flow(v)}" for k, v in value.items()) + "}"
    return scalar(str(value))


def quoted(value: str) -> str:
    """A string always in double quotes, as the catalog writes amounts (``"9.80 EUR"``).

    Characters YAML does not allow as written, or reads as line breaks (U+0085, U+2028,
    U+2029), are escaped.
    """
    return _UNPRINTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))


_UNPRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
