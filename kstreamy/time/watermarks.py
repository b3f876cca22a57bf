"""Watermarks: how far event time has progressed for a task.

A watermark ``W`` (integer ms) says "records with event time before ``W`` are not expected any
more". Windows close and event-time timers fire when the watermark passes them.

* :class:`PartitionWatermarks` tracks the input partitions a task reads from source topics:
  per partition, the largest event time seen minus that topic's ``max_out_of_orderness``
  (Flink's bounded-out-of-orderness strategy); the task's watermark is the minimum over its
  partitions, so one slow partition holds the others back, as in Flink and Kafka Streams.
* A partition that has had no record for ``idle_timeout`` (wall clock) is *idle* and stops
  holding the watermark back until a record arrives on it again (Flink's ``withIdleness``).
  A record that then arrives behind the watermark is late: the watermark never goes back.
* :class:`UpstreamWatermarks` is the same minimum over the upstream tasks that write into a
  repartition topic, fed by control records (:mod:`kstreamy.time.watermark_control`).
* :class:`TaskWatermark` combines a task's sources.

Until every non-idle input has data the watermark is :data:`NO_WATERMARK`, far below any real
time, so nothing closes early just because one partition started first.

Where kstreamy differs:

* Flink's bounded-out-of-orderness generator emits ``max - bound - 1``: its watermark means
  "nothing at or before W will come". kstreamy's is ``max - bound`` and means "nothing before
  W", so that with a zero bound the watermark is exactly Kafka Streams' stream time (the
  largest timestamp seen), and window close rules read like Kafka Streams'.
* Kafka Streams has no idleness: its stream time is per task and only moves with records
  (``max.task.idle.ms`` only delays processing to align partitions). kstreamy takes the
  minimum over partitions like Flink, which is why it needs idleness.
* When every input is idle the watermark stays where it is (it neither jumps forward nor
  back), as in Flink.
* Watermarks are kept with the task's checkpoint (:meth:`to_dict`), so a restart does not
  re-open windows that were already closed and emitted. Idleness is not kept: after a restart
  every partition is active again until the timeout passes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

__all__ = [
    "NO_WATERMARK",
    "PartitionWatermarks",
    "TaskWatermark",
    "UpstreamWatermarks",
    "WatermarkSource",
]

NO_WATERMARK = -(1 << 63)
"""The watermark before any input has data: below every representable event time."""

_FORMAT = 1


_NO_EVENT = -(1 << 64)  # below every 64-bit time: "no record yet" in one comparison


class _Partition:
    __slots__ = ("idle", "last_active", "max_event", "ooo", "touched")

    def __init__(self, ooo: int) -> None:
        self.max_event = _NO_EVENT
        self.ooo = ooo
        self.idle = False
        self.touched = False
        self.last_active: int | None = None


class PartitionWatermarks:
    """The watermark of one task's source partitions.

    ``max_out_of_orderness_ms`` is one bound for every topic or a mapping topic -> bound
    (topics not in the mapping get 0). ``idle_timeout_ms`` None means a partition is never
    considered idle.
    """

    def __init__(
        self,
        partitions: Iterable[tuple[str, int]],
        max_out_of_orderness_ms: int | Mapping[str, int] = 0,
        idle_timeout_ms: int | None = None,
    ) -> None:
        if idle_timeout_ms is not None and idle_timeout_ms <= 0:
            raise ValueError(f"idle_timeout_ms must be positive or None, got {idle_timeout_ms}")
        self.idle_timeout_ms = idle_timeout_ms
        self._by_topic: dict[str, dict[int, _Partition]] = {}
        self._all: list[_Partition] = []
        for topic, partition in partitions:
            if isinstance(max_out_of_orderness_ms, Mapping):
                ooo = max_out_of_orderness_ms.get(topic, 0)
            else:
                ooo = max_out_of_orderness_ms
            if ooo < 0:
                raise ValueError(f"max_out_of_orderness of {topic!r} must be >= 0, got {ooo}")
            if partition in self._by_topic.get(topic, {}):
                raise ValueError(f"{topic}[{partition}] is listed twice")
            state = _Partition(ooo)
            self._by_topic.setdefault(topic, {})[partition] = state
            self._all.append(state)
        self._watermark = NO_WATERMARK
        self._dirty = True

    def observe(self, topic: str, partition: int, event_ms: int) -> int:
        """Note a record's event time; return the task's watermark.

        Per-record callers should bind :meth:`observer` once per partition instead, which
        skips the partition lookup.
        """
        return self._observe(self._state(topic, partition), event_ms)

    def observer(self, topic: str, partition: int) -> Callable[[int], int]:
        """A function ``observe(event_ms) -> watermark`` for one input partition.

        The hot path of event time: for the common task with one source partition and no
        idleness it is two comparisons and an attribute write.
        """
        state = self._state(topic, partition)
        if self.idle_timeout_ms is not None or len(self._all) != 1:
            return functools.partial(self._observe, state)
        ooo = state.ooo
        marks = self

        def observe_only_partition(event_ms: int) -> int:
            if event_ms > state.max_event:
                state.max_event = event_ms
                if event_ms - ooo > marks._watermark:
                    marks._watermark = event_ms - ooo
            return marks._watermark

        return observe_only_partition

    def _state(self, topic: str, partition: int) -> _Partition:
        try:
            return self._by_topic[topic][partition]
        except KeyError:
            raise KeyError(f"{topic}[{partition}] is not an input partition of this task") from None

    def _observe(self, state: _Partition, event_ms: int) -> int:
        state.touched = True
        if state.idle:
            state.idle = False
            self._dirty = True
        latest = state.max_event
        if event_ms > latest:
            state.max_event = event_ms
            # The minimum can only rise if this partition held it: a partition above the
            # watermark is not the slowest one.
            if latest == _NO_EVENT or latest - state.ooo <= self._watermark:
                self._dirty = True
        if self._dirty:
            return self.current()
        return self._watermark

    def on_wall_clock(self, now_ms: int) -> None:
        """Mark partitions without records for ``idle_timeout_ms`` as idle.

        Call it periodically (each poll loop iteration is fine); activity is sampled per call,
        so idleness is detected within one call interval of the timeout.
        """
        timeout = self.idle_timeout_ms
        if timeout is None:
            return
        for state in self._all:
            if state.touched or state.last_active is None:
                state.touched = False
                state.last_active = now_ms
            elif not state.idle and now_ms - state.last_active >= timeout:
                state.idle = True
                self._dirty = True

    def current(self) -> int:
        """The task's watermark in ms; never decreases."""
        if self._dirty:
            self._dirty = False
            low = None
            for state in self._all:
                if state.idle:
                    continue
                if state.max_event == _NO_EVENT:
                    low = NO_WATERMARK
                    break
                mark = state.max_event - state.ooo
                if low is None or mark < low:
                    low = mark
            if low is not None and low > self._watermark:
                self._watermark = low
        return self._watermark

    def is_idle(self) -> bool:
        """Whether every partition is idle (a task with no source partitions is)."""
        return all(state.idle for state in self._all)

    def idle_partitions(self) -> list[tuple[str, int]]:
        return [
            (topic, partition)
            for topic, states in self._by_topic.items()
            for partition, state in states.items()
            if state.idle
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly state to keep with the task's checkpoint."""
        return {
            "format": _FORMAT,
            "watermark": self.current(),
            "partitions": [
                [topic, partition, None if state.max_event == _NO_EVENT else state.max_event]
                for topic, states in sorted(self._by_topic.items())
                for partition, state in sorted(states.items())
            ],
        }

    def load_dict(self, data: Mapping[str, Any]) -> None:
        """Resume from :meth:`to_dict`; partitions this task no longer reads are ignored."""
        _check_format(data)
        for topic, partition, max_event in data.get("partitions", []):
            state = self._by_topic.get(topic, {}).get(partition)
            if state is None or max_event is None:
                continue
            state.max_event = max(state.max_event, int(max_event))
        self._watermark = max(self._watermark, int(data["watermark"]))
        self._dirty = True

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        partitions: Iterable[tuple[str, int]],
        max_out_of_orderness_ms: int | Mapping[str, int] = 0,
        idle_timeout_ms: int | None = None,
    ) -> PartitionWatermarks:
        marks = cls(partitions, max_out_of_orderness_ms, idle_timeout_ms)
        marks.load_dict(data)
        return marks


