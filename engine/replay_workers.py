"""``billing replay --workers N``: one events file applied by N processes on one PostgreSQL.

Results are the same as a single-worker replay (:func:`engine.replay.replay`), line for line:

* **Accounts are partitioned by a stable hash** (BLAKE2b of the account id, never Python's
  salted ``hash()``): every event of an account goes to one worker, in file order.
* **What is global is applied in order.** Invoice numbers are gapless per year (AGB 4.3.1,
  § 14 UStG; a counter locked ``FOR UPDATE``), and so are credit-note numbers; a SEPA mandate
  reference is unique per creditor; publications and outages concern every account. Drawing
  those in parallel would number invoices in the order the workers happen to reach them. So
  the file is cut into *rounds*: a run of events of :data:`ORDERED_TYPES` (``clock``, which
  issues the monthly invoices, objections and refunds, which issue credit notes, granted
  mandates, term notices, outages) is one *ordered* round, applied by one worker in file order;
  the events between such runs form *parallel* rounds, split by account. A round ends before
  the first event of the next kind, after ``round_size`` events, or before an event id already
  used in this round by another worker's account (so a reused id is a ``duplicate`` or
  ``conflict`` exactly where a single worker would find it). Rounds run one after another, so
  every account still sees its events in file order and every number is drawn in file order.
* **A guard makes a mistake loud, not silent:** during a parallel round a worker refuses any
  SQL statement on the global counters (invoice and credit-note numbers, mandate references);
  an event type that draws one and is not in :data:`ORDERED_TYPES` stops the replay with
  :class:`OrderedStateTouched` (its round is rolled back) instead of numbering out of order.

SQLite has one writer, so more than one worker is refused there (:class:`WorkersNeedPostgres`).
Output: one JSON result per line, in the file's order, exactly as the single-worker replay.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import multiprocessing
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from engine.replay import ReplaySummary

# Event types that draw or read state shared by all accounts (see the module docstring).
ORDERED_TYPES: frozenset[str] = frozenset(
    {
        "clock",  # monthly invoices and their gapless numbers (AGB 4.3.1, § 14 UStG)
        "objection.received",  # credit notes and their numbers (AGB 4.5.4)
        "withdrawal.received",  # refund credit note (AGB 9.3)
        "refund.requested",  # refund credit note (AGB 1.4.1)
        "mandate.granted",  # mandate reference unique per creditor (AGB 4.2.1)
        "terms.notified",  # publications are global (AGB 8)
        "outage",  # an interruption of the service as a whole (CLINQ SD 2.3)
    }
)
# Tables a parallel round must not touch: the global numbering and uniqueness.
GUARDED_TABLES = ("invoice_counters", "credit_note_counters", "sepa_mandate_references")


class WorkersNeedPostgres(ValueError):
    """More than one worker on SQLite, which has a single writer."""


class OrderedStateTouched(RuntimeError):
    """A parallel round drew a global number: its event type belongs in ORDERED_TYPES."""


class ReplayWorkerFailed(RuntimeError):
    """A worker process failed; the message carries its traceback."""


def partition_of(account: str, workers: int) -> int:
    """The worker that owns ``account``: stable across processes, runs and machines."""
    digest = hashlib.blake2b(account.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % workers


def check_database(database_url: str, workers: int) -> None:
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    if workers > 1 and database_url.startswith("sqlite"):
        raise WorkersNeedPostgres(
            "--workers needs PostgreSQL: SQLite has a single writer, so more workers would only "
            "wait for each other; use --db postgresql+psycopg://... or --workers 1"
        )


# -- the coordinator --------------------------------------------------------------------------


@dataclass
class _Round:
    ordered: bool = False
    lines: list[tuple[int, str, int]] = field(default_factory=list)  # number, line, partition
    ids: dict[str, int] = field(default_factory=dict)  # event id -> partition in this round


def replay_parallel(
    database_url: str,
    source: IO[str],
    out: IO[str],
    *,
    workers: int,
    batch_size: int = 2000,
    round_size: int | None = None,
    ordered_types: Iterable[str] = ORDERED_TYPES,
) -> ReplaySummary:
    """Apply ``source`` with ``workers`` processes; one JSON result per line to ``out``."""
    check_database(database_url, workers)
    ordered = frozenset(ordered_types)
    round_size = round_size or max(batch_size * workers * 5, 1)
    summary = ReplaySummary()
    pool = _Pool(database_url, workers, batch_size)
    started = time.monotonic()  # like replay(), whose engine exists before it starts
    try:
        current = _Round()
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            summary.lines += 1
            kind, account, event_id = _peek(line)
            is_ordered = kind in ordered
            partition = 0 if is_ordered or account is None else partition_of(account, workers)
            if current.lines and (
                is_ordered != current.ordered
                or len(current.lines) >= round_size
                or (
                    not is_ordered
                    and event_id is not None
                    and current.ids.get(event_id, partition) != partition
                )
            ):
                _run_round(pool, current, out, summary)
                current = _Round()
            current.ordered = is_ordered
            current.lines.append((number, line, partition))
            if event_id is not None:
                current.ids.setdefault(event_id, partition)
        if current.lines:
            _run_round(pool, current, out, summary)
    finally:
        pool.close()
    summary.seconds = time.monotonic() - started
    return summary


def _peek(line: str) -> tuple[Any, str | None, str | None]:
    """Type, account and id of a line, as far as it is an object; full checks are the worker's."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, None, None
    if not isinstance(document, dict):
        return None, None, None
    account, event_id = document.get("account"), document.get("id")
    kind = document.get("type")
    return (
        kind if isinstance(kind, str) else None,
        account if isinstance(account, str) else None,
        event_id if isinstance(event_id, str) else None,
    )


