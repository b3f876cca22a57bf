"""What ``kstreamy reset`` will change, computed and checked before anything is changed.

A reset puts the application back to a savepoint, to the beginning of its inputs, or to a point
in time. All three empty the internal topics (changelogs and repartition topics are deleted and
re-created, so no stale record can come back), set the consumer group's offsets on the input
topics, and write a new reset generation (so instances drop local state from before). A reset to
a savepoint also reseeds the changelogs with the savepoint's state (moved to the current
partition counts if they changed), replays its in-flight records, and hands its task metadata
(watermarks) to the tasks. Every check that can fail happens here, so a bad savepoint, an
incompatible topology or an impossible rescale changes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError
from kstreamy.ops.app_plan import current_plan
from kstreamy.ops.kafka_io import PartitionReader
from kstreamy.ops.offsets import beginning, end, offset_for_time
from kstreamy.ops.progress import NoProgress, Progress
from kstreamy.ops.rescale import misrouted_records, record_key_function
from kstreamy.savepoint.partitioner import partitioner
from kstreamy.savepoint.reader import Savepoint
from kstreamy.savepoint.task_entries import check_task_entries, task_entry_keys
from kstreamy.savepoint.topology_info import check_restore
from kstreamy.topic_plan import TopicPlan
from kstreamy.topology import Topology


@dataclasses.dataclass
class StoreSeed:
    """One store's state going back into its changelog."""

    store: str
    changelog: str
    partitions: int
    old_partitions: int
    old_tasks: dict[int, str]
    """Partition in the savepoint -> the savepoint task holding it."""
    entries: int

    @property
    def rescaled(self) -> bool:
        return self.partitions != self.old_partitions


@dataclasses.dataclass
class InFlightReplay:
    topic: str
    old_partition: int
    records: int
    partitions: int
    old_partitions: int


@dataclasses.dataclass
class ResetPlan:
    application_id: str
    target: str
    savepoint: Savepoint | None
    partitioner: str
    recreate: dict[str, tuple[int, dict[str, str]]]
    seeds: list[StoreSeed]
    replays: list[InFlightReplay]
    offsets: dict[tuple[str, int], int]
    """Every input partition's offset for the consumer group."""
    task_metadata: dict[str, dict[str, Any]]
    notes: list[str]

    def lines(self) -> list[str]:
        """Every change, in the order the reset makes them."""
        out = [
            f"mark {self.application_id}-reset: reset to {self.target} in progress "
            "(instances refuse to start until it completes)",
            f"delete consumer group {self.application_id} (offsets and membership)",
        ]
        for topic, (count, config) in sorted(self.recreate.items()):
            kind = "changelog" if config.get("cleanup.policy") == "compact" else "repartition"
            out.append(f"empty {kind} topic {topic}: delete and re-create ({count} partitions)")
        for seed in self.seeds:
            if seed.rescaled:
                out.append(
                    f"reseed {seed.changelog} with the {seed.entries} entries of store "
                    f"{seed.store}, moved from {seed.old_partitions} to {seed.partitions} "
                    f"partitions by the {self.partitioner} hash of their record keys"
                )
            else:
                for partition, tid in sorted(seed.old_tasks.items()):
                    out.append(
                        f"reseed {seed.changelog}[{partition}] with store {seed.store} of "
                        f"savepoint task {tid}"
                    )
        for replay in self.replays:
            where = (
                f"{replay.topic}[{replay.old_partition}]"
                if replay.partitions == replay.old_partitions
                else f"{replay.topic} (by key, {replay.partitions} partitions)"
            )
            out.append(f"replay {replay.records} in-flight records to {where}")
        for (topic, partition), offset in sorted(self.offsets.items()):
            out.append(f"set the offset of {topic}[{partition}] to {offset}")
        for tid in sorted(self.task_metadata):
            out.append(f"give task {tid} its savepoint metadata (watermarks)")
        out.append(
            f"mark {self.application_id}-reset complete with a new generation: instances wipe "
            "local state from before and restore from the changelogs"
        )
        return out


def plan_reset(
    topology: Topology,
    config: AppConfig,
    *,
    savepoint_path: str | None = None,
    to_earliest: bool = False,
    to_time_ms: int | None = None,
    target_text: str = "",
    allow_non_restored_state: bool = False,
    partitioner_name: str | None = None,
    progress: Progress | None = None,
) -> ResetPlan:
    progress = progress or NoProgress()
    if sum((savepoint_path is not None, to_earliest, to_time_ms is not None)) != 1:
        raise KStreamyError("give exactly one of --to-savepoint, --to-earliest, --to-datetime")
    _, counts, plan = current_plan(topology, config)
    internal = topology.internal_topics()
    external = topology.external_source_topics()
    result = ResetPlan(
        config.application_id,
        target_text,
        None,
        partitioner_name or "murmur2",
        dict(plan.internal),
        [],
        [],
        {},
        {},
        [],
    )
    reader = PartitionReader(config)
    try:
        if savepoint_path is not None:
            source = _Source(topology, config, plan, counts, reader, progress)
            _from_savepoint(
                result, source, savepoint_path, allow_non_restored_state, partitioner_name
            )
        else:
            progress.begin("finding input offsets", len(external))
            for topic in external:
                for p in range(counts[topic]):
                    result.offsets[(topic, p)] = (
                        beginning(reader, topic, p)
                        if to_earliest
                        else offset_for_time(reader, topic, p, int(to_time_ms or 0))
                    )
                progress.advance()
    finally:
        reader.close()
    for topic, (count, _) in plan.internal.items():
        if internal.get(topic) == "repartition":
            for p in range(count):
                result.offsets[(topic, p)] = 0
    return result


