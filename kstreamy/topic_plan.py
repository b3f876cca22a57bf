"""Partition counts of sub-topologies and the internal topics they need.

Pure functions over the topology IR and the partition counts of the user's topics, so the rules
(co-partitioning, repartition and changelog sizing) are testable without a broker.
"""

from __future__ import annotations

import dataclasses

from kstreamy.errors import TopologyError
from kstreamy.topology import Topology

REPARTITION_TOPIC_CONFIG = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "segment.bytes": str(50 * 1024 * 1024),
}
"""As Kafka Streams: records carry event times, so time-based retention could delete an old
backlog before it is read; instances delete what they have read instead (see
:mod:`kstreamy.runtime.repartition_purge`), and small segments let the broker free the space."""
CHANGELOG_TOPIC_CONFIG = {"cleanup.policy": "compact"}


@dataclasses.dataclass
class TopicPlan:
    partitions: dict[int, int]
    """Sub-topology id -> number of tasks (= partitions of each of its input topics)."""
    internal: dict[str, tuple[int, dict[str, str]]]
    """Internal topic -> (partitions, topic config)."""
    lead_topic: dict[int, str]
    """Sub-topology id -> the input topic the consumer group subscribes to for it."""
    copartitioned: dict[int, list[str]]
    """Sub-topology id -> its other input topics, read at the partitions of the lead topic."""
    outputs: dict[str, int] = dataclasses.field(default_factory=dict)
    """The user's output topic -> its partition count when the instance started: sinks of
    windowed keys choose the partition of the base key themselves and need the count (see
    :func:`kstreamy.runtime.stateless.windowed_partitioner`)."""


def plan_topics(topology: Topology, external_counts: dict[str, int]) -> TopicPlan:
    """Size every sub-topology; raise a TopologyError naming any co-partitioning mismatch.

    A repartition topic gets as many partitions as the sub-topology writing to it has tasks
    (Kafka Streams sizes it by the upstream source topics the same way), unless the sub-topology
    reading it also reads user topics: then it takes their count, so the two are co-partitioned
    (as Kafka Streams does for a join after a key change). A count given with ``partitions=``
    on the repartitioning step wins over both. A changelog topic gets as many
    partitions as the sub-topology owning the store.
    """
    subs = topology.subtopologies()
    counts = dict(external_counts)
    missing = [t for t in topology.external_source_topics() if t not in counts]
    if missing:
        raise TopologyError(f"no partition count for input topic(s): {', '.join(missing)}")
    repartition = {t for t, kind in topology.internal_topics().items() if kind == "repartition"}
    for node in topology.nodes.values():
        if node.kind == "sink" and node.params.get("internal") and node.params.get("partitions"):
            counts[node.params["topic"]] = node.params["partitions"]  # set by partitions=...
    for sub in subs:
        given = {counts[t] for t in sub.source_topics if t not in repartition}
        if len(given) == 1:  # several counts: the mismatch is reported below
            for topic in sub.source_topics:
                if topic in repartition:
                    counts.setdefault(topic, next(iter(given)))
    partitions: dict[int, int] = {}
    pending = list(subs)
    while pending:
        progressed = False
        for sub in list(pending):
            known = {t: counts[t] for t in sub.source_topics if t in counts}
            if len(known) < len(sub.source_topics):
                continue
            distinct = set(known.values())
            if len(distinct) > 1:
                listing = ", ".join(f"{t} ({n})" for t, n in sorted(known.items()))
                raise TopologyError(
                    f"topics read together in sub-topology {sub.id} must have the same number "
                    f"of partitions (co-partitioning), but have: {listing}"
                )
            partitions[sub.id] = distinct.pop()
            for node in sub.nodes:
                if node.role == "sink" and node.params.get("internal"):
                    for topic in node.topics():
                        counts.setdefault(topic, partitions[sub.id])
            pending.remove(sub)
            progressed = True
        if not progressed:
            raise TopologyError("cannot size sub-topologies: repartition topics form a cycle")
    internal: dict[str, tuple[int, dict[str, str]]] = {}
    for topic, kind in topology.internal_topics().items():
        if kind == "repartition":
            internal[topic] = (counts[topic], dict(REPARTITION_TOPIC_CONFIG))
    for sub in subs:
        for store in sub.store_names:
            changelog = topology.stores[store].changelog_topic(topology.application_id)
            if changelog:
                internal[changelog] = (partitions[sub.id], dict(CHANGELOG_TOPIC_CONFIG))
    lead = {sub.id: sub.source_topics[0] for sub in subs}
    others = {sub.id: sub.source_topics[1:] for sub in subs}
    return TopicPlan(partitions, internal, lead, others)
