"""Small topic utilities for tests, demos and benchmarks: create, produce, read back.

Readers assign partitions directly instead of joining a consumer group: that starts at once and
leaves no group behind on the broker. ``settings`` are librdkafka properties for every client
made here (the security settings of a secured cluster, ``config.kafka_config``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import logging_settings

KEEP_RECORDS = {"retention.ms": "-1"}
"""The topic config :func:`create_topics` starts from."""


def _client(bootstrap: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, **logging_settings(), **(settings or {})}


def create_topics(
    bootstrap: str,
    topics: dict[str, int],
    config: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Create topics (name -> partitions) and wait until their metadata is visible.

    Topics keep their records forever unless ``config`` says otherwise (``retention.ms`` -1):
    test data usually carries fixed timestamps from the past, and a real broker deletes records
    older than its retention (7 days by default, by record timestamp) at its next retention
    check, minutes after they were written."""
    admin = AdminClient(_client(bootstrap, settings))
    topic_config = {**KEEP_RECORDS, **(config or {})}
    futures = admin.create_topics(
        [NewTopic(name, count, -1, config=topic_config) for name, count in topics.items()],
        operation_timeout=30,
    )
    for name, future in futures.items():
        try:
            future.result()
        except Exception as exc:
            if "already exists" not in str(exc).lower():
                raise KStreamyError(f"cannot create topic {name}: {exc}") from exc
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        known = admin.list_topics(timeout=5).topics
        if all(name in known and len(known[name].partitions) for name in topics):
            return
        time.sleep(0.1)
    raise KStreamyError(f"topics not visible after creation: {sorted(topics)}")


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    partition: int | None = None,
    settings: dict[str, Any] | None = None,
) -> int:
    """Produce (key, value) records keyed like Kafka's Java clients; returns how many."""
    producer = Producer(
        {
            **_client(bootstrap, None),
            "linger.ms": 10,
            "partitioner": "murmur2_random",
            **(settings or {}),
        }
    )
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failures.append(err.str())

    count = 0
    for key, value in records:
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery, **extra)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        if count % 1000 == 0:
            producer.poll(0)
    if producer.flush(60):
        raise KStreamyError(f"records to {topic} not acknowledged within 60s")
    if failures:
        raise KStreamyError(f"{len(failures)} records to {topic} failed: {failures[0]}")
    return count


def partitions_of(bootstrap: str, topic: str, settings: dict[str, Any] | None = None) -> list[int]:
    admin = AdminClient(_client(bootstrap, settings))
    metadata = admin.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise KStreamyError(f"topic {topic} not found")
    return sorted(metadata.partitions)


def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[Message]], bool],
    timeout: float = 60.0,
    isolation_level: str = "read_uncommitted",
    settings: dict[str, Any] | None = None,
) -> list[Message]:
    """Read ``topic`` from the beginning until ``until(records)`` is true or ``timeout``.

    Returns what was read either way; the caller asserts on it.
    """
    consumer = Consumer(
        {
            **_client(bootstrap, settings),
            "group.id": "kstreamy-reader",  # required by librdkafka; never joined or committed
            "enable.auto.commit": False,
            "isolation.level": isolation_level,
        }
    )
    partitions = partitions_of(bootstrap, topic, settings)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    records: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(records) and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.2):
                if message.error() is None:
                    records.append(message)
    finally:
        consumer.close()
    return records


def read_all(
    bootstrap: str, topic: str, timeout: float = 60.0, settings: dict[str, Any] | None = None
) -> list[Message]:
    """Everything in ``topic`` right now: reads each partition until the broker says it is at
    the end (fetch-based end detection, not ListOffsets)."""
    partitions = partitions_of(bootstrap, topic, settings)
    consumer = Consumer(
        {
            **_client(bootstrap, settings),
            "group.id": "kstreamy-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    records: list[Message] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise KStreamyError(f"{topic}: end not reached within {timeout}s")
            for message in consumer.consume(1000, 0.2):
                error = message.error()
                if error is None:
                    records.append(message)
                    at_end.discard(message.partition())
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
    finally:
        consumer.close()
    return records
