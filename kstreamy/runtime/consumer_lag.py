"""Consumer lag per input partition of each active task: the partition's end minus the position.

The end is the high watermark the consumer learned from its fetch responses (``cached=True``):
no request to the broker, and exact on brokers whose ListOffsets answers are not (the embedded
Tansu). The consumer may only be called from the loop thread (a call from another thread waits
for the loop's ``consume``), so the loop samples through :meth:`LagSampler.sample` on each round,
which does the work at most once per interval; the metrics scrape and the status report read the
last sample.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from confluent_kafka import KafkaException, TopicPartition

from kstreamy.runtime.instance_clients import InstanceClients
from kstreamy.runtime.task_manager import TaskManager

LAG_SAMPLE_INTERVAL_S = 1.0
"""Seconds between two samples: a cached read is cheap, but lag need not be fresher."""


@dataclasses.dataclass(frozen=True)
class PartitionLag:
    task: str
    topic: str
    partition: int
    lag: int


def partition_lag(high_watermark: int, position: int) -> int | None:
    """Records between ``position`` (next offset to consume) and the end; None when the consumer
    has no high watermark yet (negative: no fetch response for the partition so far).

    A position past the cached end (records consumed after the fetch that reported it) is no
    lag, never a negative one."""
    if high_watermark < 0 or position < 0:
        return None
    return max(high_watermark - position, 0)


class LagSampler:
    def __init__(
        self,
        tasks: TaskManager,
        clients: Callable[[], InstanceClients | None],
        interval_s: float = LAG_SAMPLE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tasks = tasks
        self.clients = clients
        self.interval_s = interval_s
        self._clock = clock
        self._next_sample = 0.0
        self.samples: list[PartitionLag] = []
        """The last sample, replaced whole: other threads read it without a lock."""

    def sample(self) -> None:
        """On the loop thread: sample when the interval has passed, else return at once."""
        now = self._clock()
        if now < self._next_sample:
            return
        self._next_sample = now + self.interval_s
        clients = self.clients()
        if clients is None:
            return
        tasks = self.tasks
        paused = tasks.paused
        samples = []
        for task in list(tasks.tasks.values()):
            if task.id in paused:
                continue
            for topic, position in task.positions.items():
                lead = topic == tasks.plan.lead_topic.get(task.subtopology.id)
                consumer = clients.consumer if lead else clients.secondary
                if consumer is None:
                    continue
                try:
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, task.partition), cached=True
                    )
                except KafkaException:
                    continue
                lag = partition_lag(high, position)
                if lag is not None:
                    samples.append(PartitionLag(task.id, topic, task.partition, lag))
        self.samples = samples

    def by_task(self) -> dict[str, dict[str, int]]:
        """Task id -> {"topic[partition]": lag}, for the status file."""
        out: dict[str, dict[str, int]] = {}
        for s in self.samples:
            out.setdefault(s.task, {})[f"{s.topic}[{s.partition}]"] = s.lag
        return out
