"""The walkthroughs run on the demo as written (issue 29): docs/walkthroughs.md cannot drift.

Each command block marked ``<!-- walkthrough: NAME -->`` in docs/walkthroughs.md (and in
README.md, where it marks one) runs with bash against a fresh copy of the demo database that
``billing serve`` loads (billing/serve.py ``load_demo``, built once per module): the
``.venv/bin/billing`` commands as subprocesses with ``$DATABASE_URL`` on the copy, the ``curl``
lines against a real ``billing serve`` on that copy (a free port instead of 8000) with the demo
token as ``$TOKEN``. The block must exit 0 and its output must contain each ``<!-- expect: ...
-->`` the text states (``\\n`` in it: a new line). Admin-UI click-steps are not commands and
are not run; where a block
needs what a click-step made (the legal walkthrough's publication), the test does it with the
command line equivalent (``billing terms publish``) and says so. Every block is run: a new
block without its marker fails :func:`test_every_command_block_is_marked`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from billing.serve import load_demo

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "walkthroughs.md", ROOT / "README.md"]
MARK = re.compile(
    r"<!-- walkthrough: ([a-z0-9-]+) -->\n((?:<!-- expect: [^\n]* -->\n)*)```sh\n(.*?)```", re.S
)
EXPECT = re.compile(r"<!-- expect: ([^\n]*) -->")
DEMO_DAY = "2026-12-07T09:00:00+01:00"  # the morning `make run` first served the demo
PASSWORD = "Demo-Passw0rd26"  # 15 characters and a newline: see _run


def blocks() -> dict[str, tuple[str, list[str]]]:
    """Every marked block: name -> (commands, expected texts)."""
    found = {}
    for doc in DOCS:
        for match in MARK.finditer(doc.read_text(encoding="utf-8")):
            expected = [e.replace("\\n", "\n") for e in EXPECT.findall(match.group(2))]
            found[match.group(1)] = (match.group(3), expected)
    return found


def test_every_command_block_is_marked():
    """A sh block of the walkthroughs without a marker would not be run, so none may exist
    (README's quick start, `make run` itself, and blocks of settings excepted)."""
    text = (ROOT / "docs" / "walkthroughs.md").read_text(encoding="utf-8")
    unmarked = [
        block
        for block in re.findall(r"(?<!-->\n)```sh\n(.*?)```", text, re.S)
        if ".venv/bin/" in block or "curl " in block
    ]
    assert unmarked == [], unmarked


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """The demo database `make run` loads (once), and its token, after the scheduler's first
    pass on the demo's day (DEMO_DAY): what `make run` shows on 7 December 2026. On a later day
    the scheduler has done more by the time one reads the walkthroughs (docs/walkthroughs.md,
    "The demo"); the test pins the day so that the walkthroughs' outcomes stay what they say."""
    folder = tmp_path_factory.mktemp("walkthrough-demo")
    database = folder / "demo.sqlite"
    secret = load_demo(f"sqlite:///{database}")
    assert secret
    caught_up = subprocess.run(
        [str(ROOT / ".venv/bin/billing"), "jobs", "run-due", "--until", DEMO_DAY],
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "BILLING_EXPORT_DIR": str(folder / "exports"),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
    return database, secret


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(url: str, port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as written:
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/billing"),
                "serve",
                "--db",
                url,
                "--port",
                str(port),
                "--workers",
                "1",
                "--no-demo",
                "--no-webhooks",
                # the scheduler's pass of the demo's day ran in the fixture; the wall clock of
                # the test's day must not add what fell due since
                "--no-scheduler",
            ],
            stdout=written,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.kill()
    raise AssertionError(f"billing serve did not start:\n{log.read_text()}")


def _run(folder: Path, script: str, env: dict) -> subprocess.CompletedProcess:
    """The block under bash. Standard input is a file of password lines ("piped in, the first
    line of stdin is the password", for each command that asks): lines of 16 bytes, so that
    each command's buffered read ends on a line and the next command reads a whole one."""
    lines = folder / "passwords.txt"
    lines.write_text(f"{PASSWORD}\n" * 4096)
    with lines.open("rb") as stdin:
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=folder,
            env=env,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=180,
        )


def _setup_publication(folder: Path, env: dict) -> str:
    """The legal walkthrough's click-steps 1-4 on the command line: legal's draft of the
    demo (12.00 EUR) published six weeks ahead (AGB 8.1); its effective date."""
    # the platform's today is Berlin's (publishing after 23:00 UTC notifies on the next day)
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    effective = max(date(2027, 1, 18), today + timedelta(weeks=6, days=1))
    script = f"""
        .venv/bin/billing user create legal@example.com --role legal
        .venv/bin/billing terms export --out exports
        sed -i 's/^  - effective_from: 2027-01-19$/  - effective_from: {effective}/' \\
            exports/rules/agb/4.2.3-returned-direct-debit.yaml
        .venv/bin/billing terms publish exports/rules/agb/4.2.3-returned-direct-debit.yaml \\
            --effective {effective} --reason 'Die Bank erhöht ihre Entgelte.' \\
            --ground supplier_price_increase --as legal@example.com
    """
    done = _run(folder, script, env)
    assert done.returncode == 0, done.stdout + done.stderr
    return effective.isoformat()


@pytest.mark.parametrize("name", sorted(blocks()))
def test_walkthrough_block_runs_on_the_demo_as_written(name, demo, tmp_path):
    commands, expected = blocks()[name]
    if "https://billing.example.com" in commands and not _resolves("billing.example.com"):
        pytest.skip("webhooks add checks that the URL's host resolves: no DNS here")
    database, secret = demo
    shutil.copy(database, tmp_path / "demo.sqlite")
    for shared in ("audit.key",):  # the audit key made beside the database, if any
        if (database.parent / shared).exists():
            shutil.copy(database.parent / shared, tmp_path / shared)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    env = {**os.environ, "DATABASE_URL": url, "TOKEN": secret}
    env.pop("BILLING_SIGNING_P12", None)
    if name == "legal-quote":
        env["EFFECTIVE"] = _setup_publication(tmp_path, env)
    port = _free_port()
    script = commands.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
    server = _serve(url, port, tmp_path / "serve.log")
    try:
        done = _run(tmp_path, script, env)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    output = done.stdout + done.stderr
    (tmp_path / "output.txt").write_text(output)
    assert done.returncode == 0, f"{name} failed:\n{output[-4000:]}"
    for text in expected:
        assert text in output, f"{name}: {text!r} not in the output:\n{output[-4000:]}"
