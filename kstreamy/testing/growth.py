"""Growing a topic's partition count, as an operator does before rescaling.

Kafka adds partitions in place (CreatePartitions). The embedded Tansu broker does not support
that, so there the topic is rebuilt into the very state a grown topic would have: every record
back in its old partition at its old offset, with its timestamp, and the new partitions empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewPartitions

from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import logging_settings
from kstreamy.testing.topics import create_topics, partitions_of, read_all


def grow_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    timeout: float = 30.0,
    settings: dict[str, Any] | None = None,
) -> str:
    """Give ``topic`` ``partitions`` partitions; returns how: "create_partitions" or "rebuilt".
    ``settings``: librdkafka properties for the clients (a secured cluster's)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **logging_settings(), **(settings or {})})
    try:
        admin.create_partitions([NewPartitions(topic, partitions)])[topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._UNSUPPORTED_FEATURE:
            raise
        _rebuild(admin, bootstrap, topic, partitions, timeout, settings or {})
        return "rebuilt"
    _wait_for(
        lambda: len(partitions_of(bootstrap, topic, settings)) == partitions,
        timeout,
        f"{topic} to grow",
    )
    return "create_partitions"


def _rebuild(
    admin: AdminClient,
    bootstrap: str,
    topic: str,
    partitions: int,
    timeout: float,
    settings: dict[str, Any],
) -> None:
    def snapshot() -> list[tuple[int, int, bytes | None, bytes | None, int]]:
        return sorted(
            (r.partition(), r.offset(), r.key(), r.value(), r.timestamp()[1])
            for r in read_all(bootstrap, topic, timeout, settings)
        )

    before = snapshot()
    for partition in {p for p, *_ in before}:
        offsets = [o for p, o, *_ in before if p == partition]
        if offsets != list(range(len(offsets))):
            raise KStreamyError(
                f"cannot rebuild {topic}: partition {partition} has offset gaps "
                "(compacted or transactional records); only gap-free topics can be rebuilt"
            )
    admin.delete_topics([topic], operation_timeout=timeout)[topic].result(timeout)
    _wait_for(lambda: topic not in admin.list_topics(timeout=10).topics, timeout, f"{topic} to go")
    create_topics(bootstrap, {topic: partitions}, settings=settings)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            **logging_settings(),
            **settings,
        }
    )
    for partition, _, key, value, timestamp in before:
        producer.produce(topic, value, key, partition=partition, timestamp=timestamp)
    if producer.flush(timeout) != 0:
        raise KStreamyError(f"rebuilding {topic}: records not delivered within {timeout}s")
    if snapshot() != before:
        raise KStreamyError(f"rebuilding {topic}: records did not land at their old offsets")


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise KStreamyError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
