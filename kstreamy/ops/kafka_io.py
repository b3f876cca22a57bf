"""Broker reads and writes the savepoint and reset tools need, exact on every broker.

Ends of partitions are found by fetching until the broker reports end-of-partition, never from
ListOffsets alone (some brokers answer it inexactly); topics are emptied by deleting and
re-creating them, which every broker supports, rather than by DeleteRecords.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import admin_settings, create_client
from kstreamy.kafka.topics import TopicSpec, partition_counts, topic_settings

TIMEOUT_S = 60.0
ATTEMPT_TIMEOUT_S = 10.0
"""Per attempt, for requests that are retried when the broker does not answer."""


class PartitionReader:
    """A group-less consumer (it never joins or commits) reading partitions to their end."""

    def __init__(self, config: AppConfig, read_committed: bool = True) -> None:
        settings = {
            **admin_settings(config),
            "group.id": f"{config.application_id}-tools",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,
            "fetch.queue.backoff.ms": 10,
        }
        if read_committed:
            settings["isolation.level"] = "read_committed"
        self.consumer: Consumer = create_client(Consumer, settings, "consumer")
        self.end: int | None = None
        """The end offset of the partition last read to its end."""

    def read(
        self, topic: str, partition: int, start: int | None = None, timeout: float = TIMEOUT_S
    ) -> Iterator[Message]:
        """Records from ``start`` (None: the beginning) to the partition's current end."""
        consumer = self.consumer
        begin = OFFSET_BEGINNING if start is None else start
        consumer.assign([TopicPartition(topic, partition, begin)])
        deadline = time.monotonic() + timeout
        self.end = None
        try:
            while True:
                messages = consumer.consume(1000, 0.2)
                if not messages and time.monotonic() > deadline:
                    raise KStreamyError(f"{topic}[{partition}]: end not reached within {timeout}s")
                for message in messages:
                    error = message.error()
                    if error is None:
                        deadline = time.monotonic() + timeout
                        yield message
                    elif error.code() == KafkaError._PARTITION_EOF:
                        self.end = message.offset()
                        return
                    elif error.fatal() or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                        raise KStreamyError(f"reading {topic}[{partition}] failed: {error.str()}")
        finally:
            consumer.unassign()

    def end_offset(self, topic: str, partition: int, start: int | None = None) -> int:
        """The exact end of a partition: read from ``start`` until the broker says so."""
        for _ in self.read(topic, partition, start):
            pass
        assert self.end is not None
        return self.end

    def close(self) -> None:
        self.consumer.close()


def committed_offsets(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    request = ConsumerGroupTopicPartitions(group)
    try:
        result = admin.list_consumer_group_offsets([request])[group].result(TIMEOUT_S)
    except KafkaException as exc:
        raise KStreamyError(f"cannot read committed offsets of group {group}: {exc}") from exc
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in (result.topic_partitions or [])
        if tp.error is None and tp.offset >= 0
    }


def set_offsets(
    admin: AdminClient,
    group: str,
    offsets: dict[tuple[str, int], int],
    attempts: int = 5,
    reconnect: Callable[[], AdminClient] | None = None,
) -> None:
    """Commit ``offsets`` for ``group``; retried, since committing the same offsets again is
    harmless (Tansu answers the first commit to a just-deleted group by closing the
    connection, having stored the offsets, and now and then does not answer at all: each
    attempt gets a short deadline of its own rather than one long wait). An attempt that got
    no answer is retried on a new client from ``reconnect``, so on a new connection: a
    connection the broker stopped answering on would time out every retry."""
    if not offsets:
        return
    partitions = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    request = ConsumerGroupTopicPartitions(group, partitions)
    for attempt in range(attempts):
        last = attempt + 1 == attempts
        try:
            future = admin.alter_consumer_group_offsets(
                [request], request_timeout=ATTEMPT_TIMEOUT_S
            )[group]
            result = future.result(ATTEMPT_TIMEOUT_S + 5)
            break
        except concurrent.futures.TimeoutError as exc:
            if last:
                raise KStreamyError(
                    f"cannot set offsets of group {group}: no answer in {attempts} attempts"
                ) from exc
            timed_out = True
        except KafkaException as exc:
            error = exc.args[0]
            if last or not (error.retriable() or error.code() < 0):
                raise KStreamyError(f"cannot set offsets of group {group}: {exc}") from exc
            timed_out = error.code() == KafkaError._TIMED_OUT
            time.sleep(0.2 * (attempt + 1))
        if timed_out and reconnect is not None:
            admin = reconnect()
    failed = [tp for tp in result.topic_partitions or [] if tp.error is not None]
    if failed:
        raise KStreamyError(
            f"setting offsets of group {group} failed for "
            + ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed)
        )


