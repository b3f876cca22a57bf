"""TestDriver: run an application's topology in-process, without a broker.

It executes the same compiled tasks as a running instance, with the same serdes and error
policies, so a test written against it checks the application's real logic. Records written to a
topic that the topology also reads are fed back in, as a broker would.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import TYPE_CHECKING, Any

from kstreamy.processor import StoreView
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task import Task, task_id
from kstreamy.runtime.task_clock import time_plan
from kstreamy.serde import Serde, resolve_serde
from kstreamy.serde_binding import bind
from kstreamy.state.memory_store import InMemoryStore
from kstreamy.state.task_state import TaskState
from kstreamy.time.watermarks import NO_WATERMARK

if TYPE_CHECKING:
    from kstreamy.app import App


@dataclasses.dataclass
class OutputRecord:
    topic: str
    key: Any
    value: Any
    timestamp: float
    headers: list[tuple[str, bytes]]
    raw_key: bytes | None
    raw_value: bytes | None


@dataclasses.dataclass
class _DriverRecord:
    """Quacks like ``confluent_kafka.Message`` for the accessors a task uses."""

    _topic: str
    _partition: int
    _offset: int
    _timestamp_ms: int
    _key: bytes | None
    _value: bytes | None
    _headers: list[tuple[str, bytes]] | None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp_ms)

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def error(self) -> None:
        return None


class _EveryTopic(dict[str, int]):
    """Every output topic has the driver's partition count, so windowed results go to the
    partition of their base key as they would on a broker."""

    def __init__(self, partitions: int) -> None:
        super().__init__()
        self._partitions = partitions

    def __missing__(self, topic: str) -> int:
        return self._partitions


class _ListEmitter:
    def __init__(self, driver: TestDriver) -> None:
        self._driver = driver

    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        self._driver._on_emit(topic, key, value, timestamp_ms, headers, partition or 0)


class TestDriver:
    """Pipe records in with :meth:`pipe`, read what the topology wrote with :meth:`read`."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: App, wall_clock: float = 0.0, partitions: int = 1) -> None:
        self.app = app
        self.partitions = partitions
        """Partitions of every topic, as far as watermarks across repartition topics go: each
        downstream task waits for the watermarks of this many upstream tasks."""
        self.wall_clock_ms = round(wall_clock * 1000)
        """The driver's wall clock (ms since the epoch): it moves only by advance_wall_clock."""
        app.topology.validate()
        self.metrics = Metrics()
        self._emitter = _ListEmitter(self)
        self._errors = RecordErrorHandler(
            app.config.on_deserialization_error,
            app.config.on_processing_error,
            app.config.dead_letter_topic_name,
            self._emitter,
            self.metrics,
        )
        self._subs = {t: sub for sub in app.topology.subtopologies() for t in sub.source_topics}
        self._sinks = {
            n.params["topic"]: n for n in app.topology.nodes.values() if n.kind == "sink"
        }
        self._sources = {t: n for n in app.topology.sources() for t in n.params["topics"]}
        self._tasks: dict[str, Task] = {}
        self._outputs: dict[str, list[OutputRecord]] = {}
        self._offsets: dict[tuple[str, int], int] = {}
        self._pending: deque[_DriverRecord] = deque()
        self._feeding = False

    def pipe(
        self,
        topic: str,
        key: Any,
        value: Any,
        timestamp: float = 0.0,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int = 0,
    ) -> None:
        """Serialize with the source's serdes and process (and anything it feeds back)."""
        source = self._source(topic)
        self.pipe_raw(
            topic,
            bind(source.params["key_serde"], topic, True).serialize(key),
            bind(source.params["value_serde"], topic, False).serialize(value),
            timestamp,
            headers,
            partition,
        )

    def pipe_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp: float = 0.0,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int = 0,
    ) -> None:
        """Process raw bytes as they would arrive from Kafka (useful for bad-input tests)."""
        self._source(topic)
        self._enqueue(topic, key, value, round(timestamp * 1000), headers, partition)
        self._drain()

    def _source(self, topic: str) -> Any:
        try:
            return self._sources[topic]
        except KeyError:
            raise KeyError(f"the topology does not read topic {topic!r}") from None

    def _enqueue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int,
        headers: list[tuple[str, bytes]] | None,
        partition: int,
    ) -> None:
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        self._pending.append(
            _DriverRecord(topic, partition, offset, timestamp_ms, key, value, headers)
        )

    def _drain(self) -> None:
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._pending:
                record = self._pending.popleft()
                self.metrics.records_processed += 1
                task = self._task(record.topic(), record.partition())
                task.process(record, record.topic())
                task.advance_stream_time()  # each record is its own batch here
                task.prepare_commit()
                if task.state is not None:
                    task.state.apply()  # each record is its own commit here
        finally:
            self._feeding = False
            self._pending.clear()

    def _task(self, topic: str, partition: int) -> Task:
        sub = self._subs[topic]
        tid = task_id(sub.id, partition)
        if tid not in self._tasks:
            specs = {name: self.app.topology.stores[name] for name in sub.store_names}
            # Every store is in memory here, whatever its backend: same semantics, no files.
            state = TaskState(
                partition,
                specs,
                self.app.application_id,
                {name: InMemoryStore(name) for name in specs},
                checkpoint=None,
            )
            times = time_plan(
                self.app.topology, sub, lambda _sub: self.partitions, lambda _t: self.partitions
            )
            outputs = _EveryTopic(self.partitions)
            task = Task(sub, partition, self._emitter, self._errors, specs, state, times, outputs)
            task.open()
            task.advance_wall_clock(self.wall_clock_ms)  # as the loop does on its next round
            self._tasks[tid] = task
        return self._tasks[tid]

    def advance_wall_clock(self, seconds: float) -> None:
        """Move the wall clock forward, as the instance loop's clock would move.

        Every task is told through the same time hook the running instance uses, so nodes that
        act on processing time (timers, idle inputs) see exactly what they would see live.
        """
        if seconds < 0:
            raise ValueError("the wall clock only moves forward")
        self.wall_clock_ms += round(seconds * 1000)
        for task in list(self._tasks.values()):
            task.advance_wall_clock(self.wall_clock_ms)
            task.prepare_commit()
            if task.state is not None:
                task.state.apply()
        self._drain()

    def watermarks(self) -> dict[str, float | None]:
        """Task id -> its current watermark in seconds (None before every input has data)."""
        return {
            tid: (None if task.clock.current == NO_WATERMARK else task.clock.current / 1000)
            for tid, task in sorted(self._tasks.items())
            if task.clock is not None
        }

    def store(self, name: str, partition: int = 0) -> StoreView:
        """A typed view of a store of the task on ``partition``, to inspect (or seed) state."""
        spec = self.app.topology.stores.get(name)
        if spec is None:
            known = ", ".join(self.app.topology.stores) or "none"
            raise KeyError(f"no store {name!r} in the topology (stores: {known})")
        sub = next(s for s in self.app.topology.subtopologies() if name in s.store_names)
        task = self._task(sub.source_topics[0], partition)
        assert task.state is not None
        return StoreView(task.state.transaction(name), spec.key_serde, spec.value_serde)

    def close(self) -> None:
        """Close every task (runs ProcessFunction.close)."""
        for task in self._tasks.values():
            task.close()
        self._tasks.clear()

    def _on_emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int,
        headers: list[tuple[str, bytes]] | None,
        partition: int,
    ) -> None:
        sink = self._sinks.get(topic)
        key_serde = sink.params["key_serde"] if sink else resolve_serde("bytes")
        value_serde = sink.params["value_serde"] if sink else resolve_serde("bytes")
        self._outputs.setdefault(topic, []).append(
            OutputRecord(
                topic,
                key_serde.deserialize(key),
                value_serde.deserialize(value),
                timestamp_ms / 1000,
                list(headers or []),
                key,
                value,
            )
        )
        if topic in self._sources:
            self._enqueue(topic, key, value, timestamp_ms, headers, partition)

    def records(self, topic: str) -> list[OutputRecord]:
        """Every record written to ``topic`` so far, oldest first (the list is consumed)."""
        return self._outputs.pop(topic, [])

    def read(
        self,
        topic: str,
        key_serde: str | Serde | None = None,
        value_serde: str | Serde | None = None,
    ) -> list[tuple[Any, Any]]:
        """(key, value) pairs written to ``topic``; serdes default to the sink's."""
        out = []
        for record in self.records(topic):
            key = resolve_serde(key_serde).deserialize(record.raw_key) if key_serde else record.key
            value = (
                resolve_serde(value_serde).deserialize(record.raw_value)
                if value_serde
                else record.value
            )
            out.append((key, value))
        return out

    @property
    def dead_letters(self) -> list[OutputRecord]:
        return list(self._outputs.get(self._errors.dead_letter_topic, []))
