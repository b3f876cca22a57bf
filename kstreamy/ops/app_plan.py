"""An application's topic plan against the broker as it is now, without creating anything."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from kstreamy.config import AppConfig
from kstreamy.kafka.clients import create_admin
from kstreamy.kafka.topics import partition_counts, require_topics
from kstreamy.topic_plan import TopicPlan, plan_topics
from kstreamy.topology import Topology


def current_plan(
    topology: Topology, config: AppConfig
) -> tuple[AdminClient, dict[str, int], TopicPlan]:
    """Admin client, partition counts of every topic, and the plan for the topology."""
    topology.validate()
    admin = create_admin(config)
    counts = partition_counts(admin)
    inputs = require_topics(counts, topology.external_source_topics(), config.bootstrap_servers)
    return admin, counts, plan_topics(topology, inputs)
