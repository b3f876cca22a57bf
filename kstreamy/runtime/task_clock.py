"""A task's event-time clock: its watermark, who is told when it moves, and who downstream
hears of it.

Fed by the task's time hook (stream time per input after each batch, the wall clock on every
loop round) and by watermark control records read from repartition topics. When the watermark
moves, the nodes that act on it (windows, event-time timers) are called in registration order,
and the watermark is written into every partition of each repartition topic this task writes,
so downstream tasks can take the minimum over their upstream tasks (see
:mod:`kstreamy.time.watermark_control`). The watermark is kept in the task's checkpoint
metadata so a restart resumes from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from kstreamy.runtime.emitter import Emitter
from kstreamy.time.watermark_control import WatermarkControl, watermark_headers
from kstreamy.time.watermarks import (
    NO_WATERMARK,
    PartitionWatermarks,
    TaskWatermark,
    UpstreamWatermarks,
)
from kstreamy.topology import SubTopology, Topology

RESEND_INTERVAL_MS = 1000
"""How often a task repeats its watermark downstream when it does not move: a downstream task
that restarted learns it within this time (Flink's auto-watermark interval is 200 ms)."""

METADATA_KEY = "watermarks"


@dataclasses.dataclass
class TimePlan:
    """What a task must know about its neighbours to handle watermarks; from the topic plan."""

    upstream_tasks: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """Repartition topic this task reads -> ids of the tasks that write into it."""
    downstream_partitions: dict[str, int] = dataclasses.field(default_factory=dict)
    """Repartition topic this task writes -> its partition count."""


class TaskClock:
    """The :class:`~kstreamy.runtime.time_hook.TimeListener` that owns a task's watermark."""

    def __init__(
        self,
        task_id: str,
        partition: int,
        sub: SubTopology,
        plan: TimePlan,
        emitter: Emitter,
    ) -> None:
        self.task_id = task_id
        self._emitter = emitter
        self._partition_marks: dict[str, PartitionWatermarks] = {}
        self._upstream: dict[str, UpstreamWatermarks] = {}
        sources: list[Any] = []
        for node in sub.nodes:
            if node.role != "source":
                continue
            if node.params.get("internal"):
                for topic in node.topics():
                    marks = UpstreamWatermarks(plan.upstream_tasks[topic])
                    self._upstream[topic] = marks
                    sources.append(marks)
                continue
            marks = PartitionWatermarks(
                [(topic, partition) for topic in node.topics()],
                round(node.params.get("max_out_of_orderness", 0.0) * 1000),
                _ms(node.params.get("idle_timeout")),
            )
            for topic in node.topics():
                self._partition_marks[topic] = marks
            sources.append(marks)
        self._partition = partition
        self._watermark = TaskWatermark(sources)
        self._downstream = dict(plan.downstream_partitions)
        self._listeners: list[Callable[[int], None]] = []
        self.current = NO_WATERMARK
        """The task's watermark in ms; never goes back."""
        self._idle = False
        self._next_resend = 0
        self.on_change: Callable[[], None] = lambda: None
        """Called when the watermark moved (the task keeps it in its checkpoint)."""

    def subscribe(self, on_watermark: Callable[[int], None]) -> None:
        """Call ``on_watermark(ms)`` each time the watermark moves forward."""
        self._listeners.append(on_watermark)

    # -- the time hook -----------------------------------------------------------------------

    def on_stream_time(self, stream_times: Mapping[str, int]) -> None:
        marks = self._partition_marks
        for topic, event_ms in stream_times.items():
            tracker = marks.get(topic)
            if tracker is not None:
                tracker.observe(topic, self._partition, event_ms)
        self._advance()

    def on_wall_clock(self, now_ms: int) -> None:
        for tracker in dict.fromkeys(self._partition_marks.values()):
            tracker.on_wall_clock(now_ms)
        self._advance()
        if self._downstream and now_ms >= self._next_resend:
            self._next_resend = now_ms + RESEND_INTERVAL_MS
            self._forward(now_ms)

    def on_control(self, topic: str, control: WatermarkControl) -> None:
        """A watermark control record from an upstream task arrived on ``topic``."""
        upstream = self._upstream.get(topic)
        if upstream is not None:
            upstream.observe(control.task_id, control.watermark_ms, control.idle)

    def _advance(self) -> None:
        watermark = self._watermark.current()
        idle = self._watermark.is_idle()
        moved = watermark > self.current
        if moved:
            self.current = watermark
            for listener in self._listeners:
                listener(watermark)
            self.on_change()
        if (moved or idle != self._idle) and self._downstream:
            self._idle = idle
            self._forward(None)
        self._idle = idle

    def _forward(self, now_ms: int | None) -> None:
        headers = watermark_headers(self.task_id, self.current, self._idle)
        timestamp = now_ms if now_ms is not None else max(self.current, 0)
        emit = self._emitter.emit
        for topic, partitions in self._downstream.items():
            for partition in range(partitions):
                emit(topic, None, None, timestamp, headers, partition)

    # -- kept in the checkpoint --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "watermark": self.current,
            "sources": {topic: m.to_dict() for topic, m in self._partition_marks.items()},
            "upstream": {topic: m.to_dict() for topic, m in self._upstream.items()},
        }

    def load_dict(self, data: Mapping[str, Any]) -> None:
        """Resume after a restart: closed windows stay closed."""
        for topic, state in data.get("sources", {}).items():
            if topic in self._partition_marks:
                self._partition_marks[topic].load_dict(state)
        for topic, state in data.get("upstream", {}).items():
            if topic in self._upstream:
                self._upstream[topic].load_dict(state)
        self.current = max(self.current, int(data.get("watermark", NO_WATERMARK)))


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def time_plan(
    topology: Topology,
    sub: SubTopology,
    tasks_of: Callable[[int], int],
    partitions_of: Callable[[str], int],
) -> TimePlan | None:
    """The :class:`TimePlan` of ``sub``'s tasks, or None when no step uses event time.

    ``tasks_of(sub_id)`` is the number of tasks of a sub-topology and ``partitions_of(topic)``
    the partition count of a repartition topic (from the topic plan at run time; the test
    driver passes its own).
    """
    if not topology.uses_event_time():
        return None
    plan = TimePlan()
    for node in sub.nodes:
        if not node.params.get("internal"):
            continue
        for topic in node.topics():
            if node.role == "source":
                plan.upstream_tasks[topic] = [
                    task_id(writer, p)
                    for writer in topology.writers_of(topic)
                    for p in range(tasks_of(writer))
                ]
            elif node.role == "sink":
                plan.downstream_partitions[topic] = partitions_of(topic)
    return plan


def task_id(subtopology: int, partition: int) -> str:
    return f"{subtopology}_{partition}"
