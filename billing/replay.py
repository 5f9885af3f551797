"""Replaying a JSON Lines file of events: one result per line, in the file's order.

The file is streamed (never loaded whole) and applied in batches, one transaction each. A line
that is not JSON or not a valid event (also one naming a key twice) gets an ``invalid`` result
naming the line and field, and is not applied; the other lines are. An event whose id was used
before for other content gets ``conflict`` and is not applied either.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO

import orjson
from tqdm import tqdm

from billing.replay_documents import DocumentsBeside
from engine.collector import collector_paused
from engine.engine import Engine
from engine.events import Event, EventInvalid, loads_json, parse_event

# Lines per transaction (``billing replay --batch``). A replay pays per account it touches
# (read, copied, written back, kept) once per transaction, so a transaction holds many events
# for each account; its lines and result lines stay in memory until it commits. 40,000 keeps
# the 1M-call month under 300 MB; 50,000 is some 5 % faster at 305 MB (benchmarks/README.md,
# issue 30, fifth round).
BATCH = 40_000
# Events applied, written and let go of at a time inside a transaction: memory holds one slice
# of parsed events, results and rows (Engine.apply_in_slices).
SLICE = 5_000


@dataclass
class ReplaySummary:
    lines: int = 0
    applied: int = 0
    duplicate: int = 0
    rejected: int = 0
    invalid: int = 0
    conflict: int = 0
    seconds: float = 0.0  # how long the replay took (a measurement, never a business time)
    unarchived: int = 0  # issued documents the archiving process could not archive

    def describe(self) -> str:
        rate = f", {self.lines / self.seconds:,.0f} lines/s" if self.seconds >= 0.001 else ""
        missing = (
            f"; {self.unarchived} issued documents not archived (billing documents archive)"
            if self.unarchived
            else ""
        )
        return (
            f"{self.lines} lines: {self.applied} applied, {self.duplicate} duplicate, "
            f"{self.rejected} rejected, {self.invalid} invalid, {self.conflict} conflict "
            f"in {self.seconds:.1f} s{rate}{missing}"
        )


def replay(
    engine: Engine, source: IO[str], out: IO[str], *, batch_size: int = BATCH
) -> ReplaySummary:
    """Apply every event of ``source`` in order, writing one JSON result per line to ``out``;
    the documents it issues are archived beside it (billing/replay_documents.py)."""
    started = time.monotonic()
    with DocumentsBeside(engine) as documents:
        summary = _replay(engine, source, out, batch_size)
    summary.unarchived = len(documents.failed)
    summary.seconds = time.monotonic() - started
    return summary


def _replay(engine: Engine, source: IO[str], out: IO[str], batch_size: int) -> ReplaySummary:
    summary = ReplaySummary()
    size = _size_of(source)
    # a progress bar on standard error only when it is a terminal (disable=None)
    with tqdm(
        total=size, unit="B", unit_scale=True, disable=None, leave=False, desc="replay"
    ) as progress:
        lines = _numbered_lines(source, progress)
        left: list[tuple[int, str]] = []  # lines a transaction ended before (documents issued)
        while transaction := left + list(islice(lines, max(batch_size - len(left), 1))):
            applied = _apply_transaction(engine, transaction, out, summary, batch_size)
            summary.lines += applied
            left = transaction[applied:]
    return summary


def _numbered_lines(source: IO[str], progress) -> Iterator[tuple[int, str]]:
    """The file's lines that are not blank, with their numbers (counting every line)."""
    tracking = not progress.disable
    for number, line in enumerate(source, start=1):
        if tracking:
            progress.update(len(line.encode("utf-8")))
        if line.strip():
            yield number, line


def _apply_transaction(
    engine: Engine,
    transaction: list[tuple[int, str]],
    out: IO[str],
    summary: ReplaySummary,
    batch_size: int,
) -> int:
    """Apply one transaction's lines in slices and, once it committed, write a result line for
    each, in the file's order (an invalid line's result says why and nothing is applied); how
    many lines it applied. The transaction ends early after a slice that issued documents, so
    the archiving process beside the replay starts on them at once (billing/replay_documents.py)."""
    lines: list[str] = []  # the result lines of this attempt
    statuses: Counter = Counter()
    slots: list[dict | None] = []  # the slice's invalid lines' results, None for its events

    def slices() -> Iterator[list[Event]]:
        lines.clear()  # an attempt that is tried again starts over
        statuses.clear()
        for start in range(0, len(transaction), SLICE):
            slots.clear()
            yield _parse(transaction[start : start + SLICE], slots)

    def take(results: list[dict]) -> None:
        applied = iter(results)
        for slot in slots:
            result = next(applied) if slot is None else slot
            statuses[result["status"]] += 1
            lines.append(orjson.dumps(result, option=orjson.OPT_APPEND_NEWLINE).decode())

    # The collector runs once the transaction is over: what it keeps lives until then
    # (engine/collector.py); the last, shorter transaction of a bulk replay as the others.
    with collector_paused(batch_size):
        applied = engine.apply_in_slices(slices, take, end_at_documents=True)
    # Line by line: joining a transaction's lines first costs more (a string of megabytes is a
    # fresh mapping of memory each time; it raised peak memory by 27 MB at 5,000 lines).
    for line in lines:
        out.write(line)
    for status, count in statuses.items():
        setattr(summary, status, getattr(summary, status) + count)
    return min(applied * SLICE, len(transaction))


def _parse(numbered: list[tuple[int, str]], slots: list[dict | None]) -> list[Event]:
    """The events of these lines; each line's slot is None for an event or its result when
    the line is invalid (not JSON, not a valid event, a key named twice)."""
    events = []
    for number, line in numbered:
        try:
            event = parse_event(loads_json(line))
        except orjson.JSONDecodeError as exc:
            slots.append(_invalid(number, "", f"not JSON: {exc.msg}"))
            continue
        except EventInvalid as exc:
            slots.append(_invalid(number, exc.field, exc.message))
            continue
        slots.append(None)
        events.append(event)
    return events


def _invalid(line: int, field: str, message: str) -> dict:
    return {"line": line, "status": "invalid", "error": {"field": field, "message": message}}


def _size_of(source: IO[str]) -> int | None:
    try:
        return os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError):
        return None
