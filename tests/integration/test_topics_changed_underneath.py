"""Topics deleted or re-created under a running instance: a clear stop naming the topic.

Without the check, a re-created input topic with more partitions is read on its old partitions
only, without a word, and a deleted one fails a later commit with "Unknown topic or partition"
and no name.
"""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka.admin import AdminClient

from kstreamy.testing.topics import create_topics, produce
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

STOP_WITHIN_S = 60


def _delete(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        future.result()
    wait_until(
        lambda: topic not in admin.list_topics(timeout=10).topics, 30, what=f"{topic} deleted"
    )


def _running_counts(bootstrap, instances, make_topic, unique_name):
    app_id = unique_name("changed")
    topics = {
        "input": make_topic("in", 2),
        "output": make_topic("out", 2),
        "sums_output": make_topic("sums", 2),
    }
    instance = instances.start("counts_app", app_id, **topics)
    wait_until(lambda: len(instance.partitions()) == 2, 90, what="instance owns all tasks")
    produce(bootstrap, topics["input"], [(b"k", json.dumps({"n": 1}).encode())])
    return instance, {**topics, "changelog": f"{app_id}-counts-changelog"}


def _stops_naming(instance, message: str) -> None:
    started = time.monotonic()
    code = instance.wait_exit(STOP_WITHIN_S + 30)
    took = time.monotonic() - started
    log = instance.log()
    assert code == 1, log[-3000:]
    error = log.strip().splitlines()[-1]
    assert message in error, log[-3000:]
    assert "TopicChangedError" in instance.status().get("error", ""), instance.status()
    assert took < STOP_WITHIN_S, f"stopped {took:.0f}s after the change"


@pytest.mark.parametrize(
    ("which", "role"),
    [("input", "input"), ("output", "output"), ("changelog", "changelog")],
)
def test_a_deleted_topic_stops_the_instance_naming_it(
    bootstrap, make_topic, unique_name, instances, which, role
):
    instance, topics = _running_counts(bootstrap, instances, make_topic, unique_name)
    _delete(bootstrap, topics[which])
    _stops_naming(instance, f"{role} topic {topics[which]} was deleted while the instance ran")


RECREATE_CRASHES_CLIENT = (
    "answers metadata for a deleted and re-created topic in a way that crashes the Kafka "
    "client subscribed to it (librdkafka 2.16, in its metadata cache)"
)


@pytest.mark.tansu_deviation(RECREATE_CRASHES_CLIENT)
@pytest.mark.parametrize("partitions", [2, 4])
def test_an_input_topic_recreated_under_the_instance_stops_it(
    bootstrap, make_topic, unique_name, instances, partitions
):
    instance, topics = _running_counts(bootstrap, instances, make_topic, unique_name)
    _delete(bootstrap, topics["input"])
    create_topics(bootstrap, {topics["input"]: partitions})
    _stops_naming(instance, f"input topic {topics['input']}")
    error = instance.log().strip().splitlines()[-1]
    # Seen between deletion and creation, or after: either way the stop says which.
    assert (
        "was deleted" in error
        or "now has 4 partitions; the instance's tasks were planned for 2" in error
    ), error
