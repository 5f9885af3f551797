"""Hostile YAML hurts nobody: the catalog, the CLI and the admin UI refuse it with located errors.

And one history of the terms: a version published through engine/drafting/publishing.py is
what every reader shows, and exporting it into the files never counts it twice.
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.catalog import CatalogInvalid
from engine.catalog.loader import load_files
from engine.catalog.yaml_source import MAX_DEPTH, MAX_FILE_BYTES, read_yaml
from engine.contract.publications import publication_versions, terms_catalog
from engine.drafting.draft_checks import check_draft
from engine.drafting.publishing import publish
from engine.ledger.tables import drafts, metadata
from tests.conftest import edit
from tests.test_admin import FEE_FILE, csrf, fee_draft, login, new_draft
from tests.test_admin import admin as admin  # the fixture: an admin UI test client

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
LAUGHS = (
    'lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)
FEE_LINE = 'flat_fee: "9.80 EUR"'


def errors_of(root: Path) -> list[str]:
    return [str(error) for error in load_files(root).errors]


def append_to_fee_file(root: Path, text: str) -> None:
    path = root / FEE_FILE
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# -- the reader refuses before anything expands ------------------------------------------------


def test_a_billion_laughs_alias_bomb_is_refused_in_bounded_time_and_memory(catalog_copy):
    tracemalloc.start()
    started = time.perf_counter()
    document = read_yaml(LAUGHS, FEE_FILE)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1 and peak < 5_000_000, (elapsed, peak)
    assert document.data is None and document.refused
    assert str(document.errors[0]) == (
        f"{FEE_FILE}:1:6: anchor &a is refused: catalog files do not use anchors and aliases "
        "(they let a few lines expand into gigabytes); write the value out (at /lol)"
    )
    (catalog_copy / FEE_FILE).write_text(LAUGHS, encoding="utf-8")
    errors = errors_of(catalog_copy)
    assert errors[-1].startswith(f"{FEE_FILE}:") and "more errors in this file" in errors[-1]
    assert all(e.startswith(FEE_FILE) for e in errors)


def test_an_alias_of_an_ordinary_value_is_refused_too(catalog_copy):
    edit(catalog_copy / FEE_FILE, FEE_LINE, 'flat_fee: &fee "9.80 EUR"')
    append_to_fee_file(catalog_copy, "    note: *fee\n")
    assert errors_of(catalog_copy) == [
        f"{FEE_FILE}:27:17: anchor &fee is refused: catalog files do not use anchors and "
        "aliases (they let a few lines expand into gigabytes); write the value out "
        "(at /versions/0/values/flat_fee)",
        f"{FEE_FILE}:53:11: alias *fee is refused: catalog files do not use anchors and "
        "aliases (they let a few lines expand into gigabytes); write the value out "
        "(at /versions/0/note)",
    ]


def test_a_recursive_structure_cannot_be_written(catalog_copy):
    append_to_fee_file(catalog_copy, "loop: &loop [*loop]\n")
    errors = errors_of(catalog_copy)
    assert [e.split(": ", 1)[1].split(" is refused")[0] for e in errors] == [
        "anchor &loop",
        "alias *loop",
    ]


def test_a_merge_key_is_refused(catalog_copy):
    edit(catalog_copy / FEE_FILE, FEE_LINE, '<<: {flat_fee: "9.80 EUR"}')
    assert errors_of(catalog_copy) == [
        f"{FEE_FILE}:27:7: merge key << is refused: catalog files do not merge mappings; "
        "write the keys out (or quote '<<' if you mean the text) (at /versions/0/values)"
    ]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/name:os.system x", "!!python/name:os.system"),
        (
            "!!python/object:collections.OrderedDict {a: 1}",
            "!!python/object:collections.OrderedDict",
        ),
        ("!!python/object/apply:os.system [ls]", "!!python/object/apply:os.system"),
        ("!Ref other", "!Ref"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!timestamp 2009-07-03", "!!timestamp"),
    ],
)
def test_every_tag_outside_the_core_schema_is_refused(catalog_copy, value, tag):
    edit(catalog_copy / FEE_FILE, FEE_LINE, f"flat_fee: {value}")
    (error,) = errors_of(catalog_copy)
    assert error.startswith(f"{FEE_FILE}:27:17: tag {tag} is refused")
    assert error.endswith("(at /versions/0/values/flat_fee)")


def test_billing_validate_answers_a_python_tag_with_a_located_error_not_a_traceback(
    catalog_copy, capsys
):
    edit(catalog_copy / FEE_FILE, FEE_LINE, "flat_fee: !!python/name:os.system x")
    assert main(["validate", str(catalog_copy)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{FEE_FILE}:27:17: tag !!python/name:os.system is refused")
    assert "Traceback" not in out


def test_a_file_over_256_kib_is_refused_unread(catalog_copy):
    append_to_fee_file(catalog_copy, "# " + "x" * MAX_FILE_BYTES + "\n")
    size = (catalog_copy / FEE_FILE).stat().st_size
    assert errors_of(catalog_copy) == [
        f"{FEE_FILE}:1:1: the file has {size:,} bytes; a catalog file may have at most "
        "262,144 (256 KiB) (at /)"
    ]


def test_nesting_deeper_than_the_limit_is_refused(catalog_copy):
    depth = 1000
    append_to_fee_file(catalog_copy, "deep: " + "[" * depth + "]" * depth + "\n")
    (error,) = errors_of(catalog_copy)
    assert f"nested deeper than {MAX_DEPTH} levels of mappings and sequences" in error


def test_at_most_fifty_errors_of_one_file_are_listed_then_how_many_more(catalog_copy):
    extra = "".join(f"      undeclared_{i}: 1\n" for i in range(60))
    edit(catalog_copy / FEE_FILE, "      flat_fee:", extra + "      flat_fee:")
    errors = errors_of(catalog_copy)
    assert len(errors) == 51
    assert all("is not declared in /parameters" in e for e in errors[:50])
    assert errors[50].startswith(f"{FEE_FILE}:76:7: … and 10 more errors in this file")


def test_a_file_that_is_not_utf_8_is_a_located_error(catalog_copy):
    (catalog_copy / FEE_FILE).write_bytes(b"title: caf\xe9\n")
    assert errors_of(catalog_copy) == [f"{FEE_FILE}:1:1: not UTF-8 text (byte 10 of line 1) (at /)"]


# -- billing validate on folders that are not catalogs -----------------------------------------


def test_validate_a_folder_without_schemas_says_so_and_exits_1(tmp_path, capsys):
    (tmp_path / "rules").mkdir()
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("schemas:1:1: no schemas folder: a catalog folder holds schemas/")
    assert out[-1] == "FAILED: 1 errors in 0 files"


def test_validate_a_path_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'nowhere'} does not exist; give a catalog folder\n"
    )


def test_terms_show_on_a_missing_catalog_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["terms", "show", "AGB 4.2.3", "--at", "2026-11-21", "--catalog", str(tmp_path)])
    assert "no schemas folder" in capsys.readouterr().err


# -- every fault of a file at once -------------------------------------------------------------


def test_a_date_that_does_not_exist_no_longer_hides_an_undeclared_parameter(catalog_copy):
    edit(catalog_copy / FEE_FILE, "effective_from: 2009-07-03", "effective_from: 2009-02-30")
    edit(catalog_copy / FEE_FILE, FEE_LINE, FEE_LINE + "\n      surcharge: 1")
    assert errors_of(catalog_copy) == [
        f"{FEE_FILE}:25:21: '2009-02-30' is not a 'date' (at /versions/0/effective_from)",
        f"{FEE_FILE}:28:7: parameter 'surcharge' is not declared in /parameters "
        "(at /versions/0/values/surcharge)",
    ]


def test_an_unknown_key_no_longer_hides_a_malformed_amount(catalog_copy):
    edit(catalog_copy / FEE_FILE, "see_also:", "colour: red\nsee_also:")
    edit(catalog_copy / FEE_FILE, FEE_LINE, 'flat_fee: "9.8 EUR"')
    assert errors_of(catalog_copy) == [
        f"{FEE_FILE}:7:1: unknown key 'colour' (at /colour)",
        f"{FEE_FILE}:28:17: flat_fee (money): expected money like '9.80 EUR', got '9.8 EUR' "
        "(at /versions/0/values/flat_fee)",
    ]


# -- the admin UI ------------------------------------------------------------------------------


def store_draft(engine, text: str) -> int:
    with engine.store.db.begin() as connection:
        return connection.execute(
            insert(drafts).returning(drafts.c.id),
            [
                {
                    "file": FEE_FILE,
                    "author": "legal@example.com",
                    "text": text,
                    "status": "draft",
                    "updated_at": "2026-11-20T10:00:00+00:00",
                }
            ],
        ).scalar_one()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "effective_from: 2027-01-03\nvalues: [unclosed\n",
            "YAML syntax: expected &#39;,&#39; or &#39;]&#39;",
        ),
        (
            "effective_from: 2027-01-03\nvalues:\n  flat_fee: !!python/name:os.system x\n",
            "line 3, column 13: tag !!python/name:os.system is refused",
        ),
        (
            "effective_from: 2027-01-03\nvalues:\n"
            + LAUGHS.replace("\n", "\n  ").replace("lol:", "  lol:", 1),
            "anchor &amp;a is refused",
        ),
    ],
)
def test_a_stored_draft_that_cannot_parse_still_renders_with_its_errors(admin, engine, text, shown):
    draft_id = store_draft(engine, text)
    login(admin, "legal@example.com")
    started = time.perf_counter()
    page = admin.get(f"/admin/drafts/{draft_id}")
    assert page.status_code == 200
    assert time.perf_counter() - started < 10
    assert 'id="error-count"' in page.data.decode()
    assert shown in page.data.decode()


def test_a_draft_over_256_kib_is_not_stored(admin, engine):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    page = admin.get(f"/admin/drafts/{draft_id}").data
    text = fee_draft("2027-01-03") + "# " + "x" * (10 * 1024 * 1024) + "\n"
    response = admin.post(
        f"/admin/drafts/{draft_id}", data={"text": text, "csrf_token": csrf(page)}
    )
    assert response.status_code == 413
    assert "a draft may have at most 262,144 (256 KiB)" in response.data.decode()
    with engine.store.db.connect() as connection:
        stored = connection.execute(select(drafts.c.text).where(drafts.c.id == draft_id))
        assert len(stored.scalar_one()) < 1000


def database_digest(engine) -> str:
    digest = hashlib.sha256()
    with engine.store.db.connect() as connection:
        for table in metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            digest.update(f"{table.name}:{rows}".encode())
    return digest.hexdigest()


def hostile_line():
    name = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
    return st.one_of(
        name.map(lambda n: f"  extra: &{n} 1\n"),
        name.map(lambda n: f"  extra: *{n}\n"),
        st.just('  <<: {flat_fee: "12.00 EUR"}\n'),
        st.sampled_from(
            ["!!python/name:os.system", "!!python/object/apply:os.system", "!Ref", "!!binary"]
        ).map(lambda tag: f"  extra: {tag} x\n"),
        st.just("  extra: !!python/object:os.system {a: 1}\n"),
        st.integers(MAX_DEPTH + 1, 300).map(lambda d: "  extra: " + "[" * d + "]" * d + "\n"),
        st.just('  note: "' + "x" * MAX_FILE_BYTES + '"\n'),
    )


def test_a_refused_draft_is_not_saved_and_changes_nothing(admin, engine):
    login(admin, "legal@example.com")
    draft_id = new_draft(admin, FEE_FILE)
    token = csrf(admin.get(f"/admin/drafts/{draft_id}").data)
    before = database_digest(engine)

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(line=hostile_line(), at=st.integers(0, 5))
    def refused(line: str, at: int) -> None:
        lines = fee_draft("2027-01-03").splitlines(keepends=True)
        text = "".join([*lines[: at + 2], line, *lines[at + 2 :]])
        response = admin.post(f"/admin/drafts/{draft_id}", data={"text": text, "csrf_token": token})
        assert response.status_code in (400, 413)
        assert b"The draft was not saved" in response.data
        assert database_digest(engine) == before

    refused()


# -- one history of the terms ------------------------------------------------------------------


def publish_fee(engine, fee: str = "12.00 EUR", effective_from: str = "2027-01-03") -> int:
    """Publish a new returned-debit fee the way the admin UI does, through engine/publishing."""
    catalog = engine.catalog
    text = fee_draft(effective_from, fee)
    with engine.store.db.connect() as connection:
        check = check_draft(catalog.root, publication_versions(connection), FEE_FILE, text)
    assert check.errors == []
    with engine.store.db.begin() as connection:
        publication_id, _events = publish(
            connection,
            catalog,
            check.assessment,
            catalog.file("AGB 4.2.3"),
            text,
            notified_at=NOW,
            actor="legal@example.com",
            reason="Our bank raised its fees.",
            ground="supplier_price_increase",
        )
    return publication_id


def test_terms_show_and_history_show_a_publication_with_where_it_came_from(engine, capsys):
    publication = publish_fee(engine)
    db = ["--db", engine.store.url]
    assert main(["terms", "show", "AGB 4.2.3", "--at", "2027-01-03", *db]) == 0
    out = capsys.readouterr().out
    assert "  in force on 2027-01-03: version of 2027-01-03 (terms version 2027-01-03)" in out
    assert f"  published: publication {publication} by legal@example.com" in out
    assert "12.00 EUR" in out
    assert main(["terms", "show", "AGB 4.2.3", "--at", "2027-01-02", *db]) == 0
    assert "9.80 EUR" in capsys.readouterr().out
    assert main(["terms", "history", "AGB 4.2.3", *db]) == 0
    history = capsys.readouterr().out
    assert "  from 2009-07-03\n    flat_fee = 9.80 EUR\n" in history
    assert (
        f"  from 2027-01-03 (publication {publication} by legal@example.com)\n"
        "    flat_fee = 12.00 EUR\n"
    ) in history
    assert main(["terms", "list", "--at", "2027-01-03", *db]) == 0
    assert "AGB 4.2.3                  since 2027-01-03" in capsys.readouterr().out


def test_the_api_shows_a_publication_made_elsewhere(engine):
    client = create_app(engine=engine).test_client()
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'reader', 'reader')}"}
    publication = publish_fee(engine)
    history = client.get(f"/api/v1/terms/{quote('AGB 4.2.3')}", headers=headers).get_json()
    assert [(v["effective_from"], v["origin"]) for v in history["versions"]] == [
        ("2009-07-03", "file"),
        ("2027-01-03", f"publication {publication} by legal@example.com"),
    ]
    terms = client.get("/api/v1/terms?at=2027-01-03", headers=headers).get_json()
    (fee,) = [c for c in terms["clauses"] if c["clause"] == "AGB 4.2.3"]
    assert fee["parameters"]["flat_fee"] == "12.00"


def test_the_admin_ui_names_the_publication_of_a_version(admin, engine):
    publication = publish_fee(engine)
    login(admin, "viewer@example.com")
    page = admin.get(f"/admin/files/{FEE_FILE}").data.decode()
    assert f'<small class="origin">publication {publication} by legal@example.com</small>' in page


def test_export_writes_publications_into_the_files_and_a_reload_counts_them_once(
    engine, catalog_copy, capsys
):
    publication = publish_fee(engine)
    args = ["--db", engine.store.url, "--catalog", str(catalog_copy)]
    assert main(["terms", "export", "--in-place", *args]) == 0
    exported = (catalog_copy / FEE_FILE).read_text(encoding="utf-8")
    assert exported.count("effective_from: 2027-01-03") == 1
    assert f"  # publication {publication} by legal@example.com\n" in exported
    assert main(["terms", "export", "--in-place", *args]) == 0
    assert capsys.readouterr().out.endswith("nothing to export: the files hold every publication\n")
    with engine.store.db.connect() as connection:
        fee = terms_catalog(connection, catalog_copy).file("AGB 4.2.3")
    assert [(str(v.effective_from), v.origin) for v in fee.versions] == [
        ("2009-07-03", "file"),
        ("2027-01-03", f"publication {publication} by legal@example.com, exported to the file"),
    ]
    assert errors_of(catalog_copy) == [], "the files alone are a valid catalog too"


def test_a_file_that_differs_from_a_publication_of_the_same_date_is_an_error(
    engine, catalog_copy, capsys
):
    publication = publish_fee(engine)
    args = ["--db", engine.store.url, "--catalog", str(catalog_copy)]
    assert main(["terms", "export", "--in-place", *args]) == 0
    edit(catalog_copy / FEE_FILE, 'flat_fee: "12.00 EUR"', 'flat_fee: "13.00 EUR"')
    with engine.store.db.connect() as connection, pytest.raises(CatalogInvalid) as refused:
        terms_catalog(connection, catalog_copy)
    (error,) = refused.value.errors
    assert str(error).startswith(
        f"{FEE_FILE}:54:21: publication {publication} by legal@example.com published a "
        "different version of 2027-01-03"
    )
    capsys.readouterr()
    assert main(["terms", "history", "AGB 4.2.3", *args]) == 1
    assert "published a different version of 2027-01-03" in capsys.readouterr().err
