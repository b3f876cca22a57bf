"""Where each instance of an application can be queried, shared through a compacted topic.

Every instance with a query port writes one record to ``<app_id>-endpoints``, keyed by its
instance id: its query URL and the tasks the group assigned to it. It writes again on every
assignment change and a tombstone when it stops. Every instance reads the topic continuously,
so it can tell a client which instance holds a key it does not hold itself.

A crashed instance leaves its record behind; when two records claim one task, the newer one
wins (the new owner writes after the crash's rebalance). The record is a hint, checked by the
instance it points to, which answers only for tasks it really runs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from kstreamy.config import AppConfig
from kstreamy.kafka.clients import common_settings
from kstreamy.kafka.topics import endpoints_spec, endpoints_topic, ensure_topic

log = logging.getLogger("kstreamy.query")


def create_endpoints_topic(config: AppConfig) -> str:
    spec = endpoints_spec(config.application_id)
    ensure_topic(config, spec)
    return spec.name


def owner_of(records: dict[str, dict[str, Any]], task: str, exclude: str = "") -> dict | None:
    """The newest record (other than ``exclude``'s) that claims ``task``, running or restoring."""
    best = None
    for instance_id, record in records.items():
        if instance_id == exclude:
            continue
        claimed = task in record.get("tasks", ()) or task in record.get("restoring", ())
        if claimed and (best is None or record.get("updated_at", 0) > best.get("updated_at", 0)):
            best = record
    return best


class EndpointPublisher:
    """Writes this instance's record; a failed delivery is written again on the next tick."""

    def __init__(self, config: AppConfig, instance_id: str) -> None:
        self.topic = endpoints_topic(config.application_id)
        self.instance_id = instance_id
        self._producer = Producer({**common_settings(config), "linger.ms": 0, "acks": "all"})
        self._latest: bytes | None = None
        self._failed = False
        self._lock = threading.Lock()

    def publish(self, record: dict[str, Any]) -> None:
        value = json.dumps({**record, "updated_at": time.time()}).encode()
        with self._lock:
            self._latest = value
            self._send(value)

    def _send(self, value: bytes | None) -> None:
        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                self._failed = True
                log.warning("publishing the query endpoint failed (will retry): %s", err.str())

        self._failed = False
        key = self.instance_id.encode()
        self._producer.produce(self.topic, value, key, on_delivery=on_delivery)
        self._producer.poll(0)

    def tick(self) -> None:
        """Serve delivery reports; write the record again if its last delivery failed."""
        with self._lock:
            self._producer.poll(0)
            if self._failed and self._latest is not None:
                self._send(self._latest)

    def withdraw(self, timeout: float = 5.0) -> None:
        """The instance stops: a tombstone removes its record."""
        with self._lock:
            self._latest = None
            self._send(None)
            self._producer.flush(timeout)


class EndpointReader:
    """Reads the endpoints topic from the beginning into ``records`` (instance id -> record)."""

    def __init__(self, settings: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self.records: dict[str, dict[str, Any]] = {}
        self._consumer = Consumer(
            {
                **settings,
                "group.id": f"{topic}-reader",  # required by librdkafka; never joined
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        self._partitions: set[int] = set()
        self._at_end: set[int] = set()
        self._assign()

    def _assign(self) -> None:
        """Read every partition of the topic, once its metadata is visible (a topic created a
        moment ago may not be yet)."""
        metadata = self._consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return
        self._partitions = set(metadata.partitions)
        self._consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in sorted(self._partitions)]
        )

    @property
    def caught_up(self) -> bool:
        """Every partition was read to its end at least once (from fetch responses); true at
        once when the topic does not exist."""
        return self._at_end >= self._partitions

    def poll(self, timeout: float) -> None:
        if not self._partitions:
            self._assign()
            if not self._partitions:
                time.sleep(timeout)  # the topic is not visible yet; look again next time
                return
        for message in self._consumer.consume(100, timeout):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add(message.partition())
                else:
                    log.debug("endpoints reader: %s", error.str())
                continue
            key = message.key().decode() if message.key() else ""
            if message.value() is None:
                self.records.pop(key, None)
                continue
            try:
                self.records[key] = json.loads(message.value())
            except ValueError:
                log.warning("ignoring a malformed record in %s: %r", self.topic, message.value())

    def read_to_end(self, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not self.caught_up and time.monotonic() < deadline:
            self.poll(0.2)
        return self.records

    def close(self) -> None:
        self._consumer.close()


def read_endpoints(
    bootstrap_servers: str, application_id: str, timeout: float = 10.0, **settings: Any
) -> dict[str, dict[str, Any]]:
    """The current records of an application's endpoints topic (empty if there is none)."""
    reader = EndpointReader(
        {"bootstrap.servers": bootstrap_servers, **settings}, endpoints_topic(application_id)
    )
    try:
        return dict(reader.read_to_end(timeout))
    finally:
        reader.close()