def delete_group(admin: AdminClient, group: str) -> None:
    """Forget the group: its committed offsets and any membership state the broker kept.

    Kafka refuses while the group has members, which also catches an instance that started
    after the liveness check. (On Tansu this also clears a group left waiting forever for a
    member that left during a rebalance.)
    """
    try:
        admin.delete_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result(TIMEOUT_S)
    except KafkaException as exc:
        code = exc.args[0].code()
        if code == KafkaError.GROUP_ID_NOT_FOUND:
            return
        if code == KafkaError.NON_EMPTY_GROUP:
            raise KStreamyError(f"group {group} has members again: stop its instances") from exc
        raise KStreamyError(f"cannot delete consumer group {group}: {exc}") from exc


def recreate_topic(admin: AdminClient, spec: TopicSpec, config: AppConfig) -> None:
    """Delete ``spec.name`` (if it exists) and create it empty as ``spec`` says.

    Deletion is asynchronous on Kafka, so creation is retried until the old topic is gone.
    """
    name, partitions = spec.name, spec.partitions
    if name in partition_counts(admin):
        try:
            admin.delete_topics([name], operation_timeout=30)[name].result(TIMEOUT_S)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise KStreamyError(f"cannot delete topic {name}: {exc}") from exc
    deadline = time.monotonic() + TIMEOUT_S
    settings = topic_settings(config, spec)
    while True:
        try:
            new = NewTopic(name, partitions, config.replication_factor, config=settings)
            admin.create_topics([new], operation_timeout=30)[name].result(TIMEOUT_S)
            break
        except KafkaException as exc:
            retry = exc.args[0].code() in (
                KafkaError.TOPIC_ALREADY_EXISTS,
                KafkaError.UNKNOWN_TOPIC_OR_PART,
            ) or "marked for deletion" in str(exc)
            if not retry or time.monotonic() > deadline:
                raise KStreamyError(f"cannot re-create topic {name}: {exc}") from exc
            time.sleep(0.2)
    while partition_counts(admin).get(name) != partitions:
        if time.monotonic() > deadline:
            raise KStreamyError(f"topic {name} not visible with {partitions} partitions")
        time.sleep(0.1)


class Writer:
    """A producer that writes to explicit partitions and raises on any failed delivery."""

    def __init__(self, config: AppConfig) -> None:
        settings: dict[str, Any] = {
            **admin_settings(config),
            "enable.idempotence": True,
            "linger.ms": 20,
        }
        self._producer = create_client(Producer, settings, "producer")
        self._failures: list[str] = []
        self.first_offsets: dict[tuple[str, int], int] = {}

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}[{msg.partition()}]: {err.str()}")
            return
        key = (msg.topic(), msg.partition())
        offset = msg.offset()
        if offset < self.first_offsets.get(key, offset + 1):
            self.first_offsets[key] = offset

    def write(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        timestamp: int = 0,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if timestamp:
            extra["timestamp"] = timestamp
        if headers:
            extra["headers"] = headers
        while True:
            try:
                self._producer.produce(
                    topic, value, key, partition=partition, on_delivery=self._delivered, **extra
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def flush(self) -> None:
        if self._producer.flush(TIMEOUT_S):
            raise KStreamyError(f"records not acknowledged within {TIMEOUT_S}s")
        if self._failures:
            raise KStreamyError(f"{len(self._failures)} records failed: {self._failures[0]}")
