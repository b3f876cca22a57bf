"""librdkafka client settings derived from the application config.

Kept in one place so the consumer, producer and admin client agree on the group id, security
settings and the timeouts the runtime relies on.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from kstreamy.config import AppConfig
from kstreamy.errors import ConfigError


def consumer_settings(config: AppConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "group.id": config.application_id,
        "client.id": f"{config.application_id}-consumer",
        # Cooperative rebalancing: tasks that keep their partitions keep running.
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": config.auto_offset_reset,
        "session.timeout.ms": config.session_timeout_ms,
        "max.poll.interval.ms": config.max_poll_interval_ms,
        # librdkafka pauses fetching for this long whenever its prefetch queue is full; the 1 s
        # default caps a fast loop at about 100k records/s per partition.
        "fetch.queue.backoff.ms": 10,
    }
    if config.heartbeat_interval_ms is not None:
        settings["heartbeat.interval.ms"] = config.heartbeat_interval_ms
    if config.processing_guarantee == "exactly_once":
        settings["isolation.level"] = "read_committed"
    return {**settings, **config.kafka_config, **config.consumer_config}


def producer_settings(config: AppConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": f"{config.application_id}-producer",
        # Same key -> same partition as Kafka's Java clients, so kstreamy and Kafka Streams
        # applications can share co-partitioned topics.
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        # Kafka Streams' default: larger batches cost the broker (and the loop) far less per
        # record, for at most 100 ms more latency.
        "linger.ms": 100,
        "delivery.report.only.error": True,
    }
    return {**settings, **config.kafka_config, **config.producer_config}


def admin_settings(config: AppConfig) -> dict[str, Any]:
    settings = {"bootstrap.servers": config.bootstrap_servers}
    return {**settings, **config.kafka_config, **config.admin_config}


def create_client(factory: Any, settings: dict[str, Any], role: str) -> Any:
    """Build a client, turning librdkafka's config complaints into a ConfigError."""
    try:
        return factory(settings)
    except (KafkaException, ValueError, TypeError) as exc:
        raise ConfigError(f"invalid {role} setting: {exc}") from exc


def create_admin(config: AppConfig) -> AdminClient:
    return create_client(AdminClient, admin_settings(config), "admin client")
