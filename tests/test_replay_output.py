"""`billing replay` prints one JSON line per result, byte for byte ``orjson``'s, in the file's
order, invalid lines in their places (issue 13, round 3; issue 30, slices)."""

from __future__ import annotations

import io

import orjson

from billing import replay as replay_module
from engine.engine import Engine
from tests.sample_events import ACME_OPENED


def test_result_lines_are_one_orjson_line_each_in_the_files_order(monkeypatch):
    monkeypatch.setattr(replay_module, "SLICE", 3)  # the invalid lines fall in several slices
    opening = ACME_OPENED
    lines = [
        orjson.dumps(opening).decode(),
        "{not json",
        "",  # a blank line is skipped and counts as a line of the file only
        '{"id": "x", "type": "call"}',
        orjson.dumps(opening).decode(),
    ]
    out = io.StringIO()
    engine = Engine("sqlite://")
    try:
        summary = replay_module.replay(engine, io.StringIO("\n".join(lines) + "\n"), out)
    finally:
        engine.close()
    printed = out.getvalue().splitlines(keepends=True)
    assert [orjson.loads(line)["status"] for line in printed] == [
        "applied",
        "invalid",
        "invalid",
        "duplicate",
    ]
    assert all(line == orjson.dumps(orjson.loads(line)).decode() + "\n" for line in printed)
    assert orjson.loads(printed[1])["line"] == 2
    assert orjson.loads(printed[2])["line"] == 4
    assert (summary.lines, summary.applied, summary.invalid, summary.duplicate) == (4, 1, 2, 1)


def test_an_empty_file_prints_nothing():
    out = io.StringIO()
    engine = Engine("sqlite://")
    try:
        summary = replay_module.replay(engine, io.StringIO("\n\n"), out)
    finally:
        engine.close()
    assert out.getvalue() == ""
    assert summary.lines == 0
