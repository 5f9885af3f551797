"""Microbenchmark: reading events (issue 13, round 3), per event type, in CPU microseconds.

    .venv/bin/python benchmarks/read_events.py                    # the 100k-call month
    .venv/bin/python benchmarks/read_events.py --month benchmarks/out/month-1000-100000.jsonl

For each event type of the month (at most ``--per-type`` lines each): decoding a line
(``loads_json``: orjson and the repeated-key check), checking it (``parse_event``: the schema,
the values, the canonical form and its digest, the ``Event``; each event once, as in a
replay), both together, and writing a batch of 5,000 result lines as
``billing replay`` prints them (per line). Then the whole file read as the replay reads it.
Only public functions are called, so the same script measures an older checkout
(``PYTHONPATH=<checkout> .venv/bin/python benchmarks/read_events.py``). Figures are CPU time
(``time.process_time``): the best of ``--repeat`` rounds, or the median of 500-event chunks.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
CALL_RESULT = (
    '{"id":"demo-2026-11-s1-a1000-c100000-call-00006000","status":"applied","effects":['
    '{"kind":"free_minutes_used","clause":"CLINQ SD 2.1","terms_version":"2026-01-01",'
    '"minutes":4,"seconds":240,"left_seconds":2940},{"kind":"charge","clause":"AGB 3.4",'
    '"terms_version":"2026-01-01","amount":"0.00","item":"call","user":"user-000440-0",'
    '"to":"+49301952856","zone":"de_landline","duration_s":213,"billed_seconds":240,'
    '"charged_seconds":0,"rate":"0.0179","tariff":"Price list: sipgate-team"}]}'
)


def best_microseconds(function, items: list, repeat: int) -> float:
    """Best of ``repeat`` passes over the same items (only for what remembers nothing)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for item in items:
            function(item)
        best = min(best, time.process_time() - started)
    return best / len(items) * 1e6


def once_microseconds(function, items: list, chunk: int = 500) -> float:
    """Each item once, in chunks, as a replay sees them; the median chunk."""
    times = []
    chunk = max(1, min(chunk, len(items) // 4))  # a rare type: smaller chunks
    for start in range(0, len(items) - chunk + 1, chunk):
        began = time.process_time()
        for item in items[start : start + chunk]:
            function(item)
        times.append((time.process_time() - began) / chunk)
    return statistics.median(times) * 1e6


def result_writer(out: io.StringIO):
    """A batch's results written the way the replay writes them (``billing.replay``)."""
    from billing import replay

    write_results = getattr(replay, "write_results", None)
    if write_results is not None:
        return lambda results: write_results(results, out)

    def one_by_one(results: list) -> None:  # before round 3
        for result in results:
            out.write(orjson.dumps(result).decode() + "\n")

    return one_by_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default=str(HERE / "out" / "month-1000-100000.jsonl"))
    parser.add_argument("--per-type", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from engine.events import loads_json, parse_event

    lines: dict[str, list[str]] = defaultdict(list)
    with open(args.month, encoding="utf-8") as source:
        for line in source:
            kind = orjson.loads(line)["type"]
            if len(lines[kind]) < args.per_type:
                lines[kind].append(line)
    # an applied call's result as the replay of this month prints it (free minutes, then a charge)
    call_result = orjson.loads(CALL_RESULT)
    sink = io.StringIO()
    write_batch = result_writer(sink)
    report: dict = {"load_average_1min": round(os.getloadavg()[0], 2), "per_type_us": {}}
    for kind, sample in sorted(lines.items(), key=lambda item: -len(item[1])):
        parse_event(loads_json(sample[0]))  # the validators compile on first use
        half = len(sample) // 2
        documents = [loads_json(line) for line in sample[half:]]
        report["per_type_us"][kind] = {
            "lines": len(sample),
            "decode": round(best_microseconds(loads_json, sample, args.repeat), 2),
            "decode_and_check": round(
                once_microseconds(lambda line: parse_event(loads_json(line)), sample[1:half]), 2
            ),
            "check": round(once_microseconds(parse_event, documents), 2),
        }
    batch = [call_result] * 5000
    report["result_line_us"] = round(
        best_microseconds(write_batch, [batch], args.repeat) / len(batch), 3
    )
    sink.seek(0)

    started = time.process_time()
    count = 0
    with open(args.month, encoding="utf-8") as source:
        for line in source:
            if line.strip():
                parse_event(loads_json(line))
                count += 1
    seconds = time.process_time() - started
    report["whole_file"] = {
        "events": count,
        "cpu_seconds": round(seconds, 2),
        "us_per_event": round(seconds / count * 1e6, 2),
    }
    report["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
