"""``billing terms`` shows the parameters in force at a date, with their sources."""

from __future__ import annotations

import json

from billing.cli.main import main


def test_terms_show_prints_a_clause_in_force(capsys):
    assert main(["terms", "show", "AGB 4.2.3", "--at", "2026-11-21"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [
        "AGB 4.2.3: Returned direct debit (Rücklastschrift)",
        "  file: rules/agb/4.2.3-returned-direct-debit.yaml",
        "  in force on 2026-11-21: version of 2009-07-03 (terms version 2026-01-01)",
    ]
    assert "  flat_fee                          9.80 EUR" in out


def test_terms_show_marks_sample_values_and_accepts_plan_ids(capsys):
    assert main(["terms", "show", "clinq-premium", "--at", "2026-11-21T10:00:00+01:00"]) == 0
    out = capsys.readouterr().out
    assert "monthly_price            29.90 EUR  [sample]" in out
    assert "local_numbers            10\n" in out


def test_terms_show_as_json_carries_amounts_as_strings(capsys):
    assert main(["terms", "show", "CLINQ SD 1.4", "--at", "2026-11-21", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["terms_version"] == "2026-01-01"
    assert document["parameters"]["notice_period"]["value"] == {"business_days": 1}
    assert document["parameters"]["valid_channels"]["value"] == ["email", "letter", "fax"]
    assert main(["terms", "show", "AGB 4.1.4", "--at", "2026-11-21", "--json"]) == 0
    fee = json.loads(capsys.readouterr().out)["parameters"]["handling_fee"]
    assert fee["value"] == "3.90"
    assert fee["disadvantage"] == "increase"
    assert fee["label_de"].startswith("Bearbeitungsgebühr")  # as customers' letters name it


def test_terms_show_before_a_clause_existed_is_an_error(capsys):
    assert main(["terms", "show", "CLINQ SD 1.4", "--at", "2019-05-01"]) == 2
    assert capsys.readouterr().err == (
        "error: CLINQ SD 1.4 (rules/clinq-sd/1.4-term-and-termination.yaml) is not part of "
        "terms version 2017-01-01: its first version starts 2020-01-01 (asked for 2019-05-01)\n"
    )


def test_terms_list_and_history(capsys):
    assert main(["terms", "list", "--at", "2026-11-21"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Terms in force on 2026-11-21: terms version 2026-01-01\n")
    assert "CLINQ SD 2.2" in out and "(3 sample values)" in out
    assert main(["terms", "history", "BGB § 247"]) == 0
    history = capsys.readouterr().out
    assert "  from 2013-01-01\n    rate = -0.13 %\n" in history
