"""Events (CDRs and the rest) from Kafka topics, applied by the engine; offsets committed only
after the engine's transaction.

    python -m billing.kafka_consumer --bootstrap kafka1:9092 --topic cdrs --group billing \\
        --db postgresql+psycopg://billing@db/billing

Producers key each message by its account id, so Kafka's partitioner puts all events of an
account into one partition, in order; each partition is read by exactly one consumer of the
group, so every account's events are applied in order by one process (docs/scaling.md).

The core, :meth:`KafkaEventConsumer.poll_once`: take a batch of messages, apply its events
with one :meth:`Engine.handle_events` call (one transaction), and only then commit the batch's
offsets, synchronously. If the transaction fails, nothing is committed and the consumer seeks
back to the batch's first offsets, so the same messages come again. If the process dies after
the transaction but before the commit, the messages come again too, and the engine answers
``duplicate`` for event ids it has stored: each event takes effect once.

No instant from the future (Platform: clock): an event whose ``at`` lies beyond the tolerance
ahead of this process's wall clock, read once per batch at this edge, is invalid as the API
refuses it; it would fire months of deadlines at once.

A message that is not a valid event cannot become valid by waiting: it is handed to
``on_invalid`` (by default logged with its topic, partition, offset and the field at fault)
and its offset is committed with the batch, so one bad message never stalls a partition.

Tested with a fake consumer implementing confluent-kafka's ``consume``/``commit``/``seek``
(tests/test_kafka_consumer.py); no real broker has run against it here.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from engine.clock import horizon_at
from engine.events import Event, EventInvalid, loads_json, parse_event

log = logging.getLogger("billing.kafka")

# confluent-kafka settings the guarantees above rely on (librdkafka names).
CONSUMER_SETTINGS: dict[str, Any] = {
    "enable.auto.commit": False,  # offsets are committed after the transaction, by us
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",  # a new group starts at the first retained event
    "isolation.level": "read_committed",  # never events of an aborted producer transaction
    "partition.assignment.strategy": "cooperative-sticky",
}


class Message(Protocol):
    def error(self) -> Any: ...
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def value(self) -> bytes | None: ...


class Consumer(Protocol):
    """The methods of ``confluent_kafka.Consumer`` this module uses."""

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...
    def commit(self, *, offsets: list, asynchronous: bool = True) -> Any: ...
    def seek(self, partition: Any) -> None: ...


@dataclass
class BatchOutcome:
    """What one poll did: results of the applied events, invalid messages, committed offsets."""

    results: list[dict] = field(default_factory=list)
    invalid: list[tuple[Message, EventInvalid | orjson.JSONDecodeError]] = field(
        default_factory=list
    )
    committed: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset to read


def _topic_partition(topic: str, partition: int, offset: int):
    from confluent_kafka import TopicPartition

    return TopicPartition(topic, partition, offset)


def _log_invalid(message: Message, error: Exception) -> None:
    where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
    detail = getattr(error, "field", "") or ""
    log.error("invalid event at %s %s: %s", where, detail, getattr(error, "message", error))


class KafkaEventConsumer:
    """Applies batches of Kafka messages through the engine, committing after each."""

    def __init__(
        self,
        engine,
        consumer: Consumer,
        *,
        batch_size: int = 1000,
        timeout: float = 1.0,
        on_invalid: Callable[[Message, Exception], None] = _log_invalid,
        topic_partition: Callable[[str, int, int], Any] = _topic_partition,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.engine = engine
        self.consumer = consumer
        self.batch_size = batch_size
        self.timeout = timeout
        self.on_invalid = on_invalid
        self.topic_partition = topic_partition
        self.now = now

    def poll_once(self) -> BatchOutcome:
        """One batch: consume, apply in one transaction, then commit its offsets."""
        messages = [m for m in self.consumer.consume(self.batch_size, self.timeout) if m]
        outcome = BatchOutcome()
        events: list[Event] = []
        limit = horizon_at(self.engine.catalog, self.now())
        for message in messages:
            error = message.error()
            if error is not None:
                _raise_unless_harmless(error)
                continue
            try:
                event = parse_event(loads_json(message.value() or b""))
                refusal = limit.refusal(event.raw.get("at"), "at")
                if refusal is not None:
                    raise EventInvalid("/at", refusal)
                events.append(event)
            except (EventInvalid, orjson.JSONDecodeError) as exc:
                outcome.invalid.append((message, exc))
        offsets = _next_offsets(m for m in messages if m.error() is None)
        if not offsets:
            return outcome
        try:
            outcome.results = self.engine.handle_events(events) if events else []
        except BaseException:
            # Nothing committed: read the same messages again on the next poll.
            for (topic, partition), first in _first_offsets(messages).items():
                self.consumer.seek(self.topic_partition(topic, partition, first))
            raise
        for message, exc in outcome.invalid:
            self.on_invalid(message, exc)
        self.consumer.commit(
            offsets=[self.topic_partition(t, p, o) for (t, p), o in sorted(offsets.items())],
            asynchronous=False,
        )
        outcome.committed = offsets
        return outcome

    def run(self, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            self.poll_once()


def _next_offsets(messages) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for message in messages:
        key = (message.topic(), message.partition())
        offsets[key] = max(offsets.get(key, 0), message.offset() + 1)
    return offsets


def _first_offsets(messages: Sequence[Message]) -> dict[tuple[str, int], int]:
    first: dict[tuple[str, int], int] = {}
    for message in messages:
        if message.error() is None:
            key = (message.topic(), message.partition())
            first[key] = min(first.get(key, message.offset()), message.offset())
    return first


def _raise_unless_harmless(error) -> None:
    """The end of a partition is news, not an error; anything else stops the consumer."""
    from confluent_kafka import KafkaError, KafkaException

    if error.code() == KafkaError._PARTITION_EOF:
        return
    raise KafkaException(error)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply events from Kafka topics.")
    parser.add_argument("--bootstrap", required=True, help="bootstrap.servers")
    parser.add_argument("--topic", action="append", required=True, help="topic (repeatable)")
    parser.add_argument("--group", default="billing", help="consumer group id")
    parser.add_argument("--db", help="database URL (default: $DATABASE_URL)")
    parser.add_argument("--batch", type=int, default=1000, help="messages per transaction")
    args = parser.parse_args(argv)
    from confluent_kafka import Consumer as KafkaConsumer

    from engine.engine import Engine

    logging.basicConfig(level=logging.INFO)
    consumer = KafkaConsumer(
        {**CONSUMER_SETTINGS, "bootstrap.servers": args.bootstrap, "group.id": args.group}
    )
    consumer.subscribe(args.topic)
    engine = Engine(args.db)
    try:
        KafkaEventConsumer(engine, consumer, batch_size=args.batch).run()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
        engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
