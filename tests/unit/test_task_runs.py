"""How a task cuts a consumed batch into runs, and what the loop for plain sources (no
extractor, nothing watching time) does with bad input: the same as the general loop."""

from __future__ import annotations

from kstreamy import App
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task import Task
from kstreamy.testing.driver import _DriverRecord


class Emitted:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, int]] = []

    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        self.records.append((topic, key, value, timestamp_ms))


def make_task(on_deserialization_error: str = "skip") -> tuple[Task, Emitted, Metrics]:
    app = App("task-runs")
    app.stream("in", value_serde="json").map_values(lambda v: v).to("out", value_serde="json")
    emitter, metrics = Emitted(), Metrics()
    errors = RecordErrorHandler(on_deserialization_error, "fail", "dlq", emitter, metrics)
    return Task(app.topology.subtopologies()[0], 0, emitter, errors), emitter, metrics


def rec(offset: int, value: bytes | None = b"{}", topic: str = "in", partition: int = 0):
    return _DriverRecord(topic, partition, offset, 1000 + offset, b"k", value, None)


def test_a_run_ends_where_the_partition_or_the_topic_changes() -> None:
    task, emitted, _ = make_task()
    batch = [rec(0), rec(1), rec(5, partition=1), rec(2)]
    assert task.process_run(batch, 0, "in", 0) == 2
    assert task.positions == {"in": 2}
    mixed = [rec(2), rec(0, topic="other"), rec(3)]
    assert task.process_run(mixed, 0, "in", 0) == 1
    assert len(emitted.records) == 3


def test_one_topic_runs_end_only_at_a_partition_change() -> None:
    task, _, _ = make_task()
    batch = [rec(0), rec(1), rec(2, partition=1)]
    assert task.process_run(batch, 0, "in", 0, one_topic=True) == 2


def test_tombstones_and_bad_values_in_the_plain_loop() -> None:
    task, emitted, metrics = make_task(on_deserialization_error="skip")
    batch = [rec(0, None), rec(1, b"not json"), rec(2, b'{"a": 1}')]
    assert task.process_run(batch, 0, "in", 0) == 3
    assert [r[2] for r in emitted.records] == [None, b'{"a":1}']  # the tombstone stays one
    assert metrics.records_skipped == 1
    assert task.positions == {"in": 3}
