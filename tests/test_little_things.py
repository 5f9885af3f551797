"""Issue 29, the little things people hit: a German decimal comma in the draft form, errors in
words, ``billing terms show 4.2.3``, shell completion of clause names, the draft page's order,
and labels instead of raw identifiers. Flask's test client for the admin UI, the command line
for the rest."""

from __future__ import annotations

import html
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from admin_ui.display import label
from admin_ui.forms import apply_form, decimal_point, plain_words, submitted_unchanged
from billing.cli.main import main
from billing.cli.terms import ClauseNotFound, clause_names, complete_clause, find_clause
from engine.catalog import PROJECT_ROOT
from tests.test_admin import FEE_FILE, csrf, fee_draft, new_draft, save
from tests.test_admin_forms import _fields, _file, admin_app, legal, save_form  # noqa: F401
from tests.test_impact import month  # noqa: F401  (a month with returned debits and calls)

EVENT_AMOUNT = (  # what the event schema says of "20,50" (jsonschema's words, with the regex)
    "'20,50' does not match '^(0\\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,9}(\\.[0-9]{1,2})?)$' "
    '(A positive amount in EUR as a decimal string with at most two decimals, e.g. "9.80" '
    "(more than 0.00).)"
)
REGEX = re.compile(r"\^\(|\$'|\[0-9\]")  # what gives a regular expression away


# -- 1. a German decimal comma, and errors in words ----------------------------------------


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("12,50", "12.50"),
        ("0,0179", "0.0179"),
        ("-4,50", "-4.50"),
        ("12.50", "12.50"),
        ("1.234,50", "1.234,50"),  # ambiguous: left for the check to refuse in words
        ("1,234.50", "1,234.50"),
        ("1,2,3", "1,2,3"),
    ],
)
def test_a_lone_decimal_comma_is_read_as_the_catalogs_point(typed, read):
    assert decimal_point(typed) == read


def test_the_form_writes_12_comma_50_as_12_50_eur(catalog):
    text = fee_draft("2027-01-03", "9.80 EUR")
    form = submitted_unchanged(_fields(catalog, FEE_FILE, text).values())
    form["value:flat_fee"] = ["12,50"]
    assert apply_form(text, _file(catalog, FEE_FILE), form) == fee_draft("2027-01-03", "12.50 EUR")
    form["value:flat_fee"] = ["12,50 EUR"]
    assert apply_form(text, _file(catalog, FEE_FILE), form) == fee_draft("2027-01-03", "12.50 EUR")


def test_ambiguous_and_regex_messages_are_said_in_words():
    assert plain_words("flat_fee (money): expected money like '9.80 EUR', got '1.234,50 EUR'") == (
        "1.234,50 has both a point and a comma: write the amount without a thousands "
        "separator, with a point or a comma before the decimals, e.g. 1234.50"
    )
    words = plain_words(EVENT_AMOUNT)
    assert words.startswith("20,50 is not valid here: A positive amount in EUR")
    assert "(write 20.50: the catalog has a decimal point)" in words
    assert not REGEX.search(words)
    assert plain_words("'x y' does not match '^[a-z]+$'") == (
        "x y does not have the form this value needs"
    )
    assert not REGEX.search(plain_words("somewhere '^[a-z]+$' was quoted"))


def test_a_fee_typed_12_comma_50_in_the_draft_page_is_saved_as_12_50_eur(legal):  # noqa: F811
    draft_id = new_draft(legal, FEE_FILE)
    page = html.unescape(save_form(legal, draft_id, flat_fee="12,50").data.decode())
    assert 'flat_fee: "12.50 EUR"' in page
    assert "Draft saved." in page and 'id="error-count"' not in page
    refused = html.unescape(save_form(legal, draft_id, flat_fee="1.234,50").data.decode())
    assert 'id="error-count">1 error(s)' in refused
    assert "1.234,50 has both a point and a comma" in refused


def test_no_error_on_the_draft_page_shows_a_regular_expression(legal):  # noqa: F811
    draft_id = new_draft(legal, FEE_FILE)
    text = fee_draft("2027-01-03") + (
        "examples:\n"
        "  - name: a return written with a comma\n"
        "    account: {billing_method: autoprepay}\n"
        "    events:\n"
        '      - {at: 2027-03-10, type: direct_debit.returned, amount: "20,50"}\n'
        "    expect:\n"
        "      - {kind: charge, item: returned_debit_fee}\n"
    )
    page = html.unescape(save(legal, draft_id, text).data.decode())
    assert 'id="error-count">1 error(s)' in page
    checked = page[page.index('id="check"') :]
    (listed,) = re.findall(r'id="all-errors">\s*<li>(.*?) <small', checked, re.S)
    in_yaml = re.search(r'data-line="10">line 10, column \d+: (.*?) <small', checked).group(1)
    assert listed == in_yaml and "amount" in listed, listed
    assert "does not match" not in checked and not REGEX.search(checked.split('id="yaml"')[0])


