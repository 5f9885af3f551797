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
from dataclasses import dataclass
from typing import IO

import orjson
from tqdm import tqdm

from billing.replay_documents import DocumentsBeside
from engine.collector import collector_paused
from engine.engine import Engine
from engine.events import EventInvalid, loads_json, parse_event

# Events per transaction: the replay's fixed costs per batch (each account it touches read,
# copied and written back once, the commit) shrink with larger batches and its memory grows
# (benchmarks/README.md: 5,000 keeps the 1M-call month under 300 MB).
BATCH = 5000


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
    slots: list[dict | None] = []
    batch: list = []
    size = _size_of(source)
    lines = enumerate(source, start=1)
    # a progress bar on standard error only when it is a terminal (disable=None)
    with tqdm(
        total=size, unit="B", unit_scale=True, disable=None, leave=False, desc="replay"
    ) as progress:
        more = True
        while more:
            # A batch's parsed events live until it is written: the collector is paused while
            # it is read as well as while it is applied (engine/collector.py).
            with collector_paused(batch_size):
                more = _read_batch(lines, batch, slots, batch_size, summary, progress)
                _flush(engine, batch, slots, out, summary)
    return summary


def _read_batch(lines, batch, slots, batch_size, summary, progress) -> bool:
    """Parse lines into ``batch`` (results of invalid lines into ``slots``) until it holds
    ``batch_size`` events; False once the source is at its end."""
    tracking = not progress.disable
    for number, line in lines:
        if tracking:
            progress.update(len(line.encode("utf-8")))
        if not line.strip():
            continue
        summary.lines += 1
        try:
            event = parse_event(loads_json(line))
        except orjson.JSONDecodeError as exc:
            slots.append(_invalid(number, "", f"not JSON: {exc.msg}"))
            continue
        except EventInvalid as exc:
            slots.append(_invalid(number, exc.field, exc.message))
            continue
        slots.append(None)
        batch.append(event)
        if len(batch) >= batch_size:
            return True
    return False


def _flush(engine, batch, slots, out, summary) -> None:
    results = iter(engine.handle_events(batch) if batch else ())
    counts = write_results([next(results) if slot is None else slot for slot in slots], out)
    for status, count in counts.items():
        setattr(summary, status, getattr(summary, status) + count)
    batch.clear()
    slots.clear()


def write_results(results: list[dict], out: IO[str]) -> Counter:
    """One JSON line per result; how many results had each status.

    Line by line: joining a batch's lines first costs more (a string of some 100 KB is a fresh
    mapping of memory each time) and raised peak memory by 27 MB for 5,000-event batches."""
    write, dumps, newline = out.write, orjson.dumps, orjson.OPT_APPEND_NEWLINE
    for result in results:
        write(dumps(result, option=newline).decode())
    return Counter([result["status"] for result in results])


def _invalid(line: int, field: str, message: str) -> dict:
    return {"line": line, "status": "invalid", "error": {"field": field, "message": message}}


def _size_of(source: IO[str]) -> int | None:
    try:
        return os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError):
        return None
