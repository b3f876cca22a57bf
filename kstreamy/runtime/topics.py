"""Topic checks and internal topic creation at start-up."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError, MissingTopicError
from kstreamy.runtime.clients import StartupAdmin, create_admin, wait_for_cluster
from kstreamy.runtime.topic_plan import TopicPlan, plan_topics
from kstreamy.topology import Topology

log = logging.getLogger("kstreamy.topics")


def partition_counts(admin: AdminClient) -> dict[str, int]:
    """Partition count of every topic; the first call of start-up, so it also waits (a bounded
    time) for the cluster to answer: see :func:`kstreamy.runtime.clients.wait_for_cluster`."""
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


def require_topics(counts: dict[str, int], topics: list[str], bootstrap: str) -> dict[str, int]:
    """Partition count per topic; a MissingTopicError names every absent input topic."""
    missing = [t for t in topics if t not in counts]
    if missing:
        raise MissingTopicError(missing, bootstrap)
    return {t: counts[t] for t in topics}


def ensure_topic(
    admin: AdminClient,
    existing_counts: dict[str, int],
    name: str,
    partitions: int,
    replication_factor: int = -1,
    config: dict[str, str] | None = None,
    exact_partitions: bool = True,
) -> None:
    """Create a topic unless ``existing_counts`` (from :func:`partition_counts`) has it;
    concurrent creation by a peer is fine.

    With ``exact_partitions``, an existing topic with another partition count is an error: its
    partitions would no longer match the tasks (a changelog partition per task, a repartition
    partition per downstream task). A dead-letter topic may have any count.
    """
    existing = existing_counts.get(name)
    if existing is not None:
        if exact_partitions and existing != partitions:
            raise KStreamyError(
                f"internal topic {name} has {existing} partitions but the topology needs "
                f"{partitions}; the input topics' partition counts (or a partitions= setting) "
                "changed? Take a savepoint and run `kstreamy reset --to-savepoint` to move the "
                "state to the new count (or `--to-earliest` to start over)"
            )
        return
    topic = NewTopic(name, partitions, replication_factor, config=config or {})
    future = admin.create_topics([topic], operation_timeout=30)[name]
    try:
        future.result()
        log.info("created topic %s (%d partitions)", name, partitions)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise KStreamyError(f"cannot create internal topic {name}: {exc}") from exc


def prepare_topics(topology: Topology, config: AppConfig) -> TopicPlan:
    """Check the input topics, plan the internal ones and create those that are missing."""
    admin = create_admin(config)
    existing = partition_counts(admin)
    counts = require_topics(existing, topology.external_source_topics(), config.bootstrap_servers)
    plan = plan_topics(topology, counts)
    replication = config.internal_topic_replication_factor
    for topic, (partitions, topic_config) in plan.internal.items():
        ensure_topic(admin, existing, topic, partitions, replication, topic_config)
    if "dead_letter" in (config.on_deserialization_error, config.on_processing_error):
        ensure_topic(
            admin,
            existing,
            config.dead_letter_topic_name,
            max(plan.partitions.values()),
            replication,
            exact_partitions=False,
        )
    return plan
