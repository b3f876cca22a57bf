"""What a savepoint records about the topology, and whether a topology can take its state.

Stores are matched by name (the names users gave their stateful steps, which is why those names
must stay stable), never by sub-topology number or node position, so a new stateless step, a
renumbered sub-topology or a new store does not invalidate a savepoint. What must match is how
a store's bytes are to be read: its kind and its key and value serdes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from kstreamy.savepoint.errors import SavepointCompatibilityError
from kstreamy.savepoint.format import (
    SNAPSHOT_FORMAT,
    FileRef,
    Manifest,
    StoreInfo,
    SubTopologyInfo,
    TaskInfo,
)
from kstreamy.topic_plan import TopicPlan
from kstreamy.topology import StoreSpec, Topology

OPAQUE_KEY_KINDS = frozenset({"process"})
"""Node kinds whose stores hold keys chosen by user code, not record keys."""


def store_kind(spec: StoreSpec) -> str:
    return str(getattr(spec, "kind", "key_value"))


def serde_marker(serde: Any) -> dict[str, Any]:
    """What identifies the byte format of a serde: its name, and for Avro its schema."""
    marker: dict[str, Any] = {"name": str(getattr(serde, "name", type(serde).__name__))}
    schema = getattr(serde, "schema", None)
    if schema is not None:
        canonical = json.dumps(schema, sort_keys=True, default=str).encode()
        marker["schema_sha256"] = hashlib.sha256(canonical).hexdigest()
    return marker


def key_layout(topology: Topology, store: str) -> str:
    """Whether ``store``'s keys are (or wrap) record keys. A timer store is always keyed by the
    key of the record that set the timer, whatever else its process step stores."""
    if store_kind(topology.stores[store]) == "timers":
        return "record_key"
    users = [n for n in topology.nodes.values() if store in n.store_names()]
    return "opaque" if any(n.kind in OPAQUE_KEY_KINDS for n in users) else "record_key"


def fingerprint(topology: Topology) -> str:
    return "sha256:" + hashlib.sha256(topology.describe().encode()).hexdigest()


def describe_topology(topology: Topology, plan: TopicPlan) -> Described:
    """Sub-topologies, topics and stores as a manifest records them."""
    internal = topology.internal_topics()
    subs = []
    stores: dict[str, StoreInfo] = {}
    topics: dict[str, dict[str, Any]] = {}
    for sub in topology.subtopologies():
        count = plan.partitions[sub.id]
        writes = sorted(
            n.params["topic"] for n in sub.nodes if n.kind == "sink" and n.params.get("internal")
        )
        subs.append(SubTopologyInfo(sub.id, sub.source_topics, sub.store_names, count, writes))
        for topic in sub.source_topics:
            role = "repartition" if internal.get(topic) == "repartition" else "source"
            topics[topic] = {"partitions": count, "role": role}
        for name in sub.store_names:
            spec = topology.stores[name]
            changelog = spec.changelog_topic(topology.application_id)
            if changelog:
                topics[changelog] = {"partitions": count, "role": "changelog"}
            stores[name] = StoreInfo(
                kind=store_kind(spec),
                format=SNAPSHOT_FORMAT,
                key_serde=serde_marker(spec.key_serde),
                value_serde=serde_marker(spec.value_serde),
                changelog_topic=changelog,
                key_layout=key_layout(topology, name),
                subtopology=sub.id,
            )
    for topic, (count, _) in plan.internal.items():
        if internal.get(topic) == "repartition":
            topics[topic] = {"partitions": count, "role": "repartition"}
    return subs, topics, stores


@dataclasses.dataclass
class RestoreMapping:
    """How a savepoint's state maps onto a topology."""

    restored: dict[str, int]
    """Store -> the sub-topology of the new topology that owns it."""
    new_stores: list[str]
    dropped_stores: list[str]
    task_of: dict[str, str]
    """Savepoint task id -> task id in the new topology (same inputs, same partition)."""


Described = tuple[list[SubTopologyInfo], dict[str, dict[str, Any]], dict[str, StoreInfo]]
"""What :func:`describe_topology` returns: sub-topologies, topics and stores."""


def topology_manifest(
    topology: Topology,
    application_id: str,
    savepoint_id: str,
    described: Described,
    *,
    mode: str,
    partitioner: str,
    created_at: str,
    tasks: dict[str, TaskInfo],
    kstreamy_version: str,
    in_flight: dict[str, dict[int, FileRef]] | None = None,
) -> Manifest:
    """The manifest of a savepoint of ``topology``: every way of taking one (live, offline)
    describes the topology the same way, and differs only in how it got the tasks."""
    subs, topics, stores = described
    return Manifest(
        savepoint_id=savepoint_id,
        application_id=application_id,
        created_at=created_at,
        mode=mode,
        partitioner=partitioner,
        topology_fingerprint=fingerprint(topology),
        topology_description=topology.describe(),
        subtopologies=subs,
        topics=topics,
        stores=stores,
        tasks=tasks,
        in_flight=in_flight or {},
        kstreamy_version=kstreamy_version,
    )


def check_restore(
    manifest: Manifest, topology: Topology, allow_non_restored_state: bool = False
) -> RestoreMapping:
    """Raise :class:`SavepointCompatibilityError` naming every store that cannot be restored."""
    problems = []
    dropped = sorted(set(manifest.stores) - set(topology.stores))
    if dropped and not allow_non_restored_state:
        problems.append(
            f"the savepoint has state for store(s) {', '.join(dropped)} that the application "
            "no longer has; pass --allow-non-restored-state to drop that state"
        )
    owner = {name: sub.id for sub in topology.subtopologies() for name in sub.store_names}
    restored = {}
    for name, info in sorted(manifest.stores.items()):
        spec = topology.stores.get(name)
        if spec is None:
            continue
        restored[name] = owner.get(name, -1)
        if info.format != SNAPSHOT_FORMAT:
            problems.append(f"store {name!r}: snapshot format {info.format!r} is unknown")
        if info.kind != store_kind(spec):
            problems.append(
                f"incompatible store format: store {name!r} is a {info.kind} store in the "
                f"savepoint but a {store_kind(spec)} store in the application"
            )
        for part, serde in (("key", spec.key_serde), ("value", spec.value_serde)):
            saved = getattr(info, f"{part}_serde")
            now = serde_marker(serde)
            if saved != now:
                problems.append(
                    f"incompatible store format: store {name!r} holds {part}s written with serde "
                    f"{_marker_text(saved)} but the application reads them with {_marker_text(now)}"
                )
    if problems:
        raise SavepointCompatibilityError(
            f"savepoint {manifest.savepoint_id} does not fit application "
            f"{topology.application_id}: " + "; ".join(problems)
        )
    new_stores = sorted(set(topology.stores) - set(manifest.stores))
    by_inputs = {tuple(sub.source_topics): sub.id for sub in topology.subtopologies()}
    sub_map = {
        sub.id: by_inputs[tuple(sub.source_topics)]
        for sub in manifest.subtopologies
        if tuple(sub.source_topics) in by_inputs
    }
    task_of = {
        tid: f"{sub_map[t.subtopology]}_{t.partition}"
        for tid, t in manifest.tasks.items()
        if t.subtopology in sub_map
    }
    return RestoreMapping(restored, new_stores, dropped, task_of)


def _marker_text(marker: dict[str, Any]) -> str:
    text = repr(marker.get("name"))
    if "schema_sha256" in marker:
        text += f" (schema {marker['schema_sha256'][:12]})"
    return text
