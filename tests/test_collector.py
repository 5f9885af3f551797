"""The garbage collector paused while a large batch is applied (engine/collector.py)."""

from __future__ import annotations

import gc
import threading

from engine import collector
from engine.collector import PAUSED_FROM, collector_paused


def test_a_large_batch_pauses_the_collector_and_it_resumes_after():
    assert gc.isenabled()
    with collector_paused(PAUSED_FROM):
        assert not gc.isenabled()
        with collector_paused(PAUSED_FROM):  # a second batch at the same time
            assert not gc.isenabled()
        assert not gc.isenabled(), "resumes only when the last batch ends"
    assert gc.isenabled()


def test_a_small_batch_leaves_the_collector_alone():
    with collector_paused(1):
        assert gc.isenabled()


def test_the_collector_resumes_after_a_batch_that_failed():
    try:
        with collector_paused(PAUSED_FROM):
            raise ValueError("a refused batch")
    except ValueError:
        pass
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with collector_paused(PAUSED_FROM):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_batches_in_threads_leave_the_collector_enabled():
    started = threading.Barrier(4)

    def batch():
        with collector_paused(PAUSED_FROM):
            started.wait()

    threads = [threading.Thread(target=batch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled()
    assert collector._state["depth"] == 0


def collector_seen_by_parse(monkeypatch, module) -> list[bool]:
    """Whether the collector was enabled at each ``module.parse_event`` call (filled later)."""
    seen: list[bool] = []
    parse = module.parse_event

    def parse_and_look(raw):
        seen.append(gc.isenabled())
        return parse(raw)

    monkeypatch.setattr(module, "parse_event", parse_and_look)
    return seen


def test_a_replay_reads_each_batch_with_the_collector_paused(monkeypatch):
    """The parsed events of a batch live until it is written: reading them is paused too
    (billing/replay.py), and the collector runs again between batches and after the file."""
    import io

    import orjson

    from billing import replay as replay_module
    from billing.demo import month_of_events
    from engine.engine import Engine

    enabled_while_parsing = collector_seen_by_parse(monkeypatch, replay_module)
    lines = [orjson.dumps(e).decode() for e in month_of_events("2026-11", 5, 2 * PAUSED_FROM)]
    engine = Engine("sqlite://")
    summary = replay_module.replay(
        engine, io.StringIO("\n".join(lines) + "\n"), io.StringIO(), batch_size=PAUSED_FROM
    )
    assert summary.lines == len(lines) > 2 * PAUSED_FROM
    assert not any(enabled_while_parsing)
    assert gc.isenabled()


def test_a_batch_posted_at_once_is_parsed_with_the_collector_paused(monkeypatch):
    """``Engine.handle_many`` (the API's batches): the parsing is paused as the applying."""
    from billing.demo import month_of_events
    from engine import engine as engine_module

    enabled_while_parsing = collector_seen_by_parse(monkeypatch, engine_module)
    events = list(month_of_events("2026-11", 5, PAUSED_FROM))
    results = engine_module.Engine("sqlite://").handle_many(events)
    assert len(results) == len(events) >= PAUSED_FROM
    assert not any(enabled_while_parsing)
    assert gc.isenabled()
