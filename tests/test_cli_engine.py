"""``billing replay`` and ``billing account show`` from the command line."""

from __future__ import annotations

import json

from billing.cli.main import main
from tests.sample_events import ACME_OPENED, ANNA_ADDED


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


CALL = {
    "id": "c1",
    "type": "call",
    "account": "acme",
    "at": "2026-11-03T10:00:00+01:00",
    "user": "anna",
    "to": "+4921112345678",
    "duration_s": 600,
}


def test_replay_prints_one_result_per_line_in_order_and_reports_bad_lines(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    write_lines(
        events,
        [
            json.dumps(ACME_OPENED),
            json.dumps(ANNA_ADDED),
            "{not json",
            json.dumps(dict(CALL, duration_s="10")),
            json.dumps(CALL),
            json.dumps(CALL),
        ],
    )
    db = f"sqlite:///{tmp_path / 'l.sqlite'}"
    assert main(["replay", str(events), "--db", db, "--batch", "2"]) == 1
    captured = capsys.readouterr()
    results = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["status"] for r in results] == [
        "applied",
        "applied",
        "invalid",
        "invalid",
        "applied",
        "duplicate",
    ]
    assert results[2] == {
        "line": 3,
        "status": "invalid",
        "error": {
            "field": "",
            "message": "not JSON: unexpected character, expected a string key",
        },
    }
    assert results[3]["error"]["field"] == "/duration_s"
    assert "6 lines: 3 applied, 1 duplicate, 0 rejected, 2 invalid" in captured.err


def test_replay_refuses_a_batch_of_no_lines_before_it_reads_anything(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    write_lines(events, [json.dumps(ACME_OPENED)])
    db = tmp_path / "l.sqlite"
    for batch in ("0", "-5", "many"):
        try:
            main(["replay", str(events), "--db", f"sqlite:///{db}", "--batch", batch])
        except SystemExit as exit_:
            assert exit_.code == 2
        else:
            raise AssertionError(f"--batch {batch} was taken")
        assert (
            f"argument --batch: a positive whole number, not '{batch}'" in capsys.readouterr().err
        )
    assert not db.exists()  # nothing was opened, let alone written


def test_account_show_prints_plan_balance_free_minutes_and_deadlines(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    write_lines(events, [json.dumps(ACME_OPENED), json.dumps(ANNA_ADDED), json.dumps(CALL)])
    db = f"sqlite:///{tmp_path / 'l.sqlite'}"
    assert main(["replay", str(events), "--db", db]) == 0
    capsys.readouterr()
    assert main(["account", "show", "acme", "--json", "--db", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["plan"] == "clinq"
    assert shown["balance"] == "0.00"
    assert shown["free_minutes_left"] == {"month": "2026-11", "minutes": 50, "seconds": 3000}
    assert shown["deadlines"][0]["kind"] == "recurring_fees"
    assert main(["account", "show", "acme", "--at", "2026-12-05", "--db", db]) == 0
    assert "free minutes    60 left in 2026-12" in capsys.readouterr().out
    assert main(["account", "show", "nobody", "--db", db]) == 2


def test_liability_caps_each_claim_and_the_total(tmp_path, capsys):
    claims = tmp_path / "claims.csv"
    claims.write_text("customer,claim\nacme,20000.00\nbeta,800.00\n")
    assert main(["liability", str(claims), "--at", "2026-11-21"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "customer,claim,paid",
        "acme,20000.00,12500.00",
        "beta,800.00,800.00",
    ]
    assert "total,20800.00,13300.00" in captured.err
    assert main(["liability", str(claims), "--at", "2026-11-21", "--intent"]) == 0
    assert "acme,20000.00,20000.00" in capsys.readouterr().out
    claims.write_text("acme,12.345\n")
    assert main(["liability", str(claims), "--at", "2026-11-21"]) == 1


def test_availability_reports_the_year_against_99_percent(tmp_path, capsys):
    events = tmp_path / "outages.jsonl"
    outage = {
        "id": "o1",
        "type": "outage",
        "account": "platform",
        "at": "2026-03-02T12:00:00Z",
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-03-02T12:00:00Z",
        "maintenance": False,
    }
    write_lines(events, [json.dumps(outage)])
    db = f"sqlite:///{tmp_path / 'l.sqlite'}"
    assert main(["replay", str(events), "--db", db]) == 0
    capsys.readouterr()
    assert main(["availability", "--year", "2026", "--db", db]) == 0
    assert capsys.readouterr().out == (
        "2026: availability 99.589 % (minimum 99.00 %, met); downtime 36.00 h, "
        "maintenance excluded 0.00 h (CLINQ SD 2.3)\n"
    )
