"""Carrying out a reset plan (see :mod:`kstreamy.ops.reset_plan`).

Every step sets a target state rather than applying a difference, so a reset interrupted at any
point (even by SIGKILL) is completed by running it again: the marker written first keeps
instances from starting on half-reset topics, and only the last step marks it complete.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

from kstreamy.config import AppConfig
from kstreamy.kafka.clients import create_admin
from kstreamy.kafka.topics import TopicSpec
from kstreamy.ops.kafka_io import Writer, delete_group, recreate_topic, set_offsets
from kstreamy.ops.progress import NoProgress, Progress
from kstreamy.ops.rescale import entries_of, regroup
from kstreamy.ops.reset_plan import ResetPlan
from kstreamy.runtime.reset_marker import ResetMarker, write_marker
from kstreamy.savepoint.partitioner import partitioner

FAULT_ENV = "KSTREAMY_FAULT_RESET_KILL_AT"
"""Fault injection for tests: the reset kills itself (SIGKILL) after the named step."""


def _fault_point(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def run_reset(plan: ResetPlan, config: AppConfig, progress: Progress | None = None) -> str:
    """Reset the application; returns the new reset generation."""
    progress = progress or NoProgress()
    admin = create_admin(config)
    generation = uuid.uuid4().hex[:12]
    marker = ResetMarker(generation, "in_progress", plan.target, time.time())
    write_marker(config, marker)
    _fault_point("marker")
    progress.begin("deleting the consumer group (its offsets are set again below)")
    delete_group(admin, config.application_id)
    progress.begin("emptying internal topics", len(plan.recreate))
    for topic, (count, topic_config) in sorted(plan.recreate.items()):
        recreate_topic(admin, TopicSpec(topic, count, topic_config), config)
        progress.advance()
    _fault_point("recreate")
    writer = Writer(config)
    savepoint = plan.savepoint
    if savepoint is not None:
        partition_of = partitioner(plan.partitioner)
        progress.begin("reseeding changelogs", sum(s.entries for s in plan.seeds))
        for seed in plan.seeds:
            if seed.rescaled:
                with regroup(
                    savepoint,
                    seed.store,
                    seed.old_tasks,
                    seed.old_partitions,
                    seed.partitions,
                    partition_of,
                ) as moved:
                    for partition in range(seed.partitions):
                        for key, value in entries_of(moved, partition):
                            writer.write(seed.changelog, partition, key, value)
                            progress.advance()
            else:
                for partition, tid in sorted(seed.old_tasks.items()):
                    for key, value in savepoint.store_entries(tid, seed.store):
                        writer.write(seed.changelog, partition, key, value)
                        progress.advance()
        writer.flush()
        _fault_point("reseed")
        progress.begin("replaying in-flight records", sum(r.records for r in plan.replays))
        for replay in plan.replays:
            same = replay.partitions == replay.old_partitions
            for key, value, timestamp, headers in savepoint.in_flight(
                replay.topic, replay.old_partition
            ):
                if same or not key:
                    target = replay.old_partition % replay.partitions
                else:
                    target = partition_of(key, replay.partitions)
                writer.write(replay.topic, target, key, value, timestamp, headers)
                progress.advance()
        writer.flush()
    progress.begin("setting input offsets")
    set_offsets(admin, config.application_id, plan.offsets, reconnect=lambda: create_admin(config))
    marker.status, marker.completed_at = "complete", time.time()
    marker.tasks = plan.task_metadata
    write_marker(config, marker)
    return generation