# -- 2. billing terms show 4.2.3 -----------------------------------------------------------


def test_terms_show_finds_agb_4_2_3_by_its_bare_number(capsys):
    assert main(["terms", "show", "4.2.3", "--at", "2026-11-21"]) == 0
    assert capsys.readouterr().out.startswith("AGB 4.2.3: Returned direct debit")
    assert main(["terms", "history", "agb 4.2.3"]) == 0
    assert capsys.readouterr().out.startswith("AGB 4.2.3: Returned direct debit")
    assert main(["terms", "history", "§ 286"]) == 0
    assert capsys.readouterr().out.startswith("BGB § 286:")


def test_an_unknown_clause_says_did_you_mean_with_the_nearest_names(capsys):
    assert main(["terms", "show", "AGB 4.2.9", "--at", "2026-11-21"]) == 2
    assert capsys.readouterr().err == (
        "error: AGB 4.2.9 is not in the catalog; did you mean AGB 4.2.4, AGB 4.2.3 or AGB 4.2.2?\n"
    )
    assert main(["terms", "history", "4.2.9"]) == 2
    assert "did you mean AGB 4.2.4, AGB 4.2.3 or AGB 4.2.2?" in capsys.readouterr().err
    assert main(["terms", "history", "nonsense"]) == 2
    assert "billing terms list --at DATE lists every clause" in capsys.readouterr().err


def test_a_number_two_documents_have_lists_both():
    files = [SimpleNamespace(citation=c) for c in ("AGB 2.1", "CLINQ SD 2.1", "AGB 2.11")]
    catalog = SimpleNamespace(files=files, plans={})
    with pytest.raises(ClauseNotFound) as refused:
        find_clause(catalog, "2.1")
    assert str(refused.value) == (
        "2.1 is in more than one document: AGB 2.1 and CLINQ SD 2.1; name one, e.g. billing terms "
        'show "AGB 2.1"'
    )
    assert find_clause(catalog, "2.11") == "AGB 2.11"
    assert find_clause(catalog, "clinq sd  2.1") == "CLINQ SD 2.1"


# -- 3. completion -------------------------------------------------------------------------


def test_clause_names_are_read_cheaply_from_the_files_source_lines(catalog):
    names = clause_names(PROJECT_ROOT)
    assert set(names) == {f.citation for f in catalog.files} | set(catalog.plans)
    args = SimpleNamespace(catalog=None)
    assert complete_clause("AGB 4.2.", args) == ["AGB 4.2.1", "AGB 4.2.2", "AGB 4.2.3", "AGB 4.2.4"]
    assert complete_clause("4.2.", args) == ["4.2.1", "4.2.2", "4.2.3", "4.2.4"]
    assert complete_clause("clinq", args) == ["clinq-premium", "clinq"]
    assert "BGB § 286" in complete_clause("BGB", args)


def _complete(line: str) -> list[str]:
    """What ``.venv/bin/billing`` answers the shell for ``line`` (argcomplete's protocol)."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"completion-{os.getpid()}.txt"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    billing = Path(sys.executable).parent / "billing"
    done = subprocess.run(
        [str(billing)], env=env, capture_output=True, cwd=PROJECT_ROOT, timeout=60
    )
    try:
        assert done.returncode == 0, done.stderr
        return out.read_text().split("\x0b")
    finally:
        out.unlink(missing_ok=True)


def test_completion_of_the_installed_command_names_clauses():
    assert _complete(".venv/bin/billing terms show 4.2.") == ["4.2.1", "4.2.2", "4.2.3", "4.2.4"]
    assert _complete('.venv/bin/billing terms history "AGB 4.2.') == [
        "AGB 4.2.1",
        "AGB 4.2.2",
        "AGB 4.2.3",
        "AGB 4.2.4",
    ]
    assert _complete(".venv/bin/billing terms s") == ["show "]


def test_bash_completes_the_path_invoked_command_with_the_line_docs_cli_md_gives():
    """The ``eval`` line of docs/cli.md in an interactive bash, then ``TAB TAB`` (a terminal)."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    docs = (PROJECT_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    (register,) = re.findall(r"^(eval .*register-python-argcomplete.*\)\")", docs, re.M)
    pid, terminal = pty.fork()
    if pid == 0:  # the child: bash without the user's settings, in the project folder
        os.chdir(PROJECT_ROOT)
        os.execve(bash, [bash, "--norc", "--noprofile", "-i"], {**os.environ, "PS1": "$ "})
    try:
        _until(terminal, "$ ")
        os.write(terminal, register.encode() + b"\n")
        _until(terminal, "$ ")
        os.write(terminal, b".venv/bin/billing terms show 4.2.\t\t")
        shown = _until(terminal, "4.2.4")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(terminal)
    assert re.search(r"4\.2\.1\s+4\.2\.2\s+4\.2\.3\s+4\.2\.4", shown), shown


