"""Archiving the documents a replay issues in a process beside it.

Rendering an invoice (Factur-X PDF, XRechnung, signature: about 50 ms) costs as much as a few
hundred calls, and a replayed month issues one for every account whose credit falls below
-10 EUR (CLINQ SD 1.3) and at every month's end. Archived inline, the replay waits for each;
here a second process renders and archives them (engine/documents/archive.py ``archive``,
the same function ``billing documents archive`` and the API use) while the replay applies the
next batch, on the machine's other core. When the replay has applied its last line, the
documents the process has not started on yet are shared with a second process, on the core the
replay leaves free, and the replay ends when both have caught up.

Nothing changes in what is archived: the documents of a committed batch, rendered from the
stored invoice, written with their audit entry and their customer e-mail (docs/mail.md). If
the process fails, the documents stay unarchived and are named in the replay's summary;
``billing documents archive`` archives them, as after any crash between issuing and
archiving, and so does a document's first request.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

from engine.engine import Engine

log = logging.getLogger(__name__)

TASK = 50  # documents per task: about 2 s of rendering, a share the second process can take
SECOND_PROCESS_FROM = 4  # tasks not started when the replay ends; fewer are not worth its start

_worker: Engine | None = None  # the archiving process's own engine (its store and catalog)


def _start(database_url: str) -> None:
    global _worker
    _worker = Engine(database_url, archive_documents=False)


def _archive(invoices: list[str], credit_notes: list[str]) -> dict[str, str]:
    """Archive these documents in the worker; what could not be archived, with why."""
    from engine.documents.archive import archive

    assert _worker is not None
    with _worker.store.unit(commit=False) as unit:
        _worker.refresh_catalog(unit)  # a publication since the last batch signs as published
    report = archive(_worker.store, _worker.catalog, invoices=invoices, credit_notes=credit_notes)
    return {f"{kind} {number}": error for (kind, number), error in report.failed.items()}


class DocumentsBeside:
    """While in use, ``engine`` hands the documents each commit issues to one archiving
    process (started only when the first document is issued), in tasks of ``TASK``; leaving
    shares the tasks not started yet with a second process and waits for both."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._pool: ProcessPoolExecutor | None = None
        self._inline = engine.archive  # the engine's own way, back when the replay ends
        self._pending: list[_Task] = []
        self.handed = 0  # documents handed to the process
        self.shared = 0  # of them, documents the second process took when the replay ended
        self.failed: dict[str, str] = {}

    def __enter__(self) -> DocumentsBeside:
        if self.engine.archive is not None:  # an engine that archives nothing stays so
            self.engine.archive = self.submit
        return self

    def submit(self, invoices: list[str], credit_notes: list[str]) -> None:
        if self._pool is None:
            self._pool = _one_process(self.engine.store.url)
        documents = [("invoice", n) for n in invoices] + [("credit_note", n) for n in credit_notes]
        for start in range(0, len(documents), TASK):
            self._pending.append(self._task(self._pool, documents[start : start + TASK]))
        self.handed += len(documents)

    @staticmethod
    def _task(pool: ProcessPoolExecutor, documents: list[tuple[str, str]]) -> _Task:
        invoices = [number for kind, number in documents if kind == "invoice"]
        notes = [number for kind, number in documents if kind == "credit_note"]
        try:
            future = pool.submit(_archive, invoices, notes)
        except Exception as exc:  # a process that failed takes nothing more: these stay unarchived
            future = Future()
            future.set_exception(exc)
        return _Task(future, documents)

    def __exit__(self, *exc_info) -> None:
        self.engine.archive = self._inline
        if self._pool is None:
            return
        pools = [self._pool]
        try:
            pools += self._share_with_a_second_process()
            for task in self._pending:
                try:
                    self.failed.update(task.future.result())
                except Exception as exc:  # the process failed: these stay unarchived
                    self.failed.update(dict.fromkeys(task.named, f"{type(exc).__name__}: {exc}"))
        finally:
            for pool in pools:
                pool.shutdown(wait=True)
        for document, error in self.failed.items():
            log.error("%s not archived: %s (billing documents archive)", document, error)

    def _share_with_a_second_process(self) -> list[ProcessPoolExecutor]:
        """The replay has ended: take back the tasks the process has not started, give the
        first half back to it and the second half to a second process."""
        assert self._pool is not None
        if sum(not task.future.running() and not task.future.done() for task in self._pending) < (
            SECOND_PROCESS_FROM
        ):
            return []
        waiting = [task for task in self._pending if task.future.cancel()]
        started = [task for task in self._pending if not task.future.cancelled()]
        second = _one_process(self.engine.store.url)
        half = len(waiting) // 2
        self.shared = sum(len(task.documents) for task in waiting[half:])
        self._pending = (
            started
            + [self._task(self._pool, task.documents) for task in waiting[:half]]
            + [self._task(second, task.documents) for task in waiting[half:]]
        )
        return [second]


class _Task:
    """Documents handed to an archiving process, and its answer to come."""

    def __init__(self, future: Future, documents: list[tuple[str, str]]):
        self.future = future
        self.documents = documents
        self.named = [f"{kind} {number}" for kind, number in documents]


def _one_process(database_url: str) -> ProcessPoolExecutor:
    # spawn: a fork would share the replay's open database connections
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(database_url,),
    )
