"""Growing a topic's partition count, as an operator would before rescaling."""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewPartitions

from kstreamy.testing.topics import create_topics, partitions_of, read_all


def grow_topic(bootstrap: str, topic: str, partitions: int) -> str:
    """Add partitions; returns how.

    Kafka adds them in place (CreatePartitions). Tansu does not support that, so there the
    topic is rebuilt to the very same state a grown topic would have: every record back in its
    old partition at its old offset, the new partitions empty.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_partitions([NewPartitions(topic, partitions)])[topic].result(30)
        deadline = time.monotonic() + 30
        while len(partitions_of(bootstrap, topic)) != partitions:
            assert time.monotonic() < deadline, f"{topic} did not grow"
            time.sleep(0.1)
        return "create_partitions"
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._UNSUPPORTED_FEATURE:
            raise
    before = sorted(
        (r.partition(), r.offset(), r.key(), r.value(), r.timestamp()[1])
        for r in read_all(bootstrap, topic)
    )
    for partition in {p for p, *_ in before}:
        offsets = [o for p, o, *_ in before if p == partition]
        assert offsets == list(range(len(offsets))), "only gap-free topics can be rebuilt"
    admin.delete_topics([topic], operation_timeout=30)[topic].result(30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} not deleted"
        time.sleep(0.1)
    create_topics(bootstrap, {topic: partitions})
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for partition, _, key, value, timestamp in before:
        producer.produce(topic, value, key, partition=partition, timestamp=timestamp)
    assert producer.flush(60) == 0
    after = sorted(
        (r.partition(), r.offset(), r.key(), r.value(), r.timestamp()[1])
        for r in read_all(bootstrap, topic)
    )
    assert after == before
    return "rebuilt"
