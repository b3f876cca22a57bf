"""The control topic ``<app_id>-control``: how commands reach every instance of an application.

One partition, JSON records. Instances read it without a consumer group (every instance sees
every record) from the beginning at start-up, so one that starts while a request is open learns
of it before processing anything; the command that sent a request reads the answers after it.

Records (``type``):

- ``savepoint`` {id, location, stop, deadline}: snapshot every task at a commit boundary;
- ``ack`` {id, task, instance, stores, input_offsets, changelog_offsets, metadata}: one task's
  snapshot is written;
- ``done`` {id, outcome: "complete" | "aborted"}: the request is over (instances resume, or
  with ``stop`` and a complete savepoint, stop);
- ``ping`` {id} / ``pong`` {id, instance, host, pid, state_dir, tasks}: who is running.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import admin_settings, create_client
from kstreamy.kafka.topics import control_spec, control_topic, ensure_topic

log = logging.getLogger("kstreamy.control")


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


INSTANCE_FETCH_WAIT_MS = 500
"""How long the broker may hold an instance's fetch on the control topic (Kafka's default).

An instance reads the control topic in the background for as long as it runs, and the topic is
idle almost always: every empty fetch costs the broker some work (about 1.5 ms of CPU on the
embedded broker), so a short wait would load the broker all the time for nothing. A command
that waits for answers polls with a short wait instead (``COMMAND_FETCH_WAIT_MS``)."""
COMMAND_FETCH_WAIT_MS = 50


class ControlChannel:
    """Reads and writes the control topic of one application."""

    def __init__(self, config: AppConfig, fetch_wait_ms: int = COMMAND_FETCH_WAIT_MS) -> None:
        self.config = config
        self.topic = control_topic(config.application_id)
        base = admin_settings(config)
        self._reader_settings = {
            **base,
            "group.id": f"{config.application_id}-control-reader",
            "enable.auto.commit": False,
            "fetch.queue.backoff.ms": 10,
        }
        self._consumer: Consumer = create_client(
            Consumer, {**self._reader_settings, "fetch.wait.max.ms": fetch_wait_ms}, "consumer"
        )
        self._start = OFFSET_BEGINNING
        self._producer: Producer = create_client(
            Producer, {**base, "linger.ms": 0, "enable.idempotence": True}, "producer"
        )

    def ensure_topic(self) -> None:
        ensure_topic(self.config, control_spec(self.config.application_id))

    def seek(self, offset: int | None) -> None:
        """Read from ``offset`` (None: the beginning) on."""
        self._start = OFFSET_BEGINNING if offset is None else offset
        self._consumer.assign([TopicPartition(self.topic, 0, self._start)])

    def read_backlog(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Everything from the position given to :meth:`seek` to the end of the topic; the
        channel then reads on from that end.

        The end is found by a short-lived reader with a short fetch wait, from its
        end-of-partition event: the broker's high watermark is not trusted (Tansu's ListOffsets
        can count batches, not records), and the channel's own reader may have a long fetch
        wait, which the broker spends holding an idle fetch before it reports the end."""
        reader: Consumer = create_client(
            Consumer,
            {
                **self._reader_settings,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": COMMAND_FETCH_WAIT_MS,
            },
            "consumer",
        )
        out: list[dict[str, Any]] = []
        end: int | None = None
        deadline = time.monotonic() + timeout
        try:
            reader.assign([TopicPartition(self.topic, 0, self._start)])
            while end is None:
                for message in reader.consume(500, 0.2):
                    error = message.error()
                    if error is None:
                        parsed = parse_record(message.value())
                        if parsed is not None:
                            parsed["_offset"] = message.offset()
                            out.append(parsed)
                    elif error.code() == KafkaError._PARTITION_EOF:
                        end = message.offset()
                if end is None and time.monotonic() > deadline:
                    raise KStreamyError(
                        f"control topic {self.topic}: end not reached in {timeout}s"
                    )
        finally:
            reader.close()
        self.seek(end)
        return out

    def poll(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        """New control records (none is fine); never blocks longer than ``timeout``."""
        out = []
        for message in self._consumer.consume(100, timeout):
            if message.error() is None:
                parsed = parse_record(message.value())
                if parsed is not None:
                    parsed["_offset"] = message.offset()
                    out.append(parsed)
        return out

    def send(self, record: dict[str, Any]) -> int:
        """Write one record and wait for it; returns its offset."""
        result: dict[str, Any] = {}

        def delivered(err: KafkaError | None, msg: Any) -> None:
            result["error"], result["offset"] = err, msg.offset()

        data = json.dumps(record, separators=(",", ":")).encode()
        self._producer.produce(
            self.topic, data, str(record.get("id", "")).encode(), on_delivery=delivered
        )
        self._producer.flush(30)
        if "offset" not in result or result["error"] is not None:
            raise KStreamyError(
                f"cannot write to control topic {self.topic}: {result.get('error') or 'timeout'}"
            )
        return int(result["offset"])

    def close(self) -> None:
        try:
            self._consumer.close()
        finally:
            self._producer.flush(10)


_NUMBER = (int, float)
_OPTIONAL_STR = (str, type(None))
_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "savepoint": {"id": str, "location": str, "deadline": _NUMBER},
    "ack": {
        "id": str,
        "task": str,
        "stores": dict,
        "input_offsets": dict,
        "changelog_offsets": dict,
        "metadata": dict,
    },
    "done": {"id": str, "outcome": _OPTIONAL_STR},
    "ping": {"id": str},
    "pong": {"id": str},
}
"""Fields each record type must have, with their types: readers index them directly, so a
record that lacks one is dropped here with its reason rather than crashing the reader."""
_FILE_REF = {"path": _OPTIONAL_STR, "entries": int, "bytes": int, "sha256": _OPTIONAL_STR}


def parse_record(raw: bytes | None) -> dict[str, Any] | None:
    """A control record as a dict, or None (logged with the reason) when it is not one.

    The control topic is written by other processes, possibly of other versions: a record this
    version cannot use is skipped, never raised, so one bad record cannot stop an instance.
    Records of unknown types are passed on (readers ignore types they do not handle).
    """
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        log.warning("control record skipped: not JSON (%s): %r", exc, bytes(raw[:80]))
        return None
    problem = _problem(doc)
    if problem is not None:
        log.warning("control record skipped: %s: %r", problem, bytes(raw[:80]))
        return None
    return doc


def _problem(doc: Any) -> str | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        return "not an object with a type"
    for field, kind in _FIELDS.get(doc["type"], {}).items():
        value = doc.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{doc['type']} record field {field} is missing or not {_names(kind)}"
    if doc["type"] == "ack":
        for store, ref in doc["stores"].items():
            if not isinstance(ref, dict) or set(ref) != set(_FILE_REF):
                return f"ack record store {store} is not a file reference"
            for field, kind in _FILE_REF.items():
                if not isinstance(ref[field], kind) or isinstance(ref[field], bool):
                    return f"ack record store {store} field {field} is not {_names(kind)}"
    return None


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
