"""A commit under exactly-once whose records are never acknowledged gives the transaction up
within a bounded time instead of waiting for ever (no broker needed)."""

from __future__ import annotations

import time
from unittest.mock import MagicMock

import pytest
from confluent_kafka import KafkaError

from kstreamy.errors import DeliveryError
from kstreamy.runtime.changelog import ChangelogWriter
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.commit_sequence import CommitOutcome
from kstreamy.runtime.instance_clients import InstanceClients
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.producer import KafkaEmitter, ProducerStalledError
from kstreamy.runtime.transactions import STALL_S, AbortableTransactionError, stall_bound_s


class StuckProducer:
    """Holds ``stuck`` records that are never sent; acknowledges the others one per flush."""

    def __init__(self, waiting: int, stuck: int) -> None:
        self.waiting, self.stuck = waiting, stuck
        self.flushes = 0

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        if self.waiting > self.stuck:
            self.waiting -= 1
        else:
            time.sleep(min(timeout, 0.02))
        return self.waiting


def _emitter(producer: StuckProducer) -> KafkaEmitter:
    emitter = KafkaEmitter({"bootstrap.servers": "127.0.0.1:1"})
    emitter.producer = producer  # type: ignore[assignment]
    return emitter


def test_flush_raises_once_nothing_is_acknowledged_for_the_stall_bound():
    producer = StuckProducer(waiting=5, stuck=2)
    started = time.monotonic()
    with pytest.raises(ProducerStalledError, match="2 records not acknowledged"):
        _emitter(producer).flush(timeout=300, stall_s=0.2)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2.0
    assert producer.flushes > 3  # the acknowledged ones counted as progress first


def test_a_bounded_flush_returns_once_everything_is_acknowledged():
    producer = StuckProducer(waiting=3, stuck=0)
    _emitter(producer).flush(timeout=300, stall_s=0.2)
    assert producer.waiting == 0


def test_a_stalled_flush_is_a_delivery_error():
    assert issubclass(ProducerStalledError, DeliveryError)


def _exactly_once_clients(producer: StuckProducer, stall_s: float) -> InstanceClients:
    transactions = MagicMock()
    transactions.stall_s = stall_s
    return InstanceClients(
        emitter=_emitter(producer),
        transactions=transactions,
        changelog=None,
        errors=MagicMock(),
        consumer=MagicMock(),
        secondary=None,
        restorer=MagicMock(),
    )


def test_a_stalled_commit_is_not_committed_with_an_abortable_error_and_discards_the_tasks():
    """The instance answers AbortableTransactionError by aborting and rewinding the tasks."""
    clients = _exactly_once_clients(StuckProducer(waiting=4, stuck=4), stall_s=0.3)
    commits = CommitManager(exactly_once=True, metrics=Metrics())
    commits.attach(clients)
    task = MagicMock(state=None, positions={"in": 7}, partition=0)
    started = time.monotonic()
    result = commits.commit([task])
    assert time.monotonic() - started < 3.0
    assert result.outcome is CommitOutcome.NOT_COMMITTED
    assert result.failed_step == "flush"
    assert isinstance(result.error, AbortableTransactionError)
    task.discard.assert_called_once()
    clients.transactions.commit.assert_not_called()  # nothing claimed the inputs done
    assert commits.committed == {}


def test_stall_bound_stays_below_a_short_transaction_timeout():
    assert stall_bound_s({}) == STALL_S
    assert stall_bound_s({"transaction.timeout.ms": 120000}) == STALL_S
    assert stall_bound_s({"transaction.timeout.ms": 9000}) == 3.0


def test_changelog_records_purged_by_an_abort_are_not_delivery_failures():
    producer = MagicMock()
    writer = ChangelogWriter(producer)
    writer.write("log", 0, b"k", b"v", lambda topic, offset: None)
    delivered = producer.produce.call_args.args[4]
    delivered(KafkaError(KafkaError._PURGE_QUEUE), MagicMock())
    delivered(KafkaError(KafkaError._PURGE_INFLIGHT), MagicMock())
    writer.check()
    delivered(KafkaError(KafkaError._MSG_TIMED_OUT), MagicMock())
    with pytest.raises(DeliveryError):
        writer.check()


def test_changelog_records_of_a_partition_share_one_callback_and_keep_their_order():
    producer = MagicMock()
    writer = ChangelogWriter(producer)
    offsets: list[tuple[str, int]] = []
    writer.write_all("log", 2, [(b"a", b"1"), (b"b", None), (b"a", b"2")], _append_to(offsets))
    calls = producer.produce.call_args_list
    assert [c.args[:4] for c in calls] == [
        ("log", b"1", b"a", 2),
        ("log", None, b"b", 2),
        ("log", b"2", b"a", 2),
    ]
    (delivered,) = {c.args[4] for c in calls}
    assert delivered is not None
    for offset in (7, 8, 9):
        msg = MagicMock()
        msg.offset.return_value = offset
        delivered(None, msg)
    assert offsets == [("log", 8), ("log", 9), ("log", 10)]
    writer.check()


def test_in_a_transaction_only_the_last_record_of_a_partition_is_reported():
    # The transaction fails if any of its records does; the last one's report gives the offset.
    producer = MagicMock()
    writer = ChangelogWriter(producer, transactional=True)
    offsets: list[tuple[str, int]] = []
    writer.write_all("log", 1, [(b"a", b"1"), (b"b", None), (b"c", b"3")], _append_to(offsets))
    calls = producer.produce.call_args_list
    assert [c.args[:4] for c in calls] == [
        ("log", b"1", b"a", 1),
        ("log", None, b"b", 1),
        ("log", b"3", b"c", 1),
    ]
    assert [c.args[4] is None for c in calls] == [True, True, False]
    msg = MagicMock()
    msg.offset.return_value = 41
    calls[-1].args[4](None, msg)
    assert offsets == [("log", 42)]
    calls[-1].args[4](KafkaError(KafkaError._MSG_TIMED_OUT), msg)
    with pytest.raises(DeliveryError):
        writer.check()


def test_a_full_producer_queue_is_waited_out_record_by_record():
    producer = MagicMock()
    producer.produce.side_effect = [None, BufferError(), BufferError(), None, None]
    ChangelogWriter(producer).write_all(
        "log", 0, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], _ignore
    )
    assert [c.args[2] for c in producer.produce.call_args_list] == [b"a", b"b", b"b", b"b", b"c"]
    assert producer.poll.call_count == 2


def _append_to(offsets: list[tuple[str, int]]):
    return lambda topic, offset: offsets.append((topic, offset))


def _ignore(topic: str, offset: int) -> None:
    pass
