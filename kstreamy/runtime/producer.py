"""The instance's output side: a Kafka producer behind the Emitter interface."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, Producer

from kstreamy.errors import DeliveryError

log = logging.getLogger("kstreamy.producer")


class KafkaEmitter:
    """Produces records and remembers the first delivery failure.

    Under at-least-once, delivery reports arrive only for failures
    (``delivery.report.only.error``), so the happy path costs no Python callback per record; a
    failure is raised at the next ``flush``, before any input offset is committed. A stateful
    application also produces its changelog records here and needs their offsets, so with
    ``report_successes`` every record is reported (one producer and one flush per commit are
    cheaper than a second producer).

    Under exactly-once the producer is transactional and output records carry no callback at all:
    a failed record makes the transaction commit fail, which aborts it. Reports stay enabled for
    the changelog records that do carry one (their offsets feed the checkpoints).
    """

    def __init__(
        self, settings: dict[str, Any], transactional: bool = False, report_successes: bool = False
    ) -> None:
        self._failure: str | None = None
        if transactional:
            self.producer = Producer({**settings, "delivery.report.only.error": False})
        else:
            if report_successes:
                settings = {**settings, "delivery.report.only.error": False}
            self.producer = Producer({**settings, "on_delivery": self._on_delivery})
        self._produce = self.producer.produce
        self.produce = self.producer.produce
        """The producer's own ``produce(topic, value, key, timestamp=)``: sinks call it directly
        and fall back to :meth:`emit` on BufferError (a full local queue)."""

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None and self._failure is None:
            self._failure = f"topic={msg.topic()} partition={msg.partition()}: {err.str()}"

    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        if headers is None and partition is None:
            try:
                self._produce(topic, value, key, timestamp=timestamp_ms)
                return
            except BufferError:
                pass
        extra: dict[str, Any] = {}
        if headers:
            extra["headers"] = headers
        if partition is not None:
            extra["partition"] = partition
        while True:
            try:
                self.producer.produce(topic, value, key, timestamp=timestamp_ms, **extra)
                return
            except BufferError:
                # Local queue full: serve delivery reports until there is room.
                self.producer.poll(0.05)

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout: float = 300.0) -> None:
        """Wait until every produced record is acknowledged, or raise DeliveryError."""
        remaining = self.producer.flush(timeout)
        if self._failure is not None:
            raise DeliveryError(f"could not deliver output record: {self._failure}")
        if remaining:
            raise DeliveryError(f"{remaining} output records not acknowledged within {timeout}s")
