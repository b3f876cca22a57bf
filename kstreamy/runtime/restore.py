"""Restoration: replay changelog partitions into the stores of newly assigned tasks.

Runs inside the instance loop, a batch at a time, while the task's input partitions stay paused,
so tasks that keep their partitions go on processing during a rebalance (as in Kafka Streams).
The end of a changelog partition is detected from fetch responses (``enable.partition.eof``),
not from ListOffsets, which some brokers answer inexactly.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from kstreamy.errors import KStreamyError
from kstreamy.runtime.task import Task
from kstreamy.runtime.tracing import NO_TRACING, Tracing
from kstreamy.state.state_manager import RestoreSpec

log = logging.getLogger("kstreamy.restore")

PROGRESS_INTERVAL_S = 5.0

# Restoration consumes as fast as it can write, so the restore consumer's prefetch queue drains
# quickly. librdkafka stops fetching a partition for ``fetch.queue.backoff.ms`` (1 s by default)
# each time its queue exceeds ``queued.min.messages`` (100,000), which caps restoration at about
# 100,000 records/s; refill the queue at once instead, in bigger fetches. The queue stays bounded
# by ``queued.max.messages.kbytes``. Settings given by the user take precedence.
FETCH_DEFAULTS = {
    "fetch.queue.backoff.ms": 10,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
}


@dataclasses.dataclass
class _Partition:
    task: Task
    spec: RestoreSpec
    restored: int = 0


@dataclasses.dataclass
class _TaskProgress:
    task: Task
    remaining: set[tuple[str, int]]
    started: float
    restored: int = 0
    last_report: float = 0.0


class Restorer:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = {
            **FETCH_DEFAULTS,
            **settings,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,
        }
        self._consumer: Consumer | None = None
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._tasks: dict[str, _TaskProgress] = {}
        self._finished: list[Task] = []
        self.records_restored = 0
        self.tracing: Tracing = NO_TRACING
        """Told when a task's restoration starts and ends (one span per task when on)."""

    @property
    def busy(self) -> bool:
        return bool(self._tasks) or bool(self._finished)

    def restoring(self, task_id: str) -> bool:
        return task_id in self._tasks

    def add(self, task: Task, plan: list[RestoreSpec]) -> bool:
        """Start restoring ``task``; False when there is nothing to restore.

        A task being restored is returned by :meth:`step` once every store caught up.
        """
        if not plan:
            return False
        now = time.monotonic()
        progress = _TaskProgress(task, set(), now, last_report=now)
        assignments = []
        for spec in plan:
            key = (spec.topic, spec.partition)
            self._partitions[key] = _Partition(task, spec)
            progress.remaining.add(key)
            start = OFFSET_BEGINNING if spec.start_offset is None else spec.start_offset
            assignments.append(TopicPartition(spec.topic, spec.partition, start))
        self._tasks[task.id] = progress
        self._client().incremental_assign(assignments)
        self.tracing.restore_started(task.id, sorted({s.store for s in plan}))
        log.info(
            "task %s: restoring %s",
            task.id,
            ", ".join(
                f"{s.store} from {s.topic}[{s.partition}]@{s.start_offset or 0}" for s in plan
            ),
        )
        return True

    def remove(self, task_id: str) -> None:
        """Stop restoring a task whose partition went away."""
        progress = self._tasks.pop(task_id, None)
        self._finished = [t for t in self._finished if t.id != task_id]
        if progress is None:
            return
        self.tracing.restore_finished(task_id, progress.restored, "removed")
        for key in progress.remaining:
            del self._partitions[key]
        if self._consumer is not None and progress.remaining:
            self._consumer.incremental_unassign(
                [TopicPartition(t, p) for t, p in progress.remaining]
            )

    def step(self, max_records: int = 10000, timeout: float = 0.05) -> list[Task]:
        """Restore one batch; return the tasks that are now fully restored."""
        if self._tasks:
            messages = self._client().consume(max_records, timeout)
            batches: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
            ends: list[tuple[tuple[str, int], int]] = []
            # Records come in runs per partition: look up the run's batch once per run, not
            # once per record (this loop is most of restoration's Python time).
            topic = partition = None
            items: list[tuple[bytes, bytes | None]] = []
            for message in messages:
                error = message.error()
                if error is not None:
                    key = (message.topic(), message.partition())
                    if error.code() == KafkaError._PARTITION_EOF:
                        ends.append((key, message.offset()))
                        continue
                    if error.fatal() or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                        raise KStreamyError(f"restoring {key[0]}[{key[1]}] failed: {error.str()}")
                    log.warning("restore consumer: %s", error.str())
                    continue
                if message.partition() != partition or message.topic() != topic:
                    topic, partition = message.topic(), message.partition()
                    items = batches.setdefault((topic, partition), [])
                items.append((message.key(), message.value()))
            for key, items in batches.items():
                partition = self._partitions.get(key)
                if partition is None:
                    continue
                assert partition.task.state is not None
                partition.task.state.stores[partition.spec.store].write_batch(items)
                partition.restored += len(items)
                self._tasks[partition.task.id].restored += len(items)
                self.records_restored += len(items)
            for key, end_offset in ends:
                self._partition_done(key, end_offset)
            self._report()
        finished, self._finished = self._finished, []
        return finished

    def _partition_done(self, key: tuple[str, int], end_offset: int) -> None:
        partition = self._partitions.pop(key, None)
        if partition is None:
            return
        self._client().incremental_unassign([TopicPartition(*key)])
        task = partition.task
        assert task.state is not None
        task.state.restored_to(key[0], end_offset)
        progress = self._tasks[task.id]
        progress.remaining.discard(key)
        if progress.remaining:
            return
        del self._tasks[task.id]
        task.state.write_checkpoint(force=True)
        elapsed = max(time.monotonic() - progress.started, 1e-6)
        log.info(
            "task %s: restored %d records in %.2fs (%.0f records/s)",
            task.id,
            progress.restored,
            elapsed,
            progress.restored / elapsed,
        )
        self.tracing.restore_finished(task.id, progress.restored, "restored")
        self._finished.append(task)

    def _report(self) -> None:
        now = time.monotonic()
        for task_id, progress in self._tasks.items():
            if now - progress.last_report < PROGRESS_INTERVAL_S:
                continue
            progress.last_report = now
            remaining = sum(self._remaining(key) for key in progress.remaining)
            rate = progress.restored / max(now - progress.started, 1e-6)
            log.info(
                "task %s: restoring, %d records done, about %d to go (%.0f records/s)",
                task_id,
                progress.restored,
                remaining,
                rate,
            )

    def _remaining(self, key: tuple[str, int]) -> int:
        assert self._consumer is not None
        tp = TopicPartition(*key)
        try:
            _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            position = self._consumer.position([tp])[0].offset
        except Exception:
            return 0
        return max(0, high - max(position, 0)) if high >= 0 else 0

    def progress(self) -> dict[str, dict[str, float]]:
        """Task id -> records restored, about how many to go, and the rate (status file)."""
        now = time.monotonic()
        return {
            tid: {
                "restored": p.restored,
                "remaining": sum(self._remaining(key) for key in p.remaining),
                "records_per_s": round(p.restored / max(now - p.started, 1e-6)),
            }
            for tid, p in self._tasks.items()
        }

    def _client(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(self._settings)
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
