"""Compact storage of event results and call details.

A call's whole result as JSON repeats the keys of every effect and the same clause, terms
version, tariff and rate strings on every row, about 480 bytes. Here an
effect is split into its **shape** (its keys, and the values that repeat from call to call:
kind, clause, terms version, item, zone, rate, tariff) and its own values. A shape is stored
once in ``effect_shapes`` under a number derived from its text; a row stores
``[[shape, value, ...], ...]``, about 80 bytes. Reading renders exactly the dictionaries that
were stored (:func:`render_effects`), so ``billing account``, the ledger view and the itemised
bill show the results as the engine gave them.

A result that is not ``{"id", "status", "effects"}`` (a rejection with its reason) is stored
as plain JSON; a stored text starting with ``{`` is JSON, with ``[`` compact.

A value that *is* the event's own field of the same name (a call's user, number and duration)
is not stored again in the result or the ledger detail; the shape names it among its **payload
keys** and reading takes it from the event's payload. A shape without payload keys is written
as two lists, the form of shapes that have none, so shapes and rows stored in that form read
unchanged. Rows name their shape by its number in 8 base64url characters (``"AbC-12_x"``);
older rows name it by up to 15 decimal digits, which are read too.
"""

from __future__ import annotations

import base64
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
# (constant items, keys of the stored values, keys taken from the event's payload)
Shape = tuple[tuple[tuple[str, Any], ...], tuple[str, ...], tuple[str, ...]]
_ABSENT = object()


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
        # (keys, keys taken from the payload) -> positions and keys of the values still stored
        self._payload_splits: dict[tuple, tuple] = {}
        self._codes: dict[int, str] = {}

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

    def compact_effect(
        self, effect: dict[str, Any], used: set[int], payload: dict[str, Any] | None = None
    ) -> list:
        """``[shape number, value, ...]``; the number is added to ``used``. A value that is the
        very object of ``payload``'s field of the same key is left to the payload."""
        keys = tuple(effect)
        split = self._splits.get(keys)
        if split is None:
            split = self._splits[keys] = _split(keys)
        constant_at, value_at, value_keys = split
        values = tuple(effect.values())
        constants = tuple([(keys[i], values[i]) for i in constant_at])
        from_payload: tuple[str, ...] = ()
        if payload:
            found = [k for k, v in payload.items() if effect.get(k, _ABSENT) is v]
            if found:
                from_payload = tuple(sorted(k for k in found if k not in SHAPE_KEYS))
        if from_payload:
            narrowed = self._payload_splits.get((keys, from_payload))
            if narrowed is None:
                narrowed = self._payload_splits[keys, from_payload] = (
                    tuple(i for i in value_at if keys[i] not in from_payload),
                    tuple(k for k in value_keys if k not in from_payload),
                )
            value_at, value_keys = narrowed
        shape = (constants, value_keys, from_payload)
        try:
            number = self.numbers.get(shape)
        except TypeError:  # a usually repeating value is a list or dict here
            return self._compact_slowly(effect, used)
        if number is None:
            if not all(v is None or isinstance(v, str | bool) for _, v in constants):
                return self._compact_slowly(effect, used)
            number = self.number(shape)
        used.add(number)
        return [self.code(number), *[values[i] for i in value_at]]

    def template(
        self, effect: dict[str, Any], payload: dict[str, Any] | None = None
    ) -> tuple[str, int, tuple[str, ...]]:
        """``(code, number, keys of the stored values)`` of ``effect``'s shape: an effect of the
        same shape is stored as ``[code, *(effect[key] for key in keys)]``."""
        used: set[int] = set()
        compact = self.compact_effect(effect, used, payload)
        (number,) = used
        return compact[0], number, self.by_number[number][1]

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
        number = self.number((tuple(constants), tuple(keys), ()))
        used.add(number)
        return [self.code(number), *values]

    def result_text(
        self, result: dict[str, Any], used: set[int], payload: dict[str, Any] | None = None
    ) -> str:
        """The stored form of an event's result (compact if applied, else JSON); values that
        are the event's own fields (``payload``) are read from the event's payload."""
        if result["status"] == "applied" and result.keys() == APPLIED_KEYS:
            compact = [self.compact_effect(effect, used, payload) for effect in result["effects"]]
            return orjson.dumps(compact).decode()
        return orjson.dumps(result, option=orjson.OPT_SORT_KEYS).decode()

    def detail_text(
        self, detail: dict[str, Any], used: set[int], payload: dict[str, Any] | None = None
    ) -> str:
        """The stored form of a call's ledger detail (the event's own fields left out)."""
        return orjson.dumps(self.compact_effect(detail, used, payload)).decode()

    # -- decoding -----------------------------------------------------------------------------

    def code(self, number: int) -> str:
        """How a row names a shape: its 48-bit number as 8 base64url characters (older rows
        name it by the decimal number, up to 15 digits; both are read)."""
        code = self._codes.get(number)
        if code is None:
            code = self._codes[number] = base64.urlsafe_b64encode(
                number.to_bytes(6, "big")
            ).decode()
        return code

    def _shape(self, number: int | str, connection: Connection | None) -> Shape:
        if isinstance(number, str):
            number = int.from_bytes(base64.urlsafe_b64decode(number), "big")
        shape = self.by_number.get(number)
        if shape is None and connection is not None:
            self.load(connection)
            shape = self.by_number.get(number)
        if shape is None:
            raise KeyError(f"effect shape {number} is not stored")
        return shape

    def render_effect(
        self,
        stored: list,
        connection: Connection | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The effect as it was built; a shape another process stored is read on first use.
        ``payload``: the fields of the effect's event (``event_payload.payload_fields``),
        needed by a shape that takes values from them."""
        constants, keys, from_payload = self._shape(stored[0], connection)
        effect = dict(constants)
        effect.update(zip(keys, stored[1:], strict=True))
        if from_payload:
            if payload is None:
                raise ValueError(f"effect shape {stored[0]} needs its event's payload")
            effect.update((key, payload[key]) for key in from_payload)
        return dict(sorted(effect.items()))

    def render_result(
        self,
        event_id: str,
        status: str,
        text: str,
        connection: Connection | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A stored result as the engine returned it (``payload``: the event's fields)."""
        if text.startswith("{"):
            return orjson.loads(text)
        effects = [self.render_effect(stored, connection, payload) for stored in orjson.loads(text)]
        return {"effects": effects, "id": event_id, "status": status}

    def render_detail(
        self,
        text: str,
        connection: Connection | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A stored ledger detail as it was booked (``payload``: its event's fields)."""
        if text.startswith("{"):
            return orjson.loads(text)
        return self.render_effect(orjson.loads(text), connection, payload)

    def detail_constant(self, text: str, key: str, default: Any = None) -> Any:
        """One value of a stored detail that is not its event's (e.g. the zone), read without
        the event's payload."""
        if text.startswith("{"):
            return orjson.loads(text).get(key, default)
        stored = orjson.loads(text)
        constants, keys, _ = self._shape(stored[0], None)
        found = dict(constants)
        found.update(zip(keys, stored[1:], strict=True))
        return found.get(key, default)


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
    """``[constants, keys]``, with ``payload keys`` third only when there are any (so a shape
    without them keeps the text, and so the number, older rows know it by)."""
    constants, keys, from_payload = shape
    parts = [[list(item) for item in constants], list(keys)]
    if from_payload:
        parts.append(list(from_payload))
    return orjson.dumps(parts).decode()


def _shape_from_text(text: str) -> Shape:
    constants, keys, *rest = orjson.loads(text)
    from_payload = tuple(rest[0]) if rest else ()
    return tuple((key, value) for key, value in constants), tuple(keys), from_payload


def _number_of(text: str) -> int:
    """A 48-bit number from the shape's text: the same shape has the same number everywhere."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=6).digest(), "big")
