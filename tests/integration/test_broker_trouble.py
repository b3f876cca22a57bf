"""A broker that is not there yet when an instance starts.

The outage of a running broker is in test_exactly_once.py (frozen, and stopped for minutes),
topics changed under a running instance in test_topics_changed_underneath.py.
"""

from __future__ import annotations

import json

import pytest

from kstreamy.testing.topics import produce, read_topic
from tests_support.tcp_proxy import LateProxy
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_an_instance_started_before_its_broker_waits_for_it(
    bootstrap, make_topic, unique_name, instances
):
    proxy = LateProxy(bootstrap)  # refuses connections until opened, as a starting broker does
    input_topic, output = make_topic("in", 2), make_topic("out", 2)
    instance = instances.start(
        "pipeline_app",
        unique_name("late"),
        input=input_topic,
        output=output,
        extra_env={"KSTREAMY_BOOTSTRAP_SERVERS": proxy.address},
    )
    try:
        wait_until(
            lambda: (
                f"waiting for Kafka at {proxy.address}" in instance.log() or not instance.alive()
            ),
            60,
            what="the instance to say it waits for the broker",
        )
        assert instance.alive(), instance.log()[-3000:]
        proxy.open()
        instance.wait_running(90)
        produce(
            bootstrap,
            input_topic,
            [(f"k{n}".encode(), json.dumps({"id": n, "n": n}).encode()) for n in range(1, 15)],
        )
        expected = sorted(n for n in range(1, 15) if n % 7 != 0)
        records = read_topic(bootstrap, output, lambda r: len(r) >= len(expected), timeout=60)
        assert sorted(json.loads(r.value())["id"] for r in records) == expected
    finally:
        proxy.close()
