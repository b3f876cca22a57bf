"""A savepoint of a stopped application, from its committed offsets and its changelogs.

With no instance running nothing moves: each task's input positions are the group's committed
offsets and its state is its changelog partitions folded to their end (what a restoring
instance would rebuild). Records written to repartition topics but not yet read by their
sub-topology are kept in the savepoint as in-flight records, so a restart from it loses and
repeats nothing. Checkpoint metadata (watermarks) lives only in instances' local checkpoint
files, so an offline savepoint has none; tasks derive it again from the records they read.
"""

from __future__ import annotations

import datetime
import logging

from kstreamy import __version__
from kstreamy.config import AppConfig
from kstreamy.ops.app_plan import current_plan
from kstreamy.ops.kafka_io import PartitionReader, committed_offsets
from kstreamy.ops.progress import NoProgress, Progress
from kstreamy.ops.scratch import ScratchStore
from kstreamy.savepoint.format import FileRef, TaskInfo
from kstreamy.savepoint.topology_info import describe_topology, topology_manifest
from kstreamy.savepoint.writer import SavepointWriter
from kstreamy.topology import Topology

log = logging.getLogger("kstreamy.savepoint")

BATCH = 10_000


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def create_offline_savepoint(
    topology: Topology,
    config: AppConfig,
    root: str,
    progress: Progress | None = None,
    partitioner: str = "murmur2",
) -> str:
    progress = progress or NoProgress()
    admin, counts, plan = current_plan(topology, config)
    subs, topics, stores = describe_topology(topology, plan)
    committed = committed_offsets(admin, config.application_id)
    writer = SavepointWriter.create(root, config.application_id)
    consumer = PartitionReader(config)
    try:
        tasks: dict[str, TaskInfo] = {}
        total = sum(plan.partitions[s.id] for s in subs)
        progress.begin("reading changelogs", total)
        for sub in subs:
            for partition in range(sub.partitions):
                tid = f"{sub.id}_{partition}"
                files: dict[str, FileRef] = {}
                changelog_offsets: dict[str, int] = {}
                for store in sub.stores:
                    topic = stores[store].changelog_topic
                    if topic is None or topic not in counts:
                        if topic is None:
                            progress.log(f"store {store} has no changelog: saved empty")
                        files[store] = FileRef(None, 0, 0, None)
                        continue
                    with ScratchStore() as scratch:
                        batch: list[tuple[bytes, bytes | None]] = []
                        for message in consumer.read(topic, partition):
                            batch.append((message.key(), message.value()))
                            if len(batch) >= BATCH:
                                scratch.write(batch)
                                batch = []
                        scratch.write(batch)
                        assert consumer.end is not None
                        changelog_offsets[topic] = consumer.end
                        files[store] = writer.write_store(tid, store, scratch.items())
                inputs = {t: committed.get((t, partition)) for t in sub.source_topics}
                tasks[tid] = TaskInfo(sub.id, partition, inputs, changelog_offsets, {}, files)
                progress.advance()
        in_flight: dict[str, dict[int, FileRef]] = {}
        for topic, info in sorted(topics.items()):
            if info["role"] != "repartition" or topic not in counts:
                continue
            progress.begin(f"reading in-flight records of {topic}", info["partitions"])
            for partition in range(info["partitions"]):
                records = [
                    (m.key(), m.value(), m.timestamp()[1], list(m.headers() or []))
                    for m in consumer.read(topic, partition, committed.get((topic, partition)))
                ]
                if records:
                    ref = writer.write_in_flight(topic, partition, records)
                    in_flight.setdefault(topic, {})[partition] = ref
                progress.advance()
        manifest = topology_manifest(
            topology,
            config.application_id,
            writer.savepoint_id,
            (subs, topics, stores),
            mode="offline",
            partitioner=partitioner,
            created_at=utc_now(),
            tasks=tasks,
            kstreamy_version=__version__,
            in_flight=in_flight,
        )
        return writer.finish(manifest)
    except BaseException:
        writer.abort()
        raise
    finally:
        consumer.close()
