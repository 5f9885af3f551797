"""Benchmark: the HTTP API under gunicorn on PostgreSQL, on loopback only.

    .venv/bin/python benchmarks/api_load.py [--events 50000] [--rate 500] [--seconds 10]

It starts its own PostgreSQL server (Debian's package, as the tests do), runs
``billing serve --no-demo`` (2 gunicorn workers with 4 threads each) against it, creates a
token, and measures two things with a Python client on 127.0.0.1:

1. batched ingestion: a generated month posted as batches of 1,000 events by 4 clients;
2. single-event posts at a fixed rate (open loop: requests are sent on schedule whether or not
   earlier ones returned), reporting the achieved rate and latency percentiles.

Client and server share the machine's two cores, so the figures are a floor for the server.
Because the machine may be shared, each phase also reports the CPU time it cost (from
/proc: the gunicorn processes, the PostgreSQL processes, this client) per event or request,
and what that means on two cores given to the server alone; plus the load average.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from billing.demo import month_of_events  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

BILLING = str(ROOT / ".venv" / "bin" / "billing")


class Client:
    def __init__(self, port: int, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.connection.request("POST", path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()


_TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds of these processes and all their descendants (reaped ones included)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(f) for f in fields[11:15]) / _TICK
    tree, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


class CpuMeter:
    """CPU seconds spent by the server (gunicorn), the database and this client in a phase."""

    def __init__(self, server_pid: int, postmaster_pid: int):
        self.server_pid, self.postmaster_pid = server_pid, postmaster_pid

    def _now(self) -> tuple[float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (
            _tree_cpu_seconds([self.server_pid]),
            _tree_cpu_seconds([self.postmaster_pid]),
            usage.ru_utime + usage.ru_stime,
        )

    def start(self) -> None:
        self.started = self._now()
        self.load = os.getloadavg()[0]

    def per(self, count: int, unit: str) -> dict:
        server, database, client = (b - a for a, b in zip(self.started, self._now(), strict=True))
        per_unit = (server + database) / count
        return {
            f"server_cpu_ms_per_{unit}": round(server / count * 1000, 3),
            f"database_cpu_ms_per_{unit}": round(database / count * 1000, 3),
            f"client_cpu_ms_per_{unit}": round(client / count * 1000, 3),
            f"{unit}s_per_second_on_two_server_cores": round(2 / per_unit) if per_unit else None,
            "load_average_1min_at_start": round(self.load, 2),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        }


def wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not come up")


def batched_ingestion(port: int, token: str, events: list[dict], clients: int = 4) -> dict:
    # Each client takes whole accounts, so one account's events stay in order.
    by_account: dict[str, list[dict]] = {}
    for event in events:
        by_account.setdefault(event["account"], []).append(event)
    shares = [[] for _ in range(clients)]
    for index, account_events in enumerate(by_account.values()):
        shares[index % clients].extend(account_events)

    def run(share: list[dict]) -> int:
        client = Client(port, token)
        for start in range(0, len(share), 1000):
            status, body = client.post(
                "/api/v1/events", orjson.dumps({"events": share[start : start + 1000]})
            )
            if status != 200:
                raise RuntimeError(f"{status}: {body[:300]!r}")
        return len(share)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(run, shares))
    seconds = time.perf_counter() - started
    return {
        "events": total,
        "seconds": round(seconds, 2),
        "events_per_second": round(total / seconds),
    }


def paced_single_posts(port: int, token: str, rate: int, seconds: int, accounts: list[str]) -> dict:
    count = rate * seconds
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()
    start = time.perf_counter() + 0.5

    def send(number: int) -> None:
        nonlocal errors
        if not hasattr(local, "client"):
            local.client = Client(port, token)
        due = start + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        event = {
            "id": f"single-{number}",
            "type": "credit.topped_up",
            "account": accounts[number % len(accounts)],
            "at": "2026-11-30T12:00:00+01:00",
            "amount": "1.00",
        }
        sent = time.perf_counter()
        status, _ = local.client.post("/api/v1/events", orjson.dumps(event))
        finished = time.perf_counter()
        with lock:
            # Open loop: latency counts from when the request was due, not when it went out.
            latencies.append(finished - min(sent, due) if sent > due else finished - sent)
            errors += status != 200

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(send, range(count)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "requests": count,
        "target_rate": rate,
        "achieved_rate": round(count / elapsed),
        "errors": errors,
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="approximate events to ingest")
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="gunicorn")
    parser.add_argument(
        "--single-only", action="store_true", help="skip batched ingestion (accounts are opened)"
    )
    args = parser.parse_args()

    server = PostgresServer()
    admin_url = server.start()
    database = admin_url.rsplit("/", 1)[0] + "/postgres"
    serving = None
    try:
        subprocess.run(
            [BILLING, "db", "upgrade", "--db", database], check=True, capture_output=True
        )
        token = subprocess.run(
            [BILLING, "token", "create", "bench", "--role", "billing-service", "--db", database],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        command = [BILLING, "serve", "--no-demo", "--port", str(args.port), "--db", database]
        serving = subprocess.Popen(
            [*command, "--server", args.server],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(args.port)
        accounts = max(args.events // 250, 10)
        events = list(month_of_events("2026-11", accounts, int(args.events * 0.9), seed=7))
        postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
        meter = CpuMeter(serving.pid, postmaster)
        if args.single_only:  # only the openings, so that the top-ups find their accounts
            events = [e for e in events if e["type"] == "account.opened"]
        meter.start()
        ingestion = batched_ingestion(args.port, token, events)
        ingestion.update(meter.per(ingestion["events"], "event"))
        opened = sorted({e["account"] for e in events})
        meter.start()
        single = paced_single_posts(args.port, token, args.rate, args.seconds, opened)
        single.update(meter.per(single["requests"], "request"))
        print(
            json.dumps(
                {
                    "database": "postgresql",
                    "server": args.server,
                    "gunicorn_options": os.environ.get("BILLING_GUNICORN_OPTIONS") or "default",
                    "batched_ingestion": ingestion,
                    "single_event_posts": single,
                },
                indent=2,
            )
        )
    finally:
        if serving is not None:
            serving.terminate()
            serving.wait(timeout=30)
        server.stop()


if __name__ == "__main__":
    main()
