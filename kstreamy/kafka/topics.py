"""Every topic an application writes, and making sure each exists before the first write.

Production clusters run with ``auto.create.topics.enable=false``: a write to a topic nobody
created fails (``Unknown topic or partition``) instead of creating it with broker defaults (no
compaction, one partition). So kstreamy writes only to topics of two kinds:

- **topics it owns**, listed by :func:`owned_topics` with their config, and created by
  whichever command writes them first (an instance at start, ``kstreamy reset``, ``kstreamy
  savepoint``): changelogs, repartition topics, the control, reset and endpoints topics, and
  the default dead-letter topic;
- **the user's topics** (outputs of ``to()``, ``late_topic=``), which kstreamy never creates
  (their partitions and retention are the user's choice), so an instance checks at start that
  they exist and stops with an error naming the missing ones, rather than failing at the first
  record with a producer error.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError, MissingTopicError
from kstreamy.kafka.clients import StartupAdmin, create_admin, wait_for_cluster
from kstreamy.topic_plan import TopicPlan, plan_topics
from kstreamy.topology import Topology

log = logging.getLogger("kstreamy.topics")

COMPACTED = {"cleanup.policy": "compact"}
CONTROL_RETENTION_MS = 7 * 24 * 3600 * 1000


def control_topic(application_id: str) -> str:
    return f"{application_id}-control"


def reset_topic(application_id: str) -> str:
    return f"{application_id}-reset"


def endpoints_topic(application_id: str) -> str:
    return f"{application_id}-endpoints"


@dataclasses.dataclass(frozen=True)
class TopicSpec:
    """A topic kstreamy creates: its partitions and the config it needs to work."""

    name: str
    partitions: int
    config: dict[str, str] = dataclasses.field(default_factory=dict)
    exact_partitions: bool = True
    """An existing topic with another partition count is an error: its partitions would no
    longer match the tasks (a changelog partition per task, a repartition partition per
    downstream task). Single-partition and dead-letter topics may have any count."""


def control_spec(application_id: str) -> TopicSpec:
    config = {"cleanup.policy": "delete", "retention.ms": str(CONTROL_RETENTION_MS)}
    return TopicSpec(control_topic(application_id), 1, config, exact_partitions=False)


def reset_spec(application_id: str) -> TopicSpec:
    return TopicSpec(reset_topic(application_id), 1, COMPACTED, exact_partitions=False)


def endpoints_spec(application_id: str) -> TopicSpec:
    return TopicSpec(endpoints_topic(application_id), 1, COMPACTED, exact_partitions=False)


def owned_topics(topology: Topology, config: AppConfig, plan: TopicPlan) -> list[TopicSpec]:
    """Every topic an instance of this application may write and creates at start.

    The reset topic is created by ``kstreamy reset`` (instances only read it) and the endpoints
    topic only with a query port, but both are cheap and creating them here means no command
    ever meets a half-set-up application.
    """
    app_id = topology.application_id
    specs = [TopicSpec(t, n, c) for t, (n, c) in sorted(plan.internal.items())]
    specs += [control_spec(app_id), reset_spec(app_id)]
    if config.query_port is not None:
        specs.append(endpoints_spec(app_id))
    if "dead_letter" in (config.on_deserialization_error, config.on_processing_error):
        partitions = max(plan.partitions.values())
        specs.append(TopicSpec(config.dead_letter_topic_name, partitions, exact_partitions=False))
    return specs


def output_topics(topology: Topology) -> list[str]:
    """The user's topics the topology writes: sinks that are not repartition topics, and
    late-record topics. kstreamy does not create them."""
    topics = {
        topic
        for node in topology.nodes.values()
        if node.role == "sink" and not node.params.get("internal")
        for topic in node.topics()
    }
    topics |= {
        node.params["late_topic"]
        for node in topology.nodes.values()
        if node.params.get("late_topic")
    }
    return sorted(topics)


def partition_counts(admin: AdminClient) -> dict[str, int]:
    """Partition count of every topic; the first call of start-up, so it also waits (a bounded
    time) for the cluster to answer: see :func:`kstreamy.kafka.clients.wait_for_cluster`."""
    if isinstance(admin, StartupAdmin):
        metadata = wait_for_cluster(admin)
    else:
        try:
            metadata = admin.list_topics(timeout=15.0)
        except KafkaException as exc:
            raise KStreamyError(f"cannot reach the Kafka cluster: {exc}") from exc
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None or topic.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART
    }


def require_topics(
    counts: dict[str, int], topics: list[str], bootstrap: str, role: str = "input"
) -> dict[str, int]:
    """Partition count per topic; a MissingTopicError names every absent one."""
    missing = [t for t in topics if t not in counts]
    if missing:
        raise MissingTopicError(missing, bootstrap, role)
    return {t: counts[t] for t in topics}


def topic_settings(config: AppConfig, spec: TopicSpec) -> dict[str, str]:
    """The spec's config under the user's ``topic_config`` (which cannot change the cleanup
    policy: the config check refuses that)."""
    return {k: str(v) for k, v in {**spec.config, **config.topic_config}.items()}


def ensure_topics(
    admin: AdminClient,
    existing_counts: dict[str, int],
    specs: list[TopicSpec],
    config: AppConfig,
) -> None:
    """Create the topics of ``specs`` that ``existing_counts`` (from :func:`partition_counts`)
    lacks, in one request, with ``replication_factor`` and ``topic_config``; creation by a
    peer at the same moment is fine. An existing topic is checked, not altered."""
    missing: list[TopicSpec] = []
    for spec in specs:
        existing = existing_counts.get(spec.name)
        if existing is None:
            missing.append(spec)
        elif spec.exact_partitions and existing != spec.partitions:
            raise KStreamyError(
                f"internal topic {spec.name} has {existing} partitions but the topology needs "
                f"{spec.partitions}; the input topics' partition counts (or a partitions= "
                "setting) changed? Take a savepoint and run `kstreamy reset --to-savepoint` to "
                "move the state to the new count (or `--to-earliest` to start over)"
            )
    if not missing:
        return
    new = [
        NewTopic(s.name, s.partitions, config.replication_factor, config=topic_settings(config, s))
        for s in missing
    ]
    futures = admin.create_topics(new, operation_timeout=30)
    for spec in missing:
        try:
            futures[spec.name].result()
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise KStreamyError(_creation_failure(spec.name, error, config)) from exc
        log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
        existing_counts[spec.name] = spec.partitions


def ensure_topic(config: AppConfig, spec: TopicSpec) -> None:
    """Create one owned topic unless it exists (for commands that write a single topic)."""
    admin = create_admin(config)
    ensure_topics(admin, partition_counts(admin), [spec], config)


def _creation_failure(topic: str, error: KafkaError, config: AppConfig) -> str:
    reason = error.str()
    if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        hint = (
            "the principal needs the CREATE permission on the cluster or on topics prefixed "
            f"{config.application_id}- (or create the topic beforehand with its config)"
        )
    elif error.code() == KafkaError.INVALID_REPLICATION_FACTOR:
        hint = (
            f"replication_factor is {config.replication_factor} (-1: the broker's default); "
            "set it to at most the number of brokers"
        )
    else:
        hint = "create it beforehand with the partitions and config kstreamy needs"
    return f"cannot create internal topic {topic}: {reason}; {hint}"


METADATA_PROPAGATION_S = 5.0
"""How long a topic missing from the metadata is looked for again before it counts as missing:
on a cluster, a topic created a moment ago may not be known yet to the broker that answers."""


def _counts_with(admin: AdminClient, topics: list[str]) -> dict[str, int]:
    """:func:`partition_counts`, asked again for a short while while any of ``topics`` is
    missing."""
    counts = partition_counts(admin)
    deadline = time.monotonic() + METADATA_PROPAGATION_S
    while any(t not in counts for t in topics) and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = partition_counts(admin)
    return counts


def prepare_topics(topology: Topology, config: AppConfig) -> TopicPlan:
    """Check the input and output topics, plan the internal ones and create those missing."""
    admin = create_admin(config)
    if isinstance(admin, StartupAdmin):  # an instance's first call: wait for a starting broker
        wait_for_cluster(admin, config.startup_timeout_ms / 1000, patient=True)
    inputs, outputs = topology.external_source_topics(), output_topics(topology)
    existing = _counts_with(admin, [*inputs, *outputs])
    bootstrap = config.bootstrap_servers
    counts = require_topics(existing, inputs, bootstrap)
    output_counts = require_topics(existing, outputs, bootstrap, "output")
    plan = plan_topics(topology, counts)
    plan.outputs.update(output_counts)
    ensure_topics(admin, existing, owned_topics(topology, config, plan), config)
    return plan
