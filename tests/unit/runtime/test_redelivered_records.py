"""A task never processes an input record twice in one run of the loop: records the consumer
hands out again below the task's position are passed over with a warning, while a deliberate
way back (a rewind clears the position) is processed again."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from kstreamy import App
from kstreamy.runtime.instance import Instance
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task import Task
from kstreamy.testing.driver import _DriverRecord


class Emitted:
    def __init__(self) -> None:
        self.values: list[bytes | None] = []

    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        self.values.append(value)


def make_instance(partitions: int = 2) -> tuple[Instance, Emitted, dict[tuple[str, int], Task]]:
    app = App("redelivery", instance_id="i1")
    app.stream("in").map_values(lambda v: v + b"!").to("out")
    instance = Instance(app.topology, app.config, False)
    emitted = Emitted()
    errors = RecordErrorHandler("fail", "fail", "dlq", emitted, Metrics())
    sub = app.topology.subtopologies()[0]
    routes = {("in", p): Task(sub, p, emitted, errors) for p in range(partitions)}
    instance._tasks = SimpleNamespace(routes=routes)  # type: ignore[assignment]
    return instance, emitted, routes


def rec(offset: int, partition: int = 0) -> _DriverRecord:
    return _DriverRecord("in", partition, offset, 1000, b"k", b"p%d-%d" % (partition, offset), None)


def test_records_below_the_position_are_passed_over_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance, emitted, routes = make_instance()
    assert instance._process([rec(0), rec(1), rec(2), rec(0, 1)]) == 4
    emitted.values.clear()

    # The consumer goes back to offset 1 of partition 0 on its own, in the middle of a batch.
    with caplog.at_level(logging.WARNING, "kstreamy.instance"):
        instance._process([rec(5, 1), rec(1), rec(2), rec(3), rec(4), rec(6, 1)])

    assert emitted.values == [b"p1-5!", b"p0-3!", b"p0-4!", b"p1-6!"]
    assert routes[("in", 0)].positions == {"in": 5}
    assert routes[("in", 0)].records_in == 5
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "task 0_0: in[0] delivered offsets 1..2 again, below the task's position 3" in warning
    assert "passed over 2 records" in warning
    assert instance.metrics.records_processed == 4 + 4


def test_a_rewind_clears_the_position_so_the_replay_is_processed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance, emitted, routes = make_instance(partitions=1)
    instance._process([rec(0), rec(1), rec(2)])
    routes[("in", 0)].positions.pop("in")  # what TaskManager.rewind does before seeking
    emitted.values.clear()

    with caplog.at_level(logging.WARNING, "kstreamy.instance"):
        instance._process([rec(0), rec(1), rec(2)])

    assert emitted.values == [b"p0-0!", b"p0-1!", b"p0-2!"]
    assert caplog.records == []
