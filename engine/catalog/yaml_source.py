"""Reading YAML safely as plain JSON-like data while remembering where each value stood.

This is the one YAML reader of the project: the catalog, the CLI and the admin UI all parse
through :func:`read_yaml`. It works on PyYAML's *event* stream (never on composed nodes, never
with a constructor that knows Python types), so that it can

- refuse what a terms file never needs and an attacker loves, before anything is built:
  anchors and aliases (an alias bomb never expands: its first ``&`` is refused), merge keys
  ``<<``, every tag outside YAML's core schema (``!!python/...``, ``!!binary``, ``!custom``),
  files over :data:`MAX_FILE_BYTES` and nesting deeper than :data:`MAX_DEPTH`;
- record the line and column of every JSON pointer, reject duplicate and non-string keys, and
  keep dates as the strings they were written as (the JSON Schema checks their exact form).

Numbers stay numbers: a price written as ``9.80`` becomes a float, which the schema then
rejects (money is a string with its currency). Every refusal is a located
:class:`~engine.catalog.errors.CatalogError`; reading never raises.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.catalog.errors import CatalogError
from engine.core.schemas import escape_pointer_token

MAX_FILE_BYTES = 256 * 1024  # the largest shipped file has 4 KiB
MAX_DEPTH = 32  # mappings and sequences inside each other; the deepest shipped file has 12
MAX_ERRORS_PER_FILE = 50  # further faults of one file are counted: "… and N more"

_CORE = "tag:yaml.org,2002:"
_STR, _TIMESTAMP, _MERGE, _VALUE = (_CORE + t for t in ("str", "timestamp", "merge", "value"))
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_MAP, _SEQ = _CORE + "map", _CORE + "seq"
_RESOLVER = yaml.resolver.Resolver()
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # libyaml's parser, where PyYAML has it
_CORE_TYPES = "string, integer, float, boolean, null, sequence and mapping"


@dataclass
class YamlDocument:
    """A parsed file: its data, the position of every pointer, and the faults found reading it.

    ``refused`` is true when the text holds something the reader refuses outright (an anchor,
    alias, merge key, foreign tag, too deep a nesting, too large a size); ``data`` is then None
    and nothing else is checked. ``omitted`` counts faults beyond :data:`MAX_ERRORS_PER_FILE`.
    """

    path: str
    data: Any
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: list[CatalogError] = field(default_factory=list)
    refused: bool = False
    omitted: int = 0

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

    def add(self, mark: Any, message: str, pointer: str | None, *, refuse: bool = False) -> None:
        """Record a fault at a PyYAML mark, keeping at most MAX_ERRORS_PER_FILE of them."""
        if refuse:
            self.refused = True
        if len(self.errors) >= MAX_ERRORS_PER_FILE:
            self.omitted += 1
            return
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        self.errors.append(CatalogError(self.path, line, column, message, pointer or ""))


def read_yaml(text: str, path: str) -> YamlDocument:
    """Parse ``text`` (the content of ``path``) into a :class:`YamlDocument`; never raises.

    libyaml reads the events where it is installed (forty times faster than PyYAML's Python
    parser); a text it cannot parse is read again by the Python parser, whose messages the
    documentation shows.
    """
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_FILE_BYTES:
        document = YamlDocument(path=path, data=None)
        document.add(None, too_large(size), "", refuse=True)
        return document
    if _FAST_LOADER is not None:
        document, failed = _parse(text, path, _FAST_LOADER)
        if not failed:
            return document
    return _parse(text, path, yaml.SafeLoader)[0]


def _parse(text: str, path: str, loader_class: type) -> tuple[YamlDocument, bool]:
    """The document, and whether the parser failed on the text (a syntax or reader error)."""
    document = YamlDocument(path=path, data=None)
    builder = _Builder(document)
    loader = None
    try:
        loader = loader_class(text)
        while loader.check_event():
            if not builder.take(loader.get_event()):
                break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        document.add(mark, f"YAML syntax: {exc.problem or exc}", "")
        document.data = None
        return document, True
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"character #x{character:04x} is not allowed in YAML: {exc.reason}"
        document.errors.append(CatalogError(path, line, column, message, ""))
        return document, True
    except yaml.YAMLError as exc:  # any other fault of the scanner or parser
        document.add(None, f"YAML syntax: {exc}", "")
        return document, True
    finally:
        if loader is not None:
            loader.dispose()
    if document.refused:
        return document, False
    if not builder.seen_document or builder.root is _EMPTY:
        document.errors.append(CatalogError(path, 1, 1, "the file is empty", ""))
        return document, False
    document.data = builder.root
    return document, False


def read_yaml_file(path: Path, relative: str) -> YamlDocument:
    """Read and parse one file; an unreadable, oversized or non-UTF-8 file is a located fault."""
    document = YamlDocument(path=relative, data=None)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            document.add(None, too_large(size), "", refuse=True)
            return document
        raw = path.read_bytes()
    except OSError as exc:
        document.add(None, f"cannot read the file: {exc.strerror or exc}", "")
        return document
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        document.add(None, f"not UTF-8 text (byte {exc.start} of line {line})", "")
        return document
    return _read_kept(text, raw, relative)


# Files read per process, by path and content, up to this many bytes (content and parse; the
# shipped catalog takes some 0.8 MB): checking a draft loads the whole catalog again, with
# every other file unchanged. Kept pickled, so that each reader gets objects of its own.
FILES_KEPT = 16_000_000
_kept_files: dict[tuple[str, bytes], bytes] = {}
_kept_size = [0]


def _read_kept(text: str, raw: bytes, relative: str) -> YamlDocument:
    kept = _kept_files.get((relative, raw))
    if kept is not None:
        return pickle.loads(kept)
    document = read_yaml(text, relative)
    kept = pickle.dumps(document, pickle.HIGHEST_PROTOCOL)
    _kept_size[0] += len(raw) + len(kept)
    if _kept_size[0] > FILES_KEPT:  # files changed often in this process: start afresh
        _kept_files.clear()
        _kept_size[0] = len(raw) + len(kept)
    _kept_files[(relative, raw)] = kept
    return document


def too_large(size: int) -> str:
    """The message for a text over the size limit."""
    return (
        f"the file has {size:,} bytes; a catalog file may have at most {MAX_FILE_BYTES:,} "
        f"({MAX_FILE_BYTES // 1024} KiB)"
    )


def _short(value: Any) -> str:
    """A value as shown in a message: its repr, cut to 40 characters."""
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _tag_name(tag: str) -> str:
    """A tag as written (``!!python/name:os.system``), cut to 40 characters."""
    name = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return name if len(name) <= 40 else name[:37] + "..."


_EMPTY = object()
_REFUSED = object()  # stands in for a refused node (the document is discarded anyway)


@dataclass
class _Frame:
    """A mapping or sequence being built, with the pointer of its value (None: discarded)."""

    pointer: str | None
    value: Any
    key: Any = _EMPTY  # mappings: the key read, waiting for its value
    key_pointer: str | None = None
    first_seen: dict[str, int] = field(default_factory=dict)


class _Builder:
    """Turns PyYAML events into dicts, lists and scalars without ever expanding an alias."""

    def __init__(self, document: YamlDocument):
        self.document = document
        self.stack: list[_Frame] = []
        self.root: Any = _EMPTY
        self.seen_document = False

    def take(self, event: yaml.Event) -> bool:
        """Handle one event; False stops reading (nesting too deep, or a second document)."""
        document = self.document
        if isinstance(event, yaml.DocumentStartEvent):
            if self.seen_document:
                document.add(
                    event.start_mark, "a catalog file holds one YAML document, not several", ""
                )
                return False
            self.seen_document = True
            return True
        if not isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
            return True
        if isinstance(event, yaml.CollectionEndEvent):
            frame = self.stack.pop()
            self._attach(frame.value, frame.pointer, event.start_mark, is_string=False)
            return True
        pointer = self._pointer_of_next()
        where = pointer if pointer is not None or not self.stack else self.stack[-1].pointer
        if event.anchor is not None and not isinstance(event, yaml.AliasEvent):
            document.add(
                event.start_mark,
                f"anchor &{event.anchor} is refused: catalog files do not use anchors and "
                "aliases (they let a few lines expand into gigabytes); write the value out",
                where,
                refuse=True,
            )
        if isinstance(event, yaml.AliasEvent):
            document.add(
                event.start_mark,
                f"alias *{event.anchor} is refused: catalog files do not use anchors and "
                "aliases (they let a few lines expand into gigabytes); write the value out",
                where,
                refuse=True,
            )
            self._attach(_REFUSED, pointer, event.start_mark, is_string=False)
            return True
        if pointer is not None:
            document.marks[pointer] = (event.start_mark.line + 1, event.start_mark.column + 1)
        if isinstance(event, yaml.ScalarEvent):
            value, is_string = self._scalar(event, where)
            self._attach(value, pointer, event.start_mark, is_string=is_string)
            return True
        # the start of a mapping or sequence
        mapping = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (None, "!", _MAP if mapping else _SEQ):
            document.add(
                event.start_mark,
                f"tag {_tag_name(event.tag)} is refused on a "
                f"{'mapping' if mapping else 'sequence'}: catalog files use only YAML's core "
                f"types ({_CORE_TYPES})",
                where,
                refuse=True,
            )
        if len(self.stack) >= MAX_DEPTH:
            document.add(
                event.start_mark,
                f"nested deeper than {MAX_DEPTH} levels of mappings and sequences",
                where,
                refuse=True,
            )
            return False
        self.stack.append(_Frame(pointer, {} if mapping else []))
        return True

    def _pointer_of_next(self) -> str | None:
        """The JSON pointer of the node about to start (None inside a discarded node or key)."""
        if not self.stack:
            return ""
        frame = self.stack[-1]
        if frame.pointer is None:
            return None
        if isinstance(frame.value, list):
            return f"{frame.pointer}/{len(frame.value)}"
        if frame.key is _EMPTY:
            return None  # a key: keys have no pointer of their own
        return frame.key_pointer

    def _scalar(self, event: yaml.ScalarEvent, pointer: str | None) -> tuple[Any, bool]:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _MERGE:
            self.document.add(
                event.start_mark,
                "merge key << is refused: catalog files do not merge mappings; write the keys "
                "out (or quote '<<' if you mean the text)",
                pointer,
                refuse=True,
            )
            return _REFUSED, False
        if tag in (_STR, _VALUE) or (tag == _TIMESTAMP and event.tag is None):
            return event.value, True  # dates stay strings: the schema checks their form
        if tag not in _SCALAR_TAGS:
            self.document.add(
                event.start_mark,
                f"tag {_tag_name(tag)} is refused: catalog files use only YAML's core types "
                f"({_CORE_TYPES})",
                pointer,
                refuse=True,
            )
            return _REFUSED, False
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True), False
        except (ValueError, yaml.YAMLError):
            self.document.add(
                event.start_mark,
                f"{_short(event.value)} is not a valid {_tag_name(tag)}",
                pointer,
                refuse=True,
            )
            return _REFUSED, False

    def _attach(self, value: Any, pointer: str | None, mark: Any, *, is_string: bool) -> None:
        """Put a finished node into its parent: as an item, a key, or a key's value."""
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            if frame.pointer is not None:
                frame.value.append(value)
            return
        if frame.key is not _EMPTY:  # this node is the value of frame.key
            if frame.key is not None and frame.pointer is not None:
                frame.value[frame.key] = value
            frame.key, frame.key_pointer = _EMPTY, None
            return
        # this node is a key
        frame.key, frame.key_pointer = None, None
        if frame.pointer is None or value is _REFUSED:
            return
        if not is_string:
            shown = _short(value) if isinstance(value, int | float | bool) or value is None else "…"
            self.document.add(mark, f"key {shown} must be a string", frame.pointer)
            return
        child = f"{frame.pointer}/{escape_pointer_token(value)}"
        if value in frame.first_seen:
            self.document.add(
                mark,
                f"duplicate key {value!r} (first at line {frame.first_seen[value]})",
                child,
            )
            return
        frame.first_seen[value] = mark.line + 1
        self.document.key_marks[child] = (mark.line + 1, mark.column + 1)
        frame.key, frame.key_pointer = value, child
