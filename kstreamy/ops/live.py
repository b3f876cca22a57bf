"""Taking a savepoint of running instances through the control topic.

The command writes a request, the instances snapshot their tasks at commit boundaries (see
:mod:`kstreamy.runtime.savepoint_hook`) into a staging area of the savepoint and acknowledge
each task; the command waits until every task of the topology is covered (tasks that move in
a rebalance are snapshotted by their new owner), checks each file against its acknowledged
checksum, moves the files into place, writes the manifest and tells the instances it is done.
On a timeout it tells them the request is aborted (they resume) and removes the partial files.
"""

from __future__ import annotations

import time
from typing import Any

from kstreamy import __version__
from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError
from kstreamy.ops.app_plan import current_plan
from kstreamy.ops.group import group_state
from kstreamy.ops.offline import utc_now
from kstreamy.ops.progress import NoProgress, Progress
from kstreamy.runtime.control_topic import ControlChannel, new_request_id
from kstreamy.savepoint.format import FileRef, TaskInfo
from kstreamy.savepoint.reader import Savepoint
from kstreamy.savepoint.snapshot import sha256_file
from kstreamy.savepoint.topology_info import describe_topology, topology_manifest
from kstreamy.savepoint.writer import SavepointWriter, store_file
from kstreamy.topology import Topology

DEADLINE_MARGIN_S = 30.0
"""Instances give up on a request this long after the command would have."""


def create_live_savepoint(
    topology: Topology,
    config: AppConfig,
    root: str,
    stop: bool = False,
    timeout: float = 300.0,
    progress: Progress | None = None,
    partitioner: str = "murmur2",
) -> str:
    progress = progress or NoProgress()
    _, _, plan = current_plan(topology, config)
    subs, topics, stores = describe_topology(topology, plan)
    expected = {f"{s.id}_{p}" for s in subs for p in range(s.partitions)}
    writer = SavepointWriter.create(root, config.application_id)
    channel = ControlChannel(config)
    channel.ensure_topic()
    rid = new_request_id()
    deadline = time.time() + timeout
    request = {
        "type": "savepoint",
        "id": rid,
        "location": writer.location,
        "stop": stop,
        "deadline": deadline + DEADLINE_MARGIN_S,
    }
    try:
        channel.seek(channel.send(request) + 1)
        acks = _collect(channel, rid, expected, deadline, progress)
        progress.begin("checking snapshot files", len(acks))
        tasks = {tid: _place(writer, tid, ack, stores) for tid, ack in sorted(acks.items())}
        writer.storage.delete(".staging")
        manifest = topology_manifest(
            topology,
            config.application_id,
            writer.savepoint_id,
            (subs, topics, stores),
            mode="live-stop" if stop else "live",
            partitioner=partitioner,
            created_at=utc_now(),
            tasks=tasks,
            kstreamy_version=__version__,
        )
        location = writer.finish(manifest)
        Savepoint.open(location, config.application_id).verify()
        channel.send({"type": "done", "id": rid, "outcome": "complete"})
    except BaseException:
        try:
            channel.send({"type": "done", "id": rid, "outcome": "aborted"})
        finally:
            writer.abort()
        raise
    finally:
        channel.close()
    if stop:
        _wait_stopped(config, timeout, progress)
    return location


def _collect(
    channel: ControlChannel,
    rid: str,
    expected: set[str],
    deadline: float,
    progress: Progress,
) -> dict[str, dict[str, Any]]:
    acks: dict[str, dict[str, Any]] = {}
    progress.begin("tasks snapshotted", len(expected))
    while set(acks) < expected:
        if time.time() > deadline:
            missing = ", ".join(sorted(expected - set(acks)))
            raise KStreamyError(
                f"savepoint timed out: no snapshot of task(s) {missing} (are instances running "
                "and owning them? a task restoring its state is snapshotted once restored)"
            )
        for record in channel.poll(0.2):
            task = record.get("task")
            is_ack = record.get("type") == "ack" and record.get("id") == rid
            if is_ack and task in expected and task not in acks:
                acks[task] = record
                progress.advance()
    return acks


def _place(writer: SavepointWriter, tid: str, ack: dict[str, Any], stores: dict) -> TaskInfo:
    """Check a task's staged files against its acknowledgement and move them into place."""
    sub_id, partition = (int(part) for part in tid.split("_"))
    files: dict[str, FileRef] = {}
    for store, raw in ack["stores"].items():
        ref = FileRef(**raw)
        if ref.path is not None:
            staged = writer.storage.read_path(ref.path)
            if not staged.exists() or sha256_file(staged) != ref.sha256:
                raise KStreamyError(
                    f"snapshot of task {tid} store {store} from instance {ack.get('instance')} "
                    f"is missing or does not match its checksum ({staged})"
                )
            final = store_file(tid, store)
            writer.storage.move(ref.path, final)
            ref.path = final
        files[store] = ref
    missing = [s for s, info in stores.items() if info.subtopology == sub_id and s not in files]
    if missing:
        raise KStreamyError(
            f"the snapshot of task {tid} lacks store(s) {', '.join(missing)}: do the running "
            "instances run the same code as this command?"
        )
    return TaskInfo(
        sub_id,
        partition,
        dict(ack["input_offsets"]),
        dict(ack["changelog_offsets"]),
        dict(ack["metadata"]),
        files,
    )


def _wait_stopped(config: AppConfig, timeout: float, progress: Progress) -> None:
    progress.begin("waiting for the instances to stop")
    deadline = time.monotonic() + timeout
    while group_state(config)[0] not in ("EMPTY", "DEAD"):
        if time.monotonic() > deadline:
            raise KStreamyError("the savepoint is complete but instances did not stop in time")
        time.sleep(0.5)
