"""A replay archives the documents it issues in a process beside it (billing/replay_documents.py).

GoBD: an issued invoice is archived as issued, with its audit entry and its customer e-mail,
whether it was issued by the API, the scheduler or a replayed month. A replay hands each
commit's documents to a second process and ends when that process has archived them all; if
the process cannot, the replay's summary names how many are left for
``billing documents archive``.
"""

from __future__ import annotations

import io

import orjson
from sqlalchemy import text

from billing import replay_documents
from billing.demo import month_of_events
from billing.replay import replay
from billing.replay_documents import DocumentsBeside
from engine.engine import Engine


def _month(accounts: int = 40, calls: int = 2000) -> str:
    events = month_of_events("2026-11", accounts, calls, seed=1)
    return "".join(orjson.dumps(event).decode() + "\n" for event in events)


def _issued_and_archived(engine: Engine) -> tuple[set, set, int]:
    with engine.store.unit(commit=False) as unit:
        connection = unit.connection
        issued = {r[0] for r in connection.execute(text("SELECT number FROM invoices"))}
        archived = {
            r[0]
            for r in connection.execute(
                text("SELECT DISTINCT number FROM document_archive WHERE kind = 'invoice'")
            )
        }
        mails = connection.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    return issued, archived, mails


def test_clinq_sd_1_3_invoices_a_replayed_month_issues_are_archived_when_it_ends(tmp_path):
    engine = Engine(f"sqlite:///{tmp_path / 'replay.sqlite'}")
    try:
        out = io.StringIO()
        summary = replay(engine, io.StringIO(_month()), out, batch_size=500)
        issued, archived, mails = _issued_and_archived(engine)
    finally:
        engine.close()
    assert summary.invalid == summary.conflict == 0
    assert issued, "the month issues invoices (CLINQ SD 1.3) for the test to mean anything"
    assert archived == issued
    assert mails == len(issued)  # each queued once, with its archived bytes (docs/mail.md)
    assert summary.unarchived == 0
    assert "not archived" not in summary.describe()
    assert engine.archive == engine._archive_here  # the engine archives inline again afterwards


def test_documents_the_archiving_process_cannot_archive_are_counted_for_billing_documents_archive(
    tmp_path,
):
    engine = Engine(f"sqlite:///{tmp_path / 'replay.sqlite'}")
    try:
        # the process beside opens a database that cannot exist: it fails to start
        engine.store.url = "sqlite:////dev/null/cannot/be/a/folder.sqlite"
        summary = replay(engine, io.StringIO(_month()), io.StringIO(), batch_size=500)
        issued, archived, _ = _issued_and_archived(engine)
    finally:
        engine.close()
    assert issued and not archived
    assert summary.unarchived == len(issued)
    assert (
        f"{len(issued)} issued documents not archived (billing documents archive)"
        in summary.describe()
    )


def test_an_engine_without_archiving_starts_no_process(tmp_path):
    engine = Engine(f"sqlite:///{tmp_path / 'replay.sqlite'}", archive_documents=False)
    try:
        summary = replay(engine, io.StringIO(_month(10, 300)), io.StringIO())
        issued, archived, _ = _issued_and_archived(engine)
    finally:
        engine.close()
    assert issued and not archived  # issued, and nothing archived: no process was started
    assert summary.unarchived == 0


def test_documents_left_when_the_replay_ends_are_shared_with_a_second_process(
    tmp_path, monkeypatch
):
    """The tasks the archiving process has not started when the replay has applied its last
    line are split with a second process; each document is archived and mailed once."""
    url = f"sqlite:///{tmp_path / 'replay.sqlite'}"
    issuing = Engine(url, archive_documents=False)  # issues the month's invoices, archives none
    try:
        replay(issuing, io.StringIO(_month()), io.StringIO(), batch_size=500)
    finally:
        issuing.close()
    monkeypatch.setattr(replay_documents, "TASK", 1)
    monkeypatch.setattr(replay_documents, "SECOND_PROCESS_FROM", 2)
    engine = Engine(url)
    try:
        issued, archived, _ = _issued_and_archived(engine)
        assert len(issued) >= 4 and not archived
        with DocumentsBeside(engine) as documents:
            # handed at once: the process needs a second to start, so all are waiting yet
            engine.archive(sorted(issued), [])
        issued, archived, mails = _issued_and_archived(engine)
        with engine.store.unit(commit=False) as unit:
            entries = unit.connection.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'document_archived'")
            ).scalar_one()
    finally:
        engine.close()
    assert documents.handed == len(issued)
    assert 0 < documents.shared < len(issued)
    assert not documents.failed
    assert archived == issued
    assert mails == entries == len(issued)  # each archived and mailed once
