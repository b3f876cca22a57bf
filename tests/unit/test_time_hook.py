"""The time hook: tasks learn the event time of their inputs after each batch and the wall
clock on every round, and tell the nodes that watch time."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from kstreamy import App
from kstreamy.errors import RecordError
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task import Task
from kstreamy.testing.driver import _DriverRecord


class Recorder:
    def __init__(self) -> None:
        self.stream_times: list[dict[str, int]] = []
        self.clock: list[int] = []

    def on_stream_time(self, stream_times: Mapping[str, int]) -> None:
        self.stream_times.append(dict(stream_times))

    def on_wall_clock(self, now_ms: int) -> None:
        self.clock.append(now_ms)


class Emitted:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, int]] = []

    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        self.records.append((topic, key, value, timestamp_ms))


def make_task(
    on_processing_error: str = "skip", extractor=None, on_deserialization_error: str = "fail"
) -> tuple[Task, Emitted]:
    app = App("time-hook", on_processing_error=on_processing_error)
    app.stream("in", value_serde="json", timestamp=extractor).to("out", value_serde="json")
    emitter = Emitted()
    errors = RecordErrorHandler(
        on_deserialization_error, on_processing_error, "dlq", emitter, Metrics()
    )
    return Task(app.topology.subtopologies()[0], 0, emitter, errors), emitter


def record(offset: int, ts_ms: int, value: bytes = b"{}") -> _DriverRecord:
    return _DriverRecord("in", 0, offset, ts_ms, None, value, None)


def test_stream_time_is_the_largest_event_time_per_input() -> None:
    task, _ = make_task()
    listener = Recorder()
    task.add_time_listener(listener)
    batch = [record(0, 5000), record(1, 9000), record(2, 7000)]
    task.process_run(batch, 0, "in", 0)
    task.advance_stream_time()
    assert listener.stream_times == [{"in": 9000}]
    task.process_run([record(3, 8000)], 0, "in", 0)
    task.advance_stream_time()
    assert listener.stream_times[-1] == {"in": 9000}  # out-of-order: time does not go back
    assert task.positions == {"in": 4}


def test_stream_time_follows_the_timestamp_extractor() -> None:
    task, emitted = make_task(extractor=lambda key, value, ts: value["t"])
    listener = Recorder()
    task.add_time_listener(listener)
    task.process_run([record(0, 1, b'{"t": 42.5}')], 0, "in", 0)
    task.advance_stream_time()
    assert listener.stream_times == [{"in": 42500}]
    assert emitted.records[0][3] == 42500  # the output carries the event time


def test_wall_clock_reaches_listeners() -> None:
    task, _ = make_task()
    listener = Recorder()
    task.add_time_listener(listener)
    assert task.has_time_listeners
    task.advance_wall_clock(1_000)
    task.advance_wall_clock(1_005)
    assert listener.clock == [1_000, 1_005]


def test_a_failing_record_keeps_the_position_before_it() -> None:
    task, emitted = make_task(on_processing_error="fail")
    batch = [record(0, 1000), record(1, 2000, b"not json"), record(2, 3000)]
    with pytest.raises(RecordError, match="offset=1"):
        task.process_run(batch, 0, "in", 0)
    assert task.positions == {"in": 1}
    assert len(emitted.records) == 1


def test_skipped_records_count_as_done() -> None:
    task, emitted = make_task(on_deserialization_error="skip")
    batch = [record(10, 1000), record(11, 2000, b"not json"), record(12, 3000)]
    task.process_run(batch, 0, "in", 0)
    assert task.positions == {"in": 13}
    assert len(emitted.records) == 2


def test_a_run_ends_at_the_first_record_of_another_partition() -> None:
    task, emitted = make_task()
    other = _DriverRecord("in", 1, 0, 4000, None, b"{}", None)
    batch = [record(0, 1000), record(1, 2000), other, record(2, 3000)]
    assert task.process_run(batch, 0, "in", 0) == 2
    assert task.positions == {"in": 2}
    assert task.process_run(batch, 3, "in", 0) == 4
    assert task.positions == {"in": 3}
    assert len(emitted.records) == 3
