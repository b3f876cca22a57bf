"""Repartition topics keep records until they are read, whatever their event time, and
instances delete what they have read (as Kafka Streams does). Real broker, real instance."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from kstreamy.testing.topics import read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

MONTH_S = 30 * 24 * 3600


@pytest.mark.tansu_deviation("has no DeleteRecords")
def test_read_records_are_deleted_and_month_old_events_are_kept_until_read(
    bootstrap, make_topic, unique_name, instances
):
    source, out = make_topic("in", 2), make_topic("counts", 2)
    app_id = unique_name("purge")
    repartition = f"{app_id}-by-user-repartition"
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    month_ago_ms = int((time.time() - MONTH_S) * 1000)
    for n in range(600):
        value = json.dumps({"user": f"u{n % 6}"}).encode()
        producer.produce(source, value, f"a{n}".encode(), timestamp=month_ago_ms + n)
    assert producer.flush(30) == 0
    instances.start(
        "regroup_count_app",
        app_id,
        input=source,
        output=out,
        settings={"repartition_purge_interval_ms": 500},
    )

    def final_counts(messages) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in messages:
            counts[m.key().decode()] = int.from_bytes(m.value(), "big", signed=True)
        return counts

    read_topic(bootstrap, out, lambda ms: sum(final_counts(ms).values()) == 600, timeout=120)

    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, repartition)
    config = admin.describe_configs([resource])[resource].result(30)
    assert config["retention.ms"].value == "-1"
    assert config["cleanup.policy"].value == "delete"

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{app_id}-probe"})

    def deleted_below() -> int:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(repartition, p), 10, cached=False)[0]
            for p in (0, 1)
        )

    try:
        wait_until(lambda: deleted_below() == 600, 60, what="read records deleted")
    finally:
        consumer.close()
