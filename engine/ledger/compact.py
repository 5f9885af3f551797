"""Compact storage of event results and call details (issue 13).

Every applied call used to store its whole result as JSON: the keys of every effect and the
same clause, terms version, tariff and rate strings on every row, about 480 bytes. Here an
effect is split into its **shape** (its keys, and the values that repeat from call to call:
kind, clause, terms version, item, zone, rate, tariff) and its own values. A shape is stored
once in ``effect_shapes`` under a number derived from its text; a row stores
``[[shape, value, ...], ...]``, about 80 bytes. Reading renders exactly the dictionaries that
were stored (:func:`render_effects`), so ``billing account``, the ledger view and the itemised
bill show what they showed before.

A result that is not ``{"id", "status", "effects"}`` (a rejection with its reason) is stored
as JSON as before; a stored text starting with ``{`` is JSON, with ``[`` compact.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import Connection, select

from engine.ledger.tables import effect_shapes

# Keys whose values repeat from call to call: part of the shape when they are plain strings.
SHAPE_KEYS = frozenset(
    {"kind", "clause", "terms_version", "item", "zone", "rate", "tariff", "flat_rate", "method"}
)
APPLIED_KEYS = frozenset({"id", "status", "effects"})
Shape = tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]


class Shapes:
    """The shapes known to this process: number -> (constant items, keys of the values).

    A number follows from the shape's text, so the cache is right whether or not a shape is
    stored yet; ``stored`` holds the numbers known to be in the database. A batch collects the
    numbers its rows use, writes those not known to be stored (:meth:`missing`), and after its
    commit marks them stored (:meth:`mark_stored`): a rolled-back batch marks nothing.
    """

    def __init__(self) -> None:
        self.by_number: dict[int, Shape] = {}
        self.numbers: dict[Shape, int] = {}
        self.stored: set[int] = set()
        # keys of an effect -> positions of its shape's values, of its own values, own keys
        self._splits: dict[tuple[str, ...], tuple] = {}

    def load(self, connection: Connection) -> None:
        """Take up every stored shape (a few hundred rows at most)."""
        for row in connection.execute(select(effect_shapes.c.id, effect_shapes.c.shape)):
            shape = _shape_from_text(row.shape)
            self.by_number[row.id] = shape
            self.numbers[shape] = row.id
            self.stored.add(row.id)

    def number(self, shape: Shape) -> int:
        """The number of ``shape``."""
        number = self.numbers.get(shape)
        if number is None:
            number = _number_of(_shape_text(shape))
            known = self.by_number.get(number)
            if known is not None and known != shape:
                raise ValueError(f"two effect shapes share the number {number}: {shape}, {known}")
            self.by_number[number] = shape
            self.numbers[shape] = number
        return number

    def missing(self, used: set[int]) -> list[tuple[int, str]]:
        """``(number, text)`` of the shapes in ``used`` not known to be stored."""
        return [(n, _shape_text(self.by_number[n])) for n in sorted(used - self.stored)]

    def mark_stored(self, used: set[int]) -> None:
        self.stored |= used

    # -- encoding -----------------------------------------------------------------------------

    def compact_effect(self, effect: dict[str, Any], used: set[int]) -> list:
        """``[shape number, value, ...]``; the number is added to ``used``."""
        keys = tuple(effect)
        split = self._splits.get(keys)
        if split is None:
            split = self._splits[keys] = _split(keys)
        constant_at, value_at, value_keys = split
        values = tuple(effect.values())
        constants = tuple([(keys[i], values[i]) for i in constant_at])
        shape = (constants, value_keys)
        try:
            number = self.numbers.get(shape)
        except TypeError:  # a usually repeating value is a list or dict here
            return self._compact_slowly(effect, used)
        if number is None:
            if not all(v is None or isinstance(v, str | bool) for _, v in constants):
                return self._compact_slowly(effect, used)
            number = self.number(shape)
        used.add(number)
        return [number, *[values[i] for i in value_at]]

    def _compact_slowly(self, effect: dict[str, Any], used: set[int]) -> list:
        """An effect whose usually repeating values are not plain strings (e.g. a dict)."""
        constants = []
        keys = []
        values = []
        for key, value in effect.items():
            if key in SHAPE_KEYS and (value is None or isinstance(value, str | bool)):
                constants.append((key, value))
            else:
                keys.append(key)
                values.append(value)
        number = self.number((tuple(constants), tuple(keys)))
        used.add(number)
        return [number, *values]

    def result_text(self, result: dict[str, Any], used: set[int]) -> str:
        """The stored form of an event's result (compact if applied, else JSON)."""
        if result["status"] == "applied" and result.keys() == APPLIED_KEYS:
            compact = [self.compact_effect(effect, used) for effect in result["effects"]]
            return orjson.dumps(compact).decode()
        return orjson.dumps(result, option=orjson.OPT_SORT_KEYS).decode()

    def detail_text(self, detail: dict[str, Any], used: set[int]) -> str:
        """The stored form of a call's ledger detail."""
        return orjson.dumps(self.compact_effect(detail, used)).decode()

    # -- decoding -----------------------------------------------------------------------------

    def render_effect(self, stored: list, connection: Connection | None = None) -> dict[str, Any]:
        """The effect as it was built; a shape another process stored is read on first use."""
        shape = self.by_number.get(stored[0])
        if shape is None and connection is not None:
            self.load(connection)
            shape = self.by_number.get(stored[0])
        if shape is None:
            raise KeyError(f"effect shape {stored[0]} is not stored")
        constants, keys = shape
        effect = dict(constants)
        effect.update(zip(keys, stored[1:], strict=True))
        return dict(sorted(effect.items()))

    def render_result(
        self, event_id: str, status: str, text: str, connection: Connection | None = None
    ) -> dict[str, Any]:
        """A stored result as the engine returned it."""
        if text.startswith("{"):
            return orjson.loads(text)
        effects = [self.render_effect(stored, connection) for stored in orjson.loads(text)]
        return {"effects": effects, "id": event_id, "status": status}

    def render_detail(self, text: str, connection: Connection | None = None) -> dict[str, Any]:
        """A stored ledger detail as it was booked."""
        if text.startswith("{"):
            return orjson.loads(text)
        return self.render_effect(orjson.loads(text), connection)


def _split(keys: tuple[str, ...]) -> tuple:
    constant_at = tuple(i for i, key in enumerate(keys) if key in SHAPE_KEYS)
    value_at = tuple(i for i, key in enumerate(keys) if key not in SHAPE_KEYS)
    return constant_at, value_at, tuple(keys[i] for i in value_at)


def stored_shapes(connection: Connection) -> Shapes:
    """The shapes of a database, for reading stored results."""
    shapes = Shapes()
    shapes.load(connection)
    return shapes


def _shape_text(shape: Shape) -> str:
    constants, keys = shape
    return orjson.dumps([[list(item) for item in constants], list(keys)]).decode()


def _shape_from_text(text: str) -> Shape:
    constants, keys = orjson.loads(text)
    return tuple((key, value) for key, value in constants), tuple(keys)


def _number_of(text: str) -> int:
    """A 48-bit number from the shape's text: the same shape has the same number everywhere."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=6).digest(), "big")
