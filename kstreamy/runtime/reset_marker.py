"""The reset marker: which reset generation an application's state belongs to.

``kstreamy reset`` empties and reseeds the changelogs, but instances may keep local state from
before the reset in their state directories, on any machine. So every reset writes a new
generation id to the compacted, single-partition topic ``<app_id>-reset``: first with status
``in_progress`` (instances refuse to start until the reset completes), last with ``complete``
and the task metadata (watermarks, ...) of the savepoint it went back to. Each task records the
generation in its checkpoint file; at open, a task whose local state carries another generation
wipes it and restores from the changelogs, which now hold exactly the reset's state.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError
from kstreamy.runtime.clients import admin_settings, create_admin, create_client
from kstreamy.runtime.topics import ensure_topic, partition_counts, reset_spec, reset_topic
from kstreamy.state.state_manager import StateManager

log = logging.getLogger("kstreamy.reset")

KEY = b"reset"


@dataclasses.dataclass
class ResetMarker:
    generation: str
    status: str
    """"in_progress" or "complete"."""
    target: str
    started_at: float
    completed_at: float | None = None
    tasks: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Task id -> checkpoint metadata to start from (from the savepoint)."""

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()


def read_marker(config: AppConfig, timeout: float = 30.0) -> ResetMarker | None:
    """The latest marker, or None when the application was never reset."""
    topic = reset_topic(config.application_id)
    if topic not in partition_counts(create_admin(config)):
        return None
    consumer = create_client(
        Consumer,
        {
            **admin_settings(config),
            "group.id": f"{config.application_id}-reset-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 50,
        },
        "consumer",
    )
    latest: bytes | None = None
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        while True:
            messages = consumer.consume(500, 0.2)
            done = False
            for message in messages:
                error = message.error()
                if error is None:
                    if message.key() == KEY and message.value():
                        latest = message.value()
                elif error.code() == KafkaError._PARTITION_EOF:
                    done = True
            if done:
                break
            if time.monotonic() > deadline:
                raise KStreamyError(f"cannot read {topic} within {timeout}s")
    finally:
        consumer.close()
    if latest is None:
        return None
    try:
        doc = json.loads(latest)
        return ResetMarker(**doc)
    except (ValueError, TypeError) as exc:
        raise KStreamyError(f"{topic} holds an unreadable reset marker: {exc}") from exc


def write_marker(config: AppConfig, marker: ResetMarker) -> None:
    """Write ``marker``, creating the reset topic first if this is the application's first
    reset (a reset may run before any instance has started)."""
    ensure_topic(config, reset_spec(config.application_id))
    producer = create_client(
        Producer, {**admin_settings(config), "enable.idempotence": True}, "producer"
    )
    errors: list[str] = []

    def delivered(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            errors.append(err.str())

    producer.produce(
        reset_topic(config.application_id), marker.to_json(), KEY, 0, on_delivery=delivered
    )
    if producer.flush(60) or errors:
        raise KStreamyError(f"cannot write the reset marker: {errors[0] if errors else 'timeout'}")


def apply_reset_marker(config: AppConfig, state_manager: StateManager) -> None:
    """At instance start: refuse a half-done reset; tell the state manager the generation."""
    marker = read_marker(config)
    if marker is None:
        return
    if marker.status != "complete":
        raise KStreamyError(
            f"a reset of application {config.application_id} (to {marker.target}) started but "
            "did not complete (interrupted?); run the same `kstreamy reset` command again to "
            "finish it, then start the instances"
        )
    state_manager.reset_generation = marker.generation
    state_manager.reset_metadata = marker.tasks
    log.info("state belongs to reset generation %s (%s)", marker.generation, marker.target)
