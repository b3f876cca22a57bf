"""Small savepoints built without a broker, for format and tooling tests."""

from __future__ import annotations

from pathlib import Path

from kstreamy import App
from kstreamy.savepoint.format import TaskInfo
from kstreamy.savepoint.partitioner import murmur2_partition
from kstreamy.savepoint.topology_info import Described, describe_topology, topology_manifest
from kstreamy.savepoint.writer import SavepointWriter
from kstreamy.serde import IntSerde, StrSerde
from kstreamy.topic_plan import plan_topics


def counts_app(app_id: str = "sp-app", value_serde: str = "int") -> App:
    """Counts per key of topic ``in`` into store ``counts``."""
    app = App(app_id)
    grouped = app.stream("in", key_serde="str", value_serde="json").group_by_key()
    if value_serde == "int":
        grouped.count(store="counts").to("out", value_serde="int")
    else:
        grouped.aggregate(lambda: 0, lambda k, v, acc: acc + 1, store="counts").to("out")
    return app


def write_counts_savepoint(
    root: Path, counts: dict[str, int], partitions: int = 2, app: App | None = None
) -> str:
    """A savepoint of :func:`counts_app` holding ``counts``, keys on their murmur2 partition."""
    app = app or counts_app()
    topology = app.topology
    plan = plan_topics(topology, {"in": partitions})
    described = describe_topology(topology, plan)
    writer = SavepointWriter.create(root, app.application_id)
    tasks = {}
    for partition in range(partitions):
        entries = sorted(
            (StrSerde().serialize(k), IntSerde().serialize(v))
            for k, v in counts.items()
            if murmur2_partition(StrSerde().serialize(k), partitions) == partition
        )
        tid = f"0_{partition}"
        ref = writer.write_store(tid, "counts", entries)
        tasks[tid] = TaskInfo(
            0,
            partition,
            {"in": 10 * partition},
            {f"{app.application_id}-counts-changelog": len(entries)},
            {"watermarks": {"in": 1000 + partition}},
            {"counts": ref},
        )
    return _finish(writer, app, described, tasks)


def write_store_savepoint(
    root: Path, app: App, stores: dict[str, dict[int, dict[bytes, bytes]]], partitions: int
) -> str:
    """A savepoint of ``app`` (one sub-topology reading ``in``) holding, per store and
    partition, the given raw store entries."""
    topology = app.topology
    plan = plan_topics(topology, {"in": partitions})
    described = describe_topology(topology, plan)
    writer = SavepointWriter.create(root, app.application_id)
    tasks = {}
    for partition in range(partitions):
        tid = f"0_{partition}"
        refs = {}
        for store, by_partition in stores.items():
            entries = sorted(by_partition.get(partition, {}).items())
            refs[store] = writer.write_store(tid, store, entries)
        tasks[tid] = TaskInfo(0, partition, {"in": 0}, {}, {}, refs)
    return _finish(writer, app, described, tasks)


def _finish(
    writer: SavepointWriter, app: App, described: Described, tasks: dict[str, TaskInfo]
) -> str:
    manifest = topology_manifest(
        app.topology,
        app.application_id,
        writer.savepoint_id,
        described,
        mode="offline",
        partitioner="murmur2",
        created_at="2024-01-01T00:00:00+00:00",
        tasks=tasks,
        kstreamy_version="test",
    )
    return writer.finish(manifest)