class UpstreamWatermarks:
    """The watermark of one repartition topic partition: the minimum over the upstream tasks
    writing into it, from their control records.

    ``upstream_tasks`` are the ids of every task of the upstream sub-topology (one per
    partition of its inputs, known from the topic plan). Until each one has reported, or said
    it is idle, the watermark stays at :data:`NO_WATERMARK`.
    """

    def __init__(self, upstream_tasks: Iterable[str]) -> None:
        self._marks: dict[str, int | None] = dict.fromkeys(upstream_tasks)
        if not self._marks:
            raise ValueError("a repartition topic needs at least one upstream task")
        self._idle: set[str] = set()
        self._watermark = NO_WATERMARK
        self._dirty = False
        self.unknown_tasks: set[str] = set()
        """Producers that are not in the topic plan (say, from an older deployment with a
        different partition count); their control records are ignored."""

    def observe(self, task_id: str, watermark_ms: int, idle: bool = False) -> None:
        """Apply one control record."""
        if task_id not in self._marks:
            self.unknown_tasks.add(task_id)
            return
        previous = self._marks[task_id]
        # A restarted upstream task may report an older watermark; progress never goes back.
        if previous is None or watermark_ms > previous:
            self._marks[task_id] = watermark_ms
        if idle:
            self._idle.add(task_id)
        else:
            self._idle.discard(task_id)
        self._dirty = True

    def current(self) -> int:
        if not self._dirty:
            return self._watermark
        self._dirty = False
        low = None
        for task_id, mark in self._marks.items():
            if task_id in self._idle:
                continue
            if mark is None:
                low = NO_WATERMARK
                break
            if low is None or mark < low:
                low = mark
        if low is not None and low > self._watermark:
            self._watermark = low
        return self._watermark

    def is_idle(self) -> bool:
        return len(self._idle) == len(self._marks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "watermark": self.current(),
            "upstream": {task: mark for task, mark in sorted(self._marks.items())},
        }

    def load_dict(self, data: Mapping[str, Any]) -> None:
        _check_format(data)
        for task_id, mark in data.get("upstream", {}).items():
            if task_id in self._marks and mark is not None:
                previous = self._marks[task_id]
                if previous is None or mark > previous:
                    self._marks[task_id] = int(mark)
        self._watermark = max(self._watermark, int(data["watermark"]))
        self._dirty = True

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], upstream_tasks: Iterable[str]
    ) -> UpstreamWatermarks:
        marks = cls(upstream_tasks)
        marks.load_dict(data)
        return marks


class WatermarkSource(Protocol):
    def current(self) -> int: ...

    def is_idle(self) -> bool: ...


class TaskWatermark:
    """A task's watermark: the minimum over its non-idle sources (source partitions and
    repartition topics); stays put while all are idle; never decreases.

    Each call asks every source, so call it when a source may have moved (a record or a
    control record arrived, the wall clock ticked), not for every record of an unchanged one.
    """

    def __init__(self, sources: Iterable[WatermarkSource]) -> None:
        self.sources = list(sources)
        self._watermark = NO_WATERMARK

    def current(self) -> int:
        low = None
        for source in self.sources:
            if source.is_idle():
                continue
            mark = source.current()
            if low is None or mark < low:
                low = mark
        if low is not None and low > self._watermark:
            self._watermark = low
        return self._watermark

    def is_idle(self) -> bool:
        return all(source.is_idle() for source in self.sources)


def _check_format(data: Mapping[str, Any]) -> None:
    if data.get("format") != _FORMAT:
        raise ValueError(f"unsupported watermark state format {data.get('format')!r}")
