"""Archiving the documents a replay issues in a process beside it.

Rendering an invoice (Factur-X PDF, XRechnung, signature: about 50 ms) costs as much as a few
hundred calls, and a replayed month issues one for every account whose credit falls below
-10 EUR (CLINQ SD 1.3) and at every month's end. Archived inline, the replay waits for each;
here a second process renders and archives them (engine/documents/archive.py ``archive``,
the same function ``billing documents archive`` and the API use) while the replay applies the
next batch, on the machine's other core. The replay ends when the archive has caught up.

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
    process (started only when the first document is issued); leaving waits for it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._pool: ProcessPoolExecutor | None = None
        self._inline = engine.archive  # the engine's own way, back when the replay ends
        self._pending: list[tuple[Future, list[str]]] = []
        self.handed = 0  # documents handed to the process
        self.failed: dict[str, str] = {}

    def __enter__(self) -> DocumentsBeside:
        if self.engine.archive is not None:  # an engine that archives nothing stays so
            self.engine.archive = self.submit
        return self

    def submit(self, invoices: list[str], credit_notes: list[str]) -> None:
        if self._pool is None:
            # spawn: a fork would share the replay's open database connections
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.engine.store.url,),
            )
        named = [f"invoice {n}" for n in invoices] + [f"credit_note {n}" for n in credit_notes]
        self._pending.append((self._pool.submit(_archive, invoices, credit_notes), named))
        self.handed += len(invoices) + len(credit_notes)

    def __exit__(self, *exc_info) -> None:
        self.engine.archive = self._inline
        if self._pool is None:
            return
        try:
            for future, named in self._pending:
                try:
                    self.failed.update(future.result())
                except Exception as exc:  # the process failed: these stay unarchived
                    self.failed.update(dict.fromkeys(named, f"{type(exc).__name__}: {exc}"))
        finally:
            self._pool.shutdown(wait=True)
        for document, error in self.failed.items():
            log.error("%s not archived: %s (billing documents archive)", document, error)
