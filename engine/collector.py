"""Python's cyclic garbage collector, paused while a large batch of events is applied.

Applying a batch allocates a few hundred thousand containers (parsed events, results, effects,
ledger entries) that all live until the batch is written; the collector, triggered by the
allocation count, scans them again and again and finds nothing to free (measured on the
100k-call month: about a fifth of the replay's CPU time, 17 full collections). Paused during
a batch, the collector runs once the batch is over. Nothing the engine computes depends on it.
``billing replay`` pauses it for a whole transaction, reading included (billing/replay.py):
the parsed events are as long-lived as what applying them makes (on a slice of the 1M-call
month, the collector's time fell from 4.1 to 1.5 s of CPU), and the accounts a transaction
carries from slice to slice live until it commits; a collection after each of the 1M-call
month's transactions found nothing to free.

The pause is process-wide: concurrent batches (threads of an API server) share one pause, and
the collector resumes when the last one ends; a pause that other batches keep going collects
on its way out once enough has piled up, so garbage never accumulates without bound.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Batches smaller than this (a single API post) are applied with the collector as it is.
PAUSED_FROM = 500
# Allocations since the last collection after which an overlapped pause collects anyway.
OVERDUE = 500_000

_lock = threading.Lock()
_state = {"depth": 0, "was_enabled": False}


@contextmanager
def collector_paused(events: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch of ``events`` events is applied."""
    if events < PAUSED_FROM:
        yield
        return
    with _lock:
        if _state["depth"] == 0:
            _state["was_enabled"] = gc.isenabled()
            gc.disable()
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            resume = _state["depth"] == 0 and _state["was_enabled"]
            if resume:
                gc.enable()
        if not resume and _state["was_enabled"] and gc.get_count()[0] > OVERDUE:
            gc.collect()