@dataclasses.dataclass
class _Source:
    topology: Topology
    config: AppConfig
    plan: TopicPlan
    counts: dict[str, int]
    reader: PartitionReader
    progress: Progress


def _from_savepoint(
    result: ResetPlan,
    source: _Source,
    path: str,
    allow_non_restored_state: bool,
    partitioner_name: str | None,
) -> None:
    topology, config, plan = source.topology, source.config, source.plan
    counts, reader, progress = source.counts, source.reader, source.progress
    savepoint = Savepoint.open(path, config.application_id)
    progress.begin("verifying the savepoint", savepoint.total_bytes())
    savepoint.verify(progress.advance)
    manifest = savepoint.manifest
    mapping = check_restore(manifest, topology, allow_non_restored_state)
    result.savepoint = savepoint
    result.target = result.target or f"savepoint {savepoint.location}"
    result.partitioner = partitioner_name or manifest.partitioner
    partition_of = partitioner(result.partitioner)
    owner = {name: sub.id for sub in topology.subtopologies() for name in sub.store_names}
    for store in sorted(mapping.restored):
        info = manifest.stores[store]
        changelog = topology.stores[store].changelog_topic(config.application_id)
        if changelog is None:
            result.notes.append(f"store {store} has no changelog: it starts empty")
            continue
        tasks = savepoint.tasks_with_store(store)
        seed = StoreSeed(
            store,
            changelog,
            plan.partitions[owner[store]],
            manifest.subtopology(info.subtopology).partitions,
            {manifest.tasks[t].partition: t for t in tasks},
            sum(manifest.tasks[t].stores[store].entries for t in tasks),
        )
        if seed.rescaled:
            record_key_function(store, info)
            check_task_entries(store, task_entry_keys(savepoint, store, tasks))
        result.seeds.append(seed)
    result.notes += [f"store {s} is new: it starts empty" for s in mapping.new_stores]
    result.notes += [
        f"store {s} is not in the application: its state is dropped" for s in mapping.dropped_stores
    ]
    grown: dict[str, int] = {}
    for topic in topology.external_source_topics():
        old = manifest.topics.get(topic, {}).get("partitions")
        saved = {
            t.partition: t.input_offsets[topic]
            for t in manifest.tasks.values()
            if topic in t.input_offsets
        }
        if old is not None and counts[topic] < old:
            raise KStreamyError(
                f"topic {topic} has {counts[topic]} partitions but had {old} in the savepoint"
            )
        if old is not None and counts[topic] != old:
            grown[topic] = old
        for p in range(counts[topic]):
            offset = saved.get(p) if old is not None and p < old else None
            if offset is not None:
                result.offsets[(topic, p)] = offset
            elif old is not None and p >= old:
                # A partition added since the savepoint: read all of it.
                result.offsets[(topic, p)] = beginning(reader, topic, p)
            elif config.auto_offset_reset == "earliest":
                # Nothing committed at the savepoint (or a new input): where a new app starts.
                result.offsets[(topic, p)] = beginning(reader, topic, p)
            else:
                result.offsets[(topic, p)] = end(reader, topic, p)
    rescaled_subs = {owner[s.store] for s in result.seeds if s.rescaled}
    for sub in topology.subtopologies():
        if sub.id not in rescaled_subs:
            continue
        for topic in sub.source_topics:
            if topic not in grown:
                continue
            progress.begin(f"checking {topic} for records written under the old partition count")
            old_offsets = {p: result.offsets[(topic, p)] for p in range(grown[topic])}
            bad = misrouted_records(reader, topic, old_offsets, counts[topic], partition_of)
            if bad:
                listing = ", ".join(f"{n} in partition {p}" for p, n in sorted(bad.items()))
                raise KStreamyError(
                    f"cannot rescale: {topic} holds records after the savepoint that were "
                    f"written while it had {grown[topic]} partitions ({listing}); their keys now "
                    "belong to other tasks. Take the savepoint after the application has read "
                    "every record written before the topic grew"
                )
    for topic, parts in sorted(manifest.in_flight.items()):
        if topic not in result.recreate:
            result.notes.append(f"in-flight records of {topic} are dropped (no such topic now)")
            continue
        old_count = manifest.topics.get(topic, {}).get("partitions", 0)
        for p, ref in sorted(parts.items()):
            result.replays.append(
                InFlightReplay(topic, p, ref.entries, result.recreate[topic][0], old_count)
            )
    # A rescaled task starts without watermarks: its keys come from other tasks, whose
    # watermarks belong to partitions it does not read. Starting low is safe, since windows and
    # timers only close or fire later, and the stores' own progress entries (merged by
    # kstreamy.savepoint.task_entries) keep closed windows from being emitted again.
    for old_tid, new_tid in mapping.task_of.items():
        task = manifest.tasks[old_tid]
        new_sub = int(new_tid.split("_")[0])
        same_count = manifest.subtopology(task.subtopology).partitions == plan.partitions[new_sub]
        if same_count and task.metadata:
            result.task_metadata[new_tid] = dict(task.metadata)
