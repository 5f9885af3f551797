"""The command line as a new user meets it: version, defaults, a busy port, progress, completion."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest

from billing.cli.main import main
from billing.serve import PortInUse, check_port
from engine.catalog import PROJECT_ROOT
from tests.sample_events import ACME_OPENED


def test_billing_version_prints_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"billing {version('clinq-billing')}"


def test_terms_show_without_at_shows_the_terms_in_force_today(capsys, tmp_path):
    # No --at: the version in force now (the returned-debit fee of AGB 4.2.3 is 9.80 EUR).
    assert main(["terms", "show", "AGB 4.2.3", "--db", f"sqlite:///{tmp_path / 'b.sqlite'}"]) == 0
    out = capsys.readouterr().out
    today = datetime.now(UTC).date()
    # the local date may be a day ahead of UTC shortly before midnight
    shown = re.search(r"in force on (\d{4}-\d{2}-\d{2})", out).group(1)
    assert (datetime.fromisoformat(shown).date() - today).days in (0, 1)
    assert "flat_fee" in out and "9.80 EUR" in out


def _listening_socket() -> socket.socket:
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    return busy


def test_a_busy_port_gives_a_one_line_hint_instead_of_a_retry_loop(capsys):
    with _listening_socket() as busy:
        port = busy.getsockname()[1]
        with pytest.raises(PortInUse) as refused:
            check_port("127.0.0.1", port)
        message = str(refused.value)
        assert message.startswith(f"port {port} is in use; try --port ")
        suggested = int(message.rsplit(" ", 1)[1])
        assert suggested > port
        check_port("127.0.0.1", suggested)  # the suggestion is free
        # billing serve stops at once with that line, before touching any database
        assert main(["serve", "--port", str(port), "--db", "sqlite:///nowhere/x.sqlite"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"billing: {message}"
    assert "\n" not in err


def test_a_free_port_passes_the_check():
    with _listening_socket() as busy:
        port = busy.getsockname()[1]
    check_port("127.0.0.1", port)  # closed again: free


def test_replay_ends_with_a_summary_of_applied_rejected_and_duplicate_events_and_the_time(
    tmp_path, capsys
):
    # three lines: an account opened, the same event again (a duplicate), a line that is not JSON
    events = tmp_path / "month.jsonl"
    events.write_text("\n".join([json.dumps(ACME_OPENED)] * 2 + ["{not json"]) + "\n")
    db = f"sqlite:///{tmp_path / 'replay.sqlite'}"
    assert main(["replay", str(events), "--db", db]) == 1  # an invalid line
    captured = capsys.readouterr()
    statuses = [json.loads(line)["status"] for line in captured.out.splitlines()]
    assert statuses == ["applied", "duplicate", "invalid"]
    summary = captured.err.strip().splitlines()[-1]  # no progress bar: stderr is no terminal
    assert re.fullmatch(
        r"3 lines: 1 applied, 1 duplicate, 0 rejected, 1 invalid, 0 conflict in \d+\.\d s"
        r"(, [\d,]+ lines/s)?",
        summary,
    ), summary


def test_shell_completion_completes_subcommands(tmp_path):
    """argcomplete answers the shell (bash, zsh) through ``billing`` itself."""
    billing = shutil.which("billing", path=str(Path(sys.executable).parent))
    assert billing is not None
    answer = tmp_path / "completion.txt"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": "billing ter",
        "COMP_POINT": "11",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
    }
    subprocess.run([billing], env=env, check=True, timeout=60)
    assert answer.read_text().split() == ["terms"]


def test_the_files_the_walkthroughs_write_are_ignored_by_git():
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for written in ("month.json", "month.jsonl", "exports/rules/agb/x.yaml", "invoice.pdf"):
        checked = subprocess.run(
            ["git", "check-ignore", "-q", written], cwd=PROJECT_ROOT, check=False
        )
        assert checked.returncode == 0, f"{written} is not git-ignored"
