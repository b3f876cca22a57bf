"""Windowed results go to the partition of their base key, as Kafka Streams writes them.

Kafka Streams' ``to()`` partitions a windowed key with ``WindowedStreamPartitioner``:
``toPositive(murmur2(serialized base key)) % partitions``. The expectations here come from the
written key bytes (the windowed layouts end in 8 or 16 bytes of window) and a murmur2 written
independently of :mod:`kstreamy.partitioner`, checked against the Java client's own vectors.
"""

from __future__ import annotations

from typing import Any

import pytest

from kstreamy import App
from kstreamy.errors import TopologyError
from kstreamy.processor import ProcessFunction, ProcessorContext
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.stateless import windowed_partitioner
from kstreamy.runtime.task import Task
from kstreamy.runtime.task_clock import time_plan
from kstreamy.serde import resolve_serde
from kstreamy.state.memory_store import InMemoryStore
from kstreamy.state.task_state import TaskState
from kstreamy.testing import TestDriver
from kstreamy.windows import Hopping, Session, Tumbling
from tests_support.murmur2_reference import JAVA_VECTORS, reference_murmur2, reference_partition

PARTITIONS = 3


def expected_partition(base_key: bytes, partitions: int = PARTITIONS) -> int:
    return reference_partition(base_key, partitions)


@pytest.mark.parametrize(("data", "expected"), JAVA_VECTORS.items())
def test_the_reference_murmur2_is_the_java_clients(data, expected):
    assert reference_murmur2(data) == expected


class Recorder:
    """An emitter with the producer's ``produce``, as sinks find it at run time."""

    def __init__(self, full_after: int | None = None) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, int | None]] = []
        self._full_after = full_after

    def produce(self, topic: str, value: Any, key: Any, partition: int = -1, **kw: Any) -> None:
        if self._full_after is not None and len(self.records) >= self._full_after:
            raise BufferError("queue full")
        self.records.append((topic, key, value, None if partition == -1 else partition))

    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        self.records.append((topic, key, value, partition))


class EmitOnly:
    """An emitter without ``produce`` (the test driver's kind)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, int | None]] = []

    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        self.records.append((topic, key, value, partition))


def run(app: App, events: list[tuple[bytes, int]], emitter: Any, outputs: Any) -> None:
    """Feed ``(raw key, timestamp ms)`` records to one task of the app's first sub-topology."""
    topology = app.topology
    topology.validate()
    sub = topology.subtopologies()[0]
    specs = {name: topology.stores[name] for name in sub.store_names}
    state = TaskState(0, specs, app.application_id, {n: InMemoryStore(n) for n in specs}, None)
    times = time_plan(topology, sub, lambda _s: 1, lambda _t: 1)
    metrics = Metrics()
    errors = RecordErrorHandler("fail", "fail", "dlq", emitter, metrics)
    task = Task(sub, 0, emitter, errors, specs, state, times, outputs)
    task.open()
    for offset, (key, ts) in enumerate(events):
        task.process(_Record("in", offset, key, b"v", ts), "in")
    task.prepare_commit()
    state.apply()


class _Record:
    def __init__(self, topic: str, offset: int, key: bytes, value: bytes, ts: int) -> None:
        self._topic, self._offset, self._key, self._value, self._ts = topic, offset, key, value, ts

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def error(self) -> None:
        return None


KEYS = {
    "str": [f"user-{i}" for i in range(12)],
    "json": [{"user": i} for i in range(6)] + [f"k{i}" for i in range(6)],
    "int": [i * 7919 for i in range(12)],
}
WINDOWS = {
    "tumbling": (Tumbling(10.0), 8),
    "hopping": (Hopping(10.0, 5.0), 8),
    "session": (Session(5.0), 16),
}


def events_for(inner: str) -> list[tuple[bytes, int]]:
    """Every key in several windows (and several sessions, 20 s apart)."""
    serde = resolve_serde(inner)
    return [
        (serde.serialize(key), ts)
        for ts in range(0, 60_000, 4_000)
        for key in KEYS[inner]
        if ts % 20_000 < 12_000
    ]


@pytest.mark.parametrize("inner", sorted(KEYS))
@pytest.mark.parametrize("windows", sorted(WINDOWS))
@pytest.mark.parametrize("emitter_kind", [Recorder, EmitOnly])
def test_every_windowed_result_goes_to_the_partition_of_its_base_key(inner, windows, emitter_kind):
    definition, window_bytes = WINDOWS[windows]
    app = App(f"wp-{windows}-{inner}")
    grouped = app.stream("in", key_serde=inner, value_serde="str").group_by_key()
    grouped.window(definition).count(store="counts").to("out", value_serde="int")
    emitter = emitter_kind()
    run(app, events_for(inner), emitter, {"out": PARTITIONS})
    results = [r for r in emitter.records if r[0] == "out"]
    assert len(results) > 3 * len(KEYS[inner])  # several windows per key
    by_base: dict[bytes, set[int | None]] = {}
    for _, key, _, partition in results:
        base = key[:-window_bytes]
        assert partition == expected_partition(base), (key, partition)
        by_base.setdefault(base, set()).add(partition)
    assert all(len(p) == 1 for p in by_base.values())  # all windows of a key on one partition
    assert {p for parts in by_base.values() for p in parts} == set(range(PARTITIONS))
    assert len(by_base) == len(KEYS[inner])


