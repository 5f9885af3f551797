"""Events from Kafka: offsets are committed only after the engine's transaction (docs/scaling.md).

The consumer is a fake implementing confluent-kafka's ``consume``, ``commit`` and ``seek`` over
lists of messages per partition; no broker runs here. The engine and its database are real.
"""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import text

from billing.kafka_consumer import KafkaEventConsumer


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes):
        self._topic, self._partition, self._offset, self._value = topic, partition, offset, value

    def error(self):
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value


class FakeConsumer:
    """Partitions as lists; a position per partition; commits recorded as Kafka keeps them."""

    def __init__(self, partitions: dict[int, list[dict | bytes]], committed=None):
        self.log = {
            p: [
                FakeMessage("cdrs", p, offset, v if isinstance(v, bytes) else orjson.dumps(v))
                for offset, v in enumerate(values)
            ]
            for p, values in partitions.items()
        }
        self.committed: dict[int, int] = dict(committed or {})
        self.position = dict(self.committed)
        self.commits = 0

    def consume(self, num_messages: int = 1, timeout: float = -1):
        batch = []
        for partition, messages in sorted(self.log.items()):
            start = self.position.get(partition, 0)
            taken = messages[start : start + num_messages - len(batch)]
            batch.extend(taken)
            self.position[partition] = start + len(taken)
        return batch

    def commit(self, *, offsets, asynchronous=True):
        assert asynchronous is False, "the commit must be synchronous"
        for tp in offsets:
            self.committed[tp.partition] = tp.offset
        self.commits += 1

    def seek(self, tp):
        self.position[tp.partition] = tp.offset


def opened(account: str) -> dict:
    return {
        "id": f"open-{account}",
        "type": "account.opened",
        "account": account,
        "at": "2026-11-02T09:00:00+01:00",
        "plan": "clinq",
        "customer_type": "business",
        "billing_method": "prepay",
        "country": "DE",
        "area_code": "0211",
    }


def topped_up(account: str, n: int, amount: str) -> dict:
    return {
        "id": f"topup-{account}-{n}",
        "type": "credit.topped_up",
        "account": account,
        "at": f"2026-11-{2 + n:02d}T10:00:00+01:00",
        "amount": amount,
    }


def balance(engine, account: str) -> str:
    return engine.account(account)["balance"]


def test_offsets_are_committed_after_the_transaction_one_account_per_partition(engine):
    # acme's events are keyed to partition 0, bravo's to partition 1: each in order
    consumer = FakeConsumer(
        {
            0: [opened("acme"), topped_up("acme", 1, "20.00"), topped_up("acme", 2, "30.00")],
            1: [opened("bravo"), topped_up("bravo", 1, "50.00")],
        }
    )
    outcome = KafkaEventConsumer(engine, consumer, batch_size=100).poll_once()
    assert [r["status"] for r in outcome.results] == ["applied"] * 5
    assert consumer.committed == {0: 3, 1: 2}  # the next offset to read, per partition
    assert balance(engine, "acme") == "50.00"  # 20.00 + 30.00
    assert balance(engine, "bravo") == "50.00"


def test_a_crash_between_transaction_and_commit_applies_nothing_twice(engine):
    events = {0: [opened("acme"), topped_up("acme", 1, "20.00")]}
    KafkaEventConsumer(engine, FakeConsumer(events)).poll_once()
    # the process died before committing: a new consumer starts from the last commit (none)
    again = KafkaEventConsumer(engine, FakeConsumer(events)).poll_once()
    assert [r["status"] for r in again.results] == ["duplicate", "duplicate"]
    assert balance(engine, "acme") == "20.00"  # not 40.00


def test_a_failed_transaction_commits_nothing_and_reads_the_batch_again(tmp_path, catalog, decider):
    from engine.engine import Engine

    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
    try:
        consumer = FakeConsumer({0: [opened("acme"), topped_up("acme", 1, "20.00")]})
        reader = KafkaEventConsumer(engine, consumer, batch_size=1)
        reader.poll_once()  # the account, committed at offset 1
        with engine.store.db.begin() as connection:  # the ledger table goes away: writes fail
            connection.execute(text("ALTER TABLE ledger_entries RENAME TO ledger_away"))
        with pytest.raises(Exception, match="ledger_entries"):
            reader.poll_once()
        assert consumer.committed == {0: 1} and consumer.position == {0: 1}  # sought back
        with engine.store.db.begin() as connection:
            connection.execute(text("ALTER TABLE ledger_away RENAME TO ledger_entries"))
        outcome = reader.poll_once()  # the same top-up again, now applied
        assert [r["status"] for r in outcome.results] == ["applied"]
        assert consumer.committed == {0: 2}
        assert balance(engine, "acme") == "20.00"
    finally:
        engine.close()


def test_an_invalid_message_is_reported_and_does_not_stall_its_partition(engine):
    bad = topped_up("acme", 1, "20.00")
    bad["amount"] = 20  # amounts are strings
    reported = []
    consumer = FakeConsumer({0: [opened("acme"), bad, b"{not json", topped_up("acme", 2, "5.00")]})
    reader = KafkaEventConsumer(
        engine, consumer, on_invalid=lambda message, error: reported.append((message, error))
    )
    outcome = reader.poll_once()
    assert [r["status"] for r in outcome.results] == ["applied", "applied"]
    assert [(m.offset(), getattr(e, "field", None)) for m, e in reported] == [
        (1, "/amount"),
        (2, None),
    ]
    assert consumer.committed == {0: 4}
    assert balance(engine, "acme") == "5.00"


def test_an_event_from_the_future_is_invalid_and_committed_as_the_api_refuses_it(engine):
    # Platform: clock: at most 24 hours ahead of the platform's clock; 2099 would fire decades
    jump = {**topped_up("acme", 1, "20.00"), "id": "jump", "at": "2099-01-01T00:00:00+01:00"}
    consumer = FakeConsumer({0: [opened("acme"), jump, topped_up("acme", 2, "30.00")]})
    refused = []
    outcome = KafkaEventConsumer(
        engine, consumer, on_invalid=lambda message, exc: refused.append(exc)
    ).poll_once()
    assert [r["status"] for r in outcome.results] == ["applied", "applied"]
    assert [exc.field for exc in refused] == ["/at"]
    assert "ahead of the platform's clock" in refused[0].message
    assert consumer.committed == {0: 3}  # one bad message never stalls a partition
    assert balance(engine, "acme") == "30.00"
