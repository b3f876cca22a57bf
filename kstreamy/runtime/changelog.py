"""Producing changelog records and learning the offsets they got.

The offsets matter: after a commit, a task's checkpoint file records the next changelog offset
its stores reflect, so a restart restores only the tail. They come from delivery reports, so
changelog records are produced with a per-record callback; output records are not (they would
pay a Python call each for nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer

from kstreamy.errors import DeliveryError

log = logging.getLogger("kstreamy.changelog")


class ChangelogWriter:
    """Writes changelog records through ``producer``.

    Under exactly-once that is the instance's transactional producer, so changelog records
    commit or abort with the outputs; under at-least-once a producer of its own with delivery
    reports enabled (see :meth:`own_producer`).
    """

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self._failure: str | None = None

    @classmethod
    def own_producer(cls, settings: dict[str, Any]) -> ChangelogWriter:
        return cls(Producer({**settings, "delivery.report.only.error": False}))

    def write(
        self,
        topic: str,
        partition: int,
        key: bytes,
        value: bytes | None,
        on_offset: Callable[[str, int], None],
    ) -> None:
        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                if self._failure is None:
                    self._failure = f"{topic}[{partition}]: {err.str()}"
            else:
                on_offset(topic, msg.offset() + 1)

        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition, on_delivery=delivered)
                return
            except BufferError:
                self.producer.poll(0.05)

    def flush(self, timeout: float = 300.0) -> None:
        remaining = self.producer.flush(timeout)
        failure, self._failure = self._failure, None
        if failure is not None:
            raise DeliveryError(f"could not deliver changelog record: {failure}")
        if remaining:
            raise DeliveryError(f"{remaining} changelog records not acknowledged within {timeout}s")