def _run_round(pool: _Pool, current: _Round, out: IO[str], summary: ReplaySummary) -> None:
    shares: list[list[tuple[int, str]]] = [[] for _ in range(pool.size)]
    for number, line, partition in current.lines:
        shares[partition].append((number, line))
    answers = pool.apply(shares, guarded=not current.ordered)
    for _, status, text in heapq.merge(*answers):
        setattr(summary, status, getattr(summary, status) + 1)
        out.write(text + "\n")


class _Pool:
    """Worker processes, started with ``spawn`` (durable-rules' host does not survive fork)."""

    def __init__(self, database_url: str, size: int, batch_size: int):
        context = multiprocessing.get_context("spawn")
        self.size = size
        self.pipes = []
        self.processes = []
        for _ in range(size):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_worker_main, args=(theirs, database_url, batch_size), daemon=True
            )
            process.start()
            theirs.close()
            self.pipes.append(mine)
            self.processes.append(process)
        try:
            for pipe in self.pipes:  # each worker has its engine (catalog, rules) ready
                kind, payload = pipe.recv()
                if kind != "ready":
                    raise ReplayWorkerFailed(payload)
        except BaseException:
            self.close()
            raise

    def apply(self, shares: list[list[tuple[int, str]]], *, guarded: bool) -> list[list]:
        busy = [index for index, share in enumerate(shares) if share]
        for index in busy:
            self.pipes[index].send(("apply", guarded, shares[index]))
        answers, failures = [], []
        for index in busy:
            kind, payload = self.pipes[index].recv()
            if kind == "ok":
                answers.append(payload)
            else:
                failures.append((kind, payload))
        for kind, payload in failures:
            if kind == "guard":
                raise OrderedStateTouched(payload)
            raise ReplayWorkerFailed(payload)
        return answers

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(BrokenPipeError, OSError):
                pipe.send(("stop", False, []))
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


# -- a worker ---------------------------------------------------------------------------------


def _worker_main(pipe, database_url: str, batch_size: int) -> None:
    from sqlalchemy import event as sa_event

    from engine.engine import Engine

    try:
        engine = Engine(database_url)
    except Exception:
        pipe.send(("error", traceback.format_exc()))
        return
    pipe.send(("ready", None))
    guard = {"on": False}

    @sa_event.listens_for(engine.store.db, "before_cursor_execute")
    def _refuse_global(_conn, _cursor, statement, _params, _context, _many) -> None:
        if guard["on"]:
            touched = next((t for t in GUARDED_TABLES if t in statement), None)
            if touched is not None:
                raise OrderedStateTouched(
                    f"an event applied in a parallel round touched {touched}, which is global; "
                    "its type must be applied in order (engine/replay_workers.py ORDERED_TYPES)"
                )

    try:
        while True:
            command, guarded, lines = pipe.recv()
            if command == "stop":
                return
            guard["on"] = guarded
            try:
                pipe.send(("ok", apply_lines(engine, lines, batch_size)))
            except OrderedStateTouched as exc:
                pipe.send(("guard", str(exc)))
            except Exception:
                pipe.send(("error", traceback.format_exc()))
    finally:
        engine.close()


def _invalid(line: int, field: str, message: str) -> dict:
    """The result of a line that is not a valid event, as ``engine.replay`` writes it."""
    return {"line": line, "status": "invalid", "error": {"field": field, "message": message}}


def apply_lines(engine, lines: list[tuple[int, str]], batch_size: int) -> list[tuple]:
    """``(number, status, result JSON)`` of each line, applied in order as ``replay`` does."""
    from engine.events import EventInvalid, loads_json, parse_event

    answers: list[tuple[int, str, str]] = []
    slots: list[tuple[int, dict | None]] = []
    batch: list = []

    def flush() -> None:
        results = iter(engine.handle_events(batch) if batch else ())
        for number, slot in slots:
            result = next(results) if slot is None else slot
            answers.append((number, result["status"], orjson.dumps(result).decode()))
        batch.clear()
        slots.clear()

    for number, line in lines:
        try:
            event = parse_event(loads_json(line))
        except orjson.JSONDecodeError as exc:
            slots.append((number, _invalid(number, "", f"not JSON: {exc.msg}")))
            continue
        except EventInvalid as exc:
            slots.append((number, _invalid(number, exc.field, exc.message)))
            continue
        slots.append((number, None))
        batch.append(event)
        if len(batch) >= batch_size:
            flush()
    flush()
    return answers
