"""The instance's output side: a Kafka producer behind the Emitter interface."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, Producer

from kstreamy.errors import DeliveryError
from kstreamy.kafka.clients import create_client

log = logging.getLogger("kstreamy.producer")

_FLUSH_SLICE_S = 0.5
"""How long one bounded flush waits before the progress check (a flush returns as soon as the
queue is empty, so this adds no latency)."""


class ProducerStalledError(DeliveryError):
    """Records are waiting but none has been acknowledged for too long."""


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
            settings = {**settings, "delivery.report.only.error": False}
        else:
            if report_successes:
                settings = {**settings, "delivery.report.only.error": False}
            settings = {**settings, "on_delivery": self._on_delivery}
        self.producer = create_client(Producer, settings, "producer")
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

    def flush(self, timeout: float = 300.0, stall_s: float | None = None) -> None:
        """Wait until every produced record is acknowledged, or raise DeliveryError.

        With ``stall_s``, raise :class:`ProducerStalledError` as soon as no record has been
        acknowledged for that long while some are still waiting. A transactional producer needs
        this bound: librdkafka sends a record only once its partition is registered with the
        transaction, and after the transaction coordinator moved it may never register the
        partitions it marked while the coordinator was unreachable, so a plain flush would
        wait for the whole ``timeout`` (and the broker abort the transaction long before)."""
        if stall_s is None:
            remaining = self.producer.flush(timeout)
        else:
            remaining = self._flush_while_progressing(timeout, stall_s)
        if self._failure is not None:
            raise DeliveryError(f"could not deliver output record: {self._failure}")
        if remaining:
            raise DeliveryError(f"{remaining} output records not acknowledged within {timeout}s")

    def _flush_while_progressing(self, timeout: float, stall_s: float) -> int:
        now = time.monotonic()
        deadline = now + timeout
        progress_at = now
        remaining = self.producer.flush(min(_FLUSH_SLICE_S, timeout))
        least = remaining
        while remaining:
            now = time.monotonic()
            if remaining < least:
                least, progress_at = remaining, now
            elif now - progress_at >= stall_s:
                raise ProducerStalledError(
                    f"{remaining} records not acknowledged and none for {now - progress_at:.1f}s"
                )
            if now >= deadline:
                break
            remaining = self.producer.flush(min(_FLUSH_SLICE_S, deadline - now))
        return remaining
