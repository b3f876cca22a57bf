"""A task: one partition number of one sub-topology, with its compiled processors.

The task is the unit the runtime assigns, commits and (later) keeps state for. It receives raw
records, deserializes them with the source's serdes and pushes them through the compiled graph;
every failure on the way is routed through the record error policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Any

from kstreamy.errors import KStreamyError, RecordError
from kstreamy.runtime.compiler import compile_subtopology
from kstreamy.runtime.context import RecordContext
from kstreamy.runtime.emitter import Emitter
from kstreamy.runtime.latency import TaskLatency
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task_clock import METADATA_KEY as CLOCK_METADATA
from kstreamy.runtime.task_clock import TaskClock, TimePlan, task_id
from kstreamy.runtime.task_source import RawRecord, Source, event_time_ms
from kstreamy.runtime.time_hook import TimeListener
from kstreamy.serde_binding import bind
from kstreamy.state.errors import StateError
from kstreamy.state.task_state import TaskState
from kstreamy.time.watermark_control import decode_watermark
from kstreamy.topology import StoreSpec, SubTopology

_NO_TIME = -(2**63)
_SKIPPED = object()
"""What a record whose input the bad-input policy handled deserializes to."""


class Task:
    def __init__(
        self,
        sub: SubTopology,
        partition: int,
        emitter: Emitter,
        errors: RecordErrorHandler,
        stores: dict[str, StoreSpec] | None = None,
        state: TaskState | None = None,
        time_plan: TimePlan | None = None,
        output_partitions: Mapping[str, int] | None = None,
    ) -> None:
        self.id = task_id(sub.id, partition)
        self.subtopology = sub
        self.partition = partition
        self.ctx = RecordContext()
        self.state = state
        self._errors = errors
        self._opened = False
        self.clock = None if time_plan is None else self._start_clock(time_plan, emitter)
        self.records_in = 0
        """Input records handed to this task (counted by the loop once per run of records)."""
        self.latency = TaskLatency()
        """End-to-end latency, sampled by the loop per run of records (not per record)."""
        compiled = compile_subtopology(
            sub, self.ctx, emitter, stores, state, self.clock, errors.metrics, output_partitions
        )
        self._on_open = compiled.on_open
        self._on_close = compiled.on_close
        self._before_commit = compiled.before_commit
        self._on_discard = compiled.on_discard
        entries = compiled.entries
        self.positions: dict[str, int] = {}
        """Next offset to consume per input topic: what a commit of this task records."""
        self.stream_times: dict[str, int] = {}
        """Per input topic (of this task's partition): the largest event time seen, in ms."""
        self._time_listeners: list[TimeListener] = list(compiled.time_listeners)
        if self.clock is not None:
            self._time_listeners.insert(0, self.clock)
        self._sources: dict[str, Source] = {}
        for node in sub.nodes:
            if node.role != "source":
                continue
            source = Source(
                bind(node.params["key_serde"], node.params["topics"][0], True),
                bind(node.params["value_serde"], node.params["topics"][0], False),
                node.params.get("timestamp"),
                entries[node.name],
                bool(node.params.get("internal")) and self.clock is not None,
            )
            for topic in node.params["topics"]:
                self._sources[topic] = source

    def _start_clock(self, plan: TimePlan, emitter: Emitter) -> TaskClock:
        clock = TaskClock(self.id, self.partition, self.subtopology, plan, emitter)
        state = self.state
        if state is not None:
            saved = state.metadata.get(CLOCK_METADATA)
            if isinstance(saved, dict):
                clock.load_dict(saved)

            def keep() -> None:
                state.metadata[CLOCK_METADATA] = clock.to_dict()
                state.metadata_changed()

            clock.on_change = keep
        return clock

    def open(self) -> None:
        """Called once the task's stores are restored, before its first record."""
        if not self._opened:
            self._opened = True
            for hook in self._on_open:
                hook()

    def close(self) -> None:
        """Run close hooks and close the stores (their checkpoint is the caller's business)."""
        if self._opened:
            self._opened = False
            for hook in self._on_close:
                hook()
        if self.state is not None:
            self.state.close()

    def prepare_commit(self) -> None:
        """Before a commit: nodes write what they hold in memory into the store buffers."""
        for hook in self._before_commit:
            hook()

    def discard(self) -> None:
        """Drop everything not committed: buffered store writes and what nodes cached."""
        if self.state is not None:
            self.state.discard()
        for hook in self._on_discard:
            hook()

    @property
    def records_out(self) -> int:
        """Records this task's sinks handed to the producer (outputs and repartition records)."""
        return self.ctx.records_out

    def process(self, record: RawRecord, topic: str) -> None:
        """Run one input record (read from ``topic``) through the graph."""
        self.process_run([record], 0, topic, record.partition())

    def process_run(
        self, records: list[Any], start: int, topic: str, partition: int, one_topic: bool = False
    ) -> int:
        """Run the records of ``topic[partition]`` from ``records[start]`` on, up to the first
        record of another partition (or an error event); return the index after the run.

        A consumed batch holds runs of records of one partition, so the source and the position
        are looked up and recorded once per run. Errors follow the configured policy. A record
        stops counting as pending only once it is done with (processed, skipped or
        dead-lettered), so a failure leaves its offset uncommitted. ``one_topic``: the batch
        holds records of ``topic`` only (its consumer reads one topic), so a run ends only where
        the partition changes.
        """
        source = self._sources[topic]
        if source.timestamp is None and not source.watermarks and not self._time_listeners:
            return self._plain_run(records, start, topic, partition, source, one_topic)
        ctx = self.ctx
        fast_key = source.fast_key
        fast_value = source.fast_value
        extract = source.timestamp
        entry = source.entry
        watermarks = source.watermarks
        check_time = self.clock is not None
        handle = self._errors.handle
        stream_time = self.stream_times.get(topic, _NO_TIME)
        record = None
        end = len(records)
        try:
            for i in range(start, end):
                record = records[i]
                if record.partition() != partition or record.topic() != topic:
                    end = i
                    break
                if record.error() is not None:
                    end = i
                    break
                ctx.record = record
                ctx.timestamp_ms = timestamp_ms = record.timestamp()[1]
                raw_key = record.key()
                raw_value = record.value()
                if raw_value is None and watermarks and self._control(topic, record):
                    continue
                # The fast path is a bare C function; when it raises, the serde's own method
                # gives the right value (a tombstone) or the error that names the problem.
                try:
                    key = raw_key if fast_key is None else fast_key(raw_key)
                except Exception:
                    key = self._slow_deserialize(source, "key", record)
                    if key is _SKIPPED:
                        continue
                try:
                    value = raw_value if fast_value is None else fast_value(raw_value)
                except Exception:
                    value = self._slow_deserialize(source, "value", record)
                    if value is _SKIPPED:
                        continue
                if extract is not None or (timestamp_ms < 0 and check_time):
                    try:
                        if extract is None:
                            raise ValueError(
                                f"invalid record timestamp {timestamp_ms} (event time needs "
                                "one >= 0)"
                            )
                        seconds = extract(key, value, timestamp_ms / 1000)
                        if seconds.__class__ is float and seconds >= 0.0:  # the common case
                            timestamp_ms = ctx.timestamp_ms = round(seconds * 1000)
                        else:
                            timestamp_ms = ctx.timestamp_ms = event_time_ms(seconds)
                    except Exception as exc:
                        handle("processing", "timestamp", exc, ctx, raw_key, raw_value)
                        continue
                try:
                    if timestamp_ms > stream_time:
                        stream_time = timestamp_ms
                    entry(key, value)
                except (RecordError, StateError):
                    raise  # the record is fine; the instance handles its own state
                except Exception as exc:
                    handle("processing", None, exc, ctx, raw_key, raw_value)
        except BaseException:
            # The failing record is not done with: the position stays just before it.
            assert record is not None
            if record.offset() > self.positions.get(topic, -1):
                self.positions[topic] = record.offset()
            self.stream_times[topic] = stream_time
            raise
        if end > start:
            self.positions[topic] = records[end - 1].offset() + 1
        self.stream_times[topic] = stream_time
        return end

    def _plain_run(
        self,
        records: list[Any],
        start: int,
        topic: str,
        partition: int,
        source: Source,
        one_topic: bool,
    ) -> int:
        """:meth:`process_run` for the commonest source: no timestamp extractor, no watermark
        control records, and a task with nothing that watches time (so no stream time to
        track). Same contract; a loop with nothing in it that such a record does not need,
        because every step here is paid per record."""
        ctx = self.ctx
        fast_key = source.fast_key
        fast_value = source.fast_value
        entry = source.entry
        end = start
        record = None
        try:
            for record in islice(records, start, None):
                if record.partition() != partition or (not one_topic and record.topic() != topic):
                    break
                if record.error() is not None:
                    break
                end += 1
                ctx.record = record
                ctx.timestamp_ms = record.timestamp()[1]
                if fast_key is None:
                    key = record.key()
                else:
                    try:
                        key = fast_key(record.key())
                    except Exception:
                        key = self._slow_deserialize(source, "key", record)
                        if key is _SKIPPED:
                            continue
                if fast_value is None:
                    value = record.value()
                else:
                    try:
                        value = fast_value(record.value())
                    except Exception:
                        value = self._slow_deserialize(source, "value", record)
                        if value is _SKIPPED:
                            continue
                try:
                    entry(key, value)
                except (RecordError, StateError):
                    raise  # the record is fine; the instance handles its own state
                except Exception as exc:
                    self._errors.handle("processing", None, exc, ctx, record.key(), record.value())
        except BaseException:
            # The failing record is not done with: the position stays just before it.
            assert record is not None
            if record.offset() > self.positions.get(topic, -1):
                self.positions[topic] = record.offset()
            raise
        if end > start:
            self.positions[topic] = records[end - 1].offset() + 1
        return end

    def _slow_deserialize(self, source: Source, field: str, record: Any) -> Any:
        """The serde's own method after its fast path raised: the right value (a tombstone, say)
        or the error, handled by the bad-input policy (then ``_SKIPPED``)."""
        raw_key, raw_value = record.key(), record.value()
        deserialize = source.deserialize_key if field == "key" else source.deserialize_value
        try:
            return deserialize(raw_key if field == "key" else raw_value)
        except Exception as exc:
            self._errors.handle("deserialization", field, exc, self.ctx, raw_key, raw_value)
            return _SKIPPED

    def _control(self, topic: str, record: Any) -> bool:
        """A watermark control record is for the clock, never for user code."""
        try:
            control = decode_watermark(record.headers())
        except ValueError as exc:
            raise KStreamyError(
                f"unreadable watermark control record at topic={topic} "
                f"partition={self.partition} offset={record.offset()}: {exc}"
            ) from exc
        if control is None:
            return False
        assert self.clock is not None
        self.clock.on_control(topic, control)
        return True

    # -- the time hook ---------------------------------------------------------------------

    def add_time_listener(self, listener: TimeListener) -> None:
        """Nodes register at compile time; this is for hooks outside the graph, added before the
        task's first record (a task that nothing watches does not track stream time)."""
        self._time_listeners.append(listener)

    @property
    def has_time_listeners(self) -> bool:
        return bool(self._time_listeners)

    def advance_stream_time(self) -> None:
        """After a batch: tell the nodes that watch time how far each input has come."""
        if self._time_listeners:
            for listener in self._time_listeners:
                listener.on_stream_time(self.stream_times)

    def advance_wall_clock(self, now_ms: int) -> None:
        """On every loop round (and in the test driver, when its clock is advanced)."""
        for listener in self._time_listeners:
            listener.on_wall_clock(now_ms)
