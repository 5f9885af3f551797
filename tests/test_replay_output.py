"""`billing replay` prints one JSON line per result; written in chunks, byte for byte as one
``orjson`` line each (issue 13, round 3)."""

from __future__ import annotations

import io

import orjson

from engine.replay import LINES_PER_WRITE, write_results


def test_result_lines_are_written_as_one_line_each_and_counted():
    # more results than one write takes, with German text, so the chunks' seams are covered
    results = [
        {"id": f"c{n}", "status": "applied", "effects": [{"kind": "charge", "amount": "0.19"}]}
        for n in range(LINES_PER_WRITE * 2 + 3)
    ]
    results[7] = {
        "line": 8,
        "status": "invalid",
        "error": {"field": "/at", "message": "Düsseldorf"},
    }
    out = io.StringIO()
    counts = write_results(results, out)
    assert out.getvalue() == "".join(orjson.dumps(r).decode() + "\n" for r in results)
    assert counts == {"applied": len(results) - 1, "invalid": 1}


def test_no_results_write_nothing():
    out = io.StringIO()
    assert write_results([], out) == {}
    assert out.getvalue() == ""
