"""``billing replay --workers N``: one events file applied by N processes on one PostgreSQL.

Results are the same as a single-worker replay (:func:`billing.replay.replay`), line for line:

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
  the first event of the next kind, after ``round_size`` events, or before an event id that a
  round not yet committed gave to another worker (so a reused id is a ``duplicate`` or
  ``conflict`` exactly where a single worker would find it). An ordered round starts after
  every earlier round has committed, and the next round after it; a round after an id reuse
  waits for all earlier ones too. Parallel rounds cut only for size are sent on without
  waiting (at most :data:`MAX_IN_FLIGHT`): each worker applies its shares in the order sent.
  So every account sees its events in file order and every number is drawn in file order.
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
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from billing.replay import SLICE, ReplaySummary

# Event types that draw or read state shared by all accounts (see the module docstring).
ORDERED_TYPES: frozenset[str] = frozenset(
    {
        "clock",  # monthly invoices and their gapless numbers (AGB 4.3.1, § 14 UStG)
        "objection.received",  # credit notes and their numbers (AGB 4.5.4)
        "withdrawal.received",  # refund credit note (AGB 9.3)
        "refund.requested",  # refund credit note (AGB 1.4.1)
        "mandate.granted",  # mandate reference unique per creditor (AGB 4.2.1)
        "terms.notified",  # publications are global (AGB 8)
        "notice.delivered",  # checked against the publication's outbox (AGB 8)
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
    barrier: bool = False  # must start after every earlier round committed
    lines: list[tuple[int, str, int]] = field(default_factory=list)  # number, line, partition
    ids: dict[str, int] = field(default_factory=dict)  # event id -> partition in this round
    busy: list[int] = field(default_factory=list)  # workers it was sent to


MAX_IN_FLIGHT = 3  # parallel rounds sent and not yet answered


class _Coordinator:
    """Sends rounds to the workers and writes their answers in file order.

    Parallel rounds cut only for size are sent without waiting (each worker applies its share
    in the order received); an ordered round, and a round holding an event id that an
    unanswered round gave to another worker, first wait for every earlier round.
    """

    def __init__(self, pool: _Pool, out: IO[str], summary: ReplaySummary):
        self.pool, self.out, self.summary = pool, out, summary
        self.in_flight: deque[_Round] = deque()

    def owner(self, event_id: str) -> int | None:
        """The worker an unanswered round gave this id to, if any."""
        for sent in self.in_flight:
            if event_id in sent.ids:
                return sent.ids[event_id]
        return None

    def submit(self, current: _Round) -> None:
        if current.ordered or current.barrier:
            self.drain()
        shares: list[list[tuple[int, str]]] = [[] for _ in range(self.pool.size)]
        for number, line, partition in current.lines:
            shares[partition].append((number, line))
        current.busy = self.pool.submit(shares, guarded=not current.ordered)
        self.in_flight.append(current)
        if current.ordered:
            self.drain()  # what follows may depend on the numbers it drew
        while len(self.in_flight) > MAX_IN_FLIGHT:
            self._collect_oldest()

    def drain(self) -> None:
        while self.in_flight:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        answered = self.in_flight.popleft()
        for _, status, text in heapq.merge(*self.pool.collect(answered.busy)):
            setattr(self.summary, status, getattr(self.summary, status) + 1)
            self.out.write(text + "\n")


def replay_parallel(
    database_url: str,
    source: IO[str],
    out: IO[str],
    *,
    workers: int,
    batch_size: int = SLICE,
    round_size: int | None = None,
    ordered_types: Iterable[str] = ORDERED_TYPES,
) -> ReplaySummary:
    """Apply ``source`` with ``workers`` processes; one JSON result per line to ``out``."""
    check_database(database_url, workers)
    ordered = frozenset(ordered_types)
    round_size = round_size or max(batch_size * workers, 1)
    summary = ReplaySummary()
    pool = _Pool(database_url, workers, batch_size)
    started = time.monotonic()  # like replay(), whose engine exists before it starts
    try:
        coordinator = _Coordinator(pool, out, summary)
        current = _Round()
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            summary.lines += 1
            kind, account, event_id = _peek(line)
            is_ordered = kind in ordered
            partition = 0 if is_ordered or account is None else partition_of(account, workers)
            reused = False
            if not is_ordered and event_id is not None:
                owner = current.ids.get(event_id)
                if owner is None:
                    owner = coordinator.owner(event_id)
                reused = owner is not None and owner != partition
            if current.lines and (
                is_ordered != current.ordered or len(current.lines) >= round_size or reused
            ):
                coordinator.submit(current)
                current = _Round()
            current.barrier = current.barrier or reused
            current.ordered = is_ordered
            current.lines.append((number, line, partition))
            if event_id is not None:
                current.ids.setdefault(event_id, partition)
        if current.lines:
            coordinator.submit(current)
        coordinator.drain()
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
        self.answers: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(size)]
        for index in range(size):
            threading.Thread(target=self._read, args=(index,), daemon=True).start()

    def _read(self, index: int) -> None:
        """A thread per worker: takes its answers off the pipe at once, so a worker never
        blocks sending while the coordinator is sending it the next round."""
        pipe, answers = self.pipes[index], self.answers[index]
        while True:
            try:
                answers.put(pipe.recv())
            except (EOFError, OSError):
                answers.put(("error", f"replay worker {index} exited"))
                return

    def submit(self, shares: list[list[tuple[int, str]]], *, guarded: bool) -> list[int]:
        busy = [index for index, share in enumerate(shares) if share]
        for index in busy:
            self.pipes[index].send(("apply", guarded, shares[index]))
        return busy

    def collect(self, busy: list[int]) -> list[list]:
        answers, failures = [], []
        for index in busy:
            kind, payload = self.answers[index].get()
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
                    "its type must be applied in order (billing/replay_workers.py ORDERED_TYPES)"
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
    """The result of a line that is not a valid event, as ``billing.replay`` writes it."""
    return {"line": line, "status": "invalid", "error": {"field": field, "message": message}}


def apply_lines(engine, lines: list[tuple[int, str]], batch_size: int) -> list[tuple]:
    """``(number, status, result JSON)`` of each line, applied in order as ``replay`` does."""
    from engine.collector import collector_paused
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

    rest = iter(lines)
    more = True
    while more:
        more = False
        # as billing/replay.py: a batch is read and applied with the collector paused
        with collector_paused(batch_size):
            for number, line in rest:
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
                    more = True
                    break
            flush()
    return answers
