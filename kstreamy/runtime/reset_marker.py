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
from kstreamy.kafka.clients import admin_settings, create_admin, create_client
from kstreamy.kafka.topics import ensure_topic, partition_counts, reset_spec, reset_topic
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
    return parse_marker(latest, topic)


_MARKER_FIELDS: dict[str, tuple[type, ...]] = {
    "generation": (str,),
    "status": (str,),
    "target": (str,),
    "started_at": (int, float),
    "completed_at": (int, float, type(None)),
    "tasks": (dict,),
}


def parse_marker(raw: bytes, topic: str) -> ResetMarker:
    """The marker in ``raw``; KStreamyError naming ``topic`` and the bad field otherwise.

    Instances refuse to start on an unreadable marker (they cannot know which state is
    current), so the error must say what is wrong, not be a TypeError from the constructor."""

    def unreadable(problem: str) -> KStreamyError:
        return KStreamyError(f"{topic} holds an unreadable reset marker: {problem}")

    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise unreadable(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise unreadable(f"not a JSON object ({type(doc).__name__})")
    unknown = sorted(set(doc) - set(_MARKER_FIELDS))
    if unknown:
        raise unreadable(f"unknown field(s) {', '.join(map(repr, unknown))}")
    for field, kinds in _MARKER_FIELDS.items():
        if field not in doc and field in ("completed_at", "tasks"):
            continue
        value = doc.get(field)
        if field not in doc or not isinstance(value, kinds) or isinstance(value, bool):
            raise unreadable(f"field {field} is missing or of the wrong type ({value!r})")
    tasks = doc.get("tasks", {})
    bad = [tid for tid, meta in tasks.items() if not isinstance(meta, dict)]
    if bad:
        raise unreadable(f"field tasks.{bad[0]} is not an object ({tasks[bad[0]]!r})")
    if doc["status"] not in ("in_progress", "complete"):
        raise unreadable(f"field status is {doc['status']!r}, not in_progress or complete")
    return ResetMarker(**doc)


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
