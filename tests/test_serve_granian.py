"""``billing serve --server granian``: the same application under Granian keeps what the API
promises under gunicorn: a token on every request, the body size limit, a 400 naming the field,
and the engine's result for a good event (issue 13, benchmarks/README.md "Round 3")."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from billing.demo import month_of_events
from engine.access.tokens import create_token
from engine.ledger.store import Store


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes = b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def granian(tmp_path):
    url = f"sqlite:///{tmp_path}/served.sqlite"
    with Store(url) as store:
        token = create_token(store, "svc", "billing-service")
    port = free_port()
    command = [str(Path(sys.executable).parent / "billing"), "serve", "--server", "granian"]
    command += ["--port", str(port), "--db", url, "--no-demo", "--no-webhooks", "--no-scheduler"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if request(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("granian did not come up")
        yield port, token
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_api_under_granian_keeps_its_promises(granian):
    port, token = granian
    json = {"Content-Type": "application/json"}
    opening = next(month_of_events("2026-11", 1, 10, seed=1))  # an account.opened
    # no token: 401; a token: the engine's result
    status, _ = request(port, "POST", "/api/v1/events", orjson.dumps(opening), json)
    assert status == 401
    authorised = {**json, "Authorization": f"Bearer {token}"}
    status, body = request(port, "POST", "/api/v1/events", orjson.dumps(opening), authorised)
    assert status == 200, body
    assert orjson.loads(body)["status"] == "applied"
    # a misnamed field: 400 naming it
    status, body = request(
        port, "POST", "/api/v1/events", orjson.dumps({**opening, "Plan": "x"}), authorised
    )
    assert status == 400
    assert orjson.loads(body)["error"]["field"]
    # a body announced as more than 16 MiB: 413 at once, before any of it is read
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(
            b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {17 * 1024 * 1024}\r\n".encode()
            + b"\r\n{}"
        )
        assert raw.recv(64).startswith(b"HTTP/1.1 413")
