"""A stateless pipeline keeps every record while instances join, leave and crash.

One instance starts, a second and third join mid-stream (partitions spread across them), one
leaves with SIGTERM and one is killed with SIGKILL. At least once: every input has its output,
and the group ends with the survivor owning every partition.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from kstreamy.testing.topics import produce, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
ALL_PARTITIONS = {f"{{topic}}[{p}]" for p in range(PARTITIONS)}


def _records(start: int, stop: int):
    for i in range(start, stop):
        yield f"k{i % 97}".encode(), json.dumps({"id": i, "n": i}).encode()


class _SteadyProducer(threading.Thread):
    """Produces ids [start, stop) in small chunks so instances come and go mid-stream."""

    def __init__(self, bootstrap: str, topic: str, start: int, stop: int, chunk: int = 500):
        super().__init__(daemon=True)
        self.args = (bootstrap, topic, start, stop, chunk)
        self.error: BaseException | None = None

    def run(self) -> None:
        bootstrap, topic, start, stop, chunk = self.args
        try:
            for first in range(start, stop, chunk):
                produce(bootstrap, topic, _records(first, min(first + chunk, stop)))
                time.sleep(0.05)  # pacing the input, not waiting for a condition
        except BaseException as exc:
            self.error = exc


def test_instances_join_leave_and_crash_without_losing_records(
    bootstrap, make_topic, unique_name, instances
):
    source = make_topic("in", PARTITIONS)
    sink = make_topic("out", PARTITIONS)
    app_id = unique_name("scaling")
    all_partitions = {p.format(topic=source) for p in ALL_PARTITIONS}
    settings = {"input": source, "output": sink}

    first = instances.start("pipeline_app", app_id, **settings)
    produce(bootstrap, source, _records(0, 3000))
    wait_until(lambda: first.partitions() == all_partitions, 60, what="first instance owns all")

    feeder = _SteadyProducer(bootstrap, source, 3000, 30000)
    feeder.start()
    second = instances.start("pipeline_app", app_id, **settings)
    third = instances.start("pipeline_app", app_id, **settings)
    group = [first, second, third]

    def spread() -> bool:
        owned = [i.partitions() for i in group]
        return all(owned) and set().union(*owned) == all_partitions and sum(map(len, owned)) == 4

    wait_until(spread, 90, what="partitions spread over three instances")

    second.terminate()
    assert second.wait_exit(60) == 0, second.log()[-3000:]
    assert "received SIGTERM" in second.log()
    third.kill()
    third.wait_exit(10)
    feeder.join(120)
    assert feeder.error is None, feeder.error
    produce(bootstrap, source, _records(30000, 32000))

    wait_until(lambda: first.partitions() == all_partitions, 90, what="survivor owns all")
    expected = {i for i in range(32000) if i % 7 != 0}

    def complete(records) -> bool:
        return expected <= {json.loads(r.value())["id"] for r in records}

    output = read_topic(bootstrap, sink, complete, timeout=120)
    ids = [json.loads(r.value())["id"] for r in output]
    assert set(ids) == expected, f"missing {len(expected - set(ids))} ids"
    for record in output[:1000]:
        value = json.loads(record.value())
        assert value["double"] == value["id"] * 2
    first.terminate()
    assert first.wait_exit(60) == 0
    assert first.status()["state"] == "stopped"
