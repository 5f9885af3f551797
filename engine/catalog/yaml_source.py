"""Reading YAML as plain JSON-like data while remembering where each value stood.

PyYAML's composer gives a node tree with source marks; this module turns it into dicts, lists
and scalars itself so that it can (a) record the line and column of every JSON pointer,
(b) reject duplicate and non-string keys, and (c) keep dates as the strings they were written
as, so that the JSON Schema checks their exact form. Numbers stay numbers: a price written as
``9.80`` becomes a float, which the schema then rejects (money is a string with its currency).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.catalog.errors import CatalogError

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def escape_pointer_token(token: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


@dataclass
class YamlDocument:
    """A parsed file: its data, the position of every pointer, and the faults found reading it."""

    path: str
    data: Any
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: list[CatalogError] = field(default_factory=list)

    def position(self, pointer: str) -> tuple[int, int]:
        """Line and column of ``pointer``, or of its nearest ancestor that has a position."""
        while pointer not in self.marks and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.marks.get(pointer, (1, 1))

    def error(self, pointer: str, message: str, *, at_key: bool = False) -> CatalogError:
        """A fault at ``pointer``: at its value, or with ``at_key`` at the key naming it."""
        position = self.key_marks.get(pointer) if at_key else None
        line, column = position or self.position(pointer)
        return CatalogError(self.path, line, column, message, pointer)


def read_yaml(text: str, path: str) -> YamlDocument:
    """Parse ``text`` (the content of ``path``) into a :class:`YamlDocument`."""
    document = YamlDocument(path=path, data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or str(exc)
        document.errors.append(CatalogError(path, line, column, f"YAML syntax: {problem}", ""))
        return document
    if node is None:
        document.errors.append(CatalogError(path, 1, 1, "the file is empty", ""))
        return document
    document.data = _build(node, "", document)
    return document


def _build(node: yaml.Node, pointer: str, document: YamlDocument) -> Any:
    document.marks[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                document.errors.append(
                    CatalogError(
                        document.path,
                        key_line,
                        key_node.start_mark.column + 1,
                        f"key {key_node.value!r} must be a string",
                        pointer,
                    )
                )
                continue
            key = key_node.value
            child = f"{pointer}/{escape_pointer_token(key)}"
            if key in result:
                document.errors.append(
                    CatalogError(
                        document.path,
                        key_line,
                        key_node.start_mark.column + 1,
                        f"duplicate key {key!r} (first at line {first_seen[key]})",
                        child,
                    )
                )
                continue
            first_seen[key] = key_line
            document.key_marks[child] = (key_line, key_node.start_mark.column + 1)
            result[key] = _build(value_node, child, document)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, f"{pointer}/{i}", document) for i, item in enumerate(node.value)]
    if node.tag in (_STR, _TIMESTAMP):
        return node.value
    return _construct_scalar(node)


def _construct_scalar(node: yaml.Node) -> Any:
    """Construct an int, float, bool or null the way PyYAML's safe loader does."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