def _until(terminal: int, wanted: str, seconds: float = 60) -> str:
    """What the terminal shows until ``wanted`` appears (or the time is up)."""
    seen, deadline = "", time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 0.2)
        if ready:
            seen += os.read(terminal, 65536).decode(errors="replace")
    return seen


# -- 4. the draft page: Check, Impact and Publish first ------------------------------------


def test_the_draft_page_puts_check_impact_and_publish_above_the_form(legal):  # noqa: F811
    draft_id = new_draft(legal, FEE_FILE)
    page = save(legal, draft_id, fee_draft("2027-01-03")).data.decode()
    order = [page.index(f'id="{name}"') for name in ("check", "impact", "publish", "draft-form")]
    assert order == sorted(order), order
    assert page.index('id="yaml"') > page.index('id="publish"')


def test_examples_of_other_clauses_are_folded_away_and_this_files_are_shown(legal):  # noqa: F811
    draft_id = new_draft(legal, FEE_FILE)
    page = save(legal, draft_id, fee_draft("2027-01-03")).data.decode()
    examples = page[page.index('id="draft-examples"') :]
    folded = re.search(r'<details id="other-examples">\s*<summary>(.*?)</summary>', examples, re.S)
    assert folded, "examples of other clauses sit in a closed <details>"
    assert '<details id="other-examples" open' not in examples
    assert re.match(r"\d+ example\(s\) of other clauses hold \(", folded.group(1))
    assert "AGB 4.2.3" not in folded.group(1)  # the draft's own are not folded away


# -- 5. labels instead of raw identifiers --------------------------------------------------


def test_identifiers_have_labels():
    assert label("supplier_price_increase") == "Price increase of an upstream supplier"
    assert label("call:de_premium_rate") == "Calls: Premium-rate numbers (0900)"
    assert label("returned_debit_fee") == "Returned debit fee (AGB 4.2.3)"
    assert label("base_fee@clinq-premium@2026-11-11@2026-11-30") == (
        "Base fee (CLINQ Premium, 2026-11-11 to 2026-11-30)"
    )
    assert label("bank_transfer") == "bank transfer"  # unknown: readable all the same
    assert label("AGB 4.2.3") == "AGB 4.2.3"


def test_the_draft_page_names_grounds_and_parameters_by_their_labels(legal):  # noqa: F811
    draft_id = new_draft(legal, FEE_FILE)
    page = save(legal, draft_id, fee_draft("2027-01-03")).data.decode()
    assert '<option value="supplier_price_increase" >Price increase of an upstream supplier<' in (
        page
    )
    assert '<td title="flat_fee">Flat fee for a returned direct debit</td>' in page
    assert ">supplier_price_increase<" not in page and "<td>flat_fee</td>" not in page


def test_the_impact_names_items_by_their_labels(month):  # noqa: F811
    from billing.wsgi import create_app
    from engine.access.people import create_person
    from tests.test_admin import NOW, PASSWORD, login

    app = create_app(engine=month)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with month.store.db.begin() as connection:
        create_person(connection, "legal29@example.com", "legal", PASSWORD)
    client = app.test_client()
    login(client, "legal29@example.com")
    draft_id = new_draft(client, FEE_FILE)
    save(client, draft_id, fee_draft("2027-01-01"))
    page = client.get(f"/admin/drafts/{draft_id}/impact?from=2026-11-01&to=2026-11-30")
    shown = page.data.decode()
    assert csrf(page.data)
    assert 'data-item="returned_debit_fee"><td>Returned debit fee (AGB 4.2.3)</td>' in shown
    assert ">Calls: Outside the EU<" in shown
    assert ">returned_debit_fee<" not in shown and ">call:world<" not in shown
