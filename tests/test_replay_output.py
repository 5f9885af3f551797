"""`billing replay` prints one JSON line per result, byte for byte ``orjson``'s (issue 13,
round 3)."""

from __future__ import annotations

import io

import orjson

from billing.replay import write_results


def test_result_lines_are_one_orjson_line_each_and_counted():
    # with German text: the line is UTF-8 as orjson writes it
    results = [
        {"id": f"c{n}", "status": "applied", "effects": [{"kind": "charge", "amount": "0.19"}]}
        for n in range(300)
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