def test_the_base_key_partition_is_the_plain_keys_partition():
    """Co-partitioned with a topic keyed by the plain key: the same partition for the same key."""
    from kstreamy.partitioner import partition_for

    app = App("wp-plain")
    app.stream("in", key_serde="str", value_serde="str").group_by_key().window(
        Tumbling(10.0)
    ).count(store="counts").to("out")
    emitter = Recorder()
    run(
        app,
        [(f"k{i}".encode(), ts) for ts in (0, 15_000, 31_000) for i in range(20)],
        emitter,
        {"out": 5},
    )
    for _, key, _, partition in emitter.records:
        assert partition == partition_for(key[:-8], 5) == expected_partition(key[:-8], 5)


def test_a_full_queue_falls_back_to_emit_with_the_same_partition():
    app = App("wp-full")
    grouped = app.stream("in", key_serde="str", value_serde="str").group_by_key()
    grouped.window(Tumbling(10.0)).count(store="counts").to("out")
    emitter = Recorder(full_after=3)
    run(app, [(f"k{i}".encode(), 1_000) for i in range(10)], emitter, {"out": PARTITIONS})
    assert len(emitter.records) == 10
    for _, key, _, partition in emitter.records:
        assert partition == expected_partition(key[:-8])


def test_windowed_json_keys_are_partitioned_by_the_aggregations_key_bytes():
    """JSON windows have no inner serde: the aggregation's key serde gives the bytes Kafka
    Streams would hash, so the JSON topic stays co-partitioned with the str-keyed input."""
    app = App("wp-json")
    grouped = app.stream("in", key_serde="str", value_serde="str").group_by_key()
    grouped.window(Tumbling(10.0)).count(store="counts").to("out", key_serde="windowed-json")
    emitter = Recorder()
    run(
        app,
        [(f"user-{i}".encode(), ts) for ts in (0, 12_000) for i in range(12)],
        emitter,
        {"out": PARTITIONS},
    )
    serde = resolve_serde("windowed-json")
    seen = set()
    for _, key, _, partition in emitter.records:
        base = serde.deserialize(key).key
        assert partition == expected_partition(base.encode())
        seen.add(partition)
    assert seen == set(range(PARTITIONS))


def _sink(app: App):
    return next(n for n in app.topology.nodes.values() if n.kind == "sink")


def test_plain_keys_and_repartition_topics_keep_the_producers_partitioner():
    app = App("wp-plain-sinks")
    stream = app.stream("in", key_serde="str", value_serde="str")
    stream.to("plain")
    assert windowed_partitioner(_sink(app), {"plain": 3}) is None

    app = App("wp-repartition")
    table = (
        app.stream("in", key_serde="str", value_serde="str")
        .group_by_key()
        .window(Tumbling(10.0))
        .count(store="counts")
    )
    table.to_stream().group_by_key(name="again", partitions=3).count(store="again-counts")
    repartition = next(
        n for n in app.topology.nodes.values() if n.kind == "sink" and n.params.get("internal")
    )
    # Kafka Streams' repartition sinks pass no partitioner: the whole key is hashed.
    assert windowed_partitioner(repartition, {}) is None


def test_a_windowed_sink_without_its_topics_partition_count_is_refused():
    app = App("wp-missing")
    grouped = app.stream("in", key_serde="str", value_serde="str").group_by_key()
    grouped.window(Tumbling(10.0)).count(store="counts").to("out")
    with pytest.raises(TopologyError, match="no partition count for output topic out"):
        windowed_partitioner(_sink(app), {"other": 3})
    assert windowed_partitioner(_sink(app), None) is None  # no counts at all: the producer's


def test_the_test_driver_feeds_windowed_results_back_on_their_partition():
    """A windowed output read back by the topology arrives on its base key's partition."""
    app = App("wp-driver")
    grouped = app.stream("in", key_serde="str", value_serde="str").group_by_key()
    windowed = grouped.window(Tumbling(10.0)).count(store="counts")
    windowed.to("out", value_serde="int")
    _PartitionProbe.seen = []
    app.stream("out", key_serde=windowed.key_serde, value_serde="int").process(_PartitionProbe())
    driver = TestDriver(app, partitions=PARTITIONS)
    for i in range(12):
        driver.pipe("in", f"user-{i}", "x", timestamp=1.0)
    assert len(_PartitionProbe.seen) == 12
    for key, partition in _PartitionProbe.seen:
        assert partition == expected_partition(key.encode())
    assert {p for _, p in _PartitionProbe.seen} == set(range(PARTITIONS))


class _PartitionProbe(ProcessFunction):
    seen: list[tuple[str, int]] = []  # a class attribute: each task gets its own copy

    def process(self, key: Any, value: Any, ctx: ProcessorContext) -> None:
        _PartitionProbe.seen.append((key.key, ctx.partition))


def test_the_tracing_emitter_passes_the_partition_on():
    from kstreamy.runtime.otel_records import TraceContextEmitter

    class Spans:
        out_headers: list[tuple[str, bytes]] | None = None

    inner, spans = Recorder(), Spans()
    traced = TraceContextEmitter(inner, spans)  # type: ignore[arg-type]
    traced.produce("out", b"v", b"k", timestamp=1, partition=2)
    traced.produce("out", b"v", b"k", timestamp=1)
    spans.out_headers = [("traceparent", b"x")]
    traced.produce("out", b"v", b"k", timestamp=1, partition=1)
    assert [r[3] for r in inner.records] == [2, None, 1]
